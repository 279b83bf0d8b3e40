//! Integration tests of cordon-policy: one binary, a module per feature.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests stop loudly"
)]

mod bundles;
mod cases;
mod decisions;
mod rex;
