//! Who is calling: extractors that authenticate a request from its headers alone.
//!
//! They implement [`FromRequestParts`], so axum runs them before any body extractor: a request
//! without a valid token is answered 401 before one byte of its body is read, whatever its
//! content type or length.

use axum::extract::{FromRequestParts, RawPathParams};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, StatusCode, header};

use crate::error::ApiError;
use crate::state::{AppState, Caller};

/// The bearer token of a request, if it carries one.
pub(crate) fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
        .map(str::trim)
        .filter(|t| !t.is_empty())
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        // The admission layer resolved the token already; resolve it here when it did not
        // (a router built without it).
        if let Some(c) = parts.extensions.get::<Option<Caller>>() {
            return c.clone().ok_or_else(ApiError::unauthorized);
        }
        state.caller(bearer(&parts.headers))
    }
}

/// The operator. A tenant's token gets 404: admin routes are not theirs to learn of.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Admin;

impl FromRequestParts<AppState> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        match Caller::from_request_parts(parts, state).await? {
            Caller::Admin => Ok(Admin),
            Caller::Tenant(_) => Err(ApiError::not_found("route")),
        }
    }
}

/// The tenant named in the path, called with its own token or the operator's; another
/// tenant's token gets 404, exactly as a tenant that does not exist. A suspended
/// tenant's own token may read but change nothing (403 `suspended`); the operator may.
#[derive(Debug, Clone, Copy)]
pub(crate) struct TenantCaller;

impl FromRequestParts<AppState> for TenantCaller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let caller = Caller::from_request_parts(parts, state).await?;
        let path_tenant = RawPathParams::from_request_parts(parts, state)
            .await
            .ok()
            .and_then(|p| {
                p.iter()
                    .find(|(k, _)| *k == "tenant")
                    .map(|(_, v)| v.to_owned())
            })
            .ok_or_else(|| ApiError::not_found("tenant"))?;
        match caller {
            Caller::Admin => Ok(TenantCaller),
            Caller::Tenant(own) if own == path_tenant => {
                // A suspended tenant may read, but change nothing: no uploads, deletions or
                // cancellations (its runs were cancelled when it was suspended; new ones are
                // refused where they start, and counted there).
                let changes = !matches!(parts.method, Method::GET | Method::HEAD);
                let starts_run = parts.uri.path().ends_with("/runs");
                if changes && !starts_run && state.tenant(&own)?.suspended {
                    return Err(ApiError::new(
                        StatusCode::FORBIDDEN,
                        "suspended",
                        "the tenant is suspended: it may read but change nothing",
                    ));
                }
                Ok(TenantCaller)
            }
            Caller::Tenant(_) => Err(ApiError::not_found("tenant")),
        }
    }
}
