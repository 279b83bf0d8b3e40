//! `cordon:agent/http`: outbound requests, each decided by the policy and checked against the
//! operator's egress ranges before any connection is made.
//!
//! For every hop (the request, then each redirect):
//!
//! 1. the gate decides `http:send` on the URL (scheme, host, port, path) with the method and
//!    the run's taint in the context, and logs the decision; a denial is `access-denied` with
//!    no DNS lookup and no connection;
//! 2. the host name is resolved once, and every address is checked against
//!    [`EgressPolicy`](crate::EgressPolicy); one special-purpose address outside the operator's
//!    ranges refuses the hop (logged as a denial decided by `cordon:egress`);
//! 3. the client connects to the checked addresses only: its resolver answers from what step 2
//!    pinned and never looks a name up again, so DNS rebinding cannot swap the address.
//!
//! Request and response bodies are bounded, redirects are followed by hand (so each hop goes
//! through 1–3), and a request never outlives its own time limit
//! ([`EgressPolicy::request_timeout`](crate::EgressPolicy), all hops together: the guest gets
//! `limit-exceeded`) nor the run's deadline or its cancellation (the run ends at once: the
//! lookup and the exchange race the run's [`Stop`](crate::stop::Stop), and the connection is
//! dropped).

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use cordon_policy::{Action, Resource, UrlParts};
use reqwest::Url;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use wasmtime::component::HasData;

use crate::bindings::Error;
use crate::bindings::cordon::agent::http::{Host, Request, Response};
use crate::egress::{EgressPolicy, TrustedCa};
use crate::gate::Gate;
use crate::limits::LimitExceeded;
use crate::stop::Stop;

/// The policy id a refusal by the egress address check carries.
pub const EGRESS_GUARD: &str = "cordon:egress";

/// What a refusal by [`EGRESS_GUARD`] adds to the report's error message: why the policy's
/// permit was not enough, and the operator's flag or config key that allows the range.
pub const EGRESS_HINT: &str = "the host's egress guard (`cordon:egress`) refuses special-purpose \
    addresses (loopback, private, link-local, ...) whatever the policy says; the operator allows \
    a range with `cordon run --allow-egress-range CIDR`, or for `cordon serve` with \
    `\"egress\": {\"allow_ranges\": [\"CIDR\"]}` in its config";

/// Headers the guest may not set: the host derives them from the URL and body, and a guest
/// that set them could make a request other than the one the policy decided.
const RESERVED_HEADERS: [&str; 5] = [
    "host",
    "content-length",
    "transfer-encoding",
    "connection",
    "upgrade",
];

/// A request that times out this close to its time limit or the run's deadline ran into it.
const DEADLINE_SLACK: Duration = Duration::from_millis(10);

/// Headers dropped when a redirect leaves the origin the guest sent them to.
const CREDENTIAL_HEADERS: [&str; 3] = ["authorization", "cookie", "proxy-authorization"];

/// What one run's http interface keeps between calls.
pub(crate) struct HttpState {
    egress: EgressPolicy,
    client: Option<PinnedClient>,
}

impl HttpState {
    /// http under the operator's `egress` policy.
    pub(crate) fn new(egress: EgressPolicy) -> Self {
        HttpState {
            egress,
            client: None,
        }
    }
}

/// The state the http interface may touch.
pub(crate) struct HttpView<'a> {
    pub(crate) gate: &'a mut Gate,
    pub(crate) state: &'a mut HttpState,
    /// The run's memory limit: no response body larger than this is brought into the host.
    pub(crate) max_body_bytes: u64,
}

pub(crate) struct HasHttp;

impl HasData for HasHttp {
    type Data<'a> = HttpView<'a>;
}

/// A request the guest may send, checked before any decision: a known method, an absolute
/// http(s) URL with a host, headers the host accepts, a body within the limit.
#[derive(Debug)]
struct Checked {
    method: reqwest::Method,
    url: Url,
    headers: HeaderMap,
    body: Option<Vec<u8>>,
}

