use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::common::{ADMIN, ALLOW_ALL, Env};

async fn spinning(env: &Env) -> (String, String) {
    spinning_for(env, 60_000).await
}

/// Tenant `acme` (unattended runs, allow-all) with a guest that spins until its `timeout_ms`.
pub(crate) async fn spinning_for(env: &Env, timeout_ms: u64) -> (String, String) {
    let token = env
        .tenant("acme", json!({"allow_unattended": true, "limits": {"timeout_ms": timeout_ms, "fuel": 1000000000000u64}}))
        .await;
    env.bundle("acme", ALLOW_ALL, true).await;
    let (_, c) = env
        .upload("acme", &token, cordon_testkit::spin_guest().unwrap())
        .await;
    (token, c["digest"].as_str().unwrap().to_owned())
}

pub(crate) async fn start(env: &Env, token: &str, digest: &str) -> String {
    let (s, v) = env
        .run(
            "acme",
            token,
            json!({"component": digest, "purpose": "p", "engagement": "e", "async": true}),
        )
        .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{v}");
    v["run_id"].as_str().unwrap().to_owned()
}

/// The kill switch on run `id` of `acme`; the response status.
pub(crate) async fn cancel(env: &Env, token: &str, id: &str) -> StatusCode {
    let uri = format!("/v1/tenants/acme/runs/{id}/cancel");
    env.call("POST", &uri, Some(token), Body::empty()).await.0
}

/// Poll until the run is no longer running; how long that took.
/// Start a run of `digest` and see it `running` (so a pool slot was free), then cancel it and
/// wait until it has finished.
pub(crate) async fn assert_a_new_run_starts(env: &Env, token: &str, digest: &str) {
    let id = start(env, token, digest).await;
    let (_, v) = env
        .call(
            "GET",
            &format!("/v1/tenants/acme/runs/{id}"),
            Some(token),
            Body::empty(),
        )
        .await;
    assert_eq!(v["status"], "running", "{v}");
    cancel(env, token, &id).await;
    until_finished(env, token, &id).await;
}

pub(crate) async fn until_finished(env: &Env, token: &str, id: &str) -> (Duration, Value) {
    let t0 = Instant::now();
    loop {
        let (_, v) = env
            .call(
                "GET",
                &format!("/v1/tenants/acme/runs/{id}"),
                Some(token),
                Body::empty(),
            )
            .await;
        if v["status"] != "running" {
            return (t0.elapsed(), v);
        }
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "the run never stopped"
        );
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_stops_a_spinning_run_within_50_ms() {
    let env = Env::new();
    let (token, digest) = spinning(&env).await;
    let id = start(&env, &token, &digest).await;
    let (_, v) = env
        .call(
            "GET",
            &format!("/v1/tenants/acme/runs/{id}"),
            Some(&token),
            Body::empty(),
        )
        .await;
    assert_eq!(v["status"], "running");
    assert_eq!(cancel(&env, &token, &id).await, StatusCode::OK);
    let (took, v) = until_finished(&env, &token, &id).await;
    assert_eq!(v["status"], "cancelled");
    assert!(took < Duration::from_millis(50), "took {took:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_suspended_component_is_refused_and_its_running_runs_cancelled() {
    let env = Env::new();
    let (token, digest) = spinning(&env).await;
    let id = start(&env, &token, &digest).await;
    let (s, t) = env
        .json(
            "POST",
            "/v1/admin/tenants/acme/suspend",
            Some(ADMIN),
            json!({"component": digest}),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(t["suspended_components"], json!([digest]));
    let (_, v) = until_finished(&env, &token, &id).await;
    assert_eq!(v["status"], "cancelled");
    let (s, v) = env
        .run(
            "acme",
            &token,
            json!({"component": digest, "purpose": "p", "engagement": "e"}),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    assert_eq!(v["error"]["code"], "suspended");
    env.json(
        "POST",
        "/v1/admin/tenants/acme/resume",
        Some(ADMIN),
        json!({"component": digest}),
    )
    .await;
    let id = start(&env, &token, &digest).await;
    cancel(&env, &token, &id).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_suspended_tenant_is_refused_and_operator_actions_are_logged() {
    let env = Env::new();
    let (token, digest) = spinning(&env).await;
    let id = start(&env, &token, &digest).await;
    let (s, _) = env
        .json(
            "POST",
            "/v1/admin/tenants/acme/suspend",
            Some(ADMIN),
            json!({}),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let (_, v) = until_finished(&env, &token, &id).await;
    assert_eq!(v["status"], "cancelled");
    let (s, v) = env
        .run(
            "acme",
            &token,
            json!({"component": digest, "purpose": "p", "engagement": "e"}),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{v}");
    env.state.shutdown(Duration::from_secs(1)).await.unwrap();
    let store = cordon_audit::Store::open(&env.dir.path().join(cordon_audit::LOG_FILE)).unwrap();
    let actions: Vec<String> = (0..store.len().unwrap())
        .map(|seq| store.entry(seq).unwrap().unwrap().action)
        .collect();
    assert!(actions.iter().any(|a| a == "admin:suspend"), "{actions:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_beyond_the_hosts_capacity_is_refused_with_503_until_a_slot_frees() {
    let env = Env::with_config(|c| c.max_runs = 1);
    let (token, digest) = spinning(&env).await;
    let id = start(&env, &token, &digest).await;
    let body = json!({"component": digest, "purpose": "p", "engagement": "e"});
    let (s, v) = env.run("acme", &token, body.clone()).await;
    assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE, "{v}");
    assert_eq!(v["error"]["code"], "at-capacity", "{v}");

    assert_eq!(cancel(&env, &token, &id).await, StatusCode::OK);
    let (_, v) = until_finished(&env, &token, &id).await;
    assert_eq!(v["status"], "cancelled");
    // The slot is free again: the next run is accepted and runs.
    assert_a_new_run_starts(&env, &token, &digest).await;
}
