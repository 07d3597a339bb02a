//! What the `kri` CLI writes to standard output: tables for people, JSON or CSV for
//! machines. A reader that goes away (`kri ... | head`, `| true`) ends the output
//! quietly: the command still finishes what it was doing and exits with its own code.

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{Context, Result};

use crate::table::Table;

/// How listings are printed (`-o`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Aligned columns, for people.
    Table,
    /// Pretty-printed JSON, the same documents `--json` prints.
    Json,
    /// Comma-separated values with a header row, for spreadsheets.
    Csv,
}

/// Set once standard output turned out closed; later output is dropped.
static STDOUT_CLOSED: AtomicBool = AtomicBool::new(false);

/// Writes `text` to standard output as it is.
pub fn write(text: &str) -> Result<()> {
    if STDOUT_CLOSED.load(Ordering::Relaxed) {
        return Ok(());
    }
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {
            STDOUT_CLOSED.store(true, Ordering::Relaxed);
            Ok(())
        }
        Err(e) => Err(e).context("cannot write to standard output"),
    }
}

/// Writes one line.
pub fn line(text: &str) -> Result<()> {
    write(&format!("{text}\n"))
}

/// Writes a value as pretty-printed JSON.
pub fn json<T: serde::Serialize>(v: &T) -> Result<()> {
    line(&serde_json::to_string_pretty(v)?)
}

/// Writes a table as aligned columns, or as CSV when `format` says so.
pub fn table(t: &Table, format: Format) -> Result<()> {
    match format {
        Format::Csv => write(&t.render_csv()?),
        Format::Table | Format::Json => write(&t.render()),
    }
}
