//! Host-side bindings of the `kri:connector@0.1.0` world (see `wit/connector.wit`).
//!
//! Everything here is generated; the import traits are implemented thinly in
//! `sandbox.rs`, which hands each call to the gateway, the state overlay or the
//! output buffer.

wasmtime::component::bindgen!({
    path: "../wit",
    world: "connector",
    imports: { default: async | trappable },
    exports: { default: async },
});

pub use kri::connector::{http, log, output, state, types};
