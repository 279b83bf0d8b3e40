//! `cordon audit` on the decision log: the source of a source run, by digest.

use cordon_audit::{AuditLog, Decision, DecisionLog, Entry};

use crate::support::Scratch;

/// Python source with what a byte-exact reprint must keep: unicode, tabs, no final newline.
const PY: &str = "def main(input):\n\treturn {'greeting': 'grüß dich'}  # ✓";

/// A data directory whose log holds one decision of a source run of `PY`; its digest.
fn log_with_a_source_run(sc: &Scratch) -> String {
    std::fs::create_dir_all(sc.path("cordon-data")).unwrap();
    let log = AuditLog::open_in(&sc.path("cordon-data")).unwrap();
    let code = log.put_source("python", PY).unwrap();
    log.append(&Entry {
        tenant: "local".into(),
        run_id: "run-1".into(),
        component_digest: "a".repeat(64),
        policy_digest: "b".repeat(64),
        agent: "local/python".into(),
        user: None,
        purpose: "test".into(),
        engagement: "e-1".into(),
        action: "fs:read".into(),
        resource: "fs/a.txt".into(),
        decision: Decision::Allow,
        policy_ids: vec!["allow-read".into()],
        records: None,
        taint: None,
        roles: Vec::new(),
        code: Some(code.clone()),
    })
    .unwrap();
    log.close().unwrap();
    code.digest
}

#[test]
fn audit_source_prints_back_the_exact_source_of_a_run() {
    let sc = Scratch::new();
    let digest = log_with_a_source_run(&sc);

    let ran = sc.cordon(&["audit", "source", &digest]);
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    assert_eq!(ran.stdout, PY);

    let json = sc.cordon(&["audit", "source", &digest, "--json"]).json();
    assert_eq!(json, serde_json::json!({"digest": digest, "code": PY}));

    // The decisions name it, and are found by it.
    let found = sc
        .cordon(&["audit", "query", "--code-digest", &digest])
        .json();
    assert_eq!(found.as_array().unwrap().len(), 1);
    assert_eq!(
        found[0]["code"],
        serde_json::json!({"language": "python", "digest": digest})
    );
    let verified = sc.cordon(&["audit", "verify"]);
    assert_eq!(verified.code, 0, "{}", verified.stdout);
    assert_eq!(verified.json()["report"]["source_entries"], 1);
}

#[test]
fn audit_source_fails_clearly_for_an_unknown_or_malformed_digest() {
    let sc = Scratch::new();
    let digest = log_with_a_source_run(&sc);
    let unknown = "0".repeat(64);
    let ran = sc.cordon(&["audit", "source", &unknown]);
    assert_eq!(ran.code, 1);
    assert!(ran.stdout.is_empty());
    assert!(
        ran.stderr.contains(&format!("no source `{unknown}`")),
        "{}",
        ran.stderr
    );
    let malformed = sc.cordon(&["audit", "source", &digest.to_uppercase()]);
    assert_eq!(malformed.code, 2);
    assert!(
        malformed.stderr.contains("not a source digest"),
        "{}",
        malformed.stderr
    );
}
