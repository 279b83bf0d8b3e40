//! bench-ops: the guest side of `scripts/bench-compare.sh`, one operation per run, chosen by
//! the input:
//!
//! - `{"op": "none"}`: returns at once (start-up only);
//! - `{"op": "read", "path": "one.txt", "times": 10000}`: reads one file `times` times, each read
//!   a gated `fs.read`;
//! - `{"op": "read-each", "dir": "files", "count": 10000}`: reads `files/f0` … `files/f9999`,
//!   each file once;
//! - `{"op": "loop", "iterations": 1000000}`: adds up the numbers below `iterations`, with no
//!   host call.
//!
//! Each returns what it did (reads and bytes, or the sum), so that no work can be skipped.

use cordon_guest::{Error, fs};
use serde::Deserialize;
use serde_json::{Value, json};

#[derive(Deserialize)]
#[serde(tag = "op", rename_all = "kebab-case")]
enum Op {
    None,
    Read { path: String, times: u32 },
    ReadEach { dir: String, count: u32 },
    Loop { iterations: u64 },
}

fn run(op: Op) -> Result<Value, Error> {
    Ok(match op {
        Op::None => json!({}),
        Op::Read { path, times } => {
            let mut bytes = 0;
            for _ in 0..times {
                bytes += fs::read(&path)?.len();
            }
            json!({ "reads": times, "bytes": bytes })
        }
        Op::ReadEach { dir, count } => {
            let mut bytes = 0;
            for i in 0..count {
                bytes += fs::read(format!("{dir}/f{i}"))?.len();
            }
            json!({ "reads": count, "bytes": bytes })
        }
        Op::Loop { iterations } => {
            // black_box keeps the compiler from replacing the loop with its closed form.
            let mut sum: u64 = 0;
            for i in 0..iterations {
                sum = sum.wrapping_add(core::hint::black_box(i));
            }
            json!({ "sum": sum })
        }
    })
}

cordon_guest::export!(run);
