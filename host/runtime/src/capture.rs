//! Bounded capture of the guest's stdout and stderr. Both share one budget; a write past it
//! ends the run with [`LimitExceeded::Output`] rather than silently dropping bytes.

use std::sync::{Arc, Mutex};

use bytes::Bytes;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamError, StreamResult};

use crate::limits::LimitExceeded;

/// How much a guest may write per `check-write`; the budget is enforced on the write itself.
const WRITE_PERMIT: usize = 64 * 1024;

#[derive(Debug, Default)]
struct Buffers {
    stdout: Vec<u8>,
    stderr: Vec<u8>,
}

/// The two captured streams of one run.
#[derive(Debug, Clone)]
pub(crate) struct Capture {
    buffers: Arc<Mutex<Buffers>>,
    limit: usize,
}

#[derive(Debug, Clone, Copy)]
enum Which {
    Stdout,
    Stderr,
}

impl Capture {
    pub(crate) fn new(limit: u64) -> Self {
        Capture {
            buffers: Arc::default(),
            limit: usize::try_from(limit).unwrap_or(usize::MAX),
        }
    }

    pub(crate) fn stdout(&self) -> impl StdoutStream + 'static {
        Pipe {
            capture: self.clone(),
            which: Which::Stdout,
        }
    }

    pub(crate) fn stderr(&self) -> impl StdoutStream + 'static {
        Pipe {
            capture: self.clone(),
            which: Which::Stderr,
        }
    }

    /// What was captured, as text (invalid UTF-8 replaced).
    pub(crate) fn contents(&self) -> (String, String) {
        match self.buffers.lock() {
            Ok(b) => (
                String::from_utf8_lossy(&b.stdout).into_owned(),
                String::from_utf8_lossy(&b.stderr).into_owned(),
            ),
            Err(_) => (String::new(), String::new()),
        }
    }

    fn write(&self, which: Which, bytes: &[u8]) -> Result<(), LimitExceeded> {
        let mut b = self.buffers.lock().map_err(|_| LimitExceeded::Output)?;
        if b.stdout.len() + b.stderr.len() + bytes.len() > self.limit {
            return Err(LimitExceeded::Output);
        }
        match which {
            Which::Stdout => b.stdout.extend_from_slice(bytes),
            Which::Stderr => b.stderr.extend_from_slice(bytes),
        }
        Ok(())
    }
}

struct Pipe {
    capture: Capture,
    which: Which,
}

impl IsTerminal for Pipe {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for Pipe {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(Pipe {
            capture: self.capture.clone(),
            which: self.which,
        })
    }

    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(Pipe {
            capture: self.capture.clone(),
            which: self.which,
        })
    }
}

impl OutputStream for Pipe {
    fn write(&mut self, bytes: Bytes) -> StreamResult<()> {
        self.capture
            .write(self.which, &bytes)
            .map_err(|e| StreamError::Trap(wasmtime::Error::new(e)))
    }

    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        Ok(WRITE_PERMIT)
    }
}

#[async_trait::async_trait]
impl Pollable for Pipe {
    async fn ready(&mut self) {}
}

impl tokio::io::AsyncWrite for Pipe {
    fn poll_write(
        self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        let r = self
            .capture
            .write(self.which, buf)
            .map(|()| buf.len())
            .map_err(std::io::Error::other);
        std::task::Poll::Ready(r)
    }

    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn poll_shutdown(
        self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stdout_and_stderr_share_one_budget_and_a_write_past_it_traps_with_the_output_limit() {
        let capture = Capture::new(10);
        let mut out = capture.stdout().p2_stream();
        let mut err = capture.stderr().p2_stream();
        out.write(Bytes::from_static(b"hello")).unwrap();
        err.write(Bytes::from_static(b"oops")).unwrap();
        match out.write(Bytes::from_static(b"!!")) {
            Err(StreamError::Trap(e)) => {
                assert_eq!(
                    e.downcast_ref::<LimitExceeded>(),
                    Some(&LimitExceeded::Output)
                );
            }
            other => panic!("expected a trap, got {other:?}"),
        }
        // Nothing past the budget was kept; what fit is returned.
        assert_eq!(capture.contents(), ("hello".to_owned(), "oops".to_owned()));
    }
}
