//! An uncaught exception or panic of the agent's own code, told in the agent's terms: its type,
//! message, the line of the agent's source it was raised at, and the agent's frames.
//!
//! Two roads lead here. A source run's runner answers `{"exception": {...}}` (see
//! [`crate::source`]). A component built with the guest SDK cannot answer once its code has
//! failed — a Rust panic aborts, an exception the Python or JavaScript glue cannot lower traps —
//! so the SDK's last act before the trap is to write the same description to the run's stderr
//! as one line, after the readable traceback:
//!
//! ```text
//! cordon:uncaught {"kind": "exception", "type": "ZeroDivisionError", "message": "division by zero",
//!                  "traceback": [{"file": "agent.py", "line": 9, "function": "run", "text": "..."}],
//!                  "hint": "..."}
//! ```
//!
//! (one line in fact). `kind` is `exception` or `panic`; `location` (`{file, line, column}`) is
//! given where there is no traceback (a Rust panic), and otherwise is the traceback's innermost
//! frame; `omitted_frames` and `hint` are optional. When a run ends in a wasm trap (not a limit,
//! not a cancel, not a host error) and its stderr has such a line, the host reads the last one
//! and reports the run as `error` with this error, instead of the trap's wasm backtrace (which is
//! logged at debug level as `cordon.run`). It takes the line off stderr, and whatever follows it:
//! once the SDK has said its last word, what a toolchain prints while it dies (componentize-js
//! complains that it cannot hand the exception to the host, and that it aborts) is not the
//! agent's. The readable traceback before the line stays in `stderr`: the full detail, the SDK's
//! frames included. The line is the guest's word about itself: it can change only how its own
//! failure is described, never a limit's outcome, a cancel or a decision.

use serde::Deserialize;

use crate::run::GuestError;
use crate::source::{SourceLocation, TraceFrame};

/// What starts the line an SDK writes last to stderr for an uncaught exception or panic.
pub(crate) const MARKER: &str = "cordon:uncaught ";

/// An uncaught exception or panic as a guest describes it.
#[derive(Debug, Deserialize)]
pub(crate) struct Uncaught {
    /// `exception` (the default) or `panic`.
    #[serde(default)]
    kind: Option<String>,
    /// The exception's type (`ZeroDivisionError`, `TypeError`; `panic` for a panic).
    #[serde(rename = "type")]
    ty: String,
    message: String,
    #[serde(default)]
    location: Option<SourceLocation>,
    /// The agent's frames, outermost first.
    #[serde(default)]
    traceback: Vec<TraceFrame>,
    #[serde(default)]
    omitted_frames: Option<u64>,
    #[serde(default)]
    hint: Option<String>,
}

impl Uncaught {
    /// The report's error: kind `exception` (message `Type: message`) or `panic` (the panic's
    /// message), located at the innermost frame of the agent's own code.
    pub(crate) fn into_error(self) -> GuestError {
        let panic = self.kind.as_deref() == Some("panic");
        let message = if panic || self.message.is_empty() {
            if self.message.is_empty() {
                self.ty
            } else {
                self.message
            }
        } else {
            format!("{}: {}", self.ty, self.message)
        };
        let location = self.location.or_else(|| {
            self.traceback.last().map(|f| SourceLocation {
                file: f.file.clone(),
                line: f.line,
                column: None,
            })
        });
        GuestError {
            kind: if panic { "panic" } else { "exception" },
            message,
            policy_ids: None,
            location,
            traceback: (!self.traceback.is_empty() || !panic).then_some(self.traceback),
            omitted_frames: self.omitted_frames.filter(|n| *n > 0),
            hint: self.hint.filter(|h| !h.is_empty()),
        }
    }
}

