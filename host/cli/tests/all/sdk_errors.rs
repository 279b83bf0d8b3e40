//! What the Rust, Python and JavaScript SDKs show an agent when a call fails — the error's
//! class (Rust: variant), text, fields and JSON — checked against the report, with the example
//! agents errors, python-errors and js-errors built by scripts/build-guests.sh (ignored by a
//! plain `cargo test`; scripts/test.sh and CI run them with `--include-ignored`). All three make
//! the same calls under the same policy and must describe every error identically.

use serde_json::{Value, json};

use crate::guests::{copy_dir, repo};
use crate::support::{Scratch, s};

const HELLO: &str = r#"Cordon::File::"/hello.txt""#;
const SECRET: &str = r#"Cordon::File::"/secret.txt""#;
const MISSING: &str = r#"Cordon::File::"/public/missing.txt""#;
/// The query (`?draft=1`) is not part of the id; the port always is.
const UPLOAD: &str = r#"Cordon::Url::"https://api.example:443/upload""#;

/// Run example `name` in `sc` (its root copied there); the report and the exit status.
fn run(sc: &Scratch, name: &str, input: &str) -> (Value, i32) {
    let guest = repo().join(format!("build/guests/{name}.wasm"));
    assert!(
        guest.exists(),
        "{} is missing: run scripts/build-guests.sh",
        guest.display()
    );
    if !sc.path("root/hello.txt").exists() {
        copy_dir(
            &repo().join(format!("examples/{name}/root")),
            &sc.path("root"),
        );
    }
    let policy = repo().join(format!("examples/{name}/policy.cedar"));
    let root = sc.path("root");
    let r = sc.cordon(&[
        "run",
        s(&guest),
        "--policy",
        s(&policy),
        "--root",
        s(&root),
        "--input",
        input,
    ]);
    (r.json(), r.code)
}

/// What the agent must have described for a denial of `action` on `resource` by `policies`,
/// decided as decision `seq`.
fn denial(action: &str, resource: &str, policies: &[&str], seq: u64) -> Value {
    let by = if policies.is_empty() {
        "no policy permits it".to_owned()
    } else {
        format!("by policy {}", policies.join(", "))
    };
    let text = format!("access denied: `{action}` on `{resource}` ({by}, decision {seq})");
    json!({
        "class": "AccessDenied",
        "kind": "access-denied",
        "text": text,
        "json": {
            "kind": "access-denied",
            "message": text,
            "action": action,
            "resource": resource,
            "policy_ids": policies,
            "decision_id": seq,
        },
        "fields": [action, resource, policies, seq],
    })
}

fn error(class: &str, kind: &str, text: &str) -> Value {
    json!({"class": class, "kind": kind, "text": text, "json": {"kind": kind, "message": text}})
}

/// Each call's decision as the report lists it: action, resource, decision, policy ids, seq.
fn decisions(report: &Value) -> Vec<(String, String, String, Vec<String>, u64)> {
    let field = |d: &Value, k: &str| d[k].as_str().unwrap().to_owned();
    report["decisions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            let ids = d["policy_ids"].as_array().unwrap();
            (
                field(d, "action"),
                field(d, "resource"),
                field(d, "decision"),
                ids.iter().map(|p| p.as_str().unwrap().to_owned()).collect(),
                d["seq"].as_u64().unwrap(),
            )
        })
        .collect()
}

/// Every refusal and error the agent caught is described exactly as the report decided it; the
/// file it may not write is unchanged; an uncaught (Rust: returned) denial ends the run with
/// the SDK's typed error, naming the policy.
fn assert_errors(name: &str) {
    let sc = Scratch::new();
    let (j, code) = run(&sc, name, "null");
    assert_eq!(
        (code, &j["status"]),
        (0, &json!("denied-and-handled")),
        "{j}"
    );
    let d = decisions(&j);
    let expected: Vec<(&str, &str, &str, Vec<&str>)> = vec![
        ("fs:write", HELLO, "deny", vec!["hello-is-read-only"]),
        ("fs:read", SECRET, "deny", vec![]),
        ("http:send", UPLOAD, "deny", vec!["no-posts"]),
        ("http:send", UPLOAD, "deny", vec!["no-posts"]),
        ("fs:read", MISSING, "allow", vec!["read-public"]),
    ];
    assert_eq!(
        d.len(),
        expected.len(),
        "the `..` path is refused before any decision: {j}"
    );
    for (got, want) in d.iter().zip(&expected) {
        assert_eq!(
            (got.0.as_str(), got.1.as_str(), got.2.as_str()),
            (want.0, want.1, want.2),
            "{j}"
        );
        assert_eq!(got.3, want.3, "{j}");
    }
    let seq = |i: usize| d[i].4;
    let out = &j["output"];
    let want = json!({
        "write-forbidden": denial("fs:write", HELLO, &["hello-is-read-only"], seq(0)),
        "read-not-permitted": denial("fs:read", SECRET, &[], seq(1)),
        "post-positional": denial("http:send", UPLOAD, &["no-posts"], seq(2)),
        "post-request": denial("http:send", UPLOAD, &["no-posts"], seq(3)),
        "read-missing": error("NotFound", "not-found", "not found: `/public/missing.txt` does not exist"),
        "path-escapes": error("Invalid", "invalid", "invalid: path `../outside.txt` contains `..`, which is not allowed"),
    });
    for (case, expected) in want.as_object().unwrap() {
        assert_eq!(&out[case], expected, "{name}, case `{case}`");
    }
    assert_eq!(out, &want, "{name}: no other case");
    let hello = std::fs::read_to_string(sc.path("root/hello.txt")).unwrap();
    assert_eq!(hello, "Hello from the Cordon root!\n");

    // Not caught: the SDK hands the denial to the host as the run's typed error.
    let (j, code) = run(&sc, name, r#"{"uncaught": true}"#);
    assert_eq!((code, &j["status"]), (1, &json!("error")), "{j}");
    let seq = decisions(&j)[0].4;
    assert_eq!(
        j["error"],
        json!({
            "kind": "access-denied",
            "message": format!("fs:write on {HELLO} denied (decision {seq})"),
            "policy_ids": ["hello-is-read-only"],
        }),
        "{j}"
    );
}

#[test]
#[ignore = "needs build/guests: scripts/build-guests.sh"]
fn rust_sdk_errors_show_the_agent_what_the_policy_decided() {
    assert_errors("errors");
}

#[test]
#[ignore = "needs build/guests: scripts/build-guests.sh"]
fn python_sdk_errors_show_the_agent_what_the_policy_decided() {
    assert_errors("python-errors");
}

#[test]
#[ignore = "needs build/guests: scripts/build-guests.sh"]
fn javascript_sdk_errors_show_the_agent_what_the_policy_decided() {
    assert_errors("js-errors");
}
