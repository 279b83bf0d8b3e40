//! Standard output. A reader that closes the pipe early (`cordon audit query | head`) ends the
//! command quietly, as it would end `cat`, rather than with a panic; any other failure to
//! write (a full disk behind a redirection) is an error that says so.

use std::io::Write;

use anyhow::Context;

/// Standard output was closed by its reader: `main` exits 0 without a message.
#[derive(Debug, thiserror::Error)]
#[error("standard output was closed by its reader")]
pub(crate) struct Closed;

/// Write `text` to standard output as it is.
pub(crate) fn text(text: &str) -> anyhow::Result<()> {
    let mut stdout = std::io::stdout().lock();
    match stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
    {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Err(Closed.into()),
        other => other.context("cannot write to standard output"),
    }
}

/// Write `line` and a newline to standard output.
pub(crate) fn line(line: impl std::fmt::Display) -> anyhow::Result<()> {
    text(&format!("{line}\n"))
}

/// Write `value` to standard output as pretty-printed JSON and a newline, as it is serialised
/// (a run's report of 30,000 decisions is never held whole as text).
pub(crate) fn json(value: &impl serde::Serialize) -> anyhow::Result<()> {
    // 64 KiB at a time: a long report is a few dozen writes, not thousands.
    let mut stdout = std::io::BufWriter::with_capacity(1 << 16, std::io::stdout().lock());
    let written = serde_json::to_writer_pretty(&mut stdout, value)
        .map_err(std::io::Error::from)
        .and_then(|()| stdout.write_all(b"\n"))
        .and_then(|()| stdout.flush());
    match written {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Err(Closed.into()),
        other => other.context("cannot write to standard output"),
    }
}
