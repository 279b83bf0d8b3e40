//! Connection hygiene on a real socket: anonymous bodies are never read, slow and idle
//! connections are closed, the connection cap holds, and `/healthz` keeps answering.

use std::net::SocketAddr;
use std::time::Duration;

use cordon_server::{AppState, ServeError, ServerConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::common::ADMIN;

/// A server listening on 127.0.0.1:0, served by `cordon_server::serve`.
pub struct Live {
    pub addr: SocketAddr,
    _dir: tempfile::TempDir,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<Result<(), ServeError>>,
}

impl Live {
    pub async fn start(adjust: impl FnOnce(&mut ServerConfig)) -> Live {
        let dir = tempfile::tempdir().unwrap();
        let mut config = ServerConfig::new(dir.path(), ADMIN);
        adjust(&mut config);
        let state = AppState::open(config).unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(cordon_server::serve(
            state,
            listener,
            async {
                let _ = rx.await;
            },
            Duration::from_secs(1),
        ));
        Live {
            addr,
            _dir: dir,
            stop: Some(tx),
            task,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub async fn stop(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        tokio::time::timeout(Duration::from_secs(20), &mut self.task)
            .await
            .expect("the server did not stop")
            .unwrap()
            .unwrap();
    }
}

/// The status line and headers of the first response on `stream`, or `None` when the server
/// closed the connection without answering.
async fn response_head(stream: &mut TcpStream) -> Option<String> {
    let mut buf = Vec::new();
    let mut byte = [0u8; 1];
    while !buf.ends_with(b"\r\n\r\n") {
        match stream.read(&mut byte).await {
            Ok(0) | Err(_) => break,
            Ok(_) => buf.push(byte[0]),
        }
    }
    (!buf.is_empty()).then(|| String::from_utf8_lossy(&buf).into_owned())
}

/// Wait until the server closes `stream` (a read returns end of file or a reset), reading and
/// discarding whatever it sent first. Bounded so a server that never closes fails the test.
async fn closed_by_server(stream: &mut TcpStream) -> bool {
    let mut buf = [0u8; 4096];
    tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await
    .is_ok()
}

async fn healthz(live: &Live) -> u16 {
    reqwest::Client::new()
        .get(live.url("/healthz"))
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .map_or(0, |r| r.status().as_u16())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_anonymous_upload_is_answered_401_before_its_body_is_sent() {
    let live = Live::start(|_| {}).await;
    let mut s = TcpStream::connect(live.addr).await.unwrap();
    // Headers only: 64 MiB announced, not one byte of them sent.
    s.write_all(
        b"POST /v1/tenants/acme/components HTTP/1.1\r\nHost: t\r\n\
          Content-Type: application/wasm\r\nContent-Length: 67108864\r\n\r\n",
    )
    .await
    .unwrap();
    let head = response_head(&mut s).await.expect("no answer");
    assert!(head.starts_with("HTTP/1.1 401"), "{head}");
    assert!(
        head.to_ascii_lowercase()
            .contains("www-authenticate: bearer"),
        "{head}"
    );
    live.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_anonymous_request_with_a_wrong_content_type_is_401_not_415() {
    let live = Live::start(|_| {}).await;
    let r = reqwest::Client::new()
        .post(live.url("/v1/tenants/acme/runs"))
        .header("content-type", "text/plain")
        .body("not json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(v["error"]["code"], "unauthorized", "{v}");
    live.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slowloris_connections_are_closed_and_healthz_answers_while_hundreds_are_open() {
    let live = Live::start(|c| {
        c.header_read_timeout = Duration::from_millis(500);
        // All from 127.0.0.1 here: the per-address cap has its own test.
        c.max_connections_per_address = 1000;
    })
    .await;
    let mut slow = Vec::new();
    for i in 0..300 {
        let mut s = TcpStream::connect(live.addr).await.unwrap();
        if i % 2 == 0 {
            // Headers never finished.
            s.write_all(b"POST /v1/tenants/acme/components HTTP/1.1\r\nContent-Length: 1000\r\n")
                .await
                .unwrap();
        } else {
            // Headers finished, then one byte of a 1000-byte body.
            s.write_all(
                b"POST /v1/tenants/acme/components HTTP/1.1\r\nHost: t\r\nContent-Length: 1000\r\n\r\nx",
            )
            .await
            .unwrap();
        }
        slow.push(s);
    }
    assert_eq!(
        healthz(&live).await,
        200,
        "healthz with 300 slow clients open"
    );
    for s in &mut slow {
        assert!(closed_by_server(s).await, "a slow connection was left open");
    }
    assert_eq!(healthz(&live).await, 200);
    live.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_kept_alive_connection_is_closed() {
    let live = Live::start(|c| c.header_read_timeout = Duration::from_millis(300)).await;
    let mut s = TcpStream::connect(live.addr).await.unwrap();
    s.write_all(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
        .await
        .unwrap();
    let head = response_head(&mut s).await.unwrap();
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    // Kept alive, then idle: the server ends it.
    assert!(
        closed_by_server(&mut s).await,
        "the idle connection stayed open"
    );
    live.stop().await;
}

/// A connection to `live` from the loopback address `127.0.0.<last>`.
async fn connect_from(last: u8, live: &Live) -> TcpStream {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket
        .bind(SocketAddr::from(([127, 0, 0, last], 0)))
        .unwrap();
    socket.connect(live.addr).await.unwrap()
}

/// One request on `stream`, its response read whole (head and `Content-Length` body); the
/// status code, or 0 when the server closed it unanswered.
async fn status_on(stream: &mut TcpStream, path: &str) -> u16 {
    let _ = stream
        .write_all(format!("GET {path} HTTP/1.1\r\nHost: t\r\n\r\n").as_bytes())
        .await;
    let Some(head) = response_head(stream).await else {
        return 0;
    };
    let length = head
        .lines()
        .find_map(|l| {
            let (name, value) = l.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse::<usize>().ok())?
        })
        .unwrap_or(0);
    let mut body = vec![0u8; length];
    if stream.read_exact(&mut body).await.is_err() {
        return 0;
    }
    head.get(9..12).and_then(|c| c.parse().ok()).unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_the_connection_cap_idle_connections_give_way_to_new_ones() {
    let live = Live::start(|c| {
        c.max_connections = 3;
        // Long: the idle connections would hold their slots for a minute without eviction.
        c.header_read_timeout = Duration::from_secs(60);
    })
    .await;
    let mut idle = Vec::new();
    for i in 0..3u8 {
        // Sent part of a request line, then nothing: never served.
        let mut s = connect_from(10 + i, &live).await;
        s.write_all(b"GET /hea").await.unwrap();
        idle.push(s);
    }
    // The listener accepts in the order the connections were made: the first is the longest
    // idle.
    let mut fresh = connect_from(20, &live).await;
    assert_eq!(
        status_on(&mut fresh, "/healthz").await,
        200,
        "healthz at the cap"
    );
    // The longest-idle one made room and was closed; the fresh one stays served.
    assert!(closed_by_server(&mut idle[0]).await);
    assert_eq!(status_on(&mut fresh, "/healthz").await, 200);
    live.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_serving_requests_are_never_evicted_and_past_the_cap_new_ones_are_closed() {
    let live = Live::start(|c| {
        c.max_connections = 2;
        c.body_read_timeout = Duration::from_secs(60);
    })
    .await;
    let mut busy = Vec::new();
    for i in 0..2u8 {
        // An operator's request whose body is still coming: it is being served. The server's
        // `100 Continue` says the handler is reading the body, so the request is in flight.
        let mut s = connect_from(30 + i, &live).await;
        s.write_all(
            format!(
                "PUT /v1/admin/tenants/t{i} HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer {ADMIN}\r\nContent-Type: application/json\r\nContent-Length: 100\r\nExpect: 100-continue\r\n\r\n"
            )
            .as_bytes(),
        )
        .await
        .unwrap();
        let head = response_head(&mut s).await.unwrap_or_default();
        assert!(head.starts_with("HTTP/1.1 100"), "{head}");
        s.write_all(b"{").await.unwrap();
        busy.push(s);
    }
    let mut extra = connect_from(40, &live).await;
    assert_eq!(
        status_on(&mut extra, "/healthz").await,
        0,
        "a connection past a full table of busy ones was served"
    );
    // Finishing one request frees nothing by itself (kept alive), but makes it idle: the next
    // new connection evicts it.
    let body = format!("{{{}}}", " ".repeat(98));
    busy[0].write_all(&body.as_bytes()[1..]).await.unwrap();
    assert!(response_head(&mut busy[0]).await.is_some());
    let mut next = connect_from(41, &live).await;
    assert_eq!(status_on(&mut next, "/healthz").await, 200);
    assert!(closed_by_server(&mut busy[0]).await);
    live.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_address_cannot_hold_more_than_its_share_of_connections() {
    let live = Live::start(|c| c.max_connections_per_address = 2).await;
    let mut held = vec![connect_from(50, &live).await, connect_from(50, &live).await];
    for s in &mut held {
        assert_eq!(status_on(s, "/healthz").await, 200);
    }
    let mut third = connect_from(50, &live).await;
    assert_eq!(
        status_on(&mut third, "/healthz").await,
        0,
        "a third from one address"
    );
    let mut other = connect_from(51, &live).await;
    assert_eq!(status_on(&mut other, "/healthz").await, 200);
    // Closing one gives the address its slot back.
    drop(held.pop());
    let mut again = 0;
    for _ in 0..50 {
        let mut s = connect_from(50, &live).await;
        again = status_on(&mut s, "/healthz").await;
        if again == 200 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(again, 200);
    live.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anonymous_requests_past_their_budget_are_shed_but_tenants_and_healthz_are_served() {
    let live = Live::start(|c| c.max_anonymous_in_flight = 0).await;
    let http = reqwest::Client::new();
    let r = http.get(live.url("/openapi.json")).send().await.unwrap();
    assert_eq!(r.status(), 503, "the anonymous budget is spent");
    let r = http
        .get(live.url("/v1/admin/tenants/acme"))
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404, "an authenticated request is served");
    assert_eq!(healthz(&live).await, 200);
    live.stop().await;
}
