//! Serving the API on a listener with connection hygiene, and admission of requests.
//!
//! `axum::serve` keeps every connection open as long as its client wants; here each connection
//! is a hyper http1 connection with a header-read timeout (which also closes kept-alive
//! connections idle that long), the number of open connections is capped overall and per
//! address, idle connections give way to new ones at the cap (see [`crate::conns`]), and
//! shutdown is
//! bounded whatever the clients do: stop accepting, let the runs finish for the grace period
//! (cancelling the rest), close the decision log, give connections a moment to send their last
//! responses, then drop them.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;
use tower::ServiceExt;

use crate::ServeError;
use crate::auth::bearer;
use crate::conns::{Admitted, Connections};
use crate::error::ApiError;
use crate::state::AppState;

/// How long connections get, after the log is closed, to send the responses they have.
const FLUSH: Duration = Duration::from_secs(1);

/// The two in-flight budgets: anonymous requests cannot take the authenticated ones' share.
#[derive(Clone)]
pub(crate) struct Admission {
    state: AppState,
    anonymous: Arc<Semaphore>,
    authenticated: Arc<Semaphore>,
}

impl Admission {
    pub(crate) fn new(state: AppState) -> Admission {
        let c = state.config();
        Admission {
            anonymous: Arc::new(Semaphore::new(c.max_anonymous_in_flight)),
            authenticated: Arc::new(Semaphore::new(c.max_in_flight)),
            state,
        }
    }
}

fn overloaded() -> Response {
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "overloaded",
        "too many requests in flight; retry later",
    )
    .into_response()
}

/// Resolve the caller from the headers (the extractors reuse it), then admit the request
/// under its budget or shed it with 503. `/healthz` is admitted always: it reads no body and
/// does no work, and it is what tells a load balancer the host is up.
pub(crate) async fn admit(State(a): State<Admission>, mut req: Request, next: Next) -> Response {
    if req.uri().path() == "/healthz" {
        return next.run(req).await;
    }
    let caller = match a.state.caller(bearer(req.headers())) {
        Ok(c) => Some(c),
        Err(e) if e.status == StatusCode::UNAUTHORIZED => None,
        Err(e) => return e.into_response(),
    };
    let budget = if caller.is_some() {
        &a.authenticated
    } else {
        &a.anonymous
    };
    let Ok(permit) = budget.clone().try_acquire_owned() else {
        a.state.inner.metrics.shed.inc();
        return overloaded();
    };
    req.extensions_mut().insert(caller);
    let resp = next.run(req).await;
    drop(permit);
    resp
}

/// Serve `state` on `listener` until `signal` resolves; then stop accepting, let runs finish
/// for `grace` (cancelling the rest), close the decision log, and close every connection.
pub(crate) async fn serve(
    state: AppState,
    listener: tokio::net::TcpListener,
    signal: impl std::future::Future<Output = ()> + Send + 'static,
    grace: Duration,
) -> Result<(), ServeError> {
    let config = state.config().clone();
    let router = crate::app(state.clone());
    let table = Connections::new(config.max_connections, config.max_connections_per_address);
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut conns = JoinSet::new();
    tokio::pin!(signal);
    loop {
        tokio::select! {
            () = &mut signal => break,
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(accepted) => accepted,
                    Err(e) => {
                        // Out of file descriptors (or a connection reset before it was
                        // accepted): keep serving the connections there are; back off a
                        // moment so a full table is not spun on.
                        tracing::warn!(target: "cordon.server", error = %e, "cannot accept a connection");
                        tokio::time::sleep(Duration::from_millis(20)).await;
                        continue;
                    }
                };
                let slot = match table.admit(peer.ip()) {
                    Ok(slot) => slot,
                    Err(refused) => {
                        tracing::debug!(target: "cordon.server", ?refused, "connection closed on accept");
                        state.inner.metrics.refused_connections.inc();
                        drop(stream);
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                conns.spawn(connection(
                    stream,
                    router.clone(),
                    config.header_read_timeout,
                    stop_rx.clone(),
                    slot,
                ));
            }
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
    drop(listener);
    tracing::info!(target: "cordon.server", "stopped accepting; finishing runs");
    // Connections finish the request they are serving and then close; new requests on them
    // are not read.
    let _ = stop_tx.send(true);
    let closed = state.shutdown(grace).await;
    let _ = tokio::time::timeout(FLUSH, async { while conns.join_next().await.is_some() {} }).await;
    conns.abort_all();
    while conns.join_next().await.is_some() {}
    closed.map_err(ServeError::Close)
}

async fn connection(
    stream: tokio::net::TcpStream,
    router: Router,
    header_read_timeout: Duration,
    mut stop: watch::Receiver<bool>,
    slot: Admitted,
) {
    let slot = Arc::new(slot);
    let service = {
        let slot = slot.clone();
        hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
            let serving = slot.serving();
            let router = router.clone();
            async move {
                let resp = router.oneshot(req.map(axum::body::Body::new)).await;
                drop(serving);
                resp
            }
        })
    };
    let conn = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(header_read_timeout)
        .serve_connection(TokioIo::new(stream), service);
    tokio::pin!(conn);
    let stopping = tokio::select! {
        _ = conn.as_mut() => false,
        // Evicted to make room for a new connection: it was idle, so nothing is lost.
        () = slot.activity.evicted.notified() => false,
        r = stop.wait_for(|s| *s) => r.is_ok(),
    };
    if stopping {
        conn.as_mut().graceful_shutdown();
        let _ = conn.await;
    }
}
