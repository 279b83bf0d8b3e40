//! The one `bindgen!` of the host: Rust types and traits for the `cordon:agent` world.
//!
//! Every import is trappable: a host function returns `wasmtime::Result<Result<T, Error>>`,
//! where the outer error ends the run (a limit, a host failure) and the inner one is a typed
//! error the guest handles (a denial, a missing file).

wasmtime::component::bindgen!({
    path: "../../wit",
    world: "cordon:agent/agent",
    imports: { default: trappable },
});

pub use cordon::agent::types::Denial;
