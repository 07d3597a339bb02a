//! kri-policy: the host's policy rules, kept apart from everything that does I/O.
//!
//! Every decision the host takes about what a sandboxed connector may do — which
//! origin it may reach ([`egress`]), which resolved addresses are off limits
//! ([`ip`]), which headers it may send and how big they may be ([`headers`]), how
//! the tenant's credential is rendered ([`auth`]) and scrubbed from text
//! ([`redact`]), how requests are paced against the upstream's rate limits
//! ([`pacing`]), how much a run may consume ([`quota`]) and how a KRI value maps
//! to a status ([`threshold`]) — lives here as pure functions: no I/O, no clocks
//! (times are passed in), no async. Each module is small and tested with tables
//! of cases, including hostile ones.

pub mod auth;
pub mod egress;
pub mod headers;
pub mod ip;
pub mod pacing;
pub mod quota;
pub mod redact;
pub mod threshold;
