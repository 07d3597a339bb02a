//! The Okta connector of kri: a WebAssembly component (`kri:connector@0.2.0`, through
//! `kri-connector-sdk`) that computes Okta identity KRIs and keeps the identity graph
//! (the `inventory` job). The logic (API client,
//! collection, KRI formulas) is plain Rust over the SDK's host traits, so it builds and
//! is tested natively. With the default `component` feature, building for wasm32 exports
//! [`connector::Okta`]; without it (`default-features = false`) the crate is a plain
//! library another component can use without exporting this one.

pub mod api;
pub mod budget;
pub mod collect;
pub mod config;
pub mod connector;
pub mod detect;
pub mod inventory;
pub mod kris;
pub mod logs;
pub mod store;

/// Time helpers (ISO-8601 <-> epoch ms), from the SDK.
pub use kri_connector_sdk::time;

#[cfg(feature = "component")]
kri_connector_sdk::export_connector!(crate::connector::Okta);
