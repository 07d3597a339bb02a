//! The scheduler of `kri serve`: keeps a schedule per (tenant, job) in the store,
//! claims the due ones under a lease, runs them, and sets their next due time.
//!
//! - Time comes from a [`Clock`], so tests drive it ([`TestClock`]).
//! - A new schedule is first due after a jitter ([`crate::schedule::jitter_ms`]).
//! - A claim holds a lease renewed while the job runs; a job is claimed by one
//!   holder at a time, and the run lease of the store refuses a second run of the
//!   same (tenant, job) whoever starts it (`kri run-connector`, the API).
//! - Jobs of one tenant run side by side; at most `max_concurrent` run at once,
//!   runs started by hand through the API ([`Scheduler::try_slot`]) included.
//! - A sync first reads the store's tenants version ([`Store::tenants_version`]),
//!   which moves whenever any process adds, changes or removes a tenant; when it has
//!   not moved since the last full sync, tenants and schedules are not read again.
//!   A full sync still runs every `full_sync_every_ms` (a job schedule changed
//!   outside kri, such as a row deleted by hand, moves no version), and on
//!   [`Scheduler::request_sync`] (a plugin reloaded: its jobs may have changed).
//! - Each sync and each claim round is timed (`kri_scheduler_sync_seconds`,
//!   `kri_scheduler_claim_seconds`, and a debug log line with the figures, which the
//!   fleet benchmark reads, as it does each started job's delay).
//! - [`Scheduler::shutdown`] stops claiming, lets runs finish within a grace period,
//!   then stops the rest and records them `interrupted`.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use futures::future::BoxFuture;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;

use crate::error::{RunError, StoreError};
use crate::host::{KriHost, RunOptions, RunOutcome};
use crate::schedule::{jitter_ms, job_interval_ms, next_due_ms};
use crate::serve::metrics::Metrics;
use crate::store::{JobClaim, Store, Tenant};

/// Where the scheduler reads the time (epoch ms).
pub trait Clock: Send + Sync {
    fn now_ms(&self) -> i64;
}

/// The machine's clock.
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> i64 {
        crate::pacer::local_now_ms()
    }
}

/// A clock that moves only when told, for tests.
#[derive(Debug, Default)]
pub struct TestClock(AtomicI64);

impl TestClock {
    pub fn new(now_ms: i64) -> TestClock {
        TestClock(AtomicI64::new(now_ms))
    }

    pub fn set(&self, now_ms: i64) {
        self.0.store(now_ms, Ordering::SeqCst);
    }

    pub fn advance(&self, ms: i64) {
        self.0.fetch_add(ms, Ordering::SeqCst);
    }
}

impl Clock for TestClock {
    fn now_ms(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
}

/// What the scheduler runs jobs with: the host, or a stand-in in the scheduler's
/// own unit tests.
#[async_trait]
pub trait JobRunner: Send + Sync + 'static {
    /// The jobs of the tenant's connector with their default schedules (ISO-8601);
    /// `None` when the connector is not loaded.
    fn jobs(&self, tenant: &Tenant) -> Option<Vec<(String, String)>>;
    /// Starts one job of a tenant and returns the rest of the run to await; `Err`
    /// when it could not start (the job already runs, the connector is gone, ...).
    async fn begin(
        &self,
        tenant: &Tenant,
        job: &str,
    ) -> Result<BoxFuture<'static, Result<RunOutcome, RunError>>, RunError>;
    /// Records the runs this process left `running` as interrupted.
    async fn interrupt_own_runs(&self, reason: &str) -> Result<usize, StoreError>;
}

/// The host runs the jobs.
pub struct HostRunner(pub Arc<KriHost>);

#[async_trait]
impl JobRunner for HostRunner {
    fn jobs(&self, tenant: &Tenant) -> Option<Vec<(String, String)>> {
        let plugin = self.0.registry().get(&tenant.connector)?;
        Some(
            plugin
                .manifest
                .jobs
                .iter()
                .map(|j| (j.name.clone(), j.default_schedule.clone()))
                .collect(),
        )
    }

