//! The records routes: the operator's API over each tenant's records store.
//!
//! Every route takes the **operator's** token only; a tenant's token gets 404, as on the other
//! admin routes. A tenant token is what submits runs, and these routes show records raw and
//! can relabel, replace, release or erase them: a holder of the tenant token could then read
//! every field the tenant's policy withholds from its agents, or lift a legal hold. Agents see
//! records only through the `records` interface of a run, decided by Cedar record by record.
//!
//! Another tenant's records are never reachable: the tenant in the path picks the store, and
//! an unknown tenant is a 404 before any store is opened. Every change and every read of
//! stored records is appended to the decision log (ids and subjects as keyed commitments) and
//! kept in the store's own operator log.

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use cordon_records::{Collection, Record, Value};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::Admin;
use crate::error::{ApiError, ErrorBody, ErrorDetail};
use crate::state::{AppState, ServerConfig};

/// The records routes; imports take bodies up to `max_upload_bytes`, the rest `max_body_bytes`.
pub(crate) fn router(config: &ServerConfig) -> Router<AppState> {
    let imports = Router::new()
        .route(
            "/v1/admin/tenants/{tenant}/collections/{collection}/records",
            post(import).get(list_records),
        )
        .layer(DefaultBodyLimit::max(config.max_upload_bytes));
    Router::new()
        .route(
            "/v1/admin/tenants/{tenant}/collections",
            get(list_collections),
        )
        .route(
            "/v1/admin/tenants/{tenant}/collections/{collection}",
            put(define).get(get_collection),
        )
        .route(
            "/v1/admin/tenants/{tenant}/collections/{collection}/records/{id}",
            get(get_record),
        )
        .route(
            "/v1/admin/tenants/{tenant}/collections/{collection}/records/{id}/holds/{hold}",
            put(hold).delete(release),
        )
        .route("/v1/admin/tenants/{tenant}/erasures", post(erase))
        .route("/v1/admin/tenants/{tenant}/records-log", get(records_log))
        .layer(DefaultBodyLimit::max(config.max_body_bytes))
        .merge(imports)
}

fn parse<T: for<'de> Deserialize<'de>>(body: &[u8], code: &'static str) -> Result<T, ApiError> {
    serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(code, format!("the body is not valid: {e}")))
}

/// What an import wrote.
#[derive(Debug, Serialize, ToSchema)]
pub struct ImportedRecords {
    /// The collection.
    pub collection: String,
    /// Records new to the collection.
    pub inserted: usize,
    /// Records that replaced a stored one of the same id (its legal holds are kept).
    pub updated: usize,
}

/// An import refused for its lines: the first 1,000 bad lines by number, the rest counted;
/// nothing was imported.
#[derive(Debug, Serialize, ToSchema)]
pub struct BadLinesBody {
    /// Code `bad-lines` and a summary.
    pub error: ErrorDetail,
    /// The bad lines, in order: the first 1,000 (`cordon_records::MAX_REPORTED_LINES`).
    pub lines: Vec<BadLine>,
    /// How many more bad lines there were beyond those listed.
    pub more_lines: usize,
}

/// One bad line of an import.
#[derive(Debug, Serialize, ToSchema)]
pub struct BadLine {
    /// 1-based line number.
    pub line: usize,
    /// What is wrong with it.
    pub message: String,
}

/// A stored record as the operator sees it: every field, and its governance attributes.
#[derive(Debug, Serialize, ToSchema)]
pub struct StoredRecord {
    /// The record's id.
    pub id: String,
    /// The data subject.
    pub subject: String,
    /// Its classification level's name.
    pub classification: String,
    /// Where its data is governed.
    pub jurisdiction: String,
    /// Purposes its subject consented to.
    pub consent: Vec<String>,
    /// Legal holds covering it.
    pub holds: Vec<String>,
    /// Unix time after which it is never served.
    pub retain_until: Option<u64>,
    /// Its subject asked to be erased while a hold covered it: kept for the hold, never
    /// served, erased when the last hold is lifted.
    pub erasure_pending: bool,
    /// Field values by name.
    #[schema(value_type = Object)]
    pub fields: BTreeMap<String, Value>,
}