fn check_request(r: Request, egress: &EgressPolicy) -> Result<Checked, Error> {
    let name = r.method.to_ascii_uppercase();
    let method = reqwest::Method::from_bytes(name.as_bytes())
        .map_err(|_| Error::Invalid(format!("`{}` is not an http method", r.method)))?;
    let url = check_url(&r.url)?;
    let mut headers = HeaderMap::new();
    for (name, value) in r.headers {
        let key = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| Error::Invalid(format!("`{name}` is not a header name")))?;
        if RESERVED_HEADERS.contains(&key.as_str()) {
            return Err(Error::Invalid(format!(
                "header `{name}` is set by the host and may not be given"
            )));
        }
        let value = HeaderValue::from_str(&value)
            .map_err(|_| Error::Invalid(format!("the value of header `{name}` is not valid")))?;
        headers.append(key, value);
    }
    if let Some(b) = &r.body
        && b.len() as u64 > egress.max_request_bytes
    {
        return Err(Error::LimitExceeded(format!(
            "the request body is {} bytes, more than the {} allowed",
            b.len(),
            egress.max_request_bytes
        )));
    }
    Ok(Checked {
        method,
        url,
        headers,
        body: r.body,
    })
}

/// [`cordon_policy::check_url`], as the guest's `invalid` error.
fn check_url(raw: &str) -> Result<Url, Error> {
    cordon_policy::check_url(raw).map_err(|e| Error::Invalid(e.to_string()))
}

/// Every address `url`'s host stands for: the address itself, or one lookup of the name.
/// `Ok(None)`: the lookup did not finish `within` (the request's remaining time); `Err`: the
/// run must stop (deadline or cancel).
fn resolve(
    url: &Url,
    within: Duration,
    stop: &Stop,
) -> wasmtime::Result<Result<Option<Vec<SocketAddr>>, Error>> {
    let port = url.port_or_known_default().unwrap_or(0);
    let addrs: Vec<SocketAddr> = match url.host() {
        Some(url::Host::Ipv4(a)) => vec![SocketAddr::new(IpAddr::V4(a), port)],
        Some(url::Host::Ipv6(a)) => vec![SocketAddr::new(IpAddr::V6(a), port)],
        Some(url::Host::Domain(d)) => match lookup(d, port, within, stop)? {
            Some(Ok(addrs)) => addrs,
            Some(Err(_)) => return Ok(Err(Error::Io(format!("cannot resolve `{d}`")))),
            None => return Ok(Ok(None)),
        },
        None => Vec::new(),
    };
    if addrs.is_empty() {
        return Ok(Err(Error::Io(format!(
            "`{}` resolves to no address",
            url.host_str().unwrap_or_default()
        ))));
    }
    Ok(Ok(Some(addrs)))
}

/// The system resolver has no timeout, so the lookup runs on its own thread and is waited for
/// at most `within`, and never past the run's stop; a lookup that outlives the wait finishes
/// unobserved. `None`: time is up.
fn lookup(
    domain: &str,
    port: u16,
    within: Duration,
    stop: &Stop,
) -> wasmtime::Result<Option<std::io::Result<Vec<SocketAddr>>>> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    let name = domain.to_owned();
    let spawned = std::thread::Builder::new()
        .name("cordon-dns".into())
        .spawn(move || {
            let _ = tx.send(
                (name.as_str(), port)
                    .to_socket_addrs()
                    .map(Iterator::collect),
            );
        });
    if let Err(e) = spawned {
        return Ok(Some(Err(e)));
    }
    // The timer is made inside the runtime (by the async block), not here.
    Ok(
        match stop.race(async move { tokio::time::timeout(within, rx).await })? {
            Ok(Ok(answer)) => Some(answer),
            Err(_elapsed) => None,
            Ok(Err(_closed)) => Some(Err(std::io::Error::other(
                "the lookup thread ended without an answer",
            ))),
        },
    )
}

