use axum::body::Body;
use axum::http::StatusCode;
use serde_json::json;

use crate::common::{ADMIN, Env};

#[tokio::test]
async fn missing_or_unknown_tokens_get_401() {
    let env = Env::new();
    let (s, v) = env
        .json("PUT", "/v1/admin/tenants/acme", None, json!({}))
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    assert_eq!(v["error"]["code"], "unauthorized");
    let (s, _) = env
        .json("PUT", "/v1/admin/tenants/acme", Some("nope"), json!({}))
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let (s, _) = env
        .call(
            "GET",
            "/v1/tenants/acme/components",
            Some("cdt_bogus"),
            Body::empty(),
        )
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn tenant_tokens_cannot_use_admin_routes() {
    let env = Env::new();
    let token = env.tenant("acme", json!({})).await;
    let (s, _) = env
        .json(
            "PUT",
            "/v1/admin/tenants/acme",
            Some(&token),
            json!({"allow_unattended": true}),
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = env
        .call(
            "POST",
            "/v1/admin/tenants/acme/tokens",
            Some(&token),
            Body::empty(),
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn another_tenants_things_are_404_and_indistinguishable_from_absent() {
    let env = Env::new();
    let (a_token, _) = env.echo_tenant("alpha").await;
    let (b_token, b_digest) = env.echo_tenant("beta").await;
    let (s, v) = env
        .run("beta", &b_token, json!({"component": b_digest, "input": {}, "purpose": "p", "engagement": "e", "async": true}))
        .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{v}");
    let b_run = v["run_id"].as_str().unwrap().to_owned();

    let attempts = [
        ("GET", "/v1/tenants/beta/components".to_owned()),
        ("GET", format!("/v1/tenants/beta/components/{b_digest}")),
        (
            "GET",
            format!("/v1/tenants/beta/components/{b_digest}/wasm"),
        ),
        ("DELETE", format!("/v1/tenants/beta/components/{b_digest}")),
        ("GET", format!("/v1/tenants/beta/runs/{b_run}")),
        ("POST", format!("/v1/tenants/beta/runs/{b_run}/cancel")),
        ("GET", "/v1/tenants/nosuch/components".to_owned()),
    ];
    for (method, uri) in attempts {
        let (s, v) = env.call(method, &uri, Some(&a_token), Body::empty()).await;
        assert_eq!(s, StatusCode::NOT_FOUND, "{method} {uri}: {v}");
        assert_eq!(v["error"]["code"], "not-found");
    }
    let (s, _) = env
        .run(
            "beta",
            &a_token,
            json!({"component": b_digest, "input": {}, "purpose": "p", "engagement": "e"}),
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    // Within its own tenant, alpha cannot reach beta's run or component either.
    let (s, _) = env
        .call(
            "GET",
            &format!("/v1/tenants/alpha/runs/{b_run}"),
            Some(&a_token),
            Body::empty(),
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = env
        .call(
            "GET",
            "/v1/tenants/alpha/components",
            Some(&a_token),
            Body::empty(),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    // beta's component is still there.
    let (s, _) = env
        .call(
            "GET",
            &format!("/v1/tenants/beta/components/{b_digest}"),
            Some(ADMIN),
            Body::empty(),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
}

#[tokio::test]
async fn tenant_limits_out_of_bounds_are_refused_naming_the_limit() {
    let env = Env::new();
    let (s, v) = env
        .json(
            "PUT",
            "/v1/admin/tenants/acme",
            Some(ADMIN),
            json!({"limits": {"timeout_ms": 0}}),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("timeout_ms"),
        "{v}"
    );
    let (s, v) = env
        .json(
            "PUT",
            "/v1/admin/tenants/acme",
            Some(ADMIN),
            json!({"limits": {"max_concurrent_runs": 0}}),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("max_concurrent_runs"),
        "{v}"
    );
    let (s, _) = env
        .json("PUT", "/v1/admin/tenants/Bad_Id", Some(ADMIN), json!({}))
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
}
