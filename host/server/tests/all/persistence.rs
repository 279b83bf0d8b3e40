use axum::body::Body;
use axum::http::StatusCode;
use serde_json::json;

use crate::common::{ADMIN, Env, Idp, claims, register};

#[tokio::test]
async fn a_restart_keeps_tenants_tokens_components_bundles_keys_and_the_log() {
    let env = Env::new();
    let token = env
        .tenant("acme", json!({"limits": {"max_concurrent_runs": 3}}))
        .await;
    env.bundle("acme", crate::common::ALLOW_ALL, true).await;
    env.bundle(
        "acme",
        r#"@id("none") forbid(principal, action, resource);"#,
        false,
    )
    .await;
    let (_, c) = env
        .upload("acme", &token, cordon_testkit::echo_guest().unwrap())
        .await;
    let digest = c["digest"].as_str().unwrap().to_owned();
    let idp = Idp::new(3);
    register(&idp, &env, "acme").await;
    env.json(
        "POST",
        "/v1/admin/tenants/acme/suspend",
        Some(ADMIN),
        json!({"component": "0".repeat(64)}),
    )
    .await;
    let (_, before) = env
        .run("acme", &token, json!({"component": digest, "token": idp.sign(&claims()).unwrap(), "purpose": "p", "engagement": "e"}))
        .await;
    let last = before["report"]["audit"]["last_seq"].clone();
    env.state
        .shutdown(std::time::Duration::from_secs(1))
        .await
        .unwrap();

    let env = env.reopen();
    let (s, t) = env
        .call("GET", "/v1/admin/tenants/acme", Some(ADMIN), Body::empty())
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(t["limits"]["max_concurrent_runs"], 3);
    assert_eq!(t["active_bundle"], 1);
    let (_, b) = env
        .call(
            "GET",
            "/v1/admin/tenants/acme/bundles",
            Some(ADMIN),
            Body::empty(),
        )
        .await;
    assert_eq!(b["versions"].as_array().unwrap().len(), 2);
    let (s, list) = env
        .call(
            "GET",
            "/v1/tenants/acme/components",
            Some(&token),
            Body::empty(),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "the tenant token still works");
    assert_eq!(list[0]["digest"], digest);
    let (s, after) = env
        .run("acme", &token, json!({"component": digest, "token": idp.sign(&claims()).unwrap(), "purpose": "p", "engagement": "e"}))
        .await;
    assert_eq!(
        s,
        StatusCode::OK,
        "the identity key is still registered: {after}"
    );
    assert_eq!(after["user"], "alice");
    let _ = last;
    let head_before = before["report"]["audit"]["head"].clone();
    assert!(head_before.is_string());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_async_runs_result_can_be_polled_after_a_restart() {
    let env = Env::new();
    let (token, digest) = env.echo_tenant("acme").await;
    let (s, v) = env
        .run(
            "acme",
            &token,
            json!({"component": digest, "input": {"kept": true}, "purpose": "p", "engagement": "e", "async": true}),
        )
        .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{v}");
    let id = v["run_id"].as_str().unwrap().to_owned();
    let (_, before) = crate::kill::until_finished(&env, &token, &id).await;
    assert_eq!(before["status"], "ok", "{before}");

    let env = env.reopen();
    let uri = format!("/v1/tenants/acme/runs/{id}");
    let (s, after) = env.call("GET", &uri, Some(&token), Body::empty()).await;
    assert_eq!(s, StatusCode::OK, "{after}");
    assert_eq!(after["status"], "ok");
    assert_eq!(after["report"]["output"], json!({"kept": true}));
    assert_eq!(after["summary"], before["summary"]);
    // Still the tenant's alone.
    let (other, _) = env.echo_tenant("globex").await;
    let stranger = format!("/v1/tenants/globex/runs/{id}");
    let (s, _) = env
        .call("GET", &stranger, Some(&other), Body::empty())
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}