/// A client whose resolver answers only with addresses the egress check pinned.
pub(crate) struct PinnedClient {
    client: reqwest::Client,
    pins: Arc<Pins>,
}

#[derive(Default)]
struct Pins(Mutex<HashMap<String, Vec<SocketAddr>>>);

impl reqwest::dns::Resolve for Pins {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let name = name.as_str().to_owned();
        let found = self.0.lock().ok().and_then(|m| m.get(&name).cloned());
        Box::pin(async move {
            match found {
                Some(addrs) => Ok(Box::new(addrs.into_iter()) as reqwest::dns::Addrs),
                None => Err(format!("`{name}` was not checked by the egress guard").into()),
            }
        })
    }
}

impl PinnedClient {
    fn new(egress: &EgressPolicy) -> Result<Self, reqwest::Error> {
        let pins = Arc::new(Pins::default());
        let mut builder = reqwest::Client::builder();
        for ca in egress.trusted_cas.iter().flat_map(TrustedCa::certificates) {
            builder = builder.add_root_certificate(ca.clone());
        }
        let client = builder
            .use_rustls_tls()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .dns_resolver(pins.clone())
            .build()?;
        Ok(PinnedClient { client, pins })
    }

    fn pin(&self, host: &str, addrs: Vec<SocketAddr>) {
        if let Ok(mut m) = self.pins.0.lock() {
            m.insert(host.to_owned(), addrs);
        }
    }
}

/// What one exchange brought back.
enum Answer {
    /// A redirect to `Location` (its body is not read).
    Redirect(reqwest::StatusCode, String),
    /// A response whose body fit.
    Done(Response),
    /// A body larger than allowed (by its length header, or as read).
    TooLarge,
}

/// How one exchange failed.
enum Failed {
    /// Sending, or receiving the head.
    Send(reqwest::Error),
    /// Reading the body.
    Read(reqwest::Error),
}