fn stored(c: &Collection, r: Record) -> StoredRecord {
    let level = usize::try_from(r.classification)
        .ok()
        .and_then(|i| c.levels.get(i))
        .cloned()
        .unwrap_or_else(|| r.classification.to_string());
    StoredRecord {
        id: r.id,
        subject: r.subject,
        classification: level,
        jurisdiction: r.jurisdiction,
        consent: r.consent,
        holds: r.holds,
        retain_until: r.retain_until,
        erasure_pending: r.erasure_pending,
        fields: r.fields,
    }
}

/// A page of a collection's stored records, in id order.
#[derive(Debug, Serialize, ToSchema)]
pub struct RecordPage {
    /// The collection.
    pub collection: String,
    /// The records.
    pub records: Vec<StoredRecord>,
    /// Pass as `after` for the next page; absent on the last one.
    pub next: Option<String>,
}

/// Which page of records: `after` an id, at most `limit` (1 to 1000, default 100).
#[derive(Debug, Deserialize)]
pub(crate) struct PageQuery {
    after: Option<String>,
    limit: Option<usize>,
}

/// The record's holds after a hold was placed.
#[derive(Debug, Serialize, ToSchema)]
pub struct HoldView {
    /// The collection.
    pub collection: String,
    /// The record id.
    pub id: String,
    /// Every hold now covering it.
    pub holds: Vec<String>,
}

/// What releasing a hold did.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReleaseView {
    /// Holds still covering the record.
    pub remaining_holds: Vec<String>,
    /// Whether a pending erasure took effect now that no hold covers it.
    pub erased: bool,
}

/// An erasure request.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ErasureRequest {
    /// The data subject whose records are erased.
    pub subject: String,
}

/// A record named by collection and id.
#[derive(Debug, Serialize, ToSchema)]
pub struct RecordName {
    /// The collection.
    pub collection: String,
    /// The record id.
    pub id: String,
}

/// A record erasure refused.
#[derive(Debug, Serialize, ToSchema)]
pub struct RefusedRecord {
    /// The collection.
    pub collection: String,
    /// The record id.
    pub id: String,
    /// Why, e.g. ``under legal hold `litigation-7` ``.
    pub reason: String,
}

/// What an erasure request did: the subject's records are unreadable from now on; unheld ones
/// are deleted, held ones kept (never served) until their last hold is lifted.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErasureView {
    /// The subject.
    pub subject: String,
    /// How many records were deleted.
    pub erased: usize,
    /// Which records were deleted.
    pub erased_records: Vec<RecordName>,
    /// Records kept because a legal hold covers them, with the reason.
    pub refused: Vec<RefusedRecord>,
}

/// One operator action on a tenant's records.
#[derive(Debug, Serialize, ToSchema)]
pub struct RecordsAction {
    /// Unix time, seconds.
    pub at: u64,
    /// `define`, `import`, `hold`, `release` or `erase`.
    pub action: String,
    /// What it applied to and what it did (no field values).
    pub detail: String,
}

/// The tenant's records operator log, oldest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct RecordsLog {
    /// The actions.
    pub actions: Vec<RecordsAction>,
}

/// The tenant's collections.
#[utoipa::path(get, path = "/v1/admin/tenants/{tenant}/collections", tag = "records",
    responses((status = 200, body = Vec<Object>, description = "collection definitions"), (status = 404, body = ErrorBody)))]
pub(crate) async fn list_collections(
    _: Admin,
    State(s): State<AppState>,
    Path(t): Path<String>,
) -> Result<Json<Vec<Collection>>, ApiError> {
    Ok(Json(s.collections(&t).await?))
}

/// Define or replace a collection: the JSON `cordon records define` takes (`name` may be left
/// out; if given it must match the path).
#[utoipa::path(put, path = "/v1/admin/tenants/{tenant}/collections/{collection}", tag = "records",
    request_body(content = Object, description = r#"{"levels": ["public", "internal"], "fields": [{"name": "email", "category": "contact"}], "row_caps": {"billing": 100}, "strict_fields": false}"#),
    responses((status = 201, body = Object, description = "defined"), (status = 200, body = Object, description = "replaced"),
        (status = 400, body = ErrorBody, description = "not a valid collection; the message names the problem"), (status = 404, body = ErrorBody)))]
