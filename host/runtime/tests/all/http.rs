//! The http capability against real servers this test starts on loopback (reachable only
//! because the test's egress policy allows `127.0.0.0/8`): allowed and denied requests,
//! redirects, the SSRF guard, taint, and the size and time limits.
//!
//! Nothing here sends traffic anywhere but loopback: requests to other addresses are refused
//! by the egress guard before any connection is attempted, which is what those tests assert.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use cordon_audit::DecisionLog;
use cordon_policy::{PolicyBundle, RunContext, Taint};
use cordon_runtime::{
    CancelToken, EgressPolicy, Invocation, LimitExceeded, RunLimits, RunReport, RunStatus,
};
use cordon_testkit::http_send_guest;

use crate::support::{ALLOW_ALL, Sandbox, engine, load};

/// What the test server answers to a path: status, extra headers, body. `None`: hold the
/// connection open and never answer.
type Handler = dyn Fn(&str) -> Option<(u16, Vec<String>, Vec<u8>)> + Send + Sync;

/// A one-thread HTTP/1.1 server on 127.0.0.1 that counts the connections it accepts.
struct Server {
    port: u16,
    accepts: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Server {
    fn start(
        handler: impl Fn(&str) -> Option<(u16, Vec<String>, Vec<u8>)> + Send + Sync + 'static,
    ) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let accepts = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let handler: Arc<Handler> = Arc::new(handler);
        let (a, s) = (accepts.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            let held = Mutex::new(Vec::new());
            for conn in listener.incoming() {
                if s.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                a.fetch_add(1, Ordering::SeqCst);
                if let Some(kept) = serve(conn, &*handler) {
                    held.lock().unwrap().push(kept);
                }
            }
        });
        Server {
            port,
            accepts,
            stop,
            thread: Some(thread),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    fn accepts(&self) -> usize {
        self.accepts.load(Ordering::SeqCst)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Read one request and answer it; returns the connection when the handler holds it open.
fn serve(conn: TcpStream, handler: &Handler) -> Option<TcpStream> {
    let mut reader = BufReader::new(conn.try_clone().ok()?);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let path = line.split_whitespace().nth(1).unwrap_or("/").to_owned();
    let mut length = 0usize;
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).ok()? == 0 || h == "\r\n" {
            break;
        }
        if let Some(v) = h.to_ascii_lowercase().strip_prefix("content-length:") {
            length = v.trim().parse().unwrap_or(0);
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    let Some((status, headers, body)) = handler(&path) else {
        return Some(conn);
    };
    let mut conn = conn;
    let mut head = format!("HTTP/1.1 {status} X\r\nconnection: close\r\n");
    let chunked_free = headers.iter().any(|h| h == "x-no-length: 1");
    if !chunked_free {
        head.push_str(&format!("content-length: {}\r\n", body.len()));
    }
    for h in headers {
        head.push_str(&h);
        head.push_str("\r\n");
    }
    head.push_str("\r\n");
    let _ = conn.write_all(head.as_bytes());
    let _ = conn.write_all(&body);
    None
}

fn ok(body: &str) -> Option<(u16, Vec<String>, Vec<u8>)> {
    Some((200, Vec::new(), body.as_bytes().to_vec()))
}

/// The test's egress policy: loopback allowed, nothing else special.
fn loopback() -> EgressPolicy {
    let mut e = EgressPolicy::default();
    e.allow_range("127.0.0.0/8").unwrap();
    e
}

struct Run<'a> {
    sb: &'a Sandbox,
    method: &'a str,
    body: Option<&'a str>,
    policy: &'a str,
    egress: EgressPolicy,
    taint: Taint,
    limits: RunLimits,
    cancel: Option<CancelToken>,
}

impl<'a> Run<'a> {
    fn new(sb: &'a Sandbox, policy: &'a str) -> Self {
        Run {
            sb,
            method: "GET",
            body: None,
            policy,
            egress: loopback(),
            taint: Taint::default(),
            limits: RunLimits::default(),
            cancel: None,
        }
    }

    fn go(self, url: &str) -> RunReport {
        let guest = load(http_send_guest(self.method, self.body, 1));
        engine()
            .run(
                &guest,
                Invocation {
                    run_id: "http-test".into(),
                    tenant: "acme".into(),
                    human: None,
                    context: RunContext::new("testing", "t-1"),
                    bundle: PolicyBundle::from_sources([("test.cedar", self.policy)]).unwrap(),
                    root: None,
                    limits: self.limits,
                    log: self.sb.log.clone(),
                    input: url.into(),
                    egress: self.egress,
                    taint: self.taint,
                    shadow: None,
                    cancel: self.cancel,
                    records: None,
                },
            )
            .unwrap()
    }
}

const GET_LOOPBACK: &str = r#"@id("get-loopback")
permit(principal, action == Cordon::Action::"http:send", resource in Cordon::Host::"127.0.0.1")
when { context.method == "GET" };"#;

fn error_kind(r: &RunReport) -> &'static str {
    r.error.as_ref().map_or("none", |e| e.kind)
}

#[test]
fn allows_a_get_the_policy_permits_and_returns_the_body() {
    let server = Server::start(|path| ok(&format!("hello from {path}")));
    let sb = Sandbox::new();
    let r = Run::new(&sb, GET_LOOPBACK).go(&server.url("/greeting?x=1"));
    assert_eq!(r.status, RunStatus::Ok, "{r:?}");
    assert_eq!(r.output.as_deref(), Some("hello from /greeting?x=1"));
    assert_eq!(r.decisions.len(), 1);
    let d = &r.decisions[0];
    assert_eq!(d.action, "http:send");
    assert_eq!(
        d.resource,
        format!(
            r#"Cordon::Url::"http://127.0.0.1:{}/greeting""#,
            server.port
        )
    );
    assert_eq!(
        (d.decision, d.policy_ids.as_slice()),
        ("allow", &["get-loopback".to_owned()][..])
    );
    assert_eq!(server.accepts(), 1);
}

#[test]
fn denies_a_request_the_policy_does_not_permit_without_connecting() {
    let server = Server::start(|_| ok("should never be seen"));
    let sb = Sandbox::new();
    let r = Run {
        method: "POST",
        body: Some("secret=42"),
        ..Run::new(&sb, GET_LOOPBACK)
    }
    .go(&server.url("/upload"));
    assert_eq!(r.status, RunStatus::Error, "{r:?}");
    assert_eq!(error_kind(&r), "access-denied");
    assert_eq!(r.decisions[0].decision, "deny");
    assert_eq!(server.accepts(), 0, "a denied request must not connect");
}

#[test]
fn follows_a_redirect_the_policy_permits_deciding_each_hop() {
    let server = Server::start(|path| match path {
        "/old" => Some((302, vec!["location: /new".into()], Vec::new())),
        _ => ok("moved here"),
    });
    let sb = Sandbox::new();
    let r = Run::new(&sb, GET_LOOPBACK).go(&server.url("/old"));
    assert_eq!(r.output.as_deref(), Some("moved here"), "{r:?}");
    let hops: Vec<_> = r
        .decisions
        .iter()
        .map(|d| (d.resource.as_str(), d.decision))
        .collect();
    let port = server.port;
    assert_eq!(
        hops,
        [
            (
                format!(r#"Cordon::Url::"http://127.0.0.1:{port}/old""#).as_str(),
                "allow"
            ),
            (
                format!(r#"Cordon::Url::"http://127.0.0.1:{port}/new""#).as_str(),
                "allow"
            ),
        ]
    );
    assert_eq!(r.host_calls, 2, "each hop counts as a host call");
}

#[test]
fn a_redirect_to_a_host_the_policy_denies_is_stopped_before_connecting() {
    let target = Server::start(|_| ok("exfiltrated"));
    let to = format!("http://localhost:{}/collect", target.port);
    let server = Server::start(move |_| Some((307, vec![format!("location: {to}")], Vec::new())));
    let sb = Sandbox::new();
    let r = Run::new(&sb, GET_LOOPBACK).go(&server.url("/start"));
    assert_eq!(error_kind(&r), "access-denied", "{r:?}");
    let last = r.decisions.last().unwrap();
    assert_eq!(
        (last.resource.as_str(), last.decision),
        (
            format!(r#"Cordon::Url::"http://localhost:{}/collect""#, target.port).as_str(),
            "deny"
        )
    );
    assert_eq!(server.accepts(), 1);
    assert_eq!(target.accepts(), 0, "the denied hop must not connect");
}

#[test]
fn too_many_redirects_are_a_limit() {
    let server = Server::start(|_| Some((302, vec!["location: /again".into()], Vec::new())));
    let sb = Sandbox::new();
    let r = Run {
        egress: EgressPolicy {
            max_redirects: 2,
            ..loopback()
        },
        ..Run::new(&sb, GET_LOOPBACK)
    }
    .go(&server.url("/loop"));
    assert_eq!(error_kind(&r), "limit-exceeded", "{r:?}");
    assert_eq!(r.decisions.len(), 3);
    assert_eq!(server.accepts(), 3);
}

#[test]
fn metadata_and_private_addresses_are_refused_even_when_the_policy_allows_everything() {
    let sb = Sandbox::new();
    for url in [
        "http://169.254.169.254/latest/meta-data/",
        "http://10.0.0.1/",
        "http://192.168.0.1:8080/admin",
        "http://[::ffff:169.254.169.254]/",
        "http://[fd00::1]/",
        "http://0.0.0.0:9/",
    ] {
        let r = Run {
            egress: EgressPolicy::default(),
            ..Run::new(&sb, ALLOW_ALL)
        }
        .go(url);
        assert_eq!(error_kind(&r), "access-denied", "{url}: {r:?}");
        assert_eq!(
            r.error.unwrap().policy_ids.unwrap(),
            ["cordon:egress"],
            "{url}"
        );
        let ds: Vec<_> = r.decisions.iter().map(|d| d.decision).collect();
        assert_eq!(
            ds,
            ["allow", "deny"],
            "the policy allowed it, the guard refused it: {url}"
        );
    }
}

#[test]
fn a_name_resolving_to_loopback_is_refused_under_the_default_config() {
    let server = Server::start(|_| ok("local service"));
    let sb = Sandbox::new();
    let r = Run {
        egress: EgressPolicy::default(),
        ..Run::new(&sb, ALLOW_ALL)
    }
    .go(&format!("http://localhost:{}/", server.port));
    assert_eq!(error_kind(&r), "access-denied", "{r:?}");
    assert_eq!(r.error.unwrap().policy_ids.unwrap(), ["cordon:egress"]);
    assert_eq!(server.accepts(), 0);
}

#[test]
fn an_operator_range_opens_loopback_by_name_too() {
    let server = Server::start(|_| ok("local service"));
    let sb = Sandbox::new();
    let mut egress = loopback();
    egress.allow_range("::1").unwrap();
    let r = Run {
        egress,
        ..Run::new(&sb, ALLOW_ALL)
    }
    .go(&format!("http://localhost:{}/", server.port));
    assert_eq!(r.output.as_deref(), Some("local service"), "{r:?}");
}

#[test]
fn non_http_schemes_are_invalid_and_never_decided() {
    let sb = Sandbox::new();
    for url in ["file:///etc/passwd", "ftp://127.0.0.1/", "not a url"] {
        let r = Run::new(&sb, ALLOW_ALL).go(url);
        assert_eq!(error_kind(&r), "invalid", "{url}: {r:?}");
        assert!(r.decisions.is_empty());
    }
}

const NO_HEALTH_EGRESS: &str = r#"@id("all") permit(principal, action, resource);
@id("no-health-egress")
forbid(principal, action == Cordon::Action::"http:send", resource)
when { context.taint.categories.contains("health") }
unless { resource in Cordon::Host::"ehr.example" };"#;

fn health() -> Taint {
    let mut t = Taint::default();
    t.observe("patients", 3, "EU", ["health", "contact"]);
    t
}

#[test]
fn taint_blocks_egress_after_a_classified_read_and_allows_it_before() {
    let server = Server::start(|_| ok("accepted"));
    let sb = Sandbox::new();
    let clean = Run::new(&sb, NO_HEALTH_EGRESS).go(&server.url("/report"));
    assert_eq!(clean.output.as_deref(), Some("accepted"), "{clean:?}");
    assert_eq!(clean.decisions[0].taint, None);

    let tainted = Run {
        taint: health(),
        ..Run::new(&sb, NO_HEALTH_EGRESS)
    }
    .go(&server.url("/report"));
    assert_eq!(error_kind(&tainted), "access-denied", "{tainted:?}");
    let d = &tainted.decisions[0];
    assert_eq!(d.policy_ids, ["no-health-egress"]);
    assert_eq!(
        d.taint.as_ref(),
        Some(&health()),
        "the taint is reported with the decision"
    );
    // ... and it is in the signed log, covered by the entry's hash.
    sb.log.sync(d.seq).unwrap();
    let logged =
        cordon_audit::encoding::decode_entry(&sb.log.store().entry_bytes(d.seq).unwrap().unwrap())
            .unwrap();
    assert_eq!(
        logged.taint,
        Some(cordon_audit::TaintLabels {
            classification: Some(3),
            jurisdictions: vec!["EU".into()],
            collections: vec!["patients".into()],
            categories: vec!["contact".into(), "health".into()],
        })
    );
    let clean_entry = cordon_audit::encoding::decode_entry(
        &sb.log
            .store()
            .entry_bytes(clean.decisions[0].seq)
            .unwrap()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(clean_entry.taint, None, "an untainted run logs no labels");
    assert_eq!(server.accepts(), 1, "only the clean run connected");
}

#[test]
fn taint_reaches_fs_writes_too() {
    let sb = Sandbox::new();
    let policy = r#"@id("all") permit(principal, action, resource);
@id("classified-stays-in") forbid(principal, action in [Cordon::Action::"fs:write", Cordon::Action::"fs:append"], resource)
when { context.taint.classification >= 2 };"#;
    let guest = load(cordon_testkit::unit_call_guest(
        cordon_testkit::UnitCall::Write,
    ));
    let run = |taint: Taint| {
        let root = cap_std::fs::Dir::open_ambient_dir(
            sb.dir.path().join("root"),
            cap_std::ambient_authority(),
        )
        .unwrap();
        engine()
            .run(
                &guest,
                Invocation {
                    run_id: "taint-write".into(),
                    tenant: "acme".into(),
                    human: None,
                    context: RunContext::new("testing", "t-1"),
                    bundle: PolicyBundle::from_sources([("p.cedar", policy)]).unwrap(),
                    root: Some(root),
                    limits: RunLimits::default(),
                    log: sb.log.clone(),
                    input: "out.txt".into(),
                    egress: EgressPolicy::default(),
                    taint,
                    shadow: None,
                    cancel: None,
                    records: None,
                },
            )
            .unwrap()
    };
    assert_eq!(run(Taint::default()).output.as_deref(), Some("ok"));
    std::fs::remove_file(sb.dir.path().join("root/out.txt")).unwrap();
    let r = run(health());
    assert_eq!(error_kind(&r), "access-denied", "{r:?}");
    assert!(sb.read("out.txt").is_none());
}

#[test]
fn a_response_larger_than_the_limit_is_cut_with_limit_exceeded() {
    for no_length in [false, true] {
        let server = Server::start(move |_| {
            let headers = if no_length {
                vec!["x-no-length: 1".to_owned()]
            } else {
                Vec::new()
            };
            Some((200, headers, vec![b'a'; 5000]))
        });
        let sb = Sandbox::new();
        let r = Run {
            egress: EgressPolicy {
                max_response_bytes: 4096,
                ..loopback()
            },
            ..Run::new(&sb, ALLOW_ALL)
        }
        .go(&server.url("/big"));
        assert_eq!(
            error_kind(&r),
            "limit-exceeded",
            "no_length={no_length}: {r:?}"
        );
        assert!(r.error.unwrap().message.contains("4096 bytes"));
    }
}

#[test]
fn a_request_body_over_the_limit_is_refused_before_the_decision() {
    let server = Server::start(|_| ok("stored"));
    let sb = Sandbox::new();
    let r = Run {
        method: "POST",
        body: Some("0123456789abcdef"),
        egress: EgressPolicy {
            max_request_bytes: 8,
            ..loopback()
        },
        ..Run::new(&sb, ALLOW_ALL)
    }
    .go(&server.url("/upload"));
    assert_eq!(error_kind(&r), "limit-exceeded", "{r:?}");
    assert!(r.decisions.is_empty());
    assert_eq!(server.accepts(), 0);
}

#[test]
fn a_server_that_never_answers_runs_into_the_deadline() {
    let server = Server::start(|_| None);
    let sb = Sandbox::new();
    let r = Run {
        limits: RunLimits {
            timeout_ms: 300,
            ..RunLimits::default()
        },
        ..Run::new(&sb, ALLOW_ALL)
    }
    .go(&server.url("/slow"));
    assert_eq!(r.status, RunStatus::LimitExceeded, "{r:?}");
    assert_eq!(r.limit, Some(LimitExceeded::Timeout));
    assert_eq!(server.accepts(), 1);
}

#[test]
fn a_run_waiting_on_a_server_that_never_answers_ends_when_cancelled() {
    let server = Server::start(|_| None);
    let sb = Sandbox::new();
    let cancel = CancelToken::new();
    let started = std::time::Instant::now();
    let r = std::thread::scope(|scope| {
        let run = scope.spawn(|| {
            Run {
                limits: RunLimits {
                    timeout_ms: 600_000,
                    ..RunLimits::default()
                },
                cancel: Some(cancel.clone()),
                ..Run::new(&sb, ALLOW_ALL)
            }
            .go(&server.url("/never"))
        });
        // Cancel once the request reached the server: the run is then waiting in http.send.
        while server.accepts() == 0 && !run.is_finished() {
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        cancel.cancel();
        run.join().unwrap()
    });
    assert_eq!(r.status, RunStatus::Cancelled, "{r:?}");
    assert_eq!(server.accepts(), 1);
    // The request's own limit is 30 s; cancel ended the wait long before it.
    assert!(
        started.elapsed() < std::time::Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn a_request_slower_than_its_time_limit_is_limit_exceeded_and_the_run_goes_on() {
    let server = Server::start(|_| None);
    let sb = Sandbox::new();
    let r = Run {
        egress: EgressPolicy {
            request_timeout: std::time::Duration::from_millis(200),
            ..loopback()
        },
        limits: RunLimits {
            timeout_ms: 10_000,
            ..RunLimits::default()
        },
        ..Run::new(&sb, ALLOW_ALL)
    }
    .go(&server.url("/slow"));
    assert_eq!(error_kind(&r), "limit-exceeded", "{r:?}");
    assert!(
        r.error.as_ref().unwrap().message.contains("200 ms"),
        "{r:?}"
    );
    assert_eq!(r.limit, None, "the run itself stayed within its limits");
    assert_eq!(server.accepts(), 1);
}

#[test]
fn a_shadow_bundle_decides_with_the_run_taint_too() {
    let server = Server::start(|_| ok("accepted"));
    let sb = Sandbox::new();
    let guest = load(http_send_guest("GET", None, 1));
    let r = engine()
        .run(
            &guest,
            Invocation {
                run_id: "shadow-taint".into(),
                tenant: "acme".into(),
                human: None,
                context: RunContext::new("testing", "t-1"),
                bundle: PolicyBundle::from_sources([("active.cedar", ALLOW_ALL)]).unwrap(),
                root: None,
                limits: RunLimits::default(),
                log: sb.log.clone(),
                input: server.url("/report"),
                egress: loopback(),
                taint: health(),
                shadow: Some(
                    PolicyBundle::from_sources([("candidate.cedar", NO_HEALTH_EGRESS)]).unwrap(),
                ),
                cancel: None,
                records: None,
            },
        )
        .unwrap();
    assert_eq!(r.output.as_deref(), Some("accepted"), "{r:?}");
    assert_eq!(r.shadow_differences.len(), 1, "{r:?}");
    assert_eq!(
        r.shadow_differences[0].shadow_policy_ids,
        ["no-health-egress"]
    );
}

#[test]
fn https_to_a_server_that_speaks_no_tls_is_an_io_error_not_a_trap() {
    let server = Server::start(|_| ok("plain text"));
    let sb = Sandbox::new();
    let r = Run::new(&sb, ALLOW_ALL).go(&format!("https://127.0.0.1:{}/", server.port));
    assert_eq!(r.status, RunStatus::Error, "{r:?}");
    assert_eq!(error_kind(&r), "io", "{r:?}");
    assert_eq!(r.decisions[0].decision, "allow");
    assert_eq!(server.accepts(), 1, "the TLS handshake was attempted");
}

/// The whole loop in one run: the same GET goes out before the run reads health data from the
/// records store and is refused after it, because the read tainted the run.
#[test]
fn a_records_read_of_health_data_blocks_the_next_egress_of_the_same_run() {
    let server = Server::start(|_| ok("accepted"));
    let sb = Sandbox::new();
    let store = cordon_records::RecordStore::open_in(sb.dir.path()).unwrap();
    store
        .define_collection(
            &serde_json::from_str(
                r#"{"name": "patients", "levels": ["public", "internal", "confidential"],
                    "fields": [{"name": "diagnosis", "category": "health"}]}"#,
            )
            .unwrap(),
        )
        .unwrap();
    store
        .import(
            "patients",
            br#"{"id": "p1", "subject": "ada", "classification": "confidential", "jurisdiction": "EU", "consent": ["testing"], "fields": {"diagnosis": "asthma"}}
"#
            .as_slice(),
        )
        .unwrap();
    let inv = Invocation {
        egress: loopback(),
        records: Some(cordon_runtime::RecordsGrant {
            store: std::sync::Arc::new(store),
            region: "eu-west".into(),
        }),
        ..sb.invocation(NO_HEALTH_EGRESS, &server.url("/report"))
    };
    let r = engine()
        .run(
            &load(cordon_testkit::send_read_send_guest(
                "patients",
                "diagnosis",
            )),
            inv,
        )
        .unwrap();
    assert_eq!(r.output.as_deref(), Some("01"), "{r:?}");
    let last = r.decisions.last().unwrap();
    assert_eq!(
        (
            last.action.as_str(),
            last.decision,
            last.policy_ids.as_slice()
        ),
        ("http:send", "deny", &["no-health-egress".to_owned()][..]),
        "{r:?}"
    );
    assert!(last.taint.as_ref().unwrap().categories().contains("health"));
    assert_eq!(
        server.accepts(),
        1,
        "only the send before the read connected"
    );
}
