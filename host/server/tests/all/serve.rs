//! End to end: a real server on 127.0.0.1:0, spoken to over TCP.

use std::time::Duration;

use cordon_server::{AppState, ServerConfig, app};
use serde_json::{Value, json};

use crate::common::{ADMIN, ALLOW_ALL};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listening_server_creates_a_tenant_uploads_runs_and_shuts_down_gracefully() {
    let dir = tempfile::tempdir().unwrap();
    let state = AppState::open(ServerConfig::new(dir.path(), ADMIN)).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(
        axum::serve(listener, app(state.clone()))
            .with_graceful_shutdown(async {
                let _ = stop_rx.await;
            })
            .into_future(),
    );
    let base = format!("http://{addr}");
    let http = reqwest::Client::new();

    let r = http
        .put(format!("{base}/v1/admin/tenants/acme"))
        .bearer_auth(ADMIN)
        .json(&json!({"allow_unattended": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let token: Value = http
        .post(format!("{base}/v1/admin/tenants/acme/tokens"))
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = token["token"].as_str().unwrap().to_owned();
    let r = http
        .post(format!("{base}/v1/admin/tenants/acme/bundles"))
        .bearer_auth(ADMIN)
        .json(&json!({"files": {"all.cedar": ALLOW_ALL}, "activate": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let c: Value = http
        .post(format!("{base}/v1/tenants/acme/components"))
        .bearer_auth(&token)
        .body(cordon_testkit::echo_guest().unwrap())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let r = http
        .post(format!("{base}/v1/tenants/acme/runs"))
        .bearer_auth(&token)
        .json(&json!({"component": c["digest"], "input": ["over", "tcp"], "purpose": "p", "engagement": "e"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["report"]["output"], json!(["over", "tcp"]));
    let r = http
        .get(format!("{base}/v1/tenants/acme/components"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);

    stop_tx.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(10), server)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    state.shutdown(Duration::from_secs(1)).await.unwrap();
    assert!(!state.is_healthy(), "the log is closed after shutdown");
    assert!(
        http.get(format!("{base}/healthz")).send().await.is_err(),
        "the listener is gone"
    );
}
