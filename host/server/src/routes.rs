//! The routes: admin (operator token) and tenant (tenant token, or the operator's).

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::auth::{Admin, TenantCaller};
use crate::error::{ApiError, ErrorBody};
use crate::identity::IdentityKey;
use crate::model::{
    BundleUpload, BundleVersion, ComponentInfo, IssuedToken, RunRequest, RunView, SuspendRequest,
    Tenant, TenantSpec, TokenInfo, VersionRequest,
};
use crate::state::AppState;

/// Liveness: the engine's epoch ticker and the decision log are up.
#[utoipa::path(get, path = "/healthz", tag = "service", security(()), responses((status = 200, description = "healthy"), (status = 503, description = "unhealthy")))]
pub(crate) async fn healthz(State(s): State<AppState>) -> Response {
    if s.is_healthy() {
        (StatusCode::OK, Json(json!({"status": "ok"}))).into_response()
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"status": "unavailable"})),
        )
            .into_response()
    }
}

/// Prometheus metrics: the operator's token is required unless the server's config sets
/// `public_metrics`.
#[utoipa::path(get, path = "/metrics", tag = "service", responses((status = 200, description = "text exposition format"), (status = 401, body = ErrorBody)))]
pub(crate) async fn metrics(
    admin: Result<Admin, ApiError>,
    State(s): State<AppState>,
) -> Result<Response, ApiError> {
    if !s.config().public_metrics {
        admin?;
    }
    let text = s
        .inner
        .metrics
        .encode()
        .map_err(|e| ApiError::internal(&e))?;
    Ok((
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        text,
    )
        .into_response())
}

