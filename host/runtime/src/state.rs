//! What one run's `Store` holds, and the narrow views each interface gets of it.

use cap_std::fs::Dir;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use crate::gate::Gate;
use crate::host::fs::FsView;
use crate::host::http::{HttpState, HttpView};
use crate::host::poll::PollView;
use crate::host::records::{RecordsGrant, RecordsView};
use crate::limits::MemoryLimiter;
use crate::stop::Stop;

pub(crate) struct RunState {
    pub(crate) wasi: WasiCtx,
    pub(crate) table: ResourceTable,
    pub(crate) limiter: MemoryLimiter,
    pub(crate) gate: Gate,
    pub(crate) root: Option<Dir>,
    pub(crate) max_read_bytes: u64,
    pub(crate) http: HttpState,
    pub(crate) records: Option<RecordsGrant>,
    /// The run's deadline and cancel token, which every host wait races.
    pub(crate) stop: Stop,
}

impl RunState {
    pub(crate) fn fs(&mut self) -> FsView<'_> {
        FsView {
            root: self.root.as_ref(),
            gate: &mut self.gate,
            max_read_bytes: self.max_read_bytes,
        }
    }

    pub(crate) fn http(&mut self) -> HttpView<'_> {
        HttpView {
            gate: &mut self.gate,
            state: &mut self.http,
            max_body_bytes: self.max_read_bytes,
        }
    }

    pub(crate) fn poll(&mut self) -> PollView<'_> {
        PollView {
            table: &mut self.table,
            stop: &self.stop,
        }
    }

    pub(crate) fn records(&mut self) -> RecordsView<'_> {
        RecordsView {
            gate: &mut self.gate,
            grant: self.records.as_ref(),
        }
    }
}

impl WasiView for RunState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}
