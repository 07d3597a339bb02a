//! The plugin directory: every `*.wasm` in it is validated and known by its
//! manifest name, not its file name.
//!
//! Validation, in order: the file is a regular file (a symlink counts by its target;
//! FIFOs, devices and directories are refused before anything is opened) no larger
//! than the size limit, and readable; it is trusted when trust is required (see
//! `trust`: its SHA-256 on the trust list, or signed by a trusted key); it is
//! WebAssembly; it is a component (not a
//! core module); it compiles (or loads from the cache); it links against a
//! `kri:connector` world this host speaks (0.2.0 or 0.1.0, see `contract/`);
//! `describe()` answers within small limits; the manifest is sound; no other file
//! already provides that name. A file that fails any step is
//! reported with a one-line reason and skipped; the others are still served.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use kri_policy::quota::Quotas;
use serde::Serialize;
use wasmtime::component::Linker;

use crate::contract::ConnectorPre;
pub use crate::contract::{JobSpec, KriDefinition, Manifest as ConnectorManifest};
use crate::engine::{KriEngine, LoadSource};
use crate::error::PluginError;
use crate::runtime::{call_describe, new_store, CallFailure, CallLimits};
use crate::sandbox::SandboxState;
use crate::trust::{Trust, TrustPolicy};

/// A loaded, validated connector.
pub struct Plugin {
    pub manifest: ConnectorManifest,
    pub path: PathBuf,
    pub source: LoadSource,
    /// Why the compiled component could not be cached (it was compiled in memory).
    pub cache_warning: Option<String>,
    /// Whether the operator trusts this file.
    pub trust: Trust,
    pub pre: ConnectorPre,
}

/// A file that was not loaded, and why.
#[derive(Debug, Clone, Serialize)]
pub struct RejectedPlugin {
    pub path: PathBuf,
    #[serde(serialize_with = "ser_display")]
    pub error: PluginError,
}

fn ser_display<S: serde::Serializer>(e: &PluginError, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&e.to_string())
}

/// The connectors of a plugin directory.
#[derive(Default)]
pub struct PluginRegistry {
    pub plugins: BTreeMap<String, Arc<Plugin>>,
    pub rejected: Vec<RejectedPlugin>,
}

const DESCRIBE_LIMITS: CallLimits = CallLimits {
    cpu_ms: 2_000,
    wall_ms: 10_000,
};

/// The largest plugin file read by default (64 MiB); see `HostConfig::max_plugin_bytes`.
pub const DEFAULT_MAX_PLUGIN_BYTES: u64 = 64 << 20;

/// What kind of non-regular file `meta` describes, for the rejection's reason.
fn file_kind(meta: &std::fs::Metadata) -> &'static str {
    let t = meta.file_type();
    if t.is_dir() {
        return "a directory";
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if t.is_fifo() {
            return "a FIFO";
        }
        if t.is_char_device() {
            return "a character device";
        }
        if t.is_block_device() {
            return "a block device";
        }
        if t.is_socket() {
            return "a socket";
        }
    }
    "a special file"
}

/// Checks that `meta` is a regular file within `max_bytes`.
fn check_plugin_file(meta: &std::fs::Metadata, max_bytes: u64) -> Result<(), PluginError> {
    if !meta.is_file() {
        return Err(PluginError::Unreadable(format!(
            "{}, not a regular file; only regular files are read as plugins",
            file_kind(meta)
        )));
    }
    if meta.len() > max_bytes {
        return Err(PluginError::TooLarge {
            size: meta.len(),
            max: max_bytes,
        });
    }
    Ok(())
}

/// Reads a plugin file: only a regular file (a symlink by its target's metadata,
/// checked before opening), at most `max_bytes`. The open never blocks (a file
/// swapped for a FIFO after the check), the opened file is checked again, and the
/// read stops past the limit (a file that grows meanwhile).
fn read_plugin_file(path: &Path, max_bytes: u64) -> Result<Vec<u8>, PluginError> {
    use std::io::Read;
    let unreadable = |e: std::io::Error| PluginError::Unreadable(e.to_string());
    check_plugin_file(&std::fs::metadata(path).map_err(unreadable)?, max_bytes)?;
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(libc::O_NONBLOCK);
    }
    let file = options.open(path).map_err(unreadable)?;
    let meta = file.metadata().map_err(unreadable)?;
    check_plugin_file(&meta, max_bytes)?;
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    file.take(max_bytes.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(unreadable)?;
    if bytes.len() as u64 > max_bytes {
        return Err(PluginError::TooLarge {
            size: bytes.len() as u64,
            max: max_bytes,
        });
    }
    Ok(bytes)
}