/// Read the last marker line of `stderr` and take it, and what follows it, off `stderr`.
/// `None`, with `stderr` unchanged, when there is no marker line or the last one does not read.
pub(crate) fn take(stderr: &mut String) -> Option<GuestError> {
    let start = stderr
        .rmatch_indices(MARKER)
        .map(|(i, _)| i)
        .find(|&i| i == 0 || stderr.as_bytes()[i - 1] == b'\n')?;
    let line = &stderr[start + MARKER.len()..];
    let line = line.split_once('\n').map_or(line, |(line, _)| line);
    let uncaught: Uncaught = serde_json::from_str(line).ok()?;
    if !matches!(uncaught.kind.as_deref(), None | Some("exception" | "panic")) {
        return None;
    }
    stderr.truncate(start);
    Some(uncaught.into_error())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_line_is_taken_off_stderr_and_read() {
        let mut stderr = "Traceback (most recent call last):\n  ...\nZeroDivisionError: division by zero\n\
            cordon:uncaught {\"kind\": \"exception\", \"type\": \"ZeroDivisionError\", \"message\": \"division by zero\", \
            \"traceback\": [{\"file\": \"agent.py\", \"line\": 9, \"function\": \"run\"}, {\"file\": \"helper.py\", \"line\": 2}], \
            \"hint\": \"use fs\"}\n"
            .to_owned();
        let e = take(&mut stderr).unwrap();
        assert_eq!(
            stderr,
            "Traceback (most recent call last):\n  ...\nZeroDivisionError: division by zero\n"
        );
        assert_eq!(e.kind, "exception");
        assert_eq!(e.message, "ZeroDivisionError: division by zero");
        let at = e.location.unwrap();
        assert_eq!((at.file.as_deref(), at.line), (Some("helper.py"), 2));
        assert_eq!(e.traceback.unwrap().len(), 2);
        assert_eq!(e.hint.as_deref(), Some("use fs"));
    }

    #[test]
    fn a_panic_is_its_message_at_its_location() {
        let mut stderr = "panicked at src/lib.rs:7:5:\nboom\ncordon:uncaught {\"kind\":\"panic\",\"type\":\"panic\",\
            \"message\":\"boom\",\"location\":{\"file\":\"src/lib.rs\",\"line\":7,\"column\":5}}"
            .to_owned();
        let e = take(&mut stderr).unwrap();
        assert_eq!(stderr, "panicked at src/lib.rs:7:5:\nboom\n");
        assert_eq!((e.kind, e.message.as_str()), ("panic", "boom"));
        let at = e.location.unwrap();
        assert_eq!(
            (at.file.as_deref(), at.line, at.column),
            (Some("src/lib.rs"), 7, Some(5))
        );
        assert!(e.traceback.is_none());
    }

    #[test]
    fn stderr_is_left_alone_without_a_marker_line_that_reads() {
        for text in [
            "",
            "plain text\n",
            "cordon:uncaught {not json}\n",
            // The last marker line decides, even when an earlier one would read.
            "cordon:uncaught {\"type\": \"E\", \"message\": \"m\"}\ncordon:uncaught {}\n",
            "cordon:uncaught {\"type\": \"E\"}\n",
            "cordon:uncaught {\"kind\": \"access-denied\", \"type\": \"E\", \"message\": \"m\"}\n",
            " cordon:uncaught {\"type\": \"E\", \"message\": \"m\"}\n",
        ] {
            let mut stderr = text.to_owned();
            assert!(take(&mut stderr).is_none(), "{text:?}");
            assert_eq!(stderr, text);
        }
        let mut only = "cordon:uncaught {\"type\": \"E\", \"message\": \"\"}\n".to_owned();
        assert_eq!(take(&mut only).unwrap().message, "E");
        assert_eq!(only, "");
    }

    #[test]
    fn what_a_toolchain_prints_after_the_marker_line_goes_with_it() {
        let mut stderr = "RangeError: no\nrun@agent.js:2:9\n\
            cordon:uncaught {\"kind\": \"exception\", \"type\": \"RangeError\", \"message\": \"no\"}\n\
            invalid variant tag value `undefined`\n\nRedirecting call to abort() to mozalloc_abort\n"
            .to_owned();
        let e = take(&mut stderr).unwrap();
        assert_eq!(e.message, "RangeError: no");
        assert_eq!(stderr, "RangeError: no\nrun@agent.js:2:9\n");
        // A marker that does not start a line is text, not a marker.
        let mut inline = "said cordon:uncaught {\"type\": \"E\", \"message\": \"m\"}\n".to_owned();
        assert!(take(&mut inline).is_none());
    }
}
