//! The one wasmtime `Engine` of a host process, and the component cache on disk.
//!
//! The engine runs guests asynchronously with epoch interruption: a background thread
//! ticks the epoch every [`EPOCH_TICK`], and each run's store turns ticks spent in
//! wasm into its CPU budget (see `runtime::new_store`). Components are compiled once
//! and kept under `<data-dir>/cache/components/`, keyed by the SHA-256 of the `.wasm`
//! file and a hash of the engine's compatibility settings, so an unchanged file loads
//! without recompiling and a changed file (or a new kri build) is compiled afresh.

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use sha2::{Digest, Sha256};
use wasmtime::component::Component;
use wasmtime::{Config, Engine};

/// How often the epoch advances; the unit of CPU accounting and of yielding.
pub const EPOCH_TICK: Duration = Duration::from_millis(10);

/// Where a component came from when it was loaded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LoadSource {
    /// Compiled from the `.wasm` file now (and written to the cache).
    Compiled,
    /// Deserialised from the cache without compiling.
    Cache,
}

/// The shared engine plus its epoch ticker (stopped when the last clone drops).
#[derive(Clone)]
pub struct KriEngine {
    engine: Engine,
    compat: String,
    _ticker: Arc<Ticker>,
}

struct Ticker {
    stop: Arc<AtomicBool>,
}

impl Drop for Ticker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

impl KriEngine {
    pub fn new() -> anyhow::Result<KriEngine> {
        let mut config = Config::new();
        config.epoch_interruption(true);
        config.wasm_component_model(true);
        // Guests get a bounded native stack; deep recursion traps instead of
        // overflowing the host.
        config.max_wasm_stack(1 << 20);
        config.async_stack_size(2 << 20);
        // Small virtual reservations so hundreds of concurrent sandboxes fit.
        config.memory_reservation(1 << 30);
        config.memory_guard_size(32 << 20);
        let engine = Engine::new(&config).map_err(anyhow::Error::from)?;
        let mut h = std::collections::hash_map::DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut h);
        let compat = format!("{:016x}", h.finish());
        let stop = Arc::new(AtomicBool::new(false));
        {
            let engine = engine.clone();
            let stop = stop.clone();
            std::thread::Builder::new()
                .name("kri-epoch".into())
                .spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        std::thread::sleep(EPOCH_TICK);
                        engine.increment_epoch();
                    }
                })?;
        }
        Ok(KriEngine {
            engine,
            compat,
            _ticker: Arc::new(Ticker { stop }),
        })
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Compiles `bytes` or loads the cached compilation from `cache_dir`.
    pub fn load_component(
        &self,
        bytes: &[u8],
        cache_dir: Option<&Path>,
    ) -> anyhow::Result<(Component, LoadSource)> {
        let digest = hex::encode(Sha256::digest(bytes));
        let cached: Option<PathBuf> =
            cache_dir.map(|d| d.join(format!("{digest}-{}.cwasm", self.compat)));
        if let Some(path) = &cached {
            if path.exists() {
                // SAFETY: the cache directory belongs to this data directory and is
                // written only by `precompile_component` below, through a rename that
                // makes a partial file impossible. A file that fails to deserialise
                // (another wasmtime version, corruption) is recompiled.
                match unsafe { Component::deserialize_file(&self.engine, path) } {
                    Ok(c) => return Ok((c, LoadSource::Cache)),
                    Err(_) => {
                        let _ = std::fs::remove_file(path);
                    }
                }
            }
        }
        let compiled = self
            .engine
            .precompile_component(bytes)
            .map_err(anyhow::Error::from)?;
        if let Some(path) = &cached {
            if let Some(dir) = path.parent() {
                if std::fs::create_dir_all(dir).is_ok() {
                    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
                    if std::fs::write(&tmp, &compiled).is_ok() {
                        let _ = std::fs::rename(&tmp, path);
                    }
                }
            }
        }
        // SAFETY: `compiled` was produced just now by this engine.
        let component = unsafe { Component::deserialize(&self.engine, &compiled) }
            .map_err(anyhow::Error::from)?;
        Ok((component, LoadSource::Compiled))
    }
}
