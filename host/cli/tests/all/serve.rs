//! `cordon serve` as a process: SIGTERM drains and exits whatever the clients do, anonymous
//! uploads cost the server no memory, and running out of file descriptors is survived.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::{Scratch, s};

/// A `cordon serve` child on 127.0.0.1:0 with `config` (JSON), run by `sh -c` after `prefix`
/// (e.g. `ulimit -n 64;`).
pub(crate) struct Server {
    child: Child,
    addr: SocketAddr,
}

impl Server {
    fn start(scratch: &Scratch, config: serde_json::Value, prefix: &str) -> Server {
        // No runners: their background compile would blur the memory and time measured
        // here (source runs over HTTP are tested in cordon-server and source_runs).
        Server::start_with_runners(scratch, config, prefix, &scratch.path("no-runners"))
    }

    /// As [`Server::start`], with the source runners in `runners`.
    pub(crate) fn start_with_runners(
        scratch: &Scratch,
        config: serde_json::Value,
        prefix: &str,
        runners: &std::path::Path,
    ) -> Server {
        let config_file = scratch.file("serve.json", config.to_string());
        let data = scratch.path("data");
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(format!(
                "{prefix} exec \"$0\" --data \"$1\" serve --bind 127.0.0.1:0 --config \"$2\""
            ))
            .arg(env!("CARGO_BIN_EXE_cordon"))
            .arg(s(&data))
            .arg(s(&config_file))
            .env_remove("CORDON_DATA")
            .env("CORDON_RUNNERS", runners)
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stderr = BufReader::new(child.stderr.take().unwrap());
        let mut line = String::new();
        stderr.read_line(&mut line).unwrap();
        let addr = line
            .split("http://")
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next())
            .unwrap_or_else(|| panic!("no address in `{line}`"))
            .parse()
            .unwrap();
        // Keep draining stderr so the server never blocks writing to it.
        std::thread::spawn(move || std::io::copy(&mut stderr, &mut std::io::sink()));
        Server { child, addr }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The server's resident set, kB, from /proc.
    fn rss_kb(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap()
    }

