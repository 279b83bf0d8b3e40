//! https: the client verifies certificates — against the public web PKI and the CAs the
//! operator adds — over rustls. A loopback TLS server with a certificate from a test CA
//! (`tests/fixtures/tls`, valid for `127.0.0.1` and `localhost`).

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::Arc;
use std::thread::JoinHandle;

use cordon_policy::{PolicyBundle, RunContext};
use cordon_runtime::{EgressPolicy, Invocation, RunLimits, RunReport, TrustedCa};
use cordon_testkit::http_send_guest;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::support::{ALLOW_ALL, Sandbox, engine, load};

const CA: &str = include_str!("../fixtures/tls/ca.pem");
const SERVER_CERT: &[u8] = include_bytes!("../fixtures/tls/server.pem");
const SERVER_KEY: &[u8] = include_bytes!("../fixtures/tls/server-key.pem");

/// Serves one TLS connection on 127.0.0.1: answers `body` to whatever request comes.
/// The thread ends with the handshake's result.
struct TlsServer {
    port: u16,
    thread: JoinHandle<Result<(), String>>,
}

impl TlsServer {
    fn start(body: &'static str) -> TlsServer {
        let certs = CertificateDer::pem_slice_iter(SERVER_CERT)
            .collect::<Result<Vec<_>, _>>()
            .unwrap();
        let key = PrivateKeyDer::from_pem_slice(SERVER_KEY).unwrap();
        let config = Arc::new(
            rustls::ServerConfig::builder_with_provider(Arc::new(
                rustls::crypto::ring::default_provider(),
            ))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .unwrap(),
        );
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let thread = std::thread::spawn(move || {
            let (tcp, _) = listener.accept().map_err(|e| e.to_string())?;
            let conn = rustls::ServerConnection::new(config).map_err(|e| e.to_string())?;
            let mut tls = rustls::StreamOwned::new(conn, tcp);
            let mut request = Vec::new();
            let mut buf = [0u8; 1024];
            while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                let n = tls.read(&mut buf).map_err(|e| e.to_string())?;
                if n == 0 {
                    return Err("closed before the request ended".into());
                }
                request.extend_from_slice(&buf[..n]);
            }
            let response = format!(
                "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            tls.write_all(response.as_bytes())
                .map_err(|e| e.to_string())?;
            tls.conn.send_close_notify();
            tls.flush().map_err(|e| e.to_string())
        });
        TlsServer { port, thread }
    }

    fn url(&self) -> String {
        format!("https://127.0.0.1:{}/report", self.port)
    }
}

fn run(sb: &Sandbox, egress: EgressPolicy, url: &str) -> RunReport {
    let guest = load(http_send_guest("GET", None, 1));
    engine()
        .run(
            &guest,
            Invocation {
                run_id: "https-test".into(),
                tenant: "acme".into(),
                human: None,
                context: RunContext::new("testing", "t-1"),
                bundle: PolicyBundle::from_sources([("all.cedar", ALLOW_ALL)]).unwrap(),
                root: None,
                limits: RunLimits::default(),
                log: sb.log.clone(),
                input: url.into(),
                egress,
                taint: Default::default(),
                shadow: None,
                cancel: None,
                records: None,
            },
        )
        .unwrap()
}

fn loopback() -> EgressPolicy {
    let mut e = EgressPolicy::default();
    e.allow_range("127.0.0.0/8").unwrap();
    e
}

#[test]
fn https_to_a_server_whose_ca_the_operator_trusts_returns_the_body() {
    let server = TlsServer::start("over tls");
    let sb = Sandbox::new();
    let mut egress = loopback();
    egress.trusted_cas.push(TrustedCa::from_pem(CA).unwrap());
    let r = run(&sb, egress, &server.url());
    assert_eq!(r.output.as_deref(), Some("over tls"), "{r:?}");
    assert_eq!(r.decisions[0].decision, "allow");
    server.thread.join().unwrap().unwrap();
}

#[test]
fn https_to_a_server_with_an_untrusted_certificate_is_an_io_error_and_nothing_is_sent() {
    let server = TlsServer::start("must not be read");
    let sb = Sandbox::new();
    let r = run(&sb, loopback(), &server.url());
    assert_eq!(r.error.as_ref().map(|e| e.kind), Some("io"), "{r:?}");
    let message = &r.error.as_ref().unwrap().message;
    assert!(message.contains("certificate"), "says why: {message}");
    assert_eq!(r.output, None);
    // The server saw the handshake fail before any request bytes.
    let served = server.thread.join().unwrap();
    assert!(served.is_err(), "{served:?}");
}

#[test]
fn a_ca_that_is_not_pem_is_refused_when_it_is_added() {
    for bad in [
        "",
        "not a certificate",
        "-----BEGIN CERTIFICATE-----\nAAAA\n",
    ] {
        assert!(TrustedCa::from_pem(bad).is_err(), "{bad:?}");
    }
    assert!(TrustedCa::from_pem(CA).is_ok());
}
