//! The operator's egress settings reach every run of the service: by default a loopback
//! server is out of reach whatever the policy says; a range the config allows opens it.

use std::io::{Read, Write};
use std::net::TcpListener;

use axum::http::StatusCode;
use cordon_runtime::EgressPolicy;
use serde_json::json;

use crate::common::{ALLOW_ALL, Env};

/// A loopback server answering `ok` to each of `n` connections; its URL.
fn answering(n: usize) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/report", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for conn in listener.incoming().take(n) {
            let Ok(mut conn) = conn else { continue };
            let mut request = Vec::new();
            let mut buf = [0u8; 1024];
            while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                match conn.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(k) => request.extend_from_slice(&buf[..k]),
                }
            }
            let _ = conn
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok");
        }
    });
    url
}

async fn send(env: &Env, url: &str) -> serde_json::Value {
    let token = env.tenant("acme", json!({"allow_unattended": true})).await;
    env.bundle("acme", ALLOW_ALL, true).await;
    let guest = cordon_testkit::http_send_guest("GET", None, 1).unwrap();
    let (_, c) = env.upload("acme", &token, guest).await;
    let (s, v) = env
        .run(
            "acme",
            &token,
            json!({"component": c["digest"], "input_text": url, "purpose": "p", "engagement": "e"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loopback_is_out_of_reach_by_default_whatever_the_policy_says() {
    let env = Env::new();
    let v = send(&env, &answering(1)).await;
    assert_eq!(v["report"]["error"]["kind"], "access-denied", "{v}");
    assert_eq!(
        v["report"]["decisions"][1]["policy_ids"][0], "cordon:egress",
        "{v}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_range_the_operator_allows_is_reachable_by_every_run() {
    let env = Env::with_config(|c| {
        let mut egress = EgressPolicy::default();
        egress.allow_range("127.0.0.0/8").unwrap();
        c.egress = egress;
    });
    let v = send(&env, &answering(1)).await;
    assert_eq!(v["status"], "ok", "{v}");
    assert_eq!(v["report"]["output"], "ok", "{v}");
}