    pub(crate) fn signal(&self, name: &str) {
        let ok = Command::new("kill")
            .args([name, &self.pid().to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill {name} failed");
    }

    /// Wait for the process to exit, at most `limit`; its exit status, or `None` if it did not.
    pub(crate) fn wait_at_most(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let t0 = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Some(status);
            }
            if t0.elapsed() > limit {
                let _ = self.child.kill();
                let _ = self.child.wait();
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// One request on a fresh connection; the status code, or `None` if the connection failed.
    fn status(&self, request: &str) -> Option<u16> {
        let mut c = TcpStream::connect_timeout(&self.addr, Duration::from_secs(5)).ok()?;
        c.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
        c.write_all(request.as_bytes()).ok()?;
        let mut head = [0u8; 12];
        c.read_exact(&mut head).ok()?;
        std::str::from_utf8(&head[9..12]).ok()?.parse().ok()
    }

    fn healthz(&self) -> Option<u16> {
        self.status("GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn sigterm_drains_and_exits_in_bounded_time_despite_a_stalled_client_and_the_log_verifies() {
    let scratch = Scratch::new();
    let mut server = Server::start(
        &scratch,
        serde_json::json!({"shutdown_grace_ms": 1000, "header_read_timeout_ms": 600000}),
        "",
    );
    assert_eq!(server.healthz(), Some(200));
    // A client that sends half a request and then nothing, and another that sent a whole one
    // and never reads the answer.
    let mut stalled = TcpStream::connect(server.addr).unwrap();
    stalled
        .write_all(b"POST /v1/tenants/acme/runs HTTP/1.1\r\nHost: t\r\n")
        .unwrap();
    let mut deaf = TcpStream::connect(server.addr).unwrap();
    deaf.write_all(b"GET /openapi.json HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    assert_eq!(server.healthz(), Some(200));

    server.signal("-TERM");
    // Grace (1 s) plus the connections' flush (1 s) plus a wide margin for a loaded machine.
    let status = server
        .wait_at_most(Duration::from_secs(20))
        .expect("cordon serve did not exit after SIGTERM with a stalled client");
    assert!(status.success(), "{status:?}");
    drop((stalled, deaf));

    let data = scratch.path("data");
    let ran = scratch.cordon(&["--data", s(&data), "audit", "verify"]);
    assert_eq!(ran.code, 0, "{}{}", ran.stdout, ran.stderr);
}

#[test]
fn sigint_drains_and_exits_too() {
    let scratch = Scratch::new();
    let mut server = Server::start(&scratch, serde_json::json!({"shutdown_grace_ms": 500}), "");
    assert_eq!(server.healthz(), Some(200));
    server.signal("-INT");
    let status = server
        .wait_at_most(Duration::from_secs(20))
        .expect("no exit");
    assert!(status.success(), "{status:?}");
}

#[test]
fn anonymous_64_mib_uploads_do_not_grow_the_servers_memory() {
    let scratch = Scratch::new();
    let server = Server::start(&scratch, serde_json::json!({}), "");
    assert_eq!(server.healthz(), Some(200));
    let before = server.rss_kb();
    let chunk = vec![0u8; 1 << 20];
    for _ in 0..8 {
        let mut c = TcpStream::connect(server.addr).unwrap();
        c.set_write_timeout(Some(Duration::from_secs(10))).unwrap();
        c.write_all(
            b"POST /v1/tenants/acme/components HTTP/1.1\r\nHost: t\r\n\
              Content-Type: application/wasm\r\nContent-Length: 67108864\r\n\r\n",
        )
        .unwrap();
        // Send as much of the body as the server takes; it answers 401 and closes.
        for _ in 0..64 {
            if c.write_all(&chunk).is_err() {
                break;
            }
        }
    }
    assert_eq!(server.healthz(), Some(200));
    let after = server.rss_kb();
    // Eight bodies read in full would be 512 MiB; a few MiB of buffers and allocator slack
    // are all that may show.
    assert!(
        after < before + 32 * 1024,
        "RSS grew from {before} kB to {after} kB"
    );
}

#[test]
fn out_of_file_descriptors_the_server_keeps_running_and_answers_once_they_free() {
    let scratch = Scratch::new();
    let server = Server::start(
        &scratch,
        serde_json::json!({"header_read_timeout_ms": 500}),
        "ulimit -n 96;",
    );
    assert_eq!(server.healthz(), Some(200));
    // More stalled connections than the server has descriptors for.
    let hoard: Vec<TcpStream> = (0..150)
        .filter_map(|_| {
            let mut c = TcpStream::connect(server.addr).ok()?;
            let _ = c.write_all(b"GET /healthz HTTP/1.1\r\n");
            Some(c)
        })
        .collect();
    assert!(!hoard.is_empty());
    // Stalled connections are closed at the header timeout; the server accepts again.
    let t0 = Instant::now();
    let mut answered = None;
    while answered.is_none() && t0.elapsed() < Duration::from_secs(30) {
        answered = server.healthz();
    }
    assert_eq!(answered, Some(200), "healthz never answered again");
    drop(hoard);
}

/// One HTTP/1.1 request on a fresh connection: status and body.
pub(crate) fn http(
    server: &Server,
    method: &str,
    path: &str,
    token: &str,
    body: &[u8],
) -> (u16, Vec<u8>) {
    let mut c = TcpStream::connect(server.addr).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\
         Authorization: Bearer {token}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n\r\n",
        body.len()
    );
    c.write_all(head.as_bytes()).unwrap();
    c.write_all(body).unwrap();
    let mut out = Vec::new();
    c.read_to_end(&mut out).unwrap();
    let split = out.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let status = std::str::from_utf8(&out[9..12]).unwrap().parse().unwrap();
    (status, out[split + 4..].to_vec())
}

pub(crate) fn json_of(body: &[u8]) -> serde_json::Value {
    serde_json::from_slice(body)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(body)))
}

#[test]
fn many_runs_with_large_outputs_keep_the_servers_memory_bounded_and_old_runs_pruned() {
    let scratch = Scratch::new();
    let server = Server::start(
        &scratch,
        serde_json::json!({"runs": {"keep_per_tenant": 10}}),
        "",
    );
    let admin = std::fs::read_to_string(scratch.path("data/admin.token")).unwrap();
    let admin = admin.trim();
    let (s, _) = http(
        &server,
        "PUT",
        "/v1/admin/tenants/acme",
        admin,
        br#"{"allow_unattended": true}"#,
    );
    assert_eq!(s, 201);
    let (_, t) = http(&server, "POST", "/v1/admin/tenants/acme/tokens", admin, b"");
    let token = json_of(&t)["token"].as_str().unwrap().to_owned();
    let bundle = serde_json::json!({"files": {"all.cedar": r#"@id("all") permit(principal, action, resource);"#}, "activate": true});
    let (s, _) = http(
        &server,
        "POST",
        "/v1/admin/tenants/acme/bundles",
        admin,
        bundle.to_string().as_bytes(),
    );
    assert_eq!(s, 201);
    let (s, c) = http(
        &server,
        "POST",
        "/v1/tenants/acme/components",
        &token,
        &cordon_testkit::echo_guest().unwrap(),
    );
    assert_eq!(s, 201);
    let digest = json_of(&c)["digest"].as_str().unwrap().to_owned();

    // Warm up (compile, first allocations), then measure across many large runs.
    let big = "x".repeat(512 << 10);
    let run =
        serde_json::json!({"component": digest, "input": big, "purpose": "p", "engagement": "e"})
            .to_string();
    let mut ids = Vec::new();
    let run_once = |ids: &mut Vec<String>| {
        let (s, v) = http(
            &server,
            "POST",
            "/v1/tenants/acme/runs",
            &token,
            run.as_bytes(),
        );
        assert_eq!(s, 200);
        ids.push(json_of(&v)["run_id"].as_str().unwrap().to_owned());
    };
    for _ in 0..10 {
        run_once(&mut ids);
    }
    let before = server.rss_kb();
    for _ in 0..200 {
        run_once(&mut ids);
    }
    let after = server.rss_kb();
    // 200 views of half a megabyte each kept in memory would be 100 MiB and more.
    assert!(
        after < before + 48 * 1024,
        "RSS grew from {before} kB to {after} kB"
    );
    let (s, _) = http(
        &server,
        "GET",
        &format!("/v1/tenants/acme/runs/{}", ids[0]),
        &token,
        b"",
    );
    assert_eq!(s, 404, "the oldest run was not pruned");
    let last = ids.last().unwrap();
    let (s, v) = http(
        &server,
        "GET",
        &format!("/v1/tenants/acme/runs/{last}"),
        &token,
        b"",
    );
    assert_eq!(s, 200);
    assert_eq!(json_of(&v)["report"]["output"], serde_json::json!(big));
    let files = std::fs::read_dir(scratch.path("data/runs/acme"))
        .unwrap()
        .count();
    assert!(files <= 10, "{files} report files kept");
}
