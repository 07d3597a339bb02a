//! Hot reload of the plugin directory for `kri serve`: every few seconds the
//! directory's `*.wasm` files are fingerprinted by name, size and modification time
//! (cheap; the content hash is taken by the component cache when a file is loaded),
//! and on any change the host reloads its plugins. New and changed connectors serve
//! from the next run on; runs in flight keep the version they started with; a file
//! that no longer loads is reported (log, `/api/v1/plugins`, `/metrics`) while the
//! version it replaced keeps serving.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use serde::Serialize;

use crate::host::KriHost;
use crate::serve::metrics::Metrics;
use crate::serve::scheduler::Scheduler;

/// A plugin directory's `*.wasm` files: name -> (size, modified).
type Fingerprint = BTreeMap<PathBuf, (u64, Option<SystemTime>)>;

fn fingerprint(dir: &Path) -> Fingerprint {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Fingerprint::new();
    };
    entries
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "wasm"))
        .map(|p| {
            let meta = std::fs::metadata(&p).ok();
            let size = meta.as_ref().map_or(0, |m| m.len());
            let modified = meta.and_then(|m| m.modified().ok());
            (p, (size, modified))
        })
        .collect()
}

/// What the last reload did, for `/api/v1/plugins`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ReloadStatus {
    /// How many times the directory was reloaded since start.
    pub reloads: u64,
    /// When the last reload finished (ms since the Unix epoch).
    pub last_reload_ms: Option<i64>,
    /// Files rejected at the last reload, with why.
    pub rejected: Vec<RejectedFile>,
}

/// A file that did not load.
#[derive(Debug, Clone, Serialize)]
pub struct RejectedFile {
    pub path: PathBuf,
    pub error: String,
    /// The connector that file provided before it broke, still served from the
    /// previous version.
    pub previous_version_serving: Option<String>,
}

pub struct Watcher {
    host: Arc<KriHost>,
    scheduler: Arc<Scheduler>,
    metrics: Arc<Metrics>,
    status: Arc<Mutex<ReloadStatus>>,
}

impl Watcher {
    pub fn new(
        host: Arc<KriHost>,
        scheduler: Arc<Scheduler>,
        metrics: Arc<Metrics>,
        status: Arc<Mutex<ReloadStatus>>,
    ) -> Watcher {
        Watcher {
            host,
            scheduler,
            metrics,
            status,
        }
    }

    /// Checks the directory every `every` until `stop` resolves.
    pub async fn run_until(&self, every: Duration, stop: impl std::future::Future<Output = ()>) {
        tokio::pin!(stop);
        let dir = self.host.config().plugins_dir.clone();
        let mut seen = fingerprint(&dir);
        let mut ticker = tokio::time::interval(every);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = &mut stop => return,
                _ = ticker.tick() => {}
            }
            let now = fingerprint(&dir);
            if now == seen {
                continue;
            }
            seen = now;
            self.reload().await;
        }
    }

    /// Reloads the plugins and reports what was rejected.
    pub async fn reload(&self) {
        let registry = match self.host.reload_plugins().await {
            Ok(r) => r,
            Err(e) => {
                tracing::error!(error = %format!("{e:#}"), "cannot reload the plugin directory");
                return;
            }
        };
        let rejected: Vec<RejectedFile> = registry
            .rejected
            .iter()
            .map(|r| RejectedFile {
                path: r.path.clone(),
                error: r.error.to_string(),
                previous_version_serving: registry
                    .plugins
                    .values()
                    .find(|p| p.path == r.path)
                    .map(|p| format!("{} {}", p.manifest.name, p.manifest.version)),
            })
            .collect();
        for r in &rejected {
            match &r.previous_version_serving {
                Some(prev) => {
                    tracing::error!(path = %r.path.display(), error = %r.error, serving = %prev, "plugin file rejected; the previous version keeps serving")
                }
                None => {
                    tracing::error!(path = %r.path.display(), error = %r.error, "plugin file rejected")
                }
            }
        }
        let names: Vec<String> = registry
            .plugins
            .values()
            .map(|p| format!("{} {}", p.manifest.name, p.manifest.version))
            .collect();
        tracing::info!(connectors = %names.join(", "), rejected = rejected.len(), "plugin directory reloaded");
        self.metrics.record_reload(rejected.len());
        {
            let mut status = self.status.lock().unwrap_or_else(|p| p.into_inner());
            status.reloads += 1;
            status.last_reload_ms = Some(crate::pacer::local_now_ms());
            status.rejected = rejected;
        }
        // New connectors or jobs get their schedules on the next tick.
        self.scheduler.request_sync();
    }
}
