//! Service hygiene: load shedding past `max_in_flight`, the request timeout (which also
//! cancels the abandoned run) and graceful shutdown with runs in flight.

use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{Request, StatusCode};
use cordon_server::app;
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

use crate::common::{ADMIN, Env};
use crate::kill::{spinning_for, start, until_finished};

fn run_request(token: &str, digest: &str) -> Request<Body> {
    Request::post("/v1/tenants/acme/runs")
        .header("authorization", format!("Bearer {token}"))
        .header("content-type", "application/json")
        .body(Body::from(
            json!({"component": digest, "purpose": "p", "engagement": "e"}).to_string(),
        ))
        .unwrap()
}

/// An authenticated request that takes an in-flight permit and answers at once.
fn admin_probe() -> Request<Body> {
    Request::get("/v1/admin/tenants/acme")
        .header("authorization", format!("Bearer {ADMIN}"))
        .body(Body::empty())
        .unwrap()
}

async fn body(resp: axum::response::Response) -> Value {
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    serde_json::from_slice(&bytes).unwrap_or(Value::Null)
}

/// Poll `/metrics` until it contains `line`; false if it never does within 10 s.
async fn metrics_show(env: &Env, line: &str) -> bool {
    let t0 = Instant::now();
    while t0.elapsed() < Duration::from_secs(10) {
        let (_, v) = env
            .call("GET", "/metrics", Some(ADMIN), Body::empty())
            .await;
        if v.as_str().is_some_and(|text| text.contains(line)) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_past_max_in_flight_are_shed_with_503_until_one_finishes() {
    let env = Env::with_config(|c| c.max_in_flight = 1);
    let (token, digest) = spinning_for(&env, 60_000).await;
    let router = app(env.state.clone());
    // A synchronous run holds the only in-flight permit of this router until it ends. A probe
    // may take the permit first and get the run shed instead: then the run is sent again.
    let mut held = tokio::spawn(router.clone().oneshot(run_request(&token, &digest)));
    let mut shed = None;
    let t0 = Instant::now();
    while shed.is_none() && t0.elapsed() < Duration::from_secs(10) {
        if held.is_finished() {
            let resp = held.await.unwrap().unwrap();
            assert_eq!(
                resp.status(),
                StatusCode::SERVICE_UNAVAILABLE,
                "only shedding ends it"
            );
            held = tokio::spawn(router.clone().oneshot(run_request(&token, &digest)));
        }
        let resp = router.clone().oneshot(admin_probe()).await.unwrap();
        if resp.status() == StatusCode::SERVICE_UNAVAILABLE && !held.is_finished() {
            shed = Some(body(resp).await);
        } else {
            tokio::task::yield_now().await;
        }
    }
    let shed = shed.expect("a second request while one was in flight was never shed");
    assert_eq!(shed["error"]["code"], "overloaded", "{shed}");

    // The operator (through another router) suspends the tenant: the held run is cancelled,
    // its request answers, and the permit is free again.
    let (s, _) = env
        .call(
            "POST",
            "/v1/admin/tenants/acme/suspend",
            Some(ADMIN),
            Body::from("{}"),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let resp = tokio::time::timeout(Duration::from_secs(10), held)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(body(resp).await["status"], "cancelled");
    assert_eq!(
        router.oneshot(admin_probe()).await.unwrap().status(),
        StatusCode::OK
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_past_the_timeout_is_408_and_its_run_is_cancelled() {
    let env = Env::with_config(|c| c.request_timeout = Duration::from_millis(200));
    let (token, digest) = spinning_for(&env, 60_000).await;
    let (s, _) = env
        .run(
            "acme",
            &token,
            json!({"component": digest, "purpose": "p", "engagement": "e"}),
        )
        .await;
    assert_eq!(s, StatusCode::REQUEST_TIMEOUT);
    // Nobody waits for the result any more: the run is cancelled, not left spinning for 60 s.
    assert!(
        metrics_show(&env, "cordon_runs_total{status=\"cancelled\"} 1").await,
        "the abandoned run was not cancelled"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_lets_a_run_finish_within_the_grace_period() {
    let env = Env::new();
    let (token, digest) = spinning_for(&env, 300).await;
    let id = start(&env, &token, &digest).await;
    env.state.shutdown(Duration::from_secs(30)).await.unwrap();
    let (_, v) = until_finished(&env, &token, &id).await;
    assert_eq!(
        v["status"], "limit-exceeded",
        "it ended at its own limit: {v}"
    );
    assert!(!env.state.is_healthy(), "the log is closed after shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_cancels_runs_still_going_after_the_grace_period_and_closes_the_log() {
    let env = Env::new();
    let (token, digest) = spinning_for(&env, 60_000).await;
    let id = start(&env, &token, &digest).await;
    tokio::time::timeout(
        Duration::from_secs(10),
        env.state.shutdown(Duration::from_millis(100)),
    )
    .await
    .expect("shutdown waited for the 60 s run instead of cancelling it")
    .unwrap();
    let (_, v) = until_finished(&env, &token, &id).await;
    assert_eq!(v["status"], "cancelled", "{v}");
    // The log was closed cleanly: it verifies offline with nothing but the public key.
    let key =
        cordon_audit::PublicKey::read(&env.dir.path().join(cordon_audit::PUBLIC_KEY_FILE)).unwrap();
    cordon_audit::verify(&env.dir.path().join(cordon_audit::LOG_FILE), &key).unwrap();
}
