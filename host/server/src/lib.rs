//! Cordon as a service: an authenticated HTTP API (axum) for tenants, components, versioned
//! policy bundles with shadow mode, on-behalf-of identity, runs, the kill switch, and each
//! tenant's records (collections, imports, legal holds, erasure).
//!
//! State lives in one embedded redb file (`<data>/server.redb`), decisions in the decision
//! log (`<data>/audit.redb`), each tenant's records in `<data>/records/<tenant>/records.redb`.
//! Stored runs are sealed under per-tenant keys in `<data>/run-keys.json`, destroyed when a
//! data subject is erased (the runs that named them become tombstones).
//! Handlers never touch wasmtime: they go through cordon-runtime.
//!
//! ```no_run
//! # async fn serve() -> Result<(), Box<dyn std::error::Error>> {
//! use cordon_server::{AppState, ServerConfig};
//! let state = AppState::open(ServerConfig::new("cordon-data", "admin-secret"))?;
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//! let stop = async { let _ = tokio::signal::ctrl_c().await; };
//! cordon_server::serve(state, listener, stop, std::time::Duration::from_secs(10)).await?;
//! # Ok(()) }
//! ```
#![deny(missing_docs)]

mod auth;
mod conns;
mod error;
mod group_commit;
mod identity;
mod metrics;
mod model;
mod records;
mod records_routes;
mod routes;
mod run_seal;
mod run_store;
mod serve;
mod state;
mod store;

use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::routing::{delete, get, post, put};
use axum::{Json, Router};
use tower::ServiceBuilder;
use tower_http::timeout::{RequestBodyTimeoutLayer, TimeoutLayer};
use tower_http::trace::TraceLayer;
use utoipa::OpenApi;

pub use error::{ApiError, ErrorBody, ErrorDetail};
pub use identity::{IdentityKey, KeyError, TokenError, TokenRules};
pub use model::{
    BundleUpload, BundleVersion, ComponentInfo, DecisionSummary, IssuedToken, RunRequest, RunView,
    SuspendRequest, Tenant, TenantLimits, TenantSpec, TokenInfo, VersionRequest,
};
pub use run_store::RunRetention;
pub use state::{ADMIN_TOKEN_FILE, AppState, ServerConfig, StartError, load_or_create_admin_token};
pub use store::{STATE_FILE, StoreError};

/// The OpenAPI document of the API.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Cordon",
        description = "Run agent-generated WebAssembly components with every host call decided by Cedar and logged"
    ),
    paths(
        routes::healthz,
        routes::metrics,
        routes::put_tenant,
        routes::get_tenant,
        routes::issue_token,
        routes::list_tokens,
        routes::revoke_token,
        routes::delete_tenant,
        routes::remove_key,
        routes::upload_bundle,
        routes::list_bundles,
        routes::activate,
        routes::rollback,
        routes::shadow,
        routes::shadow_differences,
        routes::add_key,
        routes::list_keys,
        routes::suspend,
        routes::resume,
        routes::upload_component,
        routes::list_components,
        routes::get_component,
        routes::get_component_wasm,
        routes::delete_component,
        routes::run,
        routes::get_run,
        routes::cancel_run,
        records_routes::list_collections,
        records_routes::define,
        records_routes::get_collection,
        records_routes::import,
        records_routes::list_records,
        records_routes::get_record,
        records_routes::hold,
        records_routes::release,
        records_routes::erase,
        records_routes::records_log,
    ),
    modifiers(&BearerAuth),
    security(("bearer" = [])),
    components(schemas(
        ErrorBody,
        ErrorDetail,
        Tenant,
        TenantLimits,
        TenantSpec,
        BundleUpload,
        BundleVersion,
        ComponentInfo,
        RunRequest,
        RunView,
        DecisionSummary,
        IssuedToken,
        TokenInfo,
        SuspendRequest,
        VersionRequest,
        IdentityKey,
        records_routes::ImportedRecords,
        records_routes::BadLinesBody,
        records_routes::BadLine,
        records_routes::StoredRecord,
        records_routes::RecordPage,
        records_routes::HoldView,
        records_routes::ReleaseView,
        records_routes::ErasureRequest,
        records_routes::ErasureView,
        records_routes::RecordName,
        records_routes::RefusedRecord,
        records_routes::RecordsAction,
        records_routes::RecordsLog
    ))
)]
pub struct ApiDoc;

/// Every route but `/healthz` and `/openapi.json` takes `Authorization: Bearer <token>`.
struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

async fn openapi() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}