    async fn begin(
        &self,
        tenant: &Tenant,
        job: &str,
    ) -> Result<BoxFuture<'static, Result<RunOutcome, RunError>>, RunError> {
        let opts = RunOptions {
            job: Some(job.to_string()),
            ..RunOptions::default()
        };
        let started = self
            .0
            .begin_run(&tenant.connector, &tenant.id, opts)
            .await?;
        Ok(started.finish)
    }

    async fn interrupt_own_runs(&self, reason: &str) -> Result<usize, StoreError> {
        self.0.interrupt_own_runs(reason).await
    }
}

/// How the scheduler works.
#[derive(Debug, Clone)]
pub struct SchedulerConfig {
    /// Who claims: unique per `kri serve` process.
    pub owner: String,
    /// How long a claim holds without renewal; renewed every third of it.
    pub lease_ms: i64,
    /// The most jobs running at once.
    pub max_concurrent: usize,
    /// How often the schedules are synced with the tenants: the tenants version is
    /// read, and tenants and their jobs only when it moved.
    pub sync_every_ms: i64,
    /// How often tenants and their jobs are read again even when the tenants version
    /// has not moved.
    pub full_sync_every_ms: i64,
}

impl SchedulerConfig {
    pub fn new(owner: impl Into<String>) -> SchedulerConfig {
        SchedulerConfig {
            owner: owner.into(),
            lease_ms: 60_000,
            max_concurrent: 8,
            sync_every_ms: 15_000,
            full_sync_every_ms: 300_000,
        }
    }
}

/// What a shutdown did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ShutdownReport {
    /// Runs that finished within the grace period.
    pub finished: usize,
    /// Runs stopped at its end and recorded `interrupted`.
    pub interrupted: usize,
}

/// One (tenant, job).
type Key = (String, String);

pub struct Scheduler {
    store: Arc<dyn Store>,
    runner: Arc<dyn JobRunner>,
    clock: Arc<dyn Clock>,
    config: SchedulerConfig,
    metrics: Arc<Metrics>,
    permits: Arc<Semaphore>,
    /// What the last sync found: each schedule's interval and tenant.
    known: Mutex<HashMap<Key, (i64, Tenant)>>,
    /// When the schedules were last synced; `None` asks for a sync on the next tick.
    last_sync_ms: Mutex<Option<i64>>,
    /// The last full sync: when it ran and the tenants version it read first; `None`
    /// asks for a full one.
    last_full_sync: Mutex<Option<(i64, i64)>>,
    /// Claims being run now.
    held: Arc<Mutex<HashMap<Key, JobClaim>>>,
    tasks: tokio::sync::Mutex<JoinSet<()>>,
    stopping: std::sync::atomic::AtomicBool,
}

