//! A tenant's KRI settings after setup: the warn and breach thresholds of each KRI
//! (set, reset to the manifest's defaults, listed with whether they are the
//! defaults), and which KRIs the tenant computes.
//!
//! Statuses are evaluated when values are read (`Store::latest_kris`), so a changed
//! threshold shows at once, without a new run.

use std::collections::BTreeSet;

use kri_policy::threshold::{check_thresholds, Direction};
use serde::Serialize;

use crate::error::RunError;
use crate::host::KriHost;

/// One KRI's thresholds for a tenant, next to the connector's defaults.
#[derive(Debug, Clone, Serialize)]
pub struct ThresholdRow {
    pub slug: String,
    pub name: String,
    pub direction: &'static str,
    pub warn: Option<f64>,
    pub breach: Option<f64>,
    /// The manifest's thresholds; `None` in both when the connector is not loaded.
    pub default_warn: Option<f64>,
    pub default_breach: Option<f64>,
    /// Whether `warn` and `breach` equal the manifest's; `None` when the connector
    /// is not loaded, so the defaults are unknown.
    pub is_default: Option<bool>,
    /// Whether the tenant computes this KRI.
    pub selected: bool,
}

/// What `set_thresholds` does to a KRI.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ThresholdChange {
    /// New values; `None` leaves that threshold as it is.
    Set {
        warn: Option<f64>,
        breach: Option<f64>,
    },
    /// Back to the manifest's defaults.
    Reset,
}

impl KriHost {
    /// Every KRI definition of a tenant with its thresholds and the defaults.
    pub async fn thresholds(&self, tenant_id: &str) -> Result<Vec<ThresholdRow>, RunError> {
        let tenant = self.store().tenant(tenant_id).await?;
        let plugin = self.registry().get(&tenant.connector);
        let rows = self.store().definitions(tenant_id).await?;
        Ok(rows
            .into_iter()
            .map(|d| {
                let default = plugin
                    .as_ref()
                    .and_then(|p| p.manifest.kris.iter().find(|k| k.slug == d.slug));
                ThresholdRow {
                    direction: d.direction.as_str(),
                    default_warn: default.and_then(|k| k.warn),
                    default_breach: default.and_then(|k| k.breach),
                    is_default: default.map(|k| k.warn == d.warn && k.breach == d.breach),
                    selected: tenant.kris.is_empty() || tenant.kris.contains(&d.slug),
                    slug: d.slug,
                    name: d.name,
                    warn: d.warn,
                    breach: d.breach,
                }
            })
            .collect())
    }

    /// Sets or resets one KRI's thresholds. A warn threshold past the breach
    /// threshold (given the KRI's direction) is refused and nothing changes.
    pub async fn set_thresholds(
        &self,
        tenant_id: &str,
        slug: &str,
        change: ThresholdChange,
    ) -> Result<ThresholdRow, RunError> {
        let rows = self.thresholds(tenant_id).await?;
        let Some(row) = rows.iter().find(|r| r.slug == slug) else {
            let known: Vec<&str> = rows.iter().map(|r| r.slug.as_str()).collect();
            return Err(RunError::Other(format!(
                "`{slug}` is not a KRI of tenant `{tenant_id}`; known: {}",
                known.join(", ")
            )));
        };
        let (warn, breach) = match change {
            ThresholdChange::Set { warn, breach } => (warn.or(row.warn), breach.or(row.breach)),
            ThresholdChange::Reset => {
                if row.is_default.is_none() {
                    return Err(RunError::Other(format!(
                        "the defaults of `{slug}` come from its connector, which is not in the plugin directory; add the plugin or set the thresholds with --warn and --breach"
                    )));
                }
                (row.default_warn, row.default_breach)
            }
        };
        let dir = if row.direction == Direction::HigherIsBetter.as_str() {
            Direction::HigherIsBetter
        } else {
            Direction::LowerIsBetter
        };
        check_thresholds(dir, warn, breach)
            .map_err(|e| RunError::Other(format!("thresholds of `{slug}` refused: {e}")))?;
        self.store()
            .set_thresholds(tenant_id, slug, warn, breach)
            .await?;
        self.thresholds(tenant_id)
            .await?
            .into_iter()
            .find(|r| r.slug == slug)
            .ok_or_else(|| RunError::Other(format!("`{slug}` vanished while it was set")))
    }

    /// Changes which KRIs a tenant computes (`[]` = all of its connector's). A KRI
    /// switched off is no longer computed or shown; its history stays unless
    /// `purge`, which deletes the stored values of every KRI not selected. Returns
    /// how many values were purged.
    pub async fn set_kris(
        &self,
        tenant_id: &str,
        kris: &[String],
        purge: bool,
    ) -> Result<usize, RunError> {
        let tenant = self.store().tenant(tenant_id).await?;
        let known: BTreeSet<String> = match self.registry().get(&tenant.connector) {
            Some(p) => p.manifest.kris.iter().map(|k| k.slug.clone()).collect(),
            None => self
                .store()
                .definitions(tenant_id)
                .await?
                .into_iter()
                .map(|d| d.slug)
                .collect(),
        };
        for slug in kris {
            if !known.contains(slug) {
                return Err(RunError::Other(format!(
                    "`{slug}` is not a KRI of connector `{}`; known: {}",
                    tenant.connector,
                    known.iter().cloned().collect::<Vec<_>>().join(", ")
                )));
            }
        }
        self.store().set_tenant_kris(tenant_id, kris).await?;
        if purge && !kris.is_empty() {
            return Ok(self.store().purge_kri_values(tenant_id, kris).await?);
        }
        Ok(0)
    }
}
