//! Integration tests of cordon-records: a real redb store per test, real Cedar bundles.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests stop loudly"
)]

mod cache;
mod erasure;
mod fast_path;
mod format;
mod import;
mod indexes;
mod operator;
mod privacy;
mod reads;
mod scrub;
mod support;
