//! A run blocked in a host wait (a WASI clock pollable) is cancelled through the API like a
//! spinning one, and its pool slot is free again at once.

use axum::http::StatusCode;
use serde_json::json;

use crate::common::{ALLOW_ALL, Env};
use crate::kill::{assert_a_new_run_starts, cancel, start, until_finished};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_blocked_on_a_clock_pollable_is_cancelled_and_its_slot_reused_at_once() {
    let env = Env::with_config(|c| c.max_runs = 1);
    let token = env
        .tenant(
            "acme",
            json!({"allow_unattended": true, "limits": {"timeout_ms": 600000}}),
        )
        .await;
    env.bundle("acme", ALLOW_ALL, true).await;
    // The guest blocks on a 30 s clock pollable: no wasm runs, only the host waits.
    let guest = cordon_testkit::clock_guest(cordon_testkit::ClockWait::Block, 30).unwrap();
    let (s, c) = env.upload("acme", &token, guest).await;
    assert_eq!(s, StatusCode::CREATED, "{c}");
    let digest = c["digest"].as_str().unwrap().to_owned();

    let id = start(&env, &token, &digest).await;
    let body = json!({"component": digest, "purpose": "p", "engagement": "e"});
    let (s, v) = env.run("acme", &token, body).await;
    assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE, "{v}");
    assert_eq!(v["error"]["code"], "at-capacity", "{v}");

    assert_eq!(cancel(&env, &token, &id).await, StatusCode::OK);
    // `until_finished` gives up after 10 s, a third of what the guest asked to wait.
    let (_, v) = until_finished(&env, &token, &id).await;
    assert_eq!(v["status"], "cancelled", "{v}");
    // The slot is free again: the next run is accepted and runs.
    assert_a_new_run_starts(&env, &token, &digest).await;
}
