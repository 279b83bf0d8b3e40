//! Runs per second over HTTP on loopback: a trivial pre-uploaded component (the echo guest,
//! no host calls) run in a fresh instance per request through `cordon serve`'s router, with
//! one client and with eight concurrent clients. Latency percentiles of a fixed batch are
//! printed after the criterion groups, beside the engine's own time per run (the report's
//! `wall_ms`: instantiate and call): the rest is HTTP, auth, JSON and the state store.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "benches stop loudly"
)]

use cordon_benches as _;
use std::time::{Duration, Instant};

use cordon_server::{AppState, ServerConfig, app};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use serde_json::{Value, json};

const ADMIN: &str = "bench-admin";

struct Server {
    rt: tokio::runtime::Runtime,
    base: String,
    token: String,
    digest: String,
    client: reqwest::Client,
    _dir: tempfile::TempDir,
}

fn start() -> Server {
    let dir = tempfile::tempdir().unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let state = AppState::open(ServerConfig::new(dir.path(), ADMIN)).unwrap();
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    rt.spawn(async move { axum::serve(listener, app(state)).await });
    let client = reqwest::Client::new();
    let (token, digest) = rt.block_on(async {
        let c = &client;
        c.put(format!("{base}/v1/admin/tenants/bench"))
            .bearer_auth(ADMIN)
            .json(&json!({"allow_unattended": true, "limits": {"max_concurrent_runs": 64}}))
            .send()
            .await
            .unwrap();
        let t: Value = c
            .post(format!("{base}/v1/admin/tenants/bench/tokens"))
            .bearer_auth(ADMIN)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        c.post(format!("{base}/v1/admin/tenants/bench/bundles"))
            .bearer_auth(ADMIN)
            .json(&json!({"files": {"all.cedar": "permit(principal, action, resource);"}, "activate": true}))
            .send()
            .await
            .unwrap();
        let token = t["token"].as_str().unwrap().to_owned();
        let comp: Value = c
            .post(format!("{base}/v1/tenants/bench/components"))
            .bearer_auth(&token)
            .body(cordon_testkit::echo_guest().unwrap())
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        (token, comp["digest"].as_str().unwrap().to_owned())
    });
    Server {
        rt,
        base,
        token,
        digest,
        client,
        _dir: dir,
    }
}

async fn one(s: &ServerRef<'_>) -> (Duration, f64) {
    let t0 = Instant::now();
    let r = s
        .client
        .post(format!("{}/v1/tenants/bench/runs", s.base))
        .bearer_auth(s.token)
        .json(&json!({"component": s.digest, "input": {"n": 1}, "purpose": "bench", "engagement": "b"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    (t0.elapsed(), v["report"]["wall_ms"].as_f64().unwrap_or(0.0))
}

#[derive(Clone, Copy)]
struct ServerRef<'a> {
    base: &'a str,
    token: &'a str,
    digest: &'a str,
    client: &'a reqwest::Client,
}

/// `n` runs by `clients` concurrent clients; every latency and engine time (ms).
fn batch(s: &Server, n: u64, clients: u64) -> Vec<(Duration, f64)> {
    let base = s.base.clone();
    let token = s.token.clone();
    let digest = s.digest.clone();
    let client = s.client.clone();
    s.rt.block_on(async move {
        let mut tasks = Vec::new();
        for c in 0..clients {
            let (base, token, digest, client) =
                (base.clone(), token.clone(), digest.clone(), client.clone());
            let per = n / clients + u64::from(c < n % clients);
            tasks.push(tokio::spawn(async move {
                let r = ServerRef {
                    base: &base,
                    token: &token,
                    digest: &digest,
                    client: &client,
                };
                let mut lat = Vec::with_capacity(per as usize);
                for _ in 0..per {
                    lat.push(one(&r).await);
                }
                lat
            }));
        }
        let mut all = Vec::new();
        for t in tasks {
            all.extend(t.await.unwrap());
        }
        all
    })
}

fn bench(c: &mut Criterion) {
    let s = start();
    let mut g = c.benchmark_group("serve");
    g.throughput(Throughput::Elements(1));
    g.measurement_time(Duration::from_secs(5));
    g.bench_function("run_over_http_1_client", |b| {
        b.iter_custom(|iters| {
            let t0 = Instant::now();
            batch(&s, iters, 1);
            t0.elapsed()
        })
    });
    g.bench_function("run_over_http_8_clients", |b| {
        b.iter_custom(|iters| {
            let t0 = Instant::now();
            batch(&s, iters, 8);
            t0.elapsed()
        })
    });
    g.finish();

    for clients in [1, 8] {
        let n = 5_000;
        let t0 = Instant::now();
        let runs = batch(&s, n, clients);
        let secs = t0.elapsed().as_secs_f64();
        let engine_ms = runs.iter().map(|r| r.1).sum::<f64>() / runs.len() as f64;
        let mut lat: Vec<Duration> = runs.into_iter().map(|r| r.0).collect();
        lat.sort();
        let p = |q: f64| lat[((lat.len() as f64 * q) as usize).min(lat.len() - 1)];
        println!(
            "serve: {clients} client(s), {n} runs: {:.0} runs/s, p50 {:?}, p90 {:?}, p99 {:?}, max {:?}; engine time per run {engine_ms:.3} ms",
            n as f64 / secs,
            p(0.50),
            p(0.90),
            p(0.99),
            lat[lat.len() - 1]
        );
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
