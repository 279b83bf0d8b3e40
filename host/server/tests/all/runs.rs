use axum::body::Body;
use axum::http::StatusCode;
use serde_json::json;

use crate::common::{ADMIN, Env};

#[tokio::test]
async fn a_run_returns_status_output_usage_and_its_log_range() {
    let env = Env::new();
    let (token, digest) = env.echo_tenant("acme").await;
    let (s, v) = env
        .run(
            "acme",
            &token,
            json!({"component": digest, "input": {"n": 42}, "purpose": "p", "engagement": "e"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["status"], "ok");
    assert_eq!(v["report"]["output"], json!({"n": 42}));
    assert!(v["report"]["fuel_used"].as_u64().unwrap() > 0);
    assert!(v["report"]["wall_ms"].as_f64().is_some());
    assert!(v["report"]["peak_memory_bytes"].as_u64().is_some());
    assert_eq!(v["report"]["component_digest"], digest);
}

#[tokio::test]
async fn allowed_and_denied_calls_are_decided_under_the_active_bundle() {
    let env = Env::new();
    let root = tempfile::tempdir().unwrap();
    std::fs::write(root.path().join("ok.txt"), "hello").unwrap();
    std::fs::write(root.path().join("secret.txt"), "s3cret").unwrap();
    let token = env
        .tenant(
            "acme",
            json!({"allow_unattended": true, "root": root.path()}),
        )
        .await;
    env.bundle("acme", r#"@id("read-ok") permit(principal, action == Cordon::Action::"fs:read", resource == Cordon::File::"/ok.txt");"#, true).await;
    let (_, c) = env
        .upload("acme", &token, cordon_testkit::read_guest().unwrap())
        .await;
    let run = |path: &str| json!({"component": c["digest"], "input_text": path, "purpose": "p", "engagement": "e"});
    let (s, v) = env.run("acme", &token, run("/ok.txt")).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["summary"]["allowed"], 1);
    assert_eq!(
        v["report"]["decisions"][0]["policy_ids"],
        json!(["read-ok"])
    );
    let (_, v) = env.run("acme", &token, run("/secret.txt")).await;
    assert_eq!(v["summary"]["denied"], 1, "{v}");
    assert_eq!(v["report"]["decisions"][0]["decision"], "deny");
    let first = v["report"]["audit"]["first_seq"].as_u64().unwrap();
    assert_eq!(v["report"]["audit"]["last_seq"].as_u64().unwrap(), first);
}

#[tokio::test]
async fn a_tenant_without_an_active_bundle_cannot_run() {
    let env = Env::new();
    let token = env.tenant("acme", json!({"allow_unattended": true})).await;
    let (_, c) = env
        .upload("acme", &token, cordon_testkit::echo_guest().unwrap())
        .await;
    let (s, v) = env
        .run(
            "acme",
            &token,
            json!({"component": c["digest"], "purpose": "p", "engagement": "e"}),
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT);
    assert_eq!(v["error"]["code"], "no-active-bundle");
}

#[tokio::test]
async fn runs_past_the_tenants_concurrency_limit_get_429() {
    let env = Env::new();
    let token = env
        .tenant("acme", json!({"allow_unattended": true, "limits": {"max_concurrent_runs": 1, "timeout_ms": 5000}}))
        .await;
    env.bundle("acme", crate::common::ALLOW_ALL, true).await;
    let (_, c) = env
        .upload("acme", &token, cordon_testkit::spin_guest().unwrap())
        .await;
    let body = json!({"component": c["digest"], "purpose": "p", "engagement": "e", "async": true});
    let (s, first) = env.run("acme", &token, body.clone()).await;
    assert_eq!(s, StatusCode::ACCEPTED);
    let (s, v) = env.run("acme", &token, body).await;
    assert_eq!(s, StatusCode::TOO_MANY_REQUESTS, "{v}");
    assert_eq!(v["error"]["code"], "too-many-runs");
    let id = first["run_id"].as_str().unwrap();
    crate::kill::cancel(&env, &token, id).await;
}

/// The tenant's write quota reaches its runs: a write past it is refused whole, nothing of
/// it on disk, and a write within it goes through.
#[tokio::test]
async fn a_tenants_write_quota_bounds_what_its_runs_write() {
    let env = Env::new();
    let root = tempfile::tempdir().unwrap();
    let token = env
        .tenant(
            "acme",
            json!({"allow_unattended": true, "root": root.path(), "limits": {"max_write_bytes": 6}}),
        )
        .await;
    env.bundle("acme", crate::common::ALLOW_ALL, true).await;
    let (_, c) = env
        .upload(
            "acme",
            &token,
            cordon_testkit::unit_call_guest(cordon_testkit::UnitCall::Write).unwrap(),
        )
        .await;
    let run = json!({"component": c["digest"], "input_text": "out.txt", "purpose": "p", "engagement": "e"});
    // The guest writes `written` (7 bytes): one past the quota.
    let (s, v) = env.run("acme", &token, run.clone()).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["report"]["error"]["kind"], "limit-exceeded", "{v}");
    assert!(
        !root.path().join("out.txt").exists(),
        "written past the quota"
    );
    let (s, v) = env
        .json(
            "PUT",
            "/v1/admin/tenants/acme",
            Some(crate::common::ADMIN),
            json!({"allow_unattended": true, "root": root.path(), "limits": {"max_write_bytes": 7}}),
        )
        .await;
    assert!(s.is_success(), "{s} {v}");
    let (_, v) = env.run("acme", &token, run).await;
    assert!(v["report"]["error"].is_null(), "{v}");
    assert_eq!(
        std::fs::read_to_string(root.path().join("out.txt")).unwrap(),
        "written"
    );
}

#[tokio::test]
async fn a_run_that_hits_a_limit_says_which() {
    let env = Env::new();
    let token = env
        .tenant(
            "acme",
            json!({"allow_unattended": true, "limits": {"fuel": 100000}}),
        )
        .await;
    env.bundle("acme", crate::common::ALLOW_ALL, true).await;
    let (_, c) = env
        .upload("acme", &token, cordon_testkit::spin_guest().unwrap())
        .await;
    let (s, v) = env
        .run(
            "acme",
            &token,
            json!({"component": c["digest"], "purpose": "p", "engagement": "e"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["status"], "limit-exceeded");
    assert_eq!(v["report"]["limit"], "fuel");
}

#[tokio::test]
async fn metrics_count_runs_and_decisions_and_openapi_lists_the_routes() {
    let env = Env::new();
    let (token, digest) = env.echo_tenant("acme").await;
    env.run(
        "acme",
        &token,
        json!({"component": digest, "purpose": "p", "engagement": "e"}),
    )
    .await;
    let (s, m) = env
        .call("GET", "/metrics", Some(ADMIN), Body::empty())
        .await;
    assert_eq!(s, StatusCode::OK);
    let text = m.as_str().unwrap();
    assert!(
        text.contains("cordon_runs_total{status=\"ok\"} 1"),
        "{text}"
    );
    assert!(text.contains("cordon_run_duration_seconds"), "{text}");
    let (s, doc) = env.call("GET", "/openapi.json", None, Body::empty()).await;
    assert_eq!(s, StatusCode::OK);
    assert!(doc["paths"]["/v1/tenants/{tenant}/runs"]["post"].is_object());
    let (s, h) = env.call("GET", "/healthz", None, Body::empty()).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(h["status"], "ok");
    let _ = ADMIN;
}
