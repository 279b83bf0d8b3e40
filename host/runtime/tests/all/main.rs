//! Integration tests of cordon-runtime: real components (built in-process from WAT), a real
//! redb decision log, real files under a temporary root.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests stop loudly"
)]

mod bounds;
mod fs;
mod fs_guests;
mod fs_race;
mod fs_rename;
mod http;
mod https;
mod limits;
mod load;
mod pool;
mod records;
mod rhai_rex;
mod shadow;
mod source;
mod source_guests;
mod support;
mod uncaught;
mod waits;
