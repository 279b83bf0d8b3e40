use axum::body::Body;
use axum::http::StatusCode;
use serde_json::json;

use crate::common::{ADMIN, ALLOW_ALL, Env};

#[tokio::test]
async fn an_invalid_bundle_is_refused_with_the_validators_message_and_the_active_one_stays() {
    let env = Env::new();
    env.tenant("acme", json!({})).await;
    let (s, v1) = env.bundle("acme", ALLOW_ALL, true).await;
    assert_eq!(s, StatusCode::CREATED);
    let (s, v) = env
        .bundle(
            "acme",
            r#"permit(principal, action == Cordon::Action::"fs:raed", resource);"#,
            true,
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(v["error"]["code"], "invalid-bundle");
    assert!(
        v["error"]["message"].as_str().unwrap().contains("fs:raed"),
        "{v}"
    );
    let (s, list) = env
        .call(
            "GET",
            "/v1/admin/tenants/acme/bundles",
            Some(ADMIN),
            Body::empty(),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(list["active"], v1["version"]);
    assert_eq!(list["versions"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn versions_activate_and_roll_back() {
    let env = Env::new();
    env.tenant("acme", json!({})).await;
    env.bundle("acme", ALLOW_ALL, true).await;
    let (_, v2) = env
        .bundle(
            "acme",
            r#"@id("reads") permit(principal, action == Cordon::Action::"fs:read", resource);"#,
            false,
        )
        .await;
    assert_eq!(v2["version"], 2);
    let (s, t) = env
        .json(
            "PUT",
            "/v1/admin/tenants/acme/bundles/active",
            Some(ADMIN),
            json!({"version": 2}),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(t["active_bundle"], 2);
    let (s, t) = env
        .call(
            "POST",
            "/v1/admin/tenants/acme/bundles/rollback",
            Some(ADMIN),
            Body::empty(),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(t["active_bundle"], 1);
    let (s, _) = env
        .call(
            "POST",
            "/v1/admin/tenants/acme/bundles/rollback",
            Some(ADMIN),
            Body::empty(),
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT);
    let (s, _) = env
        .json(
            "PUT",
            "/v1/admin/tenants/acme/bundles/active",
            Some(ADMIN),
            json!({"version": 9}),
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_shadow_candidate_records_what_it_would_have_decided_differently() {
    let env = Env::new();
    let token = env.tenant("acme", json!({"allow_unattended": true})).await;
    env.bundle("acme", ALLOW_ALL, true).await;
    env.bundle("acme", r#"@id("no-secrets") forbid(principal, action, resource == Cordon::File::"/secret.txt"); @id("all") permit(principal, action, resource);"#, false).await;
    let (s, _) = env
        .json(
            "PUT",
            "/v1/admin/tenants/acme/bundles/shadow",
            Some(ADMIN),
            json!({"version": 2}),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let (_, c) = env
        .upload("acme", &token, cordon_testkit::read_guest().unwrap())
        .await;
    let (s, v) = env
        .run("acme", &token, json!({"component": c["digest"], "input_text": "/secret.txt", "purpose": "p", "engagement": "e"}))
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["summary"]["shadow_differences"], 1, "{v}");
    let (s, d) = env
        .call(
            "GET",
            "/v1/admin/tenants/acme/shadow-differences",
            Some(ADMIN),
            Body::empty(),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let diff = &d["runs"][0]["differences"][0];
    assert_eq!(diff["active"], "allow");
    assert_eq!(diff["shadow"], "deny");
    assert_eq!(diff["shadow_policy_ids"], json!(["no-secrets"]));
}

#[tokio::test]
async fn a_bundle_that_can_never_match_as_written_is_stored_with_its_warnings() {
    let env = Env::new();
    env.tenant("acme", json!({})).await;
    let (s, v) = env
        .bundle(
            "acme",
            r#"@id("docs") permit(principal, action, resource in Cordon::Dir::"docs");"#,
            true,
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let warnings = v["warnings"].as_array().unwrap();
    assert_eq!(warnings.len(), 1, "{v}");
    assert!(
        warnings[0].as_str().unwrap().starts_with("policy `docs`"),
        "{v}"
    );
    let (_, list) = env
        .call(
            "GET",
            "/v1/admin/tenants/acme/bundles",
            Some(ADMIN),
            Body::empty(),
        )
        .await;
    assert_eq!(list["versions"][0]["warnings"], v["warnings"], "{list}");
    let (_, clean) = env.bundle("acme", ALLOW_ALL, false).await;
    assert_eq!(clean["warnings"], json!([]), "{clean}");
}
