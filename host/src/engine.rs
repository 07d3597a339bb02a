//! The one wasmtime `Engine` of a host process, and the component cache on disk.
//!
//! The engine runs guests asynchronously with epoch interruption: a background thread
//! ticks the epoch every [`EPOCH_TICK`], and each run's store checks its CPU budget
//! at every tick it spends in wasm (see `runtime::new_store` and `sandbox::CpuMeter`).
//! Components are compiled once and kept under `<data-dir>/cache/components/`, keyed
//! by the SHA-256 of the `.wasm` file and a hash of the engine's compatibility
//! settings, so an unchanged file loads without recompiling and a changed file (or a
//! new kri build) is compiled afresh.

use std::hash::{Hash, Hasher};
use std::io::Write;
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
    /// Compiled from the `.wasm` file now (and written to the cache, if it could be).
    Compiled,
    /// Deserialised from the cache without compiling.
    Cache,
}

/// The environment variable that turns on profiling of the guests' JIT code:
/// `KRI_WASM_PROFILE=perfmap` makes wasmtime write `/tmp/perf-<pid>.map`, so
/// `perf record -g` / `perf report` name each compiled wasm function instead of
/// showing bare addresses. Unset (or empty) means no profiling.
pub const WASM_PROFILE_ENV: &str = "KRI_WASM_PROFILE";

/// The profiling strategy [`WASM_PROFILE_ENV`] asks for, if any.
fn profiling_strategy_from_env() -> anyhow::Result<Option<wasmtime::ProfilingStrategy>> {
    match std::env::var(WASM_PROFILE_ENV) {
        Err(std::env::VarError::NotPresent) => Ok(None),
        Ok(v) if v.is_empty() => Ok(None),
        Ok(v) if v == "perfmap" => Ok(Some(wasmtime::ProfilingStrategy::PerfMap)),
        Ok(v) => anyhow::bail!(
            "{WASM_PROFILE_ENV}={v:?} is not a profiling strategy kri knows; use \"perfmap\" or unset it"
        ),
        Err(std::env::VarError::NotUnicode(_)) => anyhow::bail!(
            "{WASM_PROFILE_ENV} is not valid UTF-8; use \"perfmap\" or unset it"
        ),
    }
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
        // A 32-bit guest memory gets the whole 4 GiB it can address reserved (virtual
        // address space only: pages are committed as the memory grows), and a guard
        // region after it. Then no guest load or store needs a bounds check and the
        // memory never moves when it grows. A 1 GiB reservation cost the log KRIs a
        // bounds check on every access (`kri-bench --only 5`). Hundreds of concurrent
        // sandboxes still fit: 200 of them reserve under 1 TiB of 128 TiB.
        config.memory_reservation(4 << 30);
        config.memory_guard_size(32 << 20);
        if let Some(strategy) = profiling_strategy_from_env()? {
            config.profiler(strategy);
        }
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

    /// Compiles `bytes` or loads the cached compilation from `cache_dir`. A cache
    /// that cannot be written (full disk, read-only directory) costs only the
    /// cache: the component is compiled in memory and the loaded component says why
    /// it was not cached.
    pub fn load_component(
        &self,
        bytes: &[u8],
        cache_dir: Option<&Path>,
    ) -> anyhow::Result<LoadedComponent> {
        let digest = hex::encode(Sha256::digest(bytes));
        let cached: Option<PathBuf> =
            cache_dir.map(|d| d.join(format!("{digest}-{}.cwasm", self.compat)));
        if let Some(path) = &cached {
            if path.exists() {
                // SAFETY: the cache directory belongs to this data directory and is
                // written only by `write_atomically` below, through a rename that
                // makes a partial file impossible. A file that fails to deserialise
                // (another wasmtime version, corruption) is recompiled.
                match unsafe { Component::deserialize_file(&self.engine, path) } {
                    Ok(component) => {
                        return Ok(LoadedComponent {
                            component,
                            source: LoadSource::Cache,
                            cache_warning: None,
                        })
                    }
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
        let cache_warning = cached.and_then(|path| {
            write_atomically(&path, &compiled, |f, b| f.write_all(b))
                .err()
                .map(|e| {
                    format!(
                        "cannot write the component cache {}: {e}; compiled in memory instead",
                        path.display()
                    )
                })
        });
        // SAFETY: `compiled` was produced just now by this engine.
        let component = unsafe { Component::deserialize(&self.engine, &compiled) }
            .map_err(anyhow::Error::from)?;
        Ok(LoadedComponent {
            component,
            source: LoadSource::Compiled,
            cache_warning,
        })
    }
}

/// A component and how it was loaded.
pub struct LoadedComponent {
    pub component: Component,
    pub source: LoadSource,
    /// Why a freshly compiled component could not be cached, if it could not.
    pub cache_warning: Option<String>,
}

/// Writes `bytes` to `path` through a temporary file in the same directory and a
/// rename, so `path` is either absent or complete. On any failure the temporary
/// file is removed: a full disk is not filled further by leftovers.
fn write_atomically(
    path: &Path,
    bytes: &[u8],
    write: impl FnOnce(&mut std::fs::File, &[u8]) -> std::io::Result<()>,
) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    let written = std::fs::File::create(&tmp).and_then(|mut file| {
        write(&mut file, bytes)?;
        file.sync_all()?;
        drop(file);
        std::fs::rename(&tmp, path)
    });
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The smallest component: the header alone.
    const EMPTY_COMPONENT: &[u8] = b"\0asm\x0d\0\x01\0";

    fn names_in(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .map(|rd| {
                rd.filter_map(|e| e.ok())
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        names
    }

    #[test]
    fn a_failed_write_leaves_no_temporary_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("c.cwasm");
        // A writer that gets half way, then finds the disk full.
        let result = write_atomically(&path, &[7u8; 4096], |f, b| {
            f.write_all(&b[..2048])?;
            Err(std::io::Error::other("No space left on device"))
        });
        assert!(result.is_err());
        assert_eq!(names_in(dir.path()), Vec::<String>::new());
        write_atomically(&path, &[7u8; 4096], |f, b| f.write_all(b)).expect("write");
        assert_eq!(names_in(dir.path()), vec!["c.cwasm".to_string()]);
    }

    #[test]
    fn an_unwritable_cache_degrades_to_compiling_in_memory_with_a_warning() {
        let engine = KriEngine::new().expect("engine");
        let dir = tempfile::tempdir().expect("tempdir");
        // A cache directory that cannot be created: its parent is a file.
        std::fs::write(dir.path().join("file"), b"x").expect("file");
        let cache = dir.path().join("file").join("components");
        let loaded = engine
            .load_component(EMPTY_COMPONENT, Some(&cache))
            .expect("compiles without its cache");
        assert_eq!(loaded.source, LoadSource::Compiled);
        let warning = loaded.cache_warning.expect("a warning");
        assert!(
            warning.starts_with("cannot write the component cache ")
                && warning.ends_with("; compiled in memory instead"),
            "{warning}"
        );
        // A writable cache: compiled once, then loaded from the cache, no warning.
        let cache = dir.path().join("cache");
        let first = engine
            .load_component(EMPTY_COMPONENT, Some(&cache))
            .expect("compile");
        assert_eq!(
            (first.source, first.cache_warning),
            (LoadSource::Compiled, None)
        );
        let second = engine
            .load_component(EMPTY_COMPONENT, Some(&cache))
            .expect("cache");
        assert_eq!(second.source, LoadSource::Cache);
    }
}
