//! Async rate-limit pacing per endpoint family, shared by all runs of one tenant.
//!
//! The decisions (send now, or wait until when) are made by the pure
//! `kri_policy::pacing::Bucket` (rate-limit windows, and the in-flight cap that
//! concurrency 429s lower and successes raise again); this file keeps one bucket per
//! family behind a lock, sleeps when told to wait, and wakes waiters when a request
//! finishes.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use kri_policy::pacing::{Bucket, Decision, PacingConfig, RateLimitHeaders};

/// Local wall clock in epoch milliseconds.
pub fn local_now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

pub struct Pacer {
    cfg: PacingConfig,
    buckets: Mutex<HashMap<String, Bucket>>,
    wake: tokio::sync::Notify,
}

impl Pacer {
    pub fn new(cfg: PacingConfig) -> Pacer {
        Pacer {
            cfg,
            buckets: Mutex::new(HashMap::new()),
            wake: tokio::sync::Notify::new(),
        }
    }

    fn with_bucket<R>(&self, key: &str, f: impl FnOnce(&mut Bucket) -> R) -> R {
        let mut map = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        let bucket = map.entry(key.to_string()).or_default();
        f(bucket)
    }

    /// Waits until the family's bucket lets one more request go, and counts it sent.
    pub async fn acquire(&self, key: &str) {
        loop {
            let notified = self.wake.notified();
            let now = local_now_ms();
            let decision = self.with_bucket(key, |b| {
                let d = b.decide(now, &self.cfg);
                if matches!(d, Decision::SendNow) {
                    b.on_send(now);
                }
                d
            });
            match decision {
                Decision::SendNow => return,
                Decision::WaitUntil { local_ms, .. } => {
                    let wait = (local_ms - now).clamp(1, self.cfg.max_wait_ms as i64) as u64;
                    // Wake early when another request of any family finishes: it may
                    // have freed an in-flight slot or taught us the limit.
                    tokio::select! {
                        _ = tokio::time::sleep(Duration::from_millis(wait)) => {}
                        _ = notified => {}
                    }
                }
            }
        }
    }

    /// Records a finished request (status 0 for a transport failure).
    pub fn on_response(&self, key: &str, status: u16, headers: &RateLimitHeaders) {
        let now = local_now_ms();
        let concurrency = self.with_bucket(key, |b| {
            if status != 0 {
                b.on_response(status, headers, now);
            }
            b.on_done();
            (b.max_in_flight(), b.concurrency_ceiling())
        });
        if status == 429 && headers.is_concurrency_limit() {
            tracing::info!(
                bucket = key,
                max_in_flight = concurrency.0,
                ceiling = concurrency.1,
                "concurrency 429: fewer requests of this family in flight"
            );
        }
        self.wake.notify_waiters();
    }
}
