use axum::body::Body;
use axum::http::StatusCode;
use serde_json::json;

use crate::common::{ADMIN, Env, Idp, claims};

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
    idp.register(&env, "acme").await;
    env.json(
        "POST",
        "/v1/admin/tenants/acme/suspend",
        Some(ADMIN),
        json!({"component": "0".repeat(64)}),
    )
    .await;
    let (_, before) = env
        .run("acme", &token, json!({"component": digest, "token": idp.sign(claims()), "purpose": "p", "engagement": "e"}))
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
        .run("acme", &token, json!({"component": digest, "token": idp.sign(claims()), "purpose": "p", "engagement": "e"}))
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
