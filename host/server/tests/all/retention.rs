//! Finished runs live in the store with their large reports in files, pruned per tenant by
//! count and age, and read back whole.

use axum::body::Body;
use axum::http::StatusCode;
use cordon_server::RunRetention;
use serde_json::json;

use crate::common::Env;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn old_runs_are_pruned_per_the_setting_and_kept_ones_read_back_whole() {
    let env = Env::with_config(|c| {
        c.run_retention = RunRetention {
            keep_per_tenant: 3,
            inline_report_bytes: 1024,
            ..RunRetention::default()
        };
    });
    let (token, digest) = env.echo_tenant("acme").await;
    let big = "x".repeat(64 << 10);
    let mut ids = Vec::new();
    for i in 0..8 {
        let (s, v) = env
            .run(
                "acme",
                &token,
                json!({"component": digest, "input": [i, big], "purpose": "p", "engagement": "e"}),
            )
            .await;
        assert_eq!(s, StatusCode::OK);
        ids.push(v["run_id"].as_str().unwrap().to_owned());
    }
    for (i, id) in ids.iter().enumerate() {
        let (s, v) = env
            .call(
                "GET",
                &format!("/v1/tenants/acme/runs/{id}"),
                Some(&token),
                Body::empty(),
            )
            .await;
        if i < 5 {
            assert_eq!(s, StatusCode::NOT_FOUND, "run {i} was kept");
        } else {
            assert_eq!(s, StatusCode::OK, "run {i} was pruned");
            assert_eq!(v["report"]["output"], json!([i, big]), "run {i}'s output");
        }
    }
    let files = std::fs::read_dir(env.dir.path().join("runs/acme"))
        .unwrap()
        .count();
    assert_eq!(files, 3, "one report file per kept run");
}