pub(crate) async fn define(
    _: Admin,
    State(s): State<AppState>,
    Path((t, name)): Path<(String, String)>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let mut v: serde_json::Value = parse(&body, "invalid-collection")?;
    let Some(obj) = v.as_object_mut() else {
        return Err(ApiError::bad_request(
            "invalid-collection",
            "the body must be a JSON object",
        ));
    };
    match obj.get("name") {
        None => {
            obj.insert("name".into(), name.clone().into());
        }
        Some(n) if n.as_str() == Some(name.as_str()) => {}
        Some(n) => {
            return Err(ApiError::bad_request(
                "invalid-collection",
                format!("the body names collection {n} but the path `{name}`"),
            ));
        }
    }
    let c: Collection = serde_json::from_value(v).map_err(|e| {
        ApiError::bad_request(
            "invalid-collection",
            format!("not a collection definition: {e}"),
        )
    })?;
    let created = s.define_collection(&t, c.clone()).await?;
    let code = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((code, Json(c)).into_response())
}

/// A collection's definition.
#[utoipa::path(get, path = "/v1/admin/tenants/{tenant}/collections/{collection}", tag = "records",
    responses((status = 200, body = Object), (status = 404, body = ErrorBody)))]
pub(crate) async fn get_collection(
    _: Admin,
    State(s): State<AppState>,
    Path((t, name)): Path<(String, String)>,
) -> Result<Json<Collection>, ApiError> {
    Ok(Json(s.collection(&t, name).await?))
}

/// Import or update records: the body is JSONL, one record per line as `cordon records
/// import` takes it. All of them are written, or none: a 400 lists every bad line by number.
/// A record whose id is stored replaces it (keeping its holds).
#[utoipa::path(post, path = "/v1/admin/tenants/{tenant}/collections/{collection}/records", tag = "records",
    request_body(content = String, content_type = "application/x-ndjson",
        description = r#"{"id": "T-1", "subject": "alice", "classification": "internal", "jurisdiction": "EU", "consent": ["triage"], "holds": [], "retain_until": 1893456000, "fields": {"title": "Cannot log in"}}"#),
    responses((status = 200, body = ImportedRecords), (status = 400, body = BadLinesBody, description = "every bad line; nothing imported"),
        (status = 404, body = ErrorBody), (status = 413, description = "larger than the upload limit")))]
pub(crate) async fn import(
    _: Admin,
    State(s): State<AppState>,
    Path((t, name)): Path<(String, String)>,
    body: Bytes,
) -> Result<Response, ApiError> {
    Ok(match s.import_records(&t, name, body).await? {
        Ok(r) => Json(ImportedRecords {
            collection: r.collection,
            inserted: r.inserted,
            updated: r.updated,
        })
        .into_response(),
        Err(bad) => {
            let lines: Vec<BadLine> = bad
                .listed
                .into_iter()
                .map(|e| BadLine {
                    line: e.line,
                    message: e.message,
                })
                .collect();
            let body = BadLinesBody {
                error: ErrorDetail {
                    code: "bad-lines".into(),
                    message: format!(
                        "{} bad line(s); nothing was imported",
                        lines.len() + bad.more
                    ),
                },
                lines,
                more_lines: bad.more,
            };
            (StatusCode::BAD_REQUEST, Json(body)).into_response()
        }
    })
}

/// A page of the collection's stored records, every field (logged as `records:inspect`).
#[utoipa::path(get, path = "/v1/admin/tenants/{tenant}/collections/{collection}/records", tag = "records",
    params(("after" = Option<String>, Query, description = "start after this id"), ("limit" = Option<usize>, Query, description = "1 to 1000, default 100")),
    responses((status = 200, body = RecordPage), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(crate) async fn list_records(
    _: Admin,
    State(s): State<AppState>,
    Path((t, name)): Path<(String, String)>,
    q: Result<Query<PageQuery>, QueryRejection>,
) -> Result<Json<RecordPage>, ApiError> {
    let Query(q) = q.map_err(|e| ApiError::bad_request("invalid-request", e.body_text()))?;
    let limit = q.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::bad_request(
            "invalid-request",
            format!("`limit` must be 1 to 1000, not {limit}"),
        ));
    }
    let (c, records) = s
        .inspect_records(&t, name.clone(), None, q.after, limit)
        .await?;
    let next = (records.len() == limit)
        .then(|| records.last().map(|r| r.id.clone()))
        .flatten();
    Ok(Json(RecordPage {
        collection: name,
        records: records.into_iter().map(|r| stored(&c, r)).collect(),
        next,
    }))
}

