//! Every error response is the documented JSON with the right status and headers; the OpenAPI
//! document declares the bearer scheme; `/metrics` takes the operator's token; files are
//! private; on-behalf-of tokens' times are checked.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use cordon_server::app;
use serde_json::{Value, json};
use tower::ServiceExt;

use crate::common::{ADMIN, Env, Idp, claims, now, register};

async fn raw(env: &Env, req: Request<Body>) -> (StatusCode, axum::http::HeaderMap, Value) {
    use http_body_util::BodyExt;
    let resp = app(env.state.clone()).oneshot(req).await.unwrap();
    let (parts, body) = resp.into_parts();
    let bytes = body.collect().await.unwrap().to_bytes();
    let v = serde_json::from_slice(&bytes)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into()));
    (parts.status, parts.headers, v)
}

fn assert_error(v: &Value, code: &str) {
    assert_eq!(v["error"]["code"], code, "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{v}"
    );
}

#[tokio::test]
async fn unknown_routes_wrong_methods_and_rejections_are_json_errors() {
    let env = Env::new();
    let (s, _, v) = raw(&env, Request::get("/nowhere").body(Body::empty()).unwrap()).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert_error(&v, "not-found");

    let (s, h, v) = raw(
        &env,
        Request::delete("/healthz").body(Body::empty()).unwrap(),
    )
    .await;
    assert_eq!(s, StatusCode::METHOD_NOT_ALLOWED);
    assert_error(&v, "method-not-allowed");
    assert!(h.contains_key("allow"), "{h:?}");

    let malformed = Request::put("/v1/admin/tenants/acme")
        .header("authorization", format!("Bearer {ADMIN}"))
        .header("content-type", "application/json")
        .body(Body::from("{not json"))
        .unwrap();
    let (s, _, v) = raw(&env, malformed).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_error(&v, "invalid-request");

    let wrong_type = Request::put("/v1/admin/tenants/acme")
        .header("authorization", format!("Bearer {ADMIN}"))
        .header("content-type", "text/plain")
        .body(Body::from("{}"))
        .unwrap();
    let (s, _, v) = raw(&env, wrong_type).await;
    assert_eq!(s, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_error(&v, "unsupported-media-type");
}

#[tokio::test]
async fn a_401_names_the_bearer_scheme_and_comes_before_the_content_type() {
    let env = Env::new();
    let req = Request::post("/v1/tenants/acme/runs")
        .header("content-type", "text/plain")
        .body(Body::from("x"))
        .unwrap();
    let (s, h, v) = raw(&env, req).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    assert_error(&v, "unauthorized");
    assert_eq!(h["www-authenticate"], "Bearer");
}

#[tokio::test]
async fn the_openapi_document_declares_the_bearer_scheme() {
    let env = Env::new();
    let (s, v) = env.call("GET", "/openapi.json", None, Body::empty()).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        v["components"]["securitySchemes"]["bearer"]["scheme"], "bearer",
        "{v}"
    );
    assert_eq!(v["security"], json!([{"bearer": []}]));
}

#[tokio::test]
async fn metrics_take_the_operators_token_unless_the_config_opens_them() {
    let env = Env::new();
    let (s, _) = env.call("GET", "/metrics", None, Body::empty()).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let (s, _) = env
        .call("GET", "/metrics", Some(ADMIN), Body::empty())
        .await;
    assert_eq!(s, StatusCode::OK);
    let open = Env::with_config(|c| c.public_metrics = true);
    let (s, _) = open.call("GET", "/metrics", None, Body::empty()).await;
    assert_eq!(s, StatusCode::OK);
}

#[tokio::test]
async fn the_data_directory_and_its_stores_are_private() {
    use std::os::unix::fs::PermissionsExt;
    let env = Env::new();
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(env.dir.path()), 0o700);
    assert_eq!(mode(&env.dir.path().join(cordon_server::STATE_FILE)), 0o600);
    assert_eq!(mode(&env.dir.path().join(cordon_audit::LOG_FILE)), 0o600);
}

async fn attended(env: &Env) -> (String, String, Idp) {
    let (token, digest) = env.echo_tenant("acme").await;
    let idp = Idp::new(5);
    register(&idp, env, "acme").await;
    (token, digest, idp)
}

#[tokio::test]
async fn tokens_not_yet_valid_issued_in_the_future_or_too_long_lived_are_refused() {
    let env = Env::with_config(|c| c.token_rules.max_lifetime_secs = 3600);
    let (token, digest, idp) = attended(&env).await;
    let run =
        |jwt: String| json!({"component": digest, "token": jwt, "purpose": "p", "engagement": "e"});
    let mut ok = claims();
    ok["iat"] = json!(now());
    let (s, v) = env.run("acme", &token, run(idp.sign(&ok).unwrap())).await;
    assert_eq!(s, StatusCode::OK, "{v}");

    let mut not_yet = claims();
    not_yet["nbf"] = json!(now() + 600);
    let mut future = claims();
    future["iat"] = json!(now() + 600);
    future["exp"] = json!(now() + 1200);
    let mut long = claims();
    long["iat"] = json!(now());
    long["exp"] = json!(now() + 7200);
    let mut long_no_iat = claims();
    long_no_iat["exp"] = json!(now() + 7200);
    for c in [not_yet, future, long, long_no_iat] {
        let (s, v) = env
            .run("acme", &token, run(idp.sign(&c.clone()).unwrap()))
            .await;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "{c}: {v}");
        assert_eq!(v["error"]["code"], "invalid-token", "{v}");
    }
}