/// The bytes of a plugin file that is a WebAssembly component (what `kri plugin
/// trust` records), read under the same rules as the plugin directory's files.
pub fn read_component(path: &Path, max_bytes: u64) -> Result<Vec<u8>, PluginError> {
    let bytes = read_plugin_file(path, max_bytes)?;
    classify(&bytes)?;
    Ok(bytes)
}

const COMPONENT_LAYER: [u8; 4] = [0x0d, 0x00, 0x01, 0x00];
const CORE_VERSION: [u8; 4] = [0x01, 0x00, 0x00, 0x00];

/// Tells a component from a core module from anything else, by the header.
fn classify(bytes: &[u8]) -> Result<(), PluginError> {
    if bytes.len() < 8 || &bytes[0..4] != b"\0asm" {
        return Err(PluginError::NotWasm);
    }
    let version: [u8; 4] = [bytes[4], bytes[5], bytes[6], bytes[7]];
    if version == CORE_VERSION {
        return Err(PluginError::CoreModule);
    }
    if version != COMPONENT_LAYER {
        return Err(PluginError::Invalid(format!(
            "unknown WebAssembly version/layer {:02x?}",
            version
        )));
    }
    Ok(())
}

fn valid_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
}

/// Checks what the host relies on in a manifest, whatever its contract version.
fn validate(m: &ConnectorManifest) -> Result<(), PluginError> {
    let bad = |why: String| Err(PluginError::BadManifest(why));
    if !valid_name(&m.name) {
        return bad(format!("name `{}` must be 1-64 of [a-z0-9_-]", m.name));
    }
    if let Some(template) = &m.auth_scheme {
        if template.matches("{token}").count() != 1 {
            return bad("auth-scheme must contain `{token}` exactly once".into());
        }
    }
    if let Some(o) = &m.oauth {
        if !o.token_path.starts_with('/') || o.token_path.starts_with("//") {
            return bad(format!(
                "the OAuth token path `{}` must be a path on the tenant's base URL, starting with one `/`",
                o.token_path
            ));
        }
        if o.scopes
            .iter()
            .any(|s| s.is_empty() || s.contains(char::is_whitespace))
        {
            return bad("an OAuth scope is empty or contains whitespace".into());
        }
    }
    let mut seen = BTreeSet::new();
    for k in &m.kris {
        if !valid_name(&k.slug) {
            return bad(format!("KRI slug `{}` is not valid", k.slug));
        }
        if !seen.insert(k.slug.as_str()) {
            return bad(format!("KRI slug `{}` appears twice", k.slug));
        }
    }
    if m.jobs.is_empty() {
        return bad("no jobs: declare at least one".into());
    }
    let mut seen = BTreeSet::new();
    for j in &m.jobs {
        if !valid_name(&j.name) {
            return bad(format!("job name `{}` must be 1-64 of [a-z0-9_-]", j.name));
        }
        if !seen.insert(j.name.as_str()) {
            return bad(format!("job `{}` appears twice", j.name));
        }
    }
    Ok(())
}

/// Loads and validates one file of at most `max_bytes`, refusing it before it is
/// compiled when `trust` requires trust and the file has none.
pub async fn load_plugin(
    engine: &KriEngine,
    linker: &Linker<SandboxState>,
    path: &Path,
    cache_dir: Option<&Path>,
    max_bytes: u64,
    trust: &TrustPolicy,
) -> Result<Plugin, PluginError> {
    let bytes = read_plugin_file(path, max_bytes)?;
    let trusted = trust.check(path, &bytes);
    if trust.require {
        if let Some(reason) = trusted.refusal(path) {
            return Err(PluginError::Untrusted(reason));
        }
    }
    classify(&bytes)?;
    let loaded = engine
        .load_component(&bytes, cache_dir)
        .map_err(|e| PluginError::Invalid(first_line(&format!("{e:#}"))))?;
    let instance_pre = linker
        .instantiate_pre(&loaded.component)
        .map_err(|e| PluginError::WrongWorld(first_line(&format!("{e:#}"))))?;
    let pre =
        ConnectorPre::new(instance_pre).map_err(|e| PluginError::WrongWorld(first_line(&e)))?;
    let quotas = Quotas {
        memory_bytes: 64 << 20,
        ..Quotas::default()
    };
    let state = SandboxState::new(quotas, None, BTreeSet::new(), BTreeMap::new(), None);
    let mut store = new_store(engine, state, DESCRIBE_LIMITS);
    let manifest = call_describe(&pre, &mut store, DESCRIBE_LIMITS)
        .await
        .map_err(|f| match f {
            CallFailure::Quota(q) => PluginError::DescribeFailed(q.to_string()),
            CallFailure::Trap(t) => PluginError::DescribeFailed(first_line(&t)),
        })??;
    validate(&manifest)?;
    Ok(Plugin {
        manifest,
        path: path.to_path_buf(),
        source: loaded.source,
        cache_warning: loaded.cache_warning,
        trust: trusted,
        pre,
    })
}

