//! uncaught: fails on purpose, the way its input says, to show what a run's report says when an
//! agent's own code fails.
//!
//! - `{"do": "panic"}`: `panic!` with a message;
//! - `{"do": "divide", "by": 0}`: an integer division by zero, a panic of Rust's own;
//! - `{"do": "print"}`: a line to stdout and one to stderr with the SDK's `println!` and
//!   `eprintln!`, then returns `"printed"`.
//!
//! A panic ends the run: the report says `status: "error"` and `error: {"kind": "panic",
//! "message": ..., "location": {"file": "uncaught/src/lib.rs", "line": ..., "column": ...}}`,
//! the line being this file's; its stderr says it as Rust does (`panicked at ...`).

use cordon_guest::{Error, eprintln, println};
use serde::Deserialize;

#[derive(Deserialize)]
#[serde(tag = "do", rename_all = "kebab-case")]
enum Fault {
    Panic,
    Divide { by: u32 },
    Print,
}

#[expect(clippy::panic, reason = "this agent panics when asked to")]
fn run(fault: Fault) -> Result<String, Error> {
    Ok(match fault {
        Fault::Panic => panic!("asked to panic"),
        Fault::Divide { by } => (100 / by).to_string(),
        Fault::Print => {
            println!("to stdout");
            eprintln!("to stderr");
            "printed".to_owned()
        }
    })
}

cordon_guest::export!(run);
