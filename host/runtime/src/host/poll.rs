//! `wasi:io/poll`, shadowing wasmtime-wasi's: every wait ends at the run's deadline or when
//! the run is cancelled.
//!
//! wasmtime-wasi's synchronous `poll` and `pollable.block` hold the host thread until a
//! pollable is ready — for a `wasi:clocks/monotonic-clock` subscription, as long as the guest
//! asked, whatever the run's deadline. Here each wait is raced against the run's
//! [`Stop`](crate::stop::Stop): when the run must stop first, the wait is abandoned and the
//! call traps with [`LimitExceeded::Timeout`](crate::LimitExceeded) or
//! [`Cancelled`](crate::Cancelled), which ends the run and frees its slot.
//!
//! Every blocking WASI import waits on a pollable of this interface, or is linked to
//! something that cannot wait:
//! - clocks: `subscribe-duration`/`subscribe-instant` only make pollables (waited on here);
//! - streams: the only streams a run can reach are stdin (empty: every read answers
//!   `closed` at once) and stdout/stderr (captured in memory: a write never waits, see
//!   `capture.rs`); `blocking-*` stream calls on them therefore return at once;
//! - filesystem: no directory is preopened, so there is no descriptor to wait on;
//! - sockets and name lookups: refused when the socket or lookup is created (`allow_tcp`,
//!   `allow_udp` and `allow_ip_name_lookup` are off), before anything could wait.

use wasmtime::component::{HasData, Resource, ResourceTable};
use wasmtime_wasi::p2::DynPollable;
use wasmtime_wasi::p2::bindings::io::poll as wasi_poll;
use wasmtime_wasi::p2::bindings::sync::io::poll::{Host, HostPollable};

use crate::stop::Stop;

/// What the poll interface may touch: the run's resource table and its stop.
pub(crate) struct PollView<'a> {
    pub(crate) table: &'a mut ResourceTable,
    pub(crate) stop: &'a Stop,
}

pub(crate) struct HasPoll;

impl HasData for HasPoll {
    type Data<'a> = PollView<'a>;
}

impl Host for PollView<'_> {
    fn poll(&mut self, pollables: Vec<Resource<DynPollable>>) -> wasmtime::Result<Vec<u32>> {
        let table = &mut *self.table;
        self.stop
            .race(wasi_poll::Host::poll(table, pollables))
            .and_then(|ready| ready)
    }
}

impl HostPollable for PollView<'_> {
    fn ready(&mut self, pollable: Resource<DynPollable>) -> wasmtime::Result<bool> {
        // Never waits: it asks the pollable once.
        let table = &mut *self.table;
        wasmtime_wasi::runtime::in_tokio(wasi_poll::HostPollable::ready(table, pollable))
    }

    fn block(&mut self, pollable: Resource<DynPollable>) -> wasmtime::Result<()> {
        let table = &mut *self.table;
        self.stop
            .race(wasi_poll::HostPollable::block(table, pollable))
            .and_then(|done| done)
    }

    fn drop(&mut self, pollable: Resource<DynPollable>) -> wasmtime::Result<()> {
        wasi_poll::HostPollable::drop(&mut *self.table, pollable)
    }
}
