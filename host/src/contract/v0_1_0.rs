//! `kri:connector@0.1.0` (`wit/0.1.0/`, frozen): its bindings, its imports over the
//! sandbox, and the conversions into the host's types. A 0.1.0 connector has one job,
//! `kris`, emits KRIs one call at a time, and was written for Okta's rate limits, so
//! it gets the Okta rate-limit profile.

use wasmtime::component::{HasSelf, Linker};
use wasmtime::Store;

use kri_policy::pacing::{BucketScheme, ConcurrencySignal, RateLimitProfile, ResetFormat};

use super::{config_schema, JobSpec, KriDefinition, KRIS_JOB};
use crate::error::PluginError;
use crate::gateway::{InboundResponse, OutboundRequest};
use crate::model::{Direction, KriValue, Output, OutputKind};
use crate::sandbox::{GuestHttpError, SandboxState};

wasmtime::component::bindgen!({
    path: "../wit/0.1.0",
    world: "connector",
    imports: { default: async | trappable },
    exports: { default: async },
});

use kri::connector::{http, log, output, state, types};

same_in_every_version!();

pub const VERSION: &str = "0.1.0";

pub fn add_to_linker(linker: &mut Linker<SandboxState>) -> anyhow::Result<()> {
    Connector::add_to_linker::<SandboxState, HasSelf<SandboxState>>(linker, |s| s)
        .map_err(anyhow::Error::from)
}

/// Path words of Okta's API that the bucket rules would otherwise take for ids.
const OKTA_FIXED_WORDS: [&str; 14] = [
    "oauth2",
    "saml2",
    "authorizationServers",
    "identitySources",
    "trustedOrigins",
    "linkedObjects",
    "inlineHooks",
    "eventHooks",
    "emailDomains",
    "customDomains",
    "roleAssignments",
    "privilegedResources",
    "pushProviders",
    "resourceSets",
];

/// The rate-limit profile every 0.1.0 connector was paced by: Okta's.
pub fn okta_profile() -> RateLimitProfile {
    RateLimitProfile {
        limit_header: "X-Rate-Limit-Limit".into(),
        remaining_header: "X-Rate-Limit-Remaining".into(),
        reset_header: "X-Rate-Limit-Reset".into(),
        reset_format: ResetFormat::EpochSeconds,
        buckets: BucketScheme::PerEndpoint {
            fixed_words: OKTA_FIXED_WORDS.map(String::from).to_vec(),
        },
        concurrency: ConcurrencySignal::LimitAndRemainingZero,
    }
}

fn manifest(m: types::Manifest) -> Result<super::Manifest, PluginError> {
    Ok(super::Manifest {
        kris: m
            .kris
            .into_iter()
            .map(|k| KriDefinition {
                slug: k.slug,
                name: k.name,
                description: k.description,
                unit: k.unit,
                direction: match k.direction {
                    types::Direction::HigherIsBetter => Direction::HigherIsBetter,
                    types::Direction::LowerIsBetter => Direction::LowerIsBetter,
                },
                warn: k.warn_threshold,
                breach: k.breach_threshold,
            })
            .collect(),
        jobs: vec![JobSpec {
            name: KRIS_JOB.to_string(),
            description: "Computes the connector's KRIs.".to_string(),
            default_schedule: m.default_schedule.clone(),
            outputs: vec![OutputKind::Kri],
        }],
        config_schema: config_schema(&m.config_schema)?,
        name: m.name,
        version: m.version,
        description: m.description,
        auth_scheme: Some(m.auth_scheme),
        oauth: None,
        default_schedule: m.default_schedule,
        contract: VERSION,
        rate_limit: okta_profile(),
    })
}

fn request(r: &super::RunRequest) -> types::RunRequest {
    types::RunRequest {
        now_ms: r.now_ms,
        kris: r.kris.clone(),
        extra_config: r.extra_config.clone(),
    }
}

impl output::Host for SandboxState {
    async fn emit_kri(&mut self, v: types::KriValue) -> wasmtime::Result<Result<(), String>> {
        let details = match serde_json::from_str(&v.details) {
            Ok(d) => d,
            Err(_) => {
                return Ok(Err(format!(
                    "details of `{}` must be a JSON object",
                    v.slug
                )))
            }
        };
        self.emit(vec![Output::Kri(KriValue {
            slug: v.slug,
            value: v.value,
            numerator: v.numerator,
            denominator: v.denominator,
            details,
            not_evaluated_reason: v.not_evaluated_reason,
        })])
    }
}