/// Create or update a tenant and its limits.
#[utoipa::path(put, path = "/v1/admin/tenants/{tenant}", tag = "admin", request_body = TenantSpec,
    responses((status = 200, body = Tenant), (status = 201, body = Tenant), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
pub(crate) async fn put_tenant(
    _: Admin,
    State(s): State<AppState>,
    Path(t): Path<String>,
    Json(spec): Json<TenantSpec>,
) -> Result<Response, ApiError> {
    let (tenant, created) = s.put_tenant(&t, spec)?;
    let code = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((code, Json(tenant)).into_response())
}

/// A tenant.
#[utoipa::path(get, path = "/v1/admin/tenants/{tenant}", tag = "admin", responses((status = 200, body = Tenant), (status = 404, body = ErrorBody)))]
pub(crate) async fn get_tenant(
    _: Admin,
    State(s): State<AppState>,
    Path(t): Path<String>,
) -> Result<Json<Tenant>, ApiError> {
    Ok(Json(s.tenant(&t)?))
}

/// Issue a tenant API token (shown once; stored hashed).
#[utoipa::path(post, path = "/v1/admin/tenants/{tenant}/tokens", tag = "admin", responses((status = 201, body = IssuedToken)))]
pub(crate) async fn issue_token(
    _: Admin,
    State(s): State<AppState>,
    Path(t): Path<String>,
) -> Result<Response, ApiError> {
    let (token, id) = s.issue_token(&t)?;
    Ok((
        StatusCode::CREATED,
        Json(IssuedToken {
            token,
            id,
            tenant: t,
        }),
    )
        .into_response())
}

/// The tenant's tokens (ids and creation times; never the tokens).
#[utoipa::path(get, path = "/v1/admin/tenants/{tenant}/tokens", tag = "admin", responses((status = 200, body = Vec<TokenInfo>), (status = 404, body = ErrorBody)))]
pub(crate) async fn list_tokens(
    _: Admin,
    State(s): State<AppState>,
    Path(t): Path<String>,
) -> Result<Json<Vec<TokenInfo>>, ApiError> {
    Ok(Json(s.tokens(&t)?))
}

/// Revoke a tenant token: refused from the next request on. To rotate, issue a new token,
/// then revoke the old one.
#[utoipa::path(delete, path = "/v1/admin/tenants/{tenant}/tokens/{id}", tag = "admin", responses((status = 204), (status = 404, body = ErrorBody)))]
pub(crate) async fn revoke_token(
    _: Admin,
    State(s): State<AppState>,
    Path((t, id)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    s.revoke_token(&t, &id)?;
    Ok(StatusCode::NO_CONTENT)
}

/// Delete a tenant: its tokens and identity keys are revoked at once, its components removed,
/// its runs cancelled; a tombstone keeps its id from being reused.
#[utoipa::path(delete, path = "/v1/admin/tenants/{tenant}", tag = "admin", responses((status = 204), (status = 404, body = ErrorBody)))]
pub(crate) async fn delete_tenant(
    _: Admin,
    State(s): State<AppState>,
    Path(t): Path<String>,
) -> Result<StatusCode, ApiError> {
    s.delete_tenant(&t)?;
    Ok(StatusCode::NO_CONTENT)
}

/// Remove an identity key: on-behalf-of tokens it signed are refused from the next run on.
#[utoipa::path(delete, path = "/v1/admin/tenants/{tenant}/identity-keys/{id}", tag = "admin", responses((status = 204), (status = 404, body = ErrorBody)))]
pub(crate) async fn remove_key(
    _: Admin,
    State(s): State<AppState>,
    Path((t, id)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    s.remove_identity_key(&t, &id)?;
    Ok(StatusCode::NO_CONTENT)
}

/// Upload a policy bundle: validated against the schema, stored as a new version.
#[utoipa::path(post, path = "/v1/admin/tenants/{tenant}/bundles", tag = "admin", request_body = BundleUpload,
    responses((status = 201, body = BundleVersion), (status = 400, body = ErrorBody, description = "invalid bundle; the active version stays")))]
pub(crate) async fn upload_bundle(
    _: Admin,
    State(s): State<AppState>,
    Path(t): Path<String>,
    Json(up): Json<BundleUpload>,
) -> Result<Response, ApiError> {
    let v = s.upload_bundle(&t, up.files.into_iter().collect(), up.activate)?;
    Ok((StatusCode::CREATED, Json(summary(&v))).into_response())
}

fn summary(v: &BundleVersion) -> serde_json::Value {
    json!({
        "version": v.version,
        "digest": v.digest,
        "policy_ids": v.policy_ids,
        "warnings": v.warnings,
        "uploaded_at": v.uploaded_at,
    })
}

/// Bundle history, with the active and shadow versions.
#[utoipa::path(get, path = "/v1/admin/tenants/{tenant}/bundles", tag = "admin", responses((status = 200, description = "history")))]
pub(crate) async fn list_bundles(
    _: Admin,
    State(s): State<AppState>,
    Path(t): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let tenant = s.tenant(&t)?;
    let versions: Vec<_> = s.bundle_versions(&t)?.iter().map(summary).collect();
    Ok(Json(json!({
        "active": tenant.active_bundle,
        "shadow": tenant.shadow_bundle,
        "versions": versions,
    })))
}

/// Activate a version.
#[utoipa::path(put, path = "/v1/admin/tenants/{tenant}/bundles/active", tag = "admin", request_body = VersionRequest, responses((status = 200, body = Tenant)))]
pub(crate) async fn activate(
    _: Admin,
    State(s): State<AppState>,
    Path(t): Path<String>,
    Json(req): Json<VersionRequest>,
) -> Result<Json<Tenant>, ApiError> {
    let v = req
        .version
        .ok_or_else(|| ApiError::bad_request("invalid-request", "`version` is required"))?;
    Ok(Json(s.activate(&t, v)?))
}

/// Go back to the version active before the current one.
#[utoipa::path(post, path = "/v1/admin/tenants/{tenant}/bundles/rollback", tag = "admin", responses((status = 200, body = Tenant), (status = 409, body = ErrorBody)))]
pub(crate) async fn rollback(
    _: Admin,
    State(s): State<AppState>,
    Path(t): Path<String>,
) -> Result<Json<Tenant>, ApiError> {
    Ok(Json(s.rollback(&t)?))
}

/// Set (or clear, with `null`) the shadow candidate.
#[utoipa::path(put, path = "/v1/admin/tenants/{tenant}/bundles/shadow", tag = "admin", request_body = VersionRequest, responses((status = 200, body = Tenant)))]
pub(crate) async fn shadow(
    _: Admin,
    State(s): State<AppState>,
    Path(t): Path<String>,
    Json(req): Json<VersionRequest>,
) -> Result<Json<Tenant>, ApiError> {
    Ok(Json(s.set_shadow(&t, req.version)?))
}

/// Decisions the shadow candidate would have made differently, per run.
#[utoipa::path(get, path = "/v1/admin/tenants/{tenant}/shadow-differences", tag = "admin", responses((status = 200, description = "differences")))]
pub(crate) async fn shadow_differences(
    _: Admin,
    State(s): State<AppState>,
    Path(t): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    Ok(Json(json!({ "runs": s.shadow_differences(&t)? })))
}

/// Register an identity provider key (PEM with algorithm, or JWKS).
#[utoipa::path(post, path = "/v1/admin/tenants/{tenant}/identity-keys", tag = "admin", request_body = IdentityKey, responses((status = 201, description = "registered"), (status = 400, body = ErrorBody)))]
pub(crate) async fn add_key(
    _: Admin,
    State(s): State<AppState>,
    Path(t): Path<String>,
    Json(k): Json<IdentityKey>,
) -> Result<Response, ApiError> {
    let id = s.add_identity_key(&t, k)?;
    Ok((StatusCode::CREATED, Json(json!({ "id": id }))).into_response())
}

/// The tenant's identity keys.
#[utoipa::path(get, path = "/v1/admin/tenants/{tenant}/identity-keys", tag = "admin", responses((status = 200, description = "keys")))]
pub(crate) async fn list_keys(
    _: Admin,
    State(s): State<AppState>,
    Path(t): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    s.tenant(&t)?;
    let keys: Vec<_> = s
        .identity_keys(&t)?
        .into_iter()
        .map(|(id, k)| json!({"id": id, "key": k}))
        .collect();
    Ok(Json(json!({ "keys": keys })))
}

/// Suspend a tenant or one of its components: new runs refused, running ones cancelled.
#[utoipa::path(post, path = "/v1/admin/tenants/{tenant}/suspend", tag = "admin", request_body = SuspendRequest, responses((status = 200, body = Tenant)))]
pub(crate) async fn suspend(
    _: Admin,
    State(s): State<AppState>,
    Path(t): Path<String>,
    Json(req): Json<SuspendRequest>,
) -> Result<Json<Tenant>, ApiError> {
    Ok(Json(s.suspend(&t, req.component.as_deref(), true)?))
}

/// Lift a suspension.
#[utoipa::path(post, path = "/v1/admin/tenants/{tenant}/resume", tag = "admin", request_body = SuspendRequest, responses((status = 200, body = Tenant)))]
pub(crate) async fn resume(
    _: Admin,
    State(s): State<AppState>,
    Path(t): Path<String>,
    Json(req): Json<SuspendRequest>,
) -> Result<Json<Tenant>, ApiError> {
    Ok(Json(s.suspend(&t, req.component.as_deref(), false)?))
}

/// Upload a component (raw bytes): validated against the cordon world, stored by digest.
#[utoipa::path(post, path = "/v1/tenants/{tenant}/components", tag = "tenant", request_body(content = Vec<u8>, content_type = "application/wasm"),
    responses((status = 201, body = ComponentInfo), (status = 200, body = ComponentInfo, description = "already stored"), (status = 413, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub(crate) async fn upload_component(
    _: TenantCaller,
    State(s): State<AppState>,
    Path(t): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let (info, created) = s.upload_component(&t, body.to_vec()).await?;
    let code = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((code, Json(info)).into_response())
}

/// The tenant's components.
#[utoipa::path(get, path = "/v1/tenants/{tenant}/components", tag = "tenant", responses((status = 200, body = Vec<ComponentInfo>)))]
pub(crate) async fn list_components(
    _: TenantCaller,
    State(s): State<AppState>,
    Path(t): Path<String>,
) -> Result<Json<Vec<ComponentInfo>>, ApiError> {
    Ok(Json(s.components(&t)?))
}

/// One component.
#[utoipa::path(get, path = "/v1/tenants/{tenant}/components/{digest}", tag = "tenant", responses((status = 200, body = ComponentInfo), (status = 404, body = ErrorBody)))]
pub(crate) async fn get_component(
    _: TenantCaller,
    State(s): State<AppState>,
    Path((t, d)): Path<(String, String)>,
) -> Result<Json<ComponentInfo>, ApiError> {
    Ok(Json(s.component(&t, &d)?))
}

/// The component's bytes exactly as uploaded (their blake3 digest is the `digest`).
#[utoipa::path(get, path = "/v1/tenants/{tenant}/components/{digest}/wasm", tag = "tenant",
    responses((status = 200, content_type = "application/wasm", description = "the component"), (status = 404, body = ErrorBody)))]
pub(crate) async fn get_component_wasm(
    _: TenantCaller,
    State(s): State<AppState>,
    Path((t, d)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let bytes = s.component_bytes(&t, &d)?;
    Ok(([(header::CONTENT_TYPE, "application/wasm")], bytes).into_response())
}

/// Delete a component.
#[utoipa::path(delete, path = "/v1/tenants/{tenant}/components/{digest}", tag = "tenant", responses((status = 204), (status = 404, body = ErrorBody)))]
pub(crate) async fn delete_component(
    _: TenantCaller,
    State(s): State<AppState>,
    Path((t, d)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    s.delete_component(&t, &d)?;
    Ok(StatusCode::NO_CONTENT)
}

/// Run a component under the tenant's active bundle and limits, on behalf of the human the
/// token names.
#[utoipa::path(post, path = "/v1/tenants/{tenant}/runs", tag = "tenant", request_body = RunRequest,
    responses((status = 200, body = RunView), (status = 202, description = "async: the run id"), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 400, body = ErrorBody), (status = 429, body = ErrorBody), (status = 501, description = "source in a language this host has no runner for", body = ErrorBody)))]
