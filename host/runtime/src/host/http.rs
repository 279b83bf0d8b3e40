//! `cordon:agent/http`: declared, not yet provided. Every call is counted and answered with the
//! typed `unsupported` error, never a trap.

use wasmtime::component::HasData;

use crate::bindings::Error;
use crate::bindings::cordon::agent::http::{Host, Request, Response};
use crate::gate::Gate;

/// The state the http interface may touch.
pub(crate) struct HttpView<'a> {
    pub(crate) gate: &'a mut Gate,
}

pub(crate) struct HasHttp;

impl HasData for HasHttp {
    type Data<'a> = HttpView<'a>;
}

impl Host for HttpView<'_> {
    #[tracing::instrument(name = "cordon.http.send", skip_all)]
    fn send(&mut self, _request: Request) -> wasmtime::Result<Result<Response, Error>> {
        Ok(Err(self.gate.unsupported("outbound http")?))
    }
}
