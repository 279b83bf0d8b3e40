//! The http gate's cost, in one run, against a keep-alive server this bench starts on loopback:
//!
//! - `direct`: N GETs made straight with a reqwest blocking client configured like Cordon's
//!   (rustls, no redirects, no proxy), a new client per iteration as Cordon has per run;
//! - `guest_gate_bypassed`: a guest doing the same N GETs through `http.send`, with the gate
//!   switched off (wasm, the canonical ABI, URL checks, the address guard, the client);
//! - `guest_gated`: the same guest, gated: a Cedar decision per request with a tainted
//!   context and a policy that reads the taint, a decision-log append per request, the log's
//!   commit at the end of the run.
//!
//! `(guest_gated - guest_gate_bypassed) / N` is the gate's per-request overhead (authorize +
//! taint + log); `(guest_gated - direct) / N` is everything Cordon adds to a request.

#![expect(
    clippy::expect_used,
    reason = "a bench that cannot set up should stop loudly"
)]

use cordon_benches as _;
use std::hint::black_box;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::time::Duration;

use cordon_audit::AuditLog;
use cordon_policy::{PolicyBundle, RunContext, Taint};
use cordon_runtime::{CordonEngine, EgressPolicy, EngineOptions, Invocation, RunLimits, RunStatus};
use criterion::{Criterion, criterion_group, criterion_main};

const REQUESTS: u32 = 200;
const BODY: &[u8] = b"{\"ok\":true}";

/// A keep-alive HTTP/1.1 server on 127.0.0.1 answering every request with `BODY`, one thread
/// per connection. It lives as long as the bench process.
fn start_server() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        for conn in listener.incoming().flatten() {
            std::thread::spawn(move || serve(conn));
        }
    });
    port
}

fn serve(conn: TcpStream) {
    let Ok(read_half) = conn.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(read_half);
    let mut conn = conn;
    // One write per response, without Nagle: a split write would meet the client's delayed
    // ACK and measure 40 ms stalls instead of the request path.
    let _ = conn.set_nodelay(true);
    let mut response = format!(
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
        BODY.len()
    )
    .into_bytes();
    response.extend_from_slice(BODY);
    loop {
        let mut length = 0usize;
        let mut line = String::new();
        match reader.read_line(&mut line) {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        loop {
            let mut h = String::new();
            match reader.read_line(&mut h) {
                Ok(0) | Err(_) => return,
                Ok(_) if h == "\r\n" => break,
                Ok(_) => {
                    if let Some(v) = h.to_ascii_lowercase().strip_prefix("content-length:") {
                        length = v.trim().parse().unwrap_or(0);
                    }
                }
            }
        }
        let mut body = vec![0; length];
        if reader.read_exact(&mut body).is_err() || conn.write_all(&response).is_err() {
            return;
        }
    }
}

fn http(c: &mut Criterion) {
    let port = start_server();
    let url = format!("http://127.0.0.1:{port}/api/items");
    let dir = tempfile::tempdir().expect("tempdir");
    let engine = CordonEngine::new(EngineOptions::default()).expect("engine");
    let guest = engine
        .load(&cordon_testkit::http_send_guest("GET", None, REQUESTS).expect("guest"))
        .expect("load");
    // Allows everything, but Cedar must evaluate the taint on every request to know that.
    let bundle = PolicyBundle::from_sources([(
        "bench.cedar",
        r#"@id("allow-all") permit(principal, action, resource);
           @id("no-health-egress") forbid(principal, action == Cordon::Action::"http:send", resource)
           when { context.taint.categories.contains("health") };"#,
    )])
    .expect("bundle");
    let log = Arc::new(AuditLog::open_in(dir.path()).expect("log"));
    let mut egress = EgressPolicy::default();
    egress.allow_range("127.0.0.0/8").expect("range");
    let mut taint = Taint::default();
    taint.observe("invoices", 2, "EU", ["billing", "contact"]);
    let invocation = || Invocation {
        run_id: "bench".into(),
        tenant: "bench".into(),
        human: None,
        context: RunContext::new("benchmark", "none"),
        bundle: bundle.clone(),
        root: None,
        limits: RunLimits {
            max_host_calls: u64::from(REQUESTS),
            ..RunLimits::default()
        },
        log: log.clone(),
        input: url.clone(),
        egress: egress.clone(),
        taint: taint.clone(),
        shadow: None,
        cancel: None,
        records: None,
    };

    let mut group = c.benchmark_group(format!("http_get_x{REQUESTS}"));
    group
        .sample_size(20)
        .measurement_time(Duration::from_secs(10));
    group.bench_function("direct", |b| {
        b.iter(|| {
            let client = reqwest::blocking::Client::builder()
                .use_rustls_tls()
                .redirect(reqwest::redirect::Policy::none())
                .no_proxy()
                .build()
                .expect("client");
            let mut last = Vec::new();
            for _ in 0..REQUESTS {
                let resp = client.get(&url).send().expect("send");
                assert_eq!(resp.status(), 200);
                last = resp.bytes().expect("body").to_vec();
            }
            black_box(last)
        })
    });
    group.bench_function("guest_gate_bypassed", |b| {
        b.iter(|| {
            let r = engine
                .run_bypassing_gate_for_bench(&guest, invocation())
                .expect("run");
            assert_eq!(r.status, RunStatus::Ok, "{:?} {:?}", r.error, r.trap);
            assert_eq!(r.output.as_deref().map(str::as_bytes), Some(BODY));
            black_box(r)
        })
    });
    group.bench_function("guest_gated", |b| {
        b.iter(|| {
            let r = engine.run(&guest, invocation()).expect("run");
            assert_eq!(r.status, RunStatus::Ok, "{:?} {:?}", r.error, r.trap);
            assert_eq!(r.decisions.len(), REQUESTS as usize);
            black_box(r)
        })
    });
    group.finish();
}

criterion_group!(benches, http);
criterion_main!(benches);