pub(crate) async fn run(
    _: TenantCaller,
    State(s): State<AppState>,
    Path(t): Path<String>,
    Json(req): Json<RunRequest>,
) -> Result<Response, ApiError> {
    let (id, view) = s.start_run(&t, req).await?;
    Ok(match view {
        Some(v) => (StatusCode::OK, Json(v)).into_response(),
        None => (
            StatusCode::ACCEPTED,
            [(header::LOCATION, format!("/v1/tenants/{t}/runs/{id}"))],
            Json(json!({ "run_id": id, "status": "running" })),
        )
            .into_response(),
    })
}

/// A run: `running`, or its report. A run whose stored report named a data subject erased
/// since is still found (200), as a tombstone: its id, status and component with
/// `report_erased: true` and no output, decisions, summary or user (also when its stored report
/// can no longer be read: status `erased` or `unreadable`).
#[utoipa::path(get, path = "/v1/tenants/{tenant}/runs/{run}", tag = "tenant", responses((status = 200, body = RunView, description = "the run; a tombstone with `report_erased: true` if its report was erased"), (status = 404, body = ErrorBody)))]
pub(crate) async fn get_run(
    _: TenantCaller,
    State(s): State<AppState>,
    Path((t, id)): Path<(String, String)>,
) -> Result<Json<RunView>, ApiError> {
    Ok(Json(s.run_view(&t, &id)?))
}

/// Cancel a run (the kill switch): it stops within one epoch tick.
#[utoipa::path(post, path = "/v1/tenants/{tenant}/runs/{run}/cancel", tag = "tenant", responses((status = 200, body = RunView), (status = 404, body = ErrorBody)))]
pub(crate) async fn cancel_run(
    _: TenantCaller,
    State(s): State<AppState>,
    Path((t, id)): Path<(String, String)>,
) -> Result<Json<RunView>, ApiError> {
    Ok(Json(s.cancel_run(&t, &id)?))
}
