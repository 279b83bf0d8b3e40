//! Source runs over the API: `{"source": {"language", "code"}}` instead of a component. The
//! runners here are stand-ins built from WAT (the real ones are tested end to end by the CLI's
//! and the runtime's guest tests): what matters is what the server checks, binds and records.

use axum::http::StatusCode;
use cordon_audit::{AuditLog, LogOptions, Query};
use serde_json::{Value, json};

use crate::common::{ALLOW_ALL, Env, Idp, claims, register};

/// A server whose python runner hands its whole input to `fs.read` as a path (one decision
/// per run); no javascript runner.
fn env_with_python_runner() -> Env {
    let runners = tempfile::tempdir().unwrap().keep();
    std::fs::write(
        runners.join("python.wasm"),
        cordon_testkit::read_guest().unwrap(),
    )
    .unwrap();
    Env::with_config(|c| c.runners = Some(runners))
}

fn source_run(language: &str, code: &str, jwt: Option<String>) -> Value {
    json!({"source": {"language": language, "code": code}, "input": {"n": 1},
           "token": jwt, "purpose": "support", "engagement": "case-1"})
}

/// Every decision the server's log holds, and the source it keeps under `digest`.
fn logged(env: Env, digest: &str) -> (Vec<cordon_audit::RevealedEntry>, Option<String>) {
    let dir = env.dir.path().to_owned();
    let _keep = env.dir;
    drop(env.state);
    let t0 = std::time::Instant::now();
    let log = loop {
        match AuditLog::open(&dir.join(cordon_audit::LOG_FILE), LogOptions::in_dir(&dir)) {
            Ok(log) => break log,
            Err(e) if t0.elapsed() < std::time::Duration::from_secs(10) => {
                assert!(format!("{e:?}").contains("already open"), "{e:?}");
                std::thread::yield_now();
            }
            Err(e) => panic!("{e:?}"),
        }
    };
    let entries = log.store().query(&Query::default()).unwrap();
    let source = log
        .source(digest)
        .unwrap()
        .and_then(cordon_audit::StoredSource::text);
    (entries, source)
}

#[tokio::test]
async fn a_source_run_for_a_verified_user_names_its_source_in_the_report_and_every_decision() {
    let env = env_with_python_runner();
    let token = env.tenant("acme", json!({})).await;
    env.bundle(
        "acme",
        r#"@id("python-for-analysts") permit(principal, action == Cordon::Action::"fs:read", resource)
           when { context has code && context.code.language == "python" && principal has human && principal.human in Cordon::Role::"analyst" };"#,
        true,
    )
    .await;
    let idp = Idp::new(7);
    register(&idp, &env, "acme").await;
    let code = "def main(input):\n    return input\n";
    let digest = blake3::hash(code.as_bytes()).to_hex().to_string();
    let (s, v) = env
        .run(
            "acme",
            &token,
            source_run("python", code, Some(idp.sign(&claims()).unwrap())),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["user"], "alice");
    assert_eq!(
        v["report"]["code"],
        json!({"language": "python", "digest": digest})
    );
    let decisions = v["report"]["decisions"].as_array().unwrap();
    assert_eq!(decisions.len(), 1, "{v}");
    assert_eq!(
        decisions[0]["decision"], "allow",
        "the policy saw context.code: {v}"
    );
    let runner = v["component"].as_str().unwrap().to_owned();
    assert_eq!(v["report"]["component_digest"], runner.as_str());

    let (entries, kept) = logged(env, &digest);
    let runs: Vec<_> = entries
        .iter()
        .filter(|e| !e.entry.action.starts_with("admin:"))
        .collect();
    assert_eq!(runs.len(), 1, "{runs:?}");
    let e = &runs[0].entry;
    assert_eq!(
        e.code
            .as_ref()
            .map(|c| (c.language.as_str(), c.digest.as_str())),
        Some(("python", digest.as_str()))
    );
    assert_eq!(e.component_digest, runner);
    assert_eq!(e.purpose, "support");
    assert_eq!(kept, Some(code.to_owned()), "the exact source is kept");
}

#[tokio::test]
async fn malformed_source_requests_are_refused_before_anything_is_decided() {
    let env = env_with_python_runner();
    let token = env.tenant("acme", json!({"allow_unattended": true})).await;
    env.bundle("acme", ALLOW_ALL, true).await;
    let (_, c) = env
        .upload("acme", &token, cordon_testkit::echo_guest().unwrap())
        .await;
    let component = c["digest"].as_str().unwrap();
    let ok = "def main(input):\n    return 1\n";
    let big = "#".repeat((1 << 20) + 1);
    let cases = [
        (
            json!({"component": component, "source": {"language": "python", "code": ok},
                "purpose": "p", "engagement": "e"}),
            StatusCode::BAD_REQUEST,
            "component-or-source",
        ),
        (
            json!({"purpose": "p", "engagement": "e"}),
            StatusCode::BAD_REQUEST,
            "component-or-source",
        ),
        (
            source_run("rust", ok, None),
            StatusCode::BAD_REQUEST,
            "unknown-language",
        ),
        (
            source_run("python", "  \n", None),
            StatusCode::BAD_REQUEST,
            "invalid-source",
        ),
        (
            source_run("python", &big, None),
            StatusCode::BAD_REQUEST,
            "invalid-source",
        ),
        (
            source_run("javascript", "function main() {}", None),
            StatusCode::NOT_IMPLEMENTED,
            "no-runner",
        ),
    ];
    for (body, status, code) in cases {
        let (s, v) = env.run("acme", &token, body).await;
        assert_eq!(
            (s, v["error"]["code"].as_str()),
            (status, Some(code)),
            "{v}"
        );
    }
    let (entries, _) = logged(env, &"0".repeat(64));
    let decided: Vec<&str> = entries
        .iter()
        .map(|e| e.entry.action.as_str())
        .filter(|a| !a.starts_with("admin:"))
        .collect();
    assert!(decided.is_empty(), "{decided:?}");
}

#[tokio::test]
async fn an_operator_can_turn_source_runs_off_for_a_tenant() {
    let env = env_with_python_runner();
    let token = env.tenant("acme", json!({"allow_unattended": true})).await;
    env.bundle("acme", ALLOW_ALL, true).await;
    let code = "def main(input):\n    return 1\n";
    let (s, v) = env
        .run("acme", &token, source_run("python", code, None))
        .await;
    assert_eq!(s, StatusCode::OK, "on for a new tenant: {v}");
    let (s, _) = env
        .json(
            "PUT",
            "/v1/admin/tenants/acme",
            Some(crate::common::ADMIN),
            json!({"source_runs": false}),
        )
        .await;
    assert!(s.is_success());
    let (s, v) = env
        .run("acme", &token, source_run("python", code, None))
        .await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("source-runs-off")),
        "{v}"
    );
}
