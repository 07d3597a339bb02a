//! `kri secrets rotate`: re-seals every tenant's secret under a new key, in one
//! transaction (see `KriHost::rotate_key`).

use anyhow::{Context, Result};

use crate::output::{self, Format};
use crate::Cli;

pub async fn rotate(cli: &Cli, new_key_env: Option<&str>, format: Format) -> Result<()> {
    let host = crate::open_records(cli).await?;
    let rotation = host
        .rotate_key(new_key_env)
        .await
        .context("cannot rotate the encryption key; nothing was changed")?;
    if format == Format::Json {
        return output::json(&rotation);
    }
    output::line(&format!(
        "re-sealed the secrets of {} tenant(s): key {} -> {} ({})",
        rotation.tenants, rotation.old_key_id, rotation.new_key_id, rotation.new_key_source
    ))?;
    if new_key_env.is_some() {
        output::line(&format!(
            "set KRI_ENCRYPTION_KEY to the value of {} from now on",
            rotation.new_key_source
        ))?;
    }
    Ok(())
}
