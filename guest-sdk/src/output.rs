//! The run's standard output and standard error: what an agent prints lands in the run report's
//! `stdout` and `stderr`, as `print()` does in Python and `console.log` in JavaScript.
//!
//! A component has no other console: Rust's own `std::println!` writes nowhere on
//! `wasm32-unknown-unknown`. Use this crate's [`println!`](crate::println) and
//! [`eprintln!`](crate::eprintln) instead; they import the WASI streams `wasi:cli/stdout` and
//! `wasi:cli/stderr`, which the host captures (within the run's output limit) and which reach
//! nothing else.
//!
//! # Example
//!
//! ```no_run
//! fn run(input: serde_json::Value) -> Result<usize, cordon_guest::Error> {
//!     cordon_guest::eprintln!("got {} keys", input.as_object().map_or(0, |o| o.len()));
//!     cordon_guest::println!("done");
//!     Ok(1)
//! }
//! # cordon_guest::export!(run);
//! # fn main() {}
//! ```

/// How much one WASI `blocking-write-and-flush` may carry.
#[cfg(target_arch = "wasm32")]
const CHUNK: usize = 4096;

/// Write `text` to the run's stdout as it is. [`println!`](crate::println) is the usual way.
///
/// ```no_run
/// cordon_guest::output::stdout("progress: 50%\n");
/// ```
pub fn stdout(text: &str) {
    write(Stream::Stdout, text.as_bytes());
}

/// Write `text` to the run's stderr as it is. [`eprintln!`](crate::eprintln) is the usual way.
///
/// ```no_run
/// cordon_guest::output::stderr("warning: no rows\n");
/// ```
pub fn stderr(text: &str) {
    write(Stream::Stderr, text.as_bytes());
}

#[derive(Clone, Copy)]
enum Stream {
    Stdout,
    Stderr,
}

#[cfg(target_arch = "wasm32")]
fn write(stream: Stream, bytes: &[u8]) {
    use crate::__bindings::wasi::cli::{stderr, stdout};
    let out = match stream {
        Stream::Stdout => stdout::get_stdout(),
        Stream::Stderr => stderr::get_stderr(),
    };
    for chunk in bytes.chunks(CHUNK) {
        // A closed stream loses the text; there is nowhere else to say so.
        if out.blocking_write_and_flush(chunk).is_err() {
            return;
        }
    }
}

/// Off wasm (the crate's own tests and doctests), the process's streams.
#[cfg(not(target_arch = "wasm32"))]
fn write(stream: Stream, bytes: &[u8]) {
    use std::io::Write;
    let _ = match stream {
        Stream::Stdout => std::io::stdout().write_all(bytes),
        Stream::Stderr => std::io::stderr().write_all(bytes),
    };
}

/// Print a line to the run's stdout (the report's `stdout`), formatted as [`std::println!`].
///
/// ```no_run
/// let rows = 3;
/// cordon_guest::println!("read {rows} rows");
/// ```
#[macro_export]
macro_rules! println {
    () => {
        $crate::output::stdout("\n")
    };
    ($($arg:tt)*) => {
        $crate::output::stdout(&::std::format!("{}\n", ::std::format_args!($($arg)*)))
    };
}

/// Print a line to the run's stderr (the report's `stderr`), formatted as [`std::eprintln!`].
///
/// ```no_run
/// let path = "a.txt";
/// cordon_guest::eprintln!("skipping {path}");
/// ```
#[macro_export]
macro_rules! eprintln {
    () => {
        $crate::output::stderr("\n")
    };
    ($($arg:tt)*) => {
        $crate::output::stderr(&::std::format!("{}\n", ::std::format_args!($($arg)*)))
    };
}
