//! When a run must stop: its wall-clock deadline or its cancel token, whichever comes first.
//!
//! The epoch callback stops wasm code; everything else that can hold a host thread for a run —
//! a WASI `poll` or `pollable.block`, an `http.send`, a DNS lookup — races its wait against
//! [`Stop::reached`], so no wait outlives the run's deadline or its cancellation by more than
//! the time the runtime takes to wake a task (well under a millisecond), and the guest never
//! chooses how long the host waits.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use tokio::sync::Notify;

use crate::limits::LimitExceeded;

/// Stops a run from another thread: wasm code within one epoch tick (about 5 ms), and any host
/// wait of the run (WASI pollables, `http.send`) at once.
#[derive(Debug, Clone, Default)]
pub struct CancelToken(Arc<CancelInner>);

#[derive(Debug, Default)]
struct CancelInner {
    cancelled: AtomicBool,
    wake: Notify,
}

impl CancelToken {
    /// A token that is not cancelled.
    pub fn new() -> Self {
        CancelToken::default()
    }

    /// Stop the run: at its next epoch check, and every host wait of the run now.
    pub fn cancel(&self) {
        self.0.cancelled.store(true, Ordering::SeqCst);
        self.0.wake.notify_waiters();
    }

    /// Whether [`CancelToken::cancel`] was called.
    pub fn is_cancelled(&self) -> bool {
        self.0.cancelled.load(Ordering::SeqCst)
    }

    /// Resolves once [`CancelToken::cancel`] has been called.
    pub(crate) async fn cancelled(&self) {
        loop {
            let notified = self.0.wake.notified();
            tokio::pin!(notified);
            // Registered before the flag is read, so a `cancel` in between is not missed.
            notified.as_mut().enable();
            if self.is_cancelled() {
                return;
            }
            notified.await;
        }
    }
}

/// The run was stopped by its [`CancelToken`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the run was cancelled")]
pub struct Cancelled;

/// A run's deadline and cancel token: what every host wait of the run races against.
#[derive(Debug, Clone)]
pub(crate) struct Stop {
    deadline: Instant,
    cancel: CancelToken,
}

impl Stop {
    pub(crate) fn new(deadline: Instant, cancel: CancelToken) -> Self {
        Stop { deadline, cancel }
    }

    /// The run's wall-clock deadline.
    pub(crate) fn deadline(&self) -> Instant {
        self.deadline
    }

    /// The trap that ends the run, if it must stop now: cancelled, or past its deadline.
    pub(crate) fn check(&self) -> wasmtime::Result<()> {
        if self.cancel.is_cancelled() {
            Err(wasmtime::Error::new(Cancelled))
        } else if Instant::now() >= self.deadline {
            Err(wasmtime::Error::new(LimitExceeded::Timeout))
        } else {
            Ok(())
        }
    }

    /// Resolves when the run must stop.
    pub(crate) async fn reached(&self) {
        tokio::select! {
            () = tokio::time::sleep_until(tokio::time::Instant::from_std(self.deadline)) => {}
            () = self.cancel.cancelled() => {}
        }
    }

    /// `wait` raced against the run's stop, as a future: `Err` (the trap that ends the run)
    /// if the run must stop first; `wait` is dropped then, which abandons it (a connection is
    /// closed, a sleep forgotten).
    pub(crate) async fn race_async<F: Future>(&self, wait: F) -> wasmtime::Result<F::Output> {
        tokio::select! {
            biased;
            () = self.reached() => Err(self.stopped()),
            out = wait => Ok(out),
        }
    }

    /// [`Stop::race_async`] on this thread, in the runtime WASI uses for its own waits.
    pub(crate) fn race<F: Future>(&self, wait: F) -> wasmtime::Result<F::Output> {
        wasmtime_wasi::runtime::in_tokio(self.race_async(wait))
    }

    /// The trap for a run that reached its stop.
    fn stopped(&self) -> wasmtime::Error {
        match self.check() {
            Err(e) => e,
            // `reached` fired a hair before `Instant::now()` caught up with the deadline.
            Ok(()) => wasmtime::Error::new(LimitExceeded::Timeout),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn a_wait_ends_at_the_deadline_with_the_timeout_limit() {
        let stop = Stop::new(
            Instant::now() + Duration::from_millis(20),
            CancelToken::new(),
        );
        let err = stop.race(std::future::pending::<()>()).unwrap_err();
        assert_eq!(
            err.downcast_ref::<LimitExceeded>(),
            Some(&LimitExceeded::Timeout)
        );
    }

    #[test]
    fn a_wait_ends_when_another_thread_cancels() {
        let cancel = CancelToken::new();
        let stop = Stop::new(Instant::now() + Duration::from_secs(3600), cancel.clone());
        let (tx, rx) = std::sync::mpsc::channel();
        let waiter = std::thread::spawn(move || {
            let r = stop.race(async {
                let _ = tx.send(());
                std::future::pending::<()>().await
            });
            r.unwrap_err().downcast_ref::<Cancelled>().copied()
        });
        rx.recv().unwrap();
        cancel.cancel();
        assert_eq!(waiter.join().unwrap(), Some(Cancelled));
    }

    #[test]
    fn a_wait_that_finishes_first_returns_its_output() {
        let stop = Stop::new(
            Instant::now() + Duration::from_secs(3600),
            CancelToken::new(),
        );
        assert_eq!(stop.race(async { 7 }).unwrap(), 7);
    }
}