fn first_line(s: &str) -> String {
    let line = s.lines().next().unwrap_or("").trim();
    if line.len() > 300 {
        format!(
            "{}…",
            &line[..line
                .char_indices()
                .nth(300)
                .map(|(i, _)| i)
                .unwrap_or(line.len())]
        )
    } else {
        line.to_string()
    }
}

impl PluginRegistry {
    /// Scans `dir` for `*.wasm` files (sorted by file name), reading none larger
    /// than `max_bytes`. A missing directory gives an empty registry. Nothing is
    /// trusted and trust is not required.
    pub async fn load(
        engine: &KriEngine,
        linker: &Linker<SandboxState>,
        dir: &Path,
        cache_dir: Option<&Path>,
        max_bytes: u64,
    ) -> PluginRegistry {
        Self::load_trusted(
            engine,
            linker,
            dir,
            cache_dir,
            max_bytes,
            &TrustPolicy::default(),
        )
        .await
    }

    /// [`PluginRegistry::load`] under a trust policy: each plugin's trust is
    /// recorded, and untrusted files are refused when the policy requires trust.
    pub async fn load_trusted(
        engine: &KriEngine,
        linker: &Linker<SandboxState>,
        dir: &Path,
        cache_dir: Option<&Path>,
        max_bytes: u64,
        trust: &TrustPolicy,
    ) -> PluginRegistry {
        let mut reg = PluginRegistry::default();
        let mut files: Vec<PathBuf> = match std::fs::read_dir(dir) {
            Ok(rd) => rd
                .filter_map(|e| e.ok())
                .map(|e| e.path())
                .filter(|p| p.extension().map(|x| x == "wasm").unwrap_or(false))
                .collect(),
            Err(_) => return reg,
        };
        files.sort();
        for path in files {
            match load_plugin(engine, linker, &path, cache_dir, max_bytes, trust).await {
                Ok(plugin) => {
                    let name = plugin.manifest.name.clone();
                    if let Some(first) = reg.plugins.get(&name) {
                        let error = PluginError::Duplicate {
                            name,
                            first: first.path.display().to_string(),
                            second: path.display().to_string(),
                        };
                        reg.rejected.push(RejectedPlugin { path, error });
                    } else {
                        reg.plugins.insert(name, Arc::new(plugin));
                    }
                }
                Err(error) => reg.rejected.push(RejectedPlugin { path, error }),
            }
        }
        reg
    }

    pub fn get(&self, name: &str) -> Option<Arc<Plugin>> {
        self.plugins.get(name).cloned()
    }

    pub fn names(&self) -> String {
        if self.plugins.is_empty() {
            "none".into()
        } else {
            self.plugins.keys().cloned().collect::<Vec<_>>().join(", ")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_headers() {
        let cases: &[(&[u8], Result<(), PluginError>)] = &[
            (b"", Err(PluginError::NotWasm)),
            (b"hello world!", Err(PluginError::NotWasm)),
            (b"\0asm\x01\0\0\0", Err(PluginError::CoreModule)),
            (b"\0asm\x0d\0\x01\0", Ok(())),
        ];
        for (bytes, want) in cases {
            assert_eq!(&classify(bytes), want, "{bytes:?}");
        }
    }

    #[test]
    fn names_and_slugs() {
        for (name, ok) in [
            ("okta", true),
            ("my-conn_2", true),
            ("", false),
            ("Okta", false),
            ("a/b", false),
        ] {
            assert_eq!(valid_name(name), ok, "{name}");
        }
    }
}