impl Scheduler {
    pub fn new(
        store: Arc<dyn Store>,
        runner: Arc<dyn JobRunner>,
        clock: Arc<dyn Clock>,
        config: SchedulerConfig,
        metrics: Arc<Metrics>,
    ) -> Scheduler {
        Scheduler {
            permits: Arc::new(Semaphore::new(config.max_concurrent.max(1))),
            store,
            runner,
            clock,
            config,
            metrics,
            known: Mutex::new(HashMap::new()),
            last_sync_ms: Mutex::new(None),
            last_full_sync: Mutex::new(None),
            held: Arc::new(Mutex::new(HashMap::new())),
            tasks: tokio::sync::Mutex::new(JoinSet::new()),
            stopping: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// The scheduler of `kri serve` over a host.
    pub fn for_host(
        host: Arc<KriHost>,
        clock: Arc<dyn Clock>,
        config: SchedulerConfig,
        metrics: Arc<Metrics>,
    ) -> Scheduler {
        let store = host.shared_store();
        Scheduler::new(store, Arc::new(HostRunner(host)), clock, config, metrics)
    }

    /// Asks for the schedules to be synced on the next tick (a tenant was added or
    /// changed, a plugin reloaded).
    pub fn request_sync(&self) {
        *self
            .last_full_sync
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = None;
        *self.last_sync_ms.lock().unwrap_or_else(|p| p.into_inner()) = None;
    }

    /// Syncs the schedules when the tenants version moved since the last full sync,
    /// when a full sync is due or was asked for; else only notes the time. Returns
    /// whether it synced fully.
    async fn sync(&self) -> Result<bool, StoreError> {
        let now = self.clock.now_ms();
        let took = std::time::Instant::now();
        let version = self.store.tenants_version().await?;
        let last = *self
            .last_full_sync
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let unchanged = last.is_some_and(|(at, seen)| {
            seen == version && now >= at && now - at < self.config.full_sync_every_ms
        });
        if !unchanged {
            self.full_sync(now, version, took).await?;
            return Ok(true);
        }
        *self.last_sync_ms.lock().unwrap_or_else(|p| p.into_inner()) = Some(now);
        let took = took.elapsed();
        self.metrics.scheduler_sync.observe(took.as_secs_f64());
        tracing::debug!(
            version,
            sync_us = took.as_micros() as u64,
            "schedules unchanged"
        );
        Ok(false)
    }

    /// Reads every tenant and its jobs and makes sure each (tenant, job) has a
    /// schedule with its interval (the tenant's override, else the manifest's). A
    /// job whose schedule cannot be read is logged and left out. `version` is the
    /// tenants version read before the tenants (a change meanwhile moves it again, so
    /// the next sync sees it); `took` times the whole sync. Returns how many
    /// schedules there are.
    async fn full_sync(
        &self,
        now: i64,
        version: i64,
        took: std::time::Instant,
    ) -> Result<usize, StoreError> {
        let mut known = HashMap::new();
        for tenant in self.store.tenants().await? {
            let Some(jobs) = self.runner.jobs(&tenant) else {
                tracing::warn!(tenant = %tenant.id, connector = %tenant.connector, "connector not loaded; its jobs are not scheduled");
                continue;
            };
            for (job, default) in jobs {
                let interval = match job_interval_ms(&tenant.schedules, &job, &default) {
                    Ok(ms) => ms,
                    Err(e) => {
                        tracing::warn!(tenant = %tenant.id, job = %job, error = %e, "job not scheduled");
                        continue;
                    }
                };
                let first_due = now + jitter_ms(&tenant.id, &job, interval);
                match self
                    .store
                    .ensure_schedule(&tenant.id, &job, interval, first_due)
                    .await
                {
                    Ok(()) => {}
                    // Removed meanwhile.
                    Err(StoreError::UnknownTenant(_)) => continue,
                    Err(e) => return Err(e),
                }
                known.insert((tenant.id.clone(), job), (interval, tenant.clone()));
            }
        }
        let n = known.len();
        *self.known.lock().unwrap_or_else(|p| p.into_inner()) = known;
        *self.last_sync_ms.lock().unwrap_or_else(|p| p.into_inner()) = Some(now);
        *self
            .last_full_sync
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = Some((now, version));
        let took = took.elapsed();
        self.metrics.scheduler_sync.observe(took.as_secs_f64());
        tracing::debug!(
            schedules = n,
            version,
            sync_us = took.as_micros() as u64,
            "schedules synced"
        );
        Ok(n)
    }

    /// One round: syncs the schedules when it is time, claims as many due jobs as
    /// there are free run slots, and starts them. Returns how many it started.
    pub async fn tick(&self) -> Result<usize, StoreError> {
        if self.stopping.load(Ordering::SeqCst) {
            return Ok(0);
        }
        let now = self.clock.now_ms();
        let sync_due = match *self.last_sync_ms.lock().unwrap_or_else(|p| p.into_inner()) {
            None => true,
            Some(at) => now - at >= self.config.sync_every_ms || now < at,
        };
        if sync_due {
            self.sync().await?;
        }
        let free = self.permits.available_permits();
        if free == 0 {
            return Ok(0);
        }
        let took = std::time::Instant::now();
        let claims = self
            .store
            .claim_due_jobs(&self.config.owner, now, self.config.lease_ms, free)
            .await?;
        let took = took.elapsed();
        self.metrics.scheduler_claim.observe(took.as_secs_f64());
        tracing::debug!(
            claimed = claims.len(),
            claim_us = took.as_micros() as u64,
            "claim round"
        );
        let mut started = 0;
        for claim in claims {
            let key = (claim.tenant_id.clone(), claim.job.clone());
            let known = self
                .known
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .get(&key)
                .cloned();
            let Some((interval, tenant)) = known else {
                // A schedule of a tenant or job no longer known (removed, or its
                // connector is not loaded): let it wait a sync interval.
                let next = now + self.config.sync_every_ms.max(1_000);
                self.store
                    .finish_job_claim(&self.config.owner, &claim, next)
                    .await?;
                continue;
            };
            let Ok(permit) = self.permits.clone().try_acquire_owned() else {
                self.store
                    .finish_job_claim(&self.config.owner, &claim, claim.due_ms)
                    .await?;
                continue;
            };
            let delay_ms = (now - claim.due_ms).max(0);
            self.metrics
                .scheduler_delay
                .observe(delay_ms as f64 / 1_000.0);
            tracing::debug!(tenant = %claim.tenant_id, job = %claim.job, delay_ms, "claimed job starts");
            self.held
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(key.clone(), claim.clone());
            let job = JobTask {
                store: self.store.clone(),
                runner: self.runner.clone(),
                clock: self.clock.clone(),
                metrics: self.metrics.clone(),
                held: self.held.clone(),
                owner: self.config.owner.clone(),
                lease_ms: self.config.lease_ms,
                claim,
                interval,
                tenant,
            };
            self.tasks.lock().await.spawn(async move {
                job.run().await;
                drop(permit);
            });
            started += 1;
        }
        Ok(started)
    }

    /// Takes one of the `max_concurrent` run slots for a run started by hand
    /// (through the API), so that it counts like a scheduled run; `None` while every
    /// slot is taken (or the scheduler is shutting down).
    pub fn try_slot(&self) -> Option<OwnedSemaphorePermit> {
        if self.stopping.load(Ordering::SeqCst) {
            return None;
        }
        self.permits.clone().try_acquire_owned().ok()
    }

    /// The most runs at once (`max_concurrent`).
    pub fn max_concurrent(&self) -> usize {
        self.config.max_concurrent.max(1)
    }

    /// Runs `run` (a run started by hand through the API, holding `slot` from
    /// [`Scheduler::try_slot`]) alongside the scheduled ones, so that shutdown waits
    /// for it and interrupts it like them; the slot is free again when it ends.
    pub async fn track(
        &self,
        job: String,
        run: BoxFuture<'static, Result<RunOutcome, RunError>>,
        slot: OwnedSemaphorePermit,
    ) {
        let metrics = self.metrics.clone();
        self.tasks.lock().await.spawn(async move {
            let outcome = run.await;
            metrics.record_run(&job, &outcome);
            drop(slot);
        });
    }

    /// Waits until every started run has finished (tests).
    pub async fn wait_idle(&self) {
        let mut tasks = self.tasks.lock().await;
        while tasks.join_next().await.is_some() {}
    }

    /// How many runs are in flight.
    pub async fn in_flight(&self) -> usize {
        self.tasks.lock().await.len()
    }

    /// Ticks about every `every` until `stop` resolves. Each wait is `every` give or
    /// take half of it, at random: hosts sharing a database then take turns at
    /// finding the due jobs first, where fixed ticks would let the host whose ticks
    /// happen to come first after most due times take nearly all the work.
    pub async fn run_until(&self, every: Duration, stop: impl std::future::Future<Output = ()>) {
        use rand::Rng;
        tokio::pin!(stop);
        loop {
            let wait = every.mul_f64(rand::thread_rng().gen_range(0.5..1.5));
            tokio::select! {
                _ = &mut stop => return,
                _ = tokio::time::sleep(wait) => {
                    // Reap finished tasks so the set does not grow.
                    {
                        let mut tasks = self.tasks.lock().await;
                        while tasks.try_join_next().is_some() {}
                    }
                    if let Err(e) = self.tick().await {
                        tracing::warn!(error = %e, "scheduler round failed; trying again next round");
                    }
                }
            }
        }
    }

    /// Stops claiming, waits up to `grace` for the runs in flight, then stops the
    /// rest: their runs are recorded `interrupted` (nothing of them is committed)
    /// and their schedules are due again at once, for the next start.
    pub async fn shutdown(&self, grace: Duration, reason: &str) -> ShutdownReport {
        self.stopping.store(true, Ordering::SeqCst);
        let mut report = ShutdownReport::default();
        let mut tasks = self.tasks.lock().await;
        let deadline = tokio::time::Instant::now() + grace;
        while !tasks.is_empty() {
            match tokio::time::timeout_at(deadline, tasks.join_next()).await {
                Ok(Some(_)) => report.finished += 1,
                Ok(None) => break,
                Err(_) => break,
            }
        }
        tasks.abort_all();
        while tasks.join_next().await.is_some() {}
        let left: Vec<JobClaim> = self
            .held
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .drain()
            .map(|(_, c)| c)
            .collect();
        for claim in &left {
            if let Err(e) = self
                .store
                .finish_job_claim(&self.config.owner, claim, claim.due_ms)
                .await
            {
                tracing::warn!(tenant = %claim.tenant_id, job = %claim.job, error = %e, "cannot release the job's claim; it is free again when its lease ends");
            }
        }
        match self.runner.interrupt_own_runs(reason).await {
            Ok(n) => report.interrupted = n,
            Err(e) => {
                tracing::error!(error = %e, "cannot record the unfinished runs as interrupted")
            }
        }
        report
    }
}

/// One claimed job being run.
struct JobTask {
    store: Arc<dyn Store>,
    runner: Arc<dyn JobRunner>,
    clock: Arc<dyn Clock>,
    metrics: Arc<Metrics>,
    held: Arc<Mutex<HashMap<Key, JobClaim>>>,
    owner: String,
    lease_ms: i64,
    claim: JobClaim,
    interval: i64,
    tenant: Tenant,
}

impl JobTask {
    async fn run(self) {
        let claim = &self.claim;
        let renew_every = Duration::from_millis((self.lease_ms / 3).max(100) as u64);
        let renew = async {
            loop {
                tokio::time::sleep(renew_every).await;
                match self
                    .store
                    .renew_job_claim(&self.owner, claim, self.clock.now_ms(), self.lease_ms)
                    .await
                {
                    Ok(true) => {}
                    Ok(false) => {
                        tracing::warn!(tenant = %claim.tenant_id, job = %claim.job, "the job's claim was taken over; this run goes on, its lease stays with the store")
                    }
                    Err(e) => {
                        tracing::warn!(tenant = %claim.tenant_id, job = %claim.job, error = %e, "cannot renew the job's claim")
                    }
                }
            }
        };
        let work = async {
            match self.runner.begin(&self.tenant, &claim.job).await {
                Ok(finish) => Some(finish.await),
                Err(RunError::Store(StoreError::RunInProgress { run_id, .. })) => {
                    tracing::info!(tenant = %claim.tenant_id, job = %claim.job, run_id, "job already running (started by hand?); this slot is skipped");
                    self.metrics.record_skipped(&claim.job);
                    None
                }
                Err(e) => Some(Err(e)),
            }
        };
        let outcome = tokio::select! {
            outcome = work => outcome,
            _ = renew => None,
        };
        if let Some(outcome) = &outcome {
            if let Err(e) = outcome {
                tracing::warn!(tenant = %claim.tenant_id, job = %claim.job, error = %e, "scheduled run could not start");
            }
            self.metrics.record_run(&claim.job, outcome);
        }
        let next = next_due_ms(claim.due_ms, self.interval, self.clock.now_ms());
        let finished = self.store.finish_job_claim(&self.owner, claim, next).await;
        self.held
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&(claim.tenant_id.clone(), claim.job.clone()));
        match finished {
            Ok(true) => {}
            Ok(false) => {
                tracing::warn!(tenant = %claim.tenant_id, job = %claim.job, "the job's claim was lost before it finished; its new holder sets the next due time")
            }
            Err(e) => {
                tracing::warn!(tenant = %claim.tenant_id, job = %claim.job, error = %e, "cannot finish the job's claim; it is free again when its lease ends")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::sync::atomic::AtomicUsize;

    use super::*;
    use crate::secrets::SealedSecret;
    use crate::store::{RunStats, SqliteStore};

    const MINUTE: i64 = 60_000;

    /// Stands in for the host: job `inventory` runs until the test opens its gate,
    /// job `logs` finishes at once. Counts what it started.
    struct GatedRunner {
        gate: Arc<Semaphore>,
        started: Mutex<Vec<(String, String)>>,
        running: Arc<AtomicUsize>,
        /// The most runs at once so far.
        most: AtomicUsize,
        /// How many times a tenant's jobs were listed (once per tenant per full sync).
        listed: AtomicUsize,
    }

    impl GatedRunner {
        fn started(&self, job: &str) -> usize {
            let started = self.started.lock().expect("lock");
            started.iter().filter(|(_, j)| j == job).count()
        }
    }

    fn outcome(tenant: &str, job: &str) -> RunOutcome {
        RunOutcome {
            run_id: 1,
            tenant: tenant.into(),
            connector: "fake".into(),
            job: job.into(),
            succeeded: true,
            error: None,
            duration_ms: 5,
            stats: RunStats::default(),
            outputs: vec![],
            emitted: BTreeMap::new(),
            logs: vec![],
            retries_5xx: 0,
            denied_requests: 0,
            requests_by_bucket: BTreeMap::new(),
            quota_exceeded: None,
            memory_peak_bytes: 0,
        }
    }

    #[async_trait]
    impl JobRunner for GatedRunner {
        fn jobs(&self, _tenant: &Tenant) -> Option<Vec<(String, String)>> {
            self.listed.fetch_add(1, Ordering::SeqCst);
            Some(vec![
                ("inventory".into(), "PT30M".into()),
                ("logs".into(), "PT1M".into()),
            ])
        }

        async fn begin(
            &self,
            tenant: &Tenant,
            job: &str,
        ) -> Result<BoxFuture<'static, Result<RunOutcome, RunError>>, RunError> {
            self.started
                .lock()
                .expect("lock")
                .push((tenant.id.clone(), job.to_string()));
            let (gate, running) = (self.gate.clone(), self.running.clone());
            let (tenant, job) = (tenant.id.clone(), job.to_string());
            let now_running = running.fetch_add(1, Ordering::SeqCst) + 1;
            self.most.fetch_max(now_running, Ordering::SeqCst);
            Ok(Box::pin(async move {
                if job == "inventory" {
                    let _ = gate.acquire().await.map(|p| p.forget());
                }
                running.fetch_sub(1, Ordering::SeqCst);
                Ok(outcome(&tenant, &job))
            }))
        }

        async fn interrupt_own_runs(&self, _reason: &str) -> Result<usize, StoreError> {
            Ok(self.running.swap(0, Ordering::SeqCst))
        }
    }

    fn tenant(id: &str) -> Tenant {
        Tenant {
            id: id.into(),
            connector: "fake".into(),
            base_url: "https://example.com".into(),
            kris: vec![],
            extra: serde_json::json!({}),
            allow_insecure_local: false,
            quotas: BTreeMap::new(),
            created_at_ms: 0,
            schedules: BTreeMap::new(),
        }
    }

    struct Setup {
        _dir: tempfile::TempDir,
        store: Arc<dyn Store>,
        runner: Arc<GatedRunner>,
        clock: Arc<TestClock>,
        scheduler: Scheduler,
    }

    async fn setup(tenants: &[&str], max_concurrent: usize) -> Setup {
        let dir = tempfile::tempdir().expect("tempdir");
        let store: Arc<dyn Store> = Arc::new(SqliteStore::open(dir.path()).expect("store"));
        let sealed = SealedSecret {
            nonce: vec![0; 24],
            ciphertext: vec![0; 40],
            key_id: None,
        };
        for t in tenants {
            store.add_tenant(&tenant(t), &sealed).await.expect("add");
        }
        let runner = Arc::new(GatedRunner {
            gate: Arc::new(Semaphore::new(0)),
            started: Mutex::default(),
            running: Arc::default(),
            most: AtomicUsize::new(0),
            listed: AtomicUsize::new(0),
        });
        let clock = Arc::new(TestClock::new(1_000_000_000));
        let mut config = SchedulerConfig::new("test-host");
        config.max_concurrent = max_concurrent;
        // The test clock jumps by minutes and hours while leases are renewed in
        // real time: a day-long lease keeps runs held across the jumps.
        config.lease_ms = 24 * 60 * MINUTE;
        let scheduler = Scheduler::new(
            store.clone(),
            runner.clone(),
            clock.clone(),
            config,
            Arc::new(Metrics::new()),
        );
        Setup {
            _dir: dir,
            store,
            runner,
            clock,
            scheduler,
        }
    }

    /// Ticks, then waits until the quick runs (every job but `inventory`) finished
    /// and every inventory held has begun.
    async fn tick(s: &Setup) -> usize {
        let n = s.scheduler.tick().await.expect("tick");
        for _ in 0..500 {
            let settled = {
                let held = s.scheduler.held.lock().expect("lock");
                let running = s.runner.running.load(Ordering::SeqCst);
                held.keys().all(|(_, job)| job == "inventory") && held.len() == running
            };
            if settled {
                break;
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        n
    }

    #[tokio::test]
    async fn tenants_are_read_again_only_when_they_changed_or_a_full_sync_is_due() {
        let s = setup(&["acme"], 8).await;
        let listed = || s.runner.listed.load(Ordering::SeqCst);
        let every = SchedulerConfig::new("x").sync_every_ms;
        tick(&s).await;
        assert_eq!(listed(), 1, "the first sync reads every tenant");
        s.clock.advance(every);
        tick(&s).await;
        assert_eq!(listed(), 1, "nothing changed: tenants are not read again");

        // Another process changes a tenant's schedule: the next sync follows it.
        let schedules = BTreeMap::from([("inventory".to_string(), "PT2H".to_string())]);
        s.store
            .set_tenant_schedules("acme", &schedules)
            .await
            .expect("schedules");
        tick(&s).await;
        assert_eq!(listed(), 1, "a sync waits for its interval");
        s.clock.advance(every);
        tick(&s).await;
        assert_eq!(listed(), 2, "a changed tenant is read");
        let intervals: Vec<i64> = s
            .store
            .schedules()
            .await
            .expect("schedules")
            .iter()
            .map(|j| j.interval_ms)
            .collect();
        assert_eq!(intervals, vec![120 * MINUTE, MINUTE]);

        s.store
            .add_tenant(
                &tenant("beta"),
                &SealedSecret {
                    nonce: vec![0; 24],
                    ciphertext: vec![0; 40],
                    key_id: None,
                },
            )
            .await
            .expect("add");
        s.clock.advance(every);
        tick(&s).await;
        assert_eq!(listed(), 4, "an added tenant is read, with the others");
        assert_eq!(s.store.schedules().await.expect("schedules").len(), 4);

        // Unchanged, but the full sync is due.
        let full = SchedulerConfig::new("x").full_sync_every_ms;
        s.clock.advance(full - every);
        tick(&s).await;
        assert_eq!(listed(), 4, "not yet");
        s.clock.advance(every);
        tick(&s).await;
        assert_eq!(listed(), 6, "read again when a full sync is due");

        // A plugin reloaded: its jobs may have changed.
        s.scheduler.request_sync();
        tick(&s).await;
        assert_eq!(listed(), 8, "read again when asked");
    }

    #[tokio::test]
    async fn jobs_start_after_their_jitter_and_a_stream_flows_beside_a_long_inventory() {
        let s = setup(&["acme"], 8).await;
        let t0 = s.clock.now_ms();
        assert_eq!(tick(&s).await, 0, "nothing is due before its jitter");
        let schedules = s.store.schedules().await.expect("schedules");
        assert_eq!(schedules.len(), 2);
        for sch in &schedules {
            assert!(
                sch.next_due_ms >= t0 && sch.next_due_ms < t0 + sch.interval_ms.min(10 * MINUTE)
            );
        }
        // Past every jitter: both jobs start.
        s.clock.set(t0 + 10 * MINUTE);
        assert_eq!(tick(&s).await, 2);
        assert_eq!(
            (s.runner.started("inventory"), s.runner.started("logs")),
            (1, 1)
        );
        // Inventory still runs; logs runs every minute beside it.
        for minute in 1..=3 {
            s.clock.advance(MINUTE);
            assert_eq!(
                tick(&s).await,
                1,
                "minute {minute}: only logs is due and free"
            );
        }
        assert_eq!(
            (s.runner.started("inventory"), s.runner.started("logs")),
            (1, 4)
        );
        s.runner.gate.add_permits(1);
        s.scheduler.wait_idle().await;
        let inventory = s
            .store
            .schedules()
            .await
            .expect("schedules")
            .into_iter()
            .find(|x| x.job == "inventory")
            .expect("inventory");
        assert!(inventory.lease_owner.is_none());
        assert!(inventory.next_due_ms > s.clock.now_ms());
    }

    #[tokio::test]
    async fn a_schedule_missed_while_down_runs_once() {
        let s = setup(&["acme"], 8).await;
        s.runner.gate.add_permits(100);
        let t0 = s.clock.now_ms();
        tick(&s).await;
        s.clock.set(t0 + 10 * MINUTE);
        assert_eq!(tick(&s).await, 2);
        s.scheduler.wait_idle().await;
        // Three hours down: six inventory slots and 180 logs slots missed.
        s.clock.advance(3 * 60 * MINUTE);
        assert_eq!(tick(&s).await, 2, "each job runs once");
        s.scheduler.wait_idle().await;
        assert_eq!(tick(&s).await, 0, "and not again for the slots it missed");
        assert_eq!(
            (s.runner.started("inventory"), s.runner.started("logs")),
            (2, 2)
        );
        let now = s.clock.now_ms();
        for sch in s.store.schedules().await.expect("schedules") {
            assert!(sch.next_due_ms > now && sch.next_due_ms <= now + sch.interval_ms);
        }
    }

    #[tokio::test]
    async fn at_most_max_concurrent_jobs_run_at_once() {
        let s = setup(&["a", "b", "c"], 2).await;
        assert_eq!(tick(&s).await, 0);
        s.clock.advance(10 * MINUTE);
        // Six jobs are due; quick ones free their slot, until two inventories hold
        // both slots.
        for _ in 0..10 {
            tick(&s).await;
        }
        assert_eq!(s.runner.most.load(Ordering::SeqCst), 2);
        assert_eq!(s.runner.running.load(Ordering::SeqCst), 2);
        assert_eq!(tick(&s).await, 0, "no slot is free");
        assert_eq!(s.runner.started("inventory"), 2);
        s.runner.gate.add_permits(100);
        s.scheduler.wait_idle().await;
        for _ in 0..10 {
            tick(&s).await;
        }
        s.scheduler.wait_idle().await;
        assert_eq!(s.runner.most.load(Ordering::SeqCst), 2);
        assert_eq!(
            (s.runner.started("inventory"), s.runner.started("logs")),
            (3, 3)
        );
    }

    #[tokio::test]
    async fn shutdown_waits_for_the_grace_period_then_interrupts_and_frees_the_claims() {
        let s = setup(&["acme"], 8).await;
        assert_eq!(tick(&s).await, 0);
        s.clock.advance(10 * MINUTE);
        assert_eq!(tick(&s).await, 2);
        let report = s
            .scheduler
            .shutdown(Duration::from_millis(200), "test shutdown")
            .await;
        assert_eq!(
            report,
            ShutdownReport {
                finished: 1,
                interrupted: 1
            },
            "logs finished in time, inventory did not"
        );
        let inventory = s
            .store
            .schedules()
            .await
            .expect("schedules")
            .into_iter()
            .find(|x| x.job == "inventory")
            .expect("inventory");
        assert!(inventory.lease_owner.is_none(), "claim freed");
        assert!(
            inventory.next_due_ms <= s.clock.now_ms(),
            "due again at once"
        );
        assert_eq!(
            s.scheduler.tick().await.expect("tick"),
            0,
            "no claims after shutdown"
        );
    }
}
