//! A panic's message and line, for the run report.
//!
//! A panic ends the run (guests are built with `panic = "abort"`): the instance traps and the
//! host sees only `unreachable`. Before that, the hook [`export!`](crate::export) installs
//! writes the panic to the run's stderr twice: as Rust prints it (`panicked at src/lib.rs:7:5:`
//! and the message), and as one last line the host reads back into the report's error,
//!
//! ```text
//! cordon:uncaught {"kind":"panic","type":"panic","message":"...","location":{"file":"src/lib.rs","line":7,"column":5}}
//! ```
//!
//! The Python and JavaScript SDKs end an uncaught exception the same way; the host's side is
//! `host/runtime/src/uncaught.rs`.

use std::panic::PanicHookInfo;

/// What starts the last line of stderr that reports an uncaught panic or exception.
pub(crate) const MARKER: &str = "cordon:uncaught ";

/// Install the hook, once per instance (on wasm only: the crate's own tests keep Rust's hook).
#[cfg_attr(
    not(target_arch = "wasm32"),
    expect(dead_code, reason = "installed on wasm only")
)]
pub(crate) fn install() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| std::panic::set_hook(Box::new(|info| crate::output::stderr(&report(info)))));
}

/// What the hook writes for `info`: Rust's own two lines, then the marker line.
fn report(info: &PanicHookInfo<'_>) -> String {
    let payload = info.payload();
    let message = payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "Box<dyn Any>".to_owned());
    render(&message, info.location())
}

fn render(message: &str, location: Option<&std::panic::Location<'_>>) -> String {
    // JSON by hand (serde_json only quotes the strings): a `Value` would cost every guest bytes.
    let quote = |s: &str| serde_json::to_string(s).unwrap_or_else(|_| "\"\"".to_owned());
    let mut uncaught = format!(
        "{{\"kind\":\"panic\",\"type\":\"panic\",\"message\":{}",
        quote(message)
    );
    let mut text = match location {
        Some(at) => {
            uncaught.push_str(&format!(
                ",\"location\":{{\"file\":{},\"line\":{},\"column\":{}}}",
                quote(at.file()),
                at.line(),
                at.column()
            ));
            format!(
                "panicked at {}:{}:{}:\n{message}\n",
                at.file(),
                at.line(),
                at.column()
            )
        }
        None => format!("panicked:\n{message}\n"),
    };
    uncaught.push('}');
    text.push_str(MARKER);
    text.push_str(&uncaught);
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_is_told_as_rust_prints_it_then_as_one_marker_line() {
        let at = std::panic::Location::caller();
        let text = render("index out of bounds: \"x\"\nsecond line", Some(at));
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            format!("panicked at {}:{}:{}:", at.file(), at.line(), at.column())
        );
        assert_eq!(lines[1], "index out of bounds: \"x\"");
        // The message's own newline stays inside the JSON: the marker is exactly the last line.
        let last = lines.last().copied().unwrap_or_default();
        let Some(Ok(json)) = last
            .strip_prefix(MARKER)
            .map(serde_json::from_str::<serde_json::Value>)
        else {
            unreachable!("no marker line last: {text}");
        };
        assert_eq!(json["kind"], "panic");
        assert_eq!(json["message"], "index out of bounds: \"x\"\nsecond line");
        assert_eq!(json["location"]["line"], at.line());
        assert_eq!(json["location"]["file"], at.file());
        assert!(text.ends_with("}\n"));
    }

    #[test]
    fn a_panic_without_a_location_still_ends_with_the_marker() {
        let text = render("boom", None);
        let last = text.lines().last().unwrap_or_default();
        assert!(last.starts_with(MARKER), "{text}");
        assert!(!last.contains("location"), "{text}");
    }
}