/// One stored record, every field (logged as `records:inspect`).
#[utoipa::path(get, path = "/v1/admin/tenants/{tenant}/collections/{collection}/records/{id}", tag = "records",
    responses((status = 200, body = StoredRecord), (status = 404, body = ErrorBody)))]
pub(crate) async fn get_record(
    _: Admin,
    State(s): State<AppState>,
    Path((t, name, id)): Path<(String, String, String)>,
) -> Result<Json<StoredRecord>, ApiError> {
    let (c, mut records) = s.inspect_records(&t, name, Some(id), None, 1).await?;
    let r = records.pop().ok_or_else(|| ApiError::not_found("record"))?;
    Ok(Json(stored(&c, r)))
}

/// Place a legal hold on a record: erasure is refused for it (with the hold as the reason)
/// until the hold is released.
#[utoipa::path(put, path = "/v1/admin/tenants/{tenant}/collections/{collection}/records/{id}/holds/{hold}", tag = "records",
    responses((status = 200, body = HoldView), (status = 404, body = ErrorBody)))]
pub(crate) async fn hold(
    _: Admin,
    State(s): State<AppState>,
    Path((t, collection, id, hold)): Path<(String, String, String, String)>,
) -> Result<Json<HoldView>, ApiError> {
    let holds = s.hold(&t, collection.clone(), id.clone(), hold).await?;
    Ok(Json(HoldView {
        collection,
        id,
        holds,
    }))
}

/// Release a legal hold; an erasure requested meanwhile takes effect with the last one.
#[utoipa::path(delete, path = "/v1/admin/tenants/{tenant}/collections/{collection}/records/{id}/holds/{hold}", tag = "records",
    responses((status = 200, body = ReleaseView), (status = 404, body = ErrorBody, description = "no such record, or it is not under that hold (`not-held`)")))]
pub(crate) async fn release(
    _: Admin,
    State(s): State<AppState>,
    Path((t, collection, id, hold)): Path<(String, String, String, String)>,
) -> Result<Json<ReleaseView>, ApiError> {
    let r = s.release(&t, collection, id, hold).await?;
    Ok(Json(ReleaseView {
        remaining_holds: r.remaining_holds,
        erased: r.erased,
    }))
}

/// Erase a data subject: their records become unreadable at once; unheld ones are deleted,
/// held ones are refused with the reason and erased when their last hold is released. Later
/// imports of the subject are refused.
#[utoipa::path(post, path = "/v1/admin/tenants/{tenant}/erasures", tag = "records", request_body = ErasureRequest,
    responses((status = 200, body = ErasureView), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(crate) async fn erase(
    _: Admin,
    State(s): State<AppState>,
    Path(t): Path<String>,
    body: Bytes,
) -> Result<Json<ErasureView>, ApiError> {
    let req: ErasureRequest = parse(&body, "invalid-request")?;
    let r = s.erase_subject(&t, req.subject).await?;
    Ok(Json(ErasureView {
        subject: r.subject,
        erased: r.erased,
        erased_records: r
            .erased_records
            .into_iter()
            .map(|r| RecordName {
                collection: r.collection,
                id: r.id,
            })
            .collect(),
        refused: r
            .refused
            .into_iter()
            .map(|r| RefusedRecord {
                collection: r.collection,
                id: r.id,
                reason: r.reason,
            })
            .collect(),
    }))
}

/// The tenant's records operator log: every define, import, hold, release and erasure.
#[utoipa::path(get, path = "/v1/admin/tenants/{tenant}/records-log", tag = "records",
    responses((status = 200, body = RecordsLog), (status = 404, body = ErrorBody)))]
pub(crate) async fn records_log(
    _: Admin,
    State(s): State<AppState>,
    Path(t): Path<String>,
) -> Result<Json<RecordsLog>, ApiError> {
    let actions = s
        .records_log(&t)
        .await?
        .into_iter()
        .map(|a| RecordsAction {
            at: a.at,
            action: a.action,
            detail: a.detail,
        })
        .collect();
    Ok(Json(RecordsLog { actions }))
}
