//! `kri plugin trust FILE`: records a component's SHA-256 as trusted, so that
//! `--require-trusted` loads it (see `kri_host::trust`).

use std::path::Path;

use anyhow::Result;
use kri_host::KriHost;

use crate::output::{self, Format};
use crate::Cli;

pub async fn trust(cli: &Cli, file: &Path, format: Format) -> Result<()> {
    let cfg = crate::config(cli)?;
    let record = KriHost::trust_plugin(&cfg, file)?;
    if format == Format::Json {
        return output::json(&record);
    }
    output::line(&format!(
        "trusted {} (sha256 {}); a change to the file needs `kri plugin trust` again",
        file.display(),
        record.sha256
    ))
}
