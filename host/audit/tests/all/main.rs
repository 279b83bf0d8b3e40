//! Integration tests of cordon-audit: one binary, a module per feature.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests stop loudly"
)]

mod append;
mod bundle;
mod common;
mod durability;
mod encoding;
mod erasure;
mod format;
mod fuzz_seeds;
mod integrity;
mod keys;
mod proofs;
mod query;
mod sources;
mod tamper;
