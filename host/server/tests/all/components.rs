use axum::body::Body;
use axum::http::{Request, StatusCode};
use cordon_server::app;
use http_body_util::BodyExt;
use serde_json::json;
use tower::ServiceExt;

use crate::common::Env;

#[tokio::test]
async fn components_are_stored_by_digest_listed_fetched_and_deleted() {
    let env = Env::new();
    let token = env.tenant("acme", json!({})).await;
    let bytes = cordon_testkit::echo_guest().unwrap();
    let (s, v) = env.upload("acme", &token, bytes.clone()).await;
    assert_eq!(s, StatusCode::CREATED);
    let digest = v["digest"].as_str().unwrap().to_owned();
    assert_eq!(digest, blake3::hash(&bytes).to_hex().to_string());
    let (s, _) = env.upload("acme", &token, bytes).await;
    assert_eq!(
        s,
        StatusCode::OK,
        "a second upload of the same bytes is not new"
    );
    let (_, list) = env
        .call(
            "GET",
            "/v1/tenants/acme/components",
            Some(&token),
            Body::empty(),
        )
        .await;
    assert_eq!(list.as_array().unwrap().len(), 1);
    let uri = format!("/v1/tenants/acme/components/{digest}");
    let (s, _) = env.call("GET", &uri, Some(&token), Body::empty()).await;
    assert_eq!(s, StatusCode::OK);
    // The bytes come back exactly as uploaded.
    let resp = app(env.state.clone())
        .oneshot(
            Request::get(format!("{uri}/wasm"))
                .header("authorization", format!("Bearer {token}"))
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()["content-type"], "application/wasm");
    let fetched = resp.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(blake3::hash(&fetched).to_hex().to_string(), digest);
    let (s, _) = env.call("DELETE", &uri, Some(&token), Body::empty()).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, _) = env.call("GET", &uri, Some(&token), Body::empty()).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn bad_uploads_get_a_4xx_naming_the_problem() {
    let env = Env::new();
    let token = env.tenant("acme", json!({})).await;
    let cases = [
        (cordon_testkit::core_module().unwrap(), "not a component"),
        (
            cordon_testkit::unknown_import_guest().unwrap(),
            "evil:net/raw",
        ),
        (
            b"\x7fELF\x02\x01\x01\0\xff\xfe".to_vec(),
            "not a WebAssembly file",
        ),
    ];
    for (bytes, needle) in cases {
        let (s, v) = env.upload("acme", &token, bytes).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
        assert_eq!(v["error"]["code"], "invalid-component");
        assert!(
            v["error"]["message"].as_str().unwrap().contains(needle),
            "{v}"
        );
    }
}

#[tokio::test]
async fn components_over_the_tenants_size_limit_get_413() {
    let env = Env::new();
    let token = env
        .tenant("acme", json!({"limits": {"max_component_bytes": 1024}}))
        .await;
    let (s, v) = env
        .upload("acme", &token, cordon_testkit::echo_guest().unwrap())
        .await;
    assert_eq!(s, StatusCode::PAYLOAD_TOO_LARGE, "{v}");
    assert_eq!(v["error"]["code"], "component-too-large");
}

#[tokio::test]
async fn uploads_over_the_http_body_limit_get_413_before_validation() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = cordon_server::ServerConfig::new(dir.path(), crate::common::ADMIN);
    config.max_upload_bytes = 4096;
    let env = Env {
        state: cordon_server::AppState::open(config).unwrap(),
        dir,
    };
    let token = env.tenant("acme", json!({})).await;
    let (s, _) = env.upload("acme", &token, vec![0u8; 8192]).await;
    assert_eq!(s, StatusCode::PAYLOAD_TOO_LARGE);
}

/// The `cordon_component_loads_total` lines of `/metrics`.
async fn component_loads(env: &Env) -> Vec<String> {
    let (s, v) = env
        .call("GET", "/metrics", Some(crate::common::ADMIN), Body::empty())
        .await;
    assert_eq!(s, StatusCode::OK);
    v.as_str()
        .unwrap()
        .lines()
        .filter(|l| l.starts_with("cordon_component_loads_total"))
        .map(str::to_owned)
        .collect()
}

#[tokio::test]
async fn a_component_compiles_at_upload_and_its_first_run_compiles_nothing() {
    let env = Env::new();
    let (token, digest) = env.echo_tenant("acme").await;
    let compiled = r#"cordon_component_loads_total{source="compiled"} 1"#;
    assert_eq!(component_loads(&env).await, [compiled]);
    let body = json!({"component": digest, "input": {"n": 1}, "purpose": "p", "engagement": "e"});
    let (s, v) = env.run("acme", &token, body.clone()).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["report"]["status"], "ok", "{v}");
    assert_eq!(
        component_loads(&env).await,
        [compiled],
        "the run used the code compiled at upload"
    );
    // After a restart the first run reads the code from the on-disk cache: still no compile.
    let env = env.reopen();
    let (s, v) = env.run("acme", &token, body).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(
        component_loads(&env).await,
        [r#"cordon_component_loads_total{source="component-cache"} 1"#]
    );
}