/// Serve `state` on `listener` until `signal` resolves; then stop accepting, let runs finish
/// for `grace` (cancelling the rest), close the decision log and close every connection —
/// in bounded time whatever the clients do. Each connection has a header-read timeout (also
/// its idle keep-alive timeout), request bodies a read timeout, and at most
/// `max_connections` are open at once (see [`ServerConfig`]).
pub async fn serve(
    state: AppState,
    listener: tokio::net::TcpListener,
    signal: impl std::future::Future<Output = ()> + Send + 'static,
    grace: std::time::Duration,
) -> Result<(), ServeError> {
    let sweeper = tokio::spawn(records::sweep_periodically(
        state.clone(),
        records::SWEEP_INTERVAL,
    ));
    let served = serve::serve(state, listener, signal, grace).await;
    sweeper.abort();
    served
}

/// Serving failed.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The decision log could not be closed cleanly.
    #[error("cannot close the decision log")]
    Close(#[source] cordon_audit::CloseError),
}

/// The API as a router: every route, with body limits, request and body-read timeouts,
/// admission (authenticated and anonymous requests in flight are capped apart; more are shed
/// with 503) and tracing.
pub fn app(state: AppState) -> Router {
    let config = state.config().clone();
    let uploads = Router::new()
        .route(
            "/v1/tenants/{tenant}/components",
            post(routes::upload_component).get(routes::list_components),
        )
        .layer(DefaultBodyLimit::max(config.max_upload_bytes));
    let api = Router::new()
        .route("/healthz", get(routes::healthz))
        .route("/metrics", get(routes::metrics))
        .route("/openapi.json", get(openapi))
        .route(
            "/v1/admin/tenants/{tenant}",
            put(routes::put_tenant)
                .get(routes::get_tenant)
                .delete(routes::delete_tenant),
        )
        .route(
            "/v1/admin/tenants/{tenant}/tokens",
            post(routes::issue_token).get(routes::list_tokens),
        )
        .route(
            "/v1/admin/tenants/{tenant}/tokens/{id}",
            delete(routes::revoke_token),
        )
        .route(
            "/v1/admin/tenants/{tenant}/bundles",
            post(routes::upload_bundle).get(routes::list_bundles),
        )
        .route(
            "/v1/admin/tenants/{tenant}/bundles/active",
            put(routes::activate),
        )
        .route(
            "/v1/admin/tenants/{tenant}/bundles/rollback",
            post(routes::rollback),
        )
        .route(
            "/v1/admin/tenants/{tenant}/bundles/shadow",
            put(routes::shadow),
        )
        .route(
            "/v1/admin/tenants/{tenant}/shadow-differences",
            get(routes::shadow_differences),
        )
        .route(
            "/v1/admin/tenants/{tenant}/identity-keys",
            post(routes::add_key).get(routes::list_keys),
        )
        .route(
            "/v1/admin/tenants/{tenant}/identity-keys/{id}",
            delete(routes::remove_key),
        )
        .route("/v1/admin/tenants/{tenant}/suspend", post(routes::suspend))
        .route("/v1/admin/tenants/{tenant}/resume", post(routes::resume))
        .route(
            "/v1/tenants/{tenant}/components/{digest}",
            get(routes::get_component).delete(routes::delete_component),
        )
        .route(
            "/v1/tenants/{tenant}/components/{digest}/wasm",
            get(routes::get_component_wasm),
        )
        .route("/v1/tenants/{tenant}/runs", post(routes::run))
        .route("/v1/tenants/{tenant}/runs/{run}", get(routes::get_run))
        .route(
            "/v1/tenants/{tenant}/runs/{run}/cancel",
            post(routes::cancel_run),
        )
        .layer(DefaultBodyLimit::max(config.max_body_bytes));
    api.merge(uploads)
        .merge(records_routes::router(&config))
        .fallback(not_found)
        .layer(
            ServiceBuilder::new()
                .layer(TraceLayer::new_for_http())
                // Who is calling is settled from the headers, and the request admitted under
                // its budget (anonymous or authenticated), before any body is read.
                .layer(axum::middleware::from_fn_with_state(
                    serve::Admission::new(state.clone()),
                    serve::admit,
                ))
                .layer(TimeoutLayer::with_status_code(
                    StatusCode::REQUEST_TIMEOUT,
                    config.request_timeout,
                ))
                .layer(RequestBodyTimeoutLayer::new(config.body_read_timeout)),
        )
        .layer(axum::middleware::map_response(error::json_errors))
        .with_state(state)
}

async fn not_found() -> ApiError {
    ApiError::not_found("route")
}