/// Send `request` and read the answer, at most `max` bytes of body.
async fn exchange(request: reqwest::RequestBuilder, max: u64) -> Result<Answer, Failed> {
    let mut resp = request.send().await.map_err(Failed::Send)?;
    let status = resp.status();
    if status.is_redirection()
        && let Some(location) = resp.headers().get(reqwest::header::LOCATION)
    {
        let location = location.to_str().unwrap_or_default().to_owned();
        return Ok(Answer::Redirect(status, location));
    }
    if resp.content_length().is_some_and(|len| len > max) {
        return Ok(Answer::TooLarge);
    }
    let headers = resp
        .headers()
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_owned(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(Failed::Read)? {
        if (body.len() as u64).saturating_add(chunk.len() as u64) > max {
            return Ok(Answer::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Answer::Done(Response {
        status: status.as_u16(),
        headers,
        body,
    }))
}

/// How a hop ended.
enum Hop {
    /// Follow the redirect to this URL.
    Redirect(Url, reqwest::StatusCode),
    /// The final answer.
    Done(Response),
}

impl HttpView<'_> {
    fn client(&mut self) -> wasmtime::Result<&PinnedClient> {
        if self.state.client.is_none() {
            let c = PinnedClient::new(&self.state.egress)
                .map_err(|e| wasmtime::Error::msg(format!("cannot build the http client: {e}")))?;
            self.state.client = Some(c);
        }
        self.state
            .client
            .as_ref()
            .ok_or_else(|| wasmtime::Error::msg("the http client is missing"))
    }

    /// Most bytes of one response body.
    fn max_response(&self) -> u64 {
        self.state
            .egress
            .max_response_bytes
            .min(self.max_body_bytes)
    }

    /// When a request started now must be done by: its own time limit or the run's deadline,
    /// whichever comes first.
    fn request_deadline(&self) -> Instant {
        let run = self.gate.stop().deadline();
        Instant::now()
            .checked_add(self.state.egress.request_timeout)
            .map_or(run, |d| d.min(run))
    }

    /// Time left before `until` (see [`Self::request_deadline`]); none left is
    /// [`Self::out_of_time`].
    fn time_left(&self, until: Instant, host: &str) -> wasmtime::Result<Result<Duration, Error>> {
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return self.out_of_time(host).map(Err);
        }
        Ok(Ok(left))
    }

    /// A request ran out of time: at the run's deadline the run ends; at the request's own
    /// limit the guest gets `limit-exceeded` and the run goes on.
    fn out_of_time(&self, host: &str) -> wasmtime::Result<Error> {
        if self
            .gate
            .stop()
            .deadline()
            .saturating_duration_since(Instant::now())
            < DEADLINE_SLACK
        {
            return Err(wasmtime::Error::new(LimitExceeded::Timeout));
        }
        Ok(Error::LimitExceeded(format!(
            "the request to `{host}` took longer than the {} ms allowed",
            self.state.egress.request_timeout.as_millis()
        )))
    }

    /// A transport error: running out of time is [`Self::out_of_time`]; anything else is the
    /// guest's `io` error.
    fn transport_error(
        &self,
        host: &str,
        until: Instant,
        e: &reqwest::Error,
    ) -> wasmtime::Result<Error> {
        // The client's timeout is the time left; a timer may fire a hair early.
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() || (e.is_timeout() && left < DEADLINE_SLACK) {
            return self.out_of_time(host);
        }
        let what = if e.is_timeout() {
            "timed out"
        } else if e.is_connect() {
            "could not connect"
        } else {
            "failed"
        };
        // The innermost cause says why (`connection refused`, `invalid peer certificate:
        // UnknownIssuer`, ...); it is about the guest's own request, so the guest may see it.
        let mut cause: &dyn std::error::Error = e;
        while let Some(inner) = cause.source() {
            cause = inner;
        }
        Ok(Error::Io(format!(
            "the request to `{host}` {what}: {cause}"
        )))
    }

    /// Decide, check the addresses, and send one hop, done by `until`.
    fn hop(&mut self, req: &Checked, until: Instant) -> wasmtime::Result<Result<Hop, Error>> {
        let host = req.url.host_str().unwrap_or_default().to_ascii_lowercase();
        let decision = cordon_policy::Request {
            method: Some(req.method.as_str().to_owned()),
            ..cordon_policy::Request::new(Action::HttpSend, Resource::Url(UrlParts::of(&req.url)))
        };
        if let Err(denied) = self.gate.check(decision.clone())? {
            record_decision("deny");
            return Ok(Err(denied));
        }
        let within = match self.time_left(until, &host)? {
            Ok(left) => left,
            Err(e) => return Ok(Err(e)),
        };
        let addrs = match resolve(&req.url, within, self.gate.stop())? {
            Ok(Some(a)) => a,
            Ok(None) => return Ok(Err(self.out_of_time(&host)?)),
            Err(e) => return Ok(Err(e)),
        };
        for a in &addrs {
            if let Err(refused) = self.state.egress.check(a.ip()) {
                record_decision("deny-address");
                tracing::info!(target: "cordon.http", host = %host, reason = %refused, "egress refused");
                return Ok(Err(self.gate.refuse(&decision, EGRESS_GUARD)?));
            }
        }
        record_decision("allow");
        let timeout = match self.time_left(until, &host)? {
            Ok(left) => left,
            Err(e) => return Ok(Err(e)),
        };
        let max = self.max_response();
        let client = self.client()?;
        client.pin(&host, addrs);
        let mut builder = client
            .client
            .request(req.method.clone(), req.url.clone())
            .headers(req.headers.clone())
            .timeout(timeout);
        if let Some(b) = &req.body {
            builder = builder.body(b.clone());
        }
        // The exchange races the run's stop: at the deadline or on cancel the connection is
        // dropped and the run ends.
        let stop = self.gate.stop().clone();
        let answer = match stop.race(exchange(builder, max))? {
            Ok(a) => a,
            Err(Failed::Send(e)) => return Ok(Err(self.transport_error(&host, until, &e)?)),
            Err(Failed::Read(e)) => {
                if until.saturating_duration_since(Instant::now()) < DEADLINE_SLACK {
                    return Ok(Err(self.out_of_time(&host)?));
                }
                return Ok(Err(Error::Io(format!(
                    "reading the response from `{host}` failed: {e}"
                ))));
            }
        };
        Ok(match answer {
            Answer::Redirect(status, location) => match req.url.join(&location) {
                Ok(next) => check_url(next.as_str()).map(|u| Hop::Redirect(u, status)),
                Err(_) => Err(Error::Io(format!(
                    "`{host}` redirected to `{location}`, which is not a url"
                ))),
            },
            Answer::TooLarge => Err(too_large(&host, max)),
            Answer::Done(response) => Ok(Hop::Done(response)),
        })
    }
}

fn too_large(host: &str, max: u64) -> Error {
    Error::LimitExceeded(format!(
        "the response from `{host}` is larger than the {max} bytes allowed"
    ))
}

fn record_decision(decision: &str) {
    tracing::Span::current().record("decision", decision);
}

/// The request after a redirect with `status` to `next`: 303, and 301/302 after a POST,
/// become a GET without a body; credentials are dropped when the origin changes.
fn follow(mut req: Checked, next: Url, status: reqwest::StatusCode) -> Checked {
    use reqwest::StatusCode;
    let to_get = status == StatusCode::SEE_OTHER
        || (matches!(status, StatusCode::MOVED_PERMANENTLY | StatusCode::FOUND)
            && req.method == reqwest::Method::POST);
    if to_get {
        if req.method != reqwest::Method::HEAD {
            req.method = reqwest::Method::GET;
        }
        req.body = None;
        req.headers.remove(reqwest::header::CONTENT_TYPE);
    }
    if next.origin() != req.url.origin() {
        for h in CREDENTIAL_HEADERS {
            req.headers.remove(h);
        }
    }
    req.url = next;
    req
}

impl Host for HttpView<'_> {
    #[tracing::instrument(
        name = "cordon.http.send",
        skip_all,
        fields(
            tenant = %self.gate.identity().tenant,
            run = %self.gate.identity().run_id,
            method = tracing::field::Empty,
            host = tracing::field::Empty,
            decision = tracing::field::Empty,
            taint = tracing::field::Empty,
        )
    )]
    fn send(&mut self, request: Request) -> wasmtime::Result<Result<Response, Error>> {
        if let Err(e) = crate::host::bounds::http(self.gate, &request.url, &request.method)? {
            return Ok(Err(e));
        }
        let mut req = match check_request(request, &self.state.egress) {
            Ok(r) => r,
            Err(e) => return Ok(Err(e)),
        };
        let span = tracing::Span::current();
        if self.gate.taint.is_tainted() && !span.is_disabled() {
            // Labels of what the run has read, never the data itself.
            span.record(
                "taint",
                serde_json::to_string(&self.gate.taint).unwrap_or_default(),
            );
        }
        span.record("method", req.method.as_str());
        span.record("host", req.url.host_str().unwrap_or_default());
        let max_redirects = self.state.egress.max_redirects;
        let mut redirects = 0;
        let until = self.request_deadline();
        loop {
            match self.hop(&req, until)? {
                Err(e) => return Ok(Err(e)),
                Ok(Hop::Done(response)) => return Ok(Ok(response)),
                Ok(Hop::Redirect(next, status)) => {
                    if redirects == max_redirects {
                        return Ok(Err(Error::LimitExceeded(format!(
                            "more than {max_redirects} redirects"
                        ))));
                    }
                    redirects += 1;
                    req = follow(req, next, status);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(method: &str, url: &str) -> Request {
        Request {
            method: method.into(),
            url: url.into(),
            headers: Vec::new(),
            body: None,
        }
    }

    /// The hook the records data layer uses: a read observed into the gate's taint changes
    /// the next egress decision of the same run.
    #[test]
    fn a_read_observed_mid_run_blocks_the_next_egress() {
        let dir = tempfile::tempdir().unwrap();
        let mut gate = crate::gate::test_gate(
            dir.path(),
            r#"@id("all") permit(principal, action, resource);
               @id("no-health-egress") forbid(principal, action == Cordon::Action::"http:send", resource)
               when { context.taint.categories.contains("health") };"#,
        );
        let url = check_url("https://api.example/upload").unwrap();
        let request = cordon_policy::Request {
            method: Some("POST".into()),
            ..cordon_policy::Request::new(Action::HttpSend, Resource::Url(UrlParts::of(&url)))
        };
        assert!(gate.check(request.clone()).unwrap().is_ok());
        gate.taint.observe("patients", 3, "EU", ["health"]);
        match gate.check(request).unwrap() {
            Err(Error::AccessDenied(d)) => assert_eq!(d.policy_ids, ["no-health-egress"]),
            other => panic!("expected a denial, got {other:?}"),
        }
        assert_eq!(gate.decisions[1].taint.as_ref(), Some(&gate.taint));
    }

    #[test]
    fn non_http_schemes_are_refused_naming_the_scheme() {
        for url in ["file:///etc/passwd", "ftp://example.com/", "gopher://x/"] {
            let err = check_request(request("GET", url), &EgressPolicy::default()).unwrap_err();
            assert!(
                matches!(&err, Error::Invalid(m) if m.starts_with("scheme `")),
                "{url}: {err:?}"
            );
        }
    }

    #[test]
    fn the_policy_sees_scheme_host_port_and_path_with_the_trailing_dot_removed() {
        let url = check_url("HTTPS://Example.COM./a/%2e%2e/b?q=1").unwrap();
        let p = UrlParts::of(&url);
        assert_eq!(
            (p.scheme.as_str(), p.host.as_str(), p.port, p.path.as_str()),
            ("https", "example.com", 443, "/b")
        );
    }

    #[test]
    fn methods_are_upper_cased_and_nonsense_refused() {
        let r = check_request(
            request("get", "http://a.example/"),
            &EgressPolicy::default(),
        );
        assert_eq!(r.unwrap().method, reqwest::Method::GET);
        let bad = check_request(
            request("GE T", "http://a.example/"),
            &EgressPolicy::default(),
        );
        assert!(matches!(bad, Err(Error::Invalid(_))));
    }

    #[test]
    fn a_guest_may_not_set_the_host_header() {
        let mut r = request("GET", "http://a.example/");
        r.headers.push(("Host".into(), "internal.example".into()));
        let err = check_request(r, &EgressPolicy::default()).unwrap_err();
        assert!(
            matches!(&err, Error::Invalid(m) if m.contains("`Host`")),
            "{err:?}"
        );
    }

    #[test]
    fn a_body_over_the_limit_is_refused_before_anything_is_decided() {
        let mut r = request("POST", "http://a.example/");
        r.body = Some(vec![0; 11]);
        let egress = EgressPolicy {
            max_request_bytes: 10,
            ..EgressPolicy::default()
        };
        assert!(matches!(
            check_request(r, &egress),
            Err(Error::LimitExceeded(_))
        ));
    }

    #[test]
    fn a_see_other_redirect_becomes_a_get_and_drops_credentials_across_origins() {
        let mut r = check_request(
            request("POST", "http://a.example/x"),
            &EgressPolicy::default(),
        )
        .unwrap();
        r.body = Some(b"secret".to_vec());
        r.headers
            .insert("authorization", HeaderValue::from_static("Bearer t"));
        let next = Url::parse("http://b.example/y").unwrap();
        let f = follow(r, next, reqwest::StatusCode::SEE_OTHER);
        assert_eq!(f.method, reqwest::Method::GET);
        assert!(f.body.is_none());
        assert!(f.headers.get("authorization").is_none());
    }
}
