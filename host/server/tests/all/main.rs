//! Integration tests of cordon-server: routes in-process with `app(state).oneshot(..)`, and
//! end to end against a listening server.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests stop loudly"
)]

mod auth;
mod blocking;
mod bundles;
mod common;
mod components;
mod connections;
mod egress;
mod errors;
mod hygiene;
mod identity;
mod kill;
mod persistence;
mod records;
mod retention;
mod revocation;
mod run_erasure;
mod runs;
mod serve;
mod source_runs;
