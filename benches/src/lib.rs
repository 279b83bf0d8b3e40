//! Benches live in benches/benches/. This crate gives each of them the allocator the `cordon`
//! binary ships with (see host/cli/src/main.rs), so that their figures are the binary's; each
//! bench links it with `use cordon_benches as _;`.

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
