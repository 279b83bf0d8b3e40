//! End-to-end tests of the `cordon` binary: real processes, real files, a real decision log.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests stop loudly"
)]

mod agents;
mod audit;
mod bounds;
mod compile;
mod containment;
mod guests;
mod policy;
mod records;
mod rex;
mod run;
mod sdk_docs;
mod sdk_errors;
mod serve;
mod source_runs;
mod support;
