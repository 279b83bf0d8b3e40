//! `cordon records` and `cordon run --region` with a records store.

use cordon_testkit::{RecordsCall, records_guest};

use crate::support::{Scratch, s};

const PATIENTS: &str = r#"{"name": "patients", "levels": ["public", "internal", "confidential", "restricted"],
  "fields": [{"name": "name", "category": "identifier"}, {"name": "diagnosis", "category": "health"},
             {"name": "balance", "category": "financial"}]}"#;

const ROWS: &str = r#"{"id": "p1", "subject": "ada", "classification": "confidential", "jurisdiction": "EU", "consent": ["treatment", "billing"], "fields": {"name": "Ada", "diagnosis": "asthma", "balance": "120"}}
{"id": "p2", "subject": "bob", "classification": "internal", "jurisdiction": "EU", "consent": ["treatment", "billing"], "fields": {"name": "Bob", "diagnosis": "flu", "balance": "0"}}
"#;

fn healthcare() -> String {
    format!(
        "{}/../../policies/examples/healthcare.cedar",
        env!("CARGO_MANIFEST_DIR")
    )
}

fn setup() -> Scratch {
    let sc = Scratch::new();
    let def = sc.file("patients.json", PATIENTS);
    let rows = sc.file("patients.jsonl", ROWS);
    let r = sc.cordon(&["records", "define", s(&def)]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let r = sc.cordon(&["records", "import", "patients", s(&rows)]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.json()["inserted"], 2);
    let guest = records_guest(
        RecordsCall::Query { limit: 0 },
        "patients",
        &["name", "diagnosis", "balance"],
    )
    .unwrap();
    sc.file("reader.wasm", guest);
    sc
}

fn read_as(sc: &Scratch, role: &str, purpose: &str) -> String {
    let policy = healthcare();
    let wasm = sc.path("reader.wasm");
    let r = sc.cordon(&[
        "run",
        s(&wasm),
        "--policy",
        &policy,
        "--user",
        "u-1",
        "--role",
        role,
        "--purpose",
        purpose,
        "--region",
        "eu-west",
    ]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    r.json()["output"].as_str().unwrap().to_owned()
}

#[test]
fn the_same_agent_sees_different_fields_for_two_purposes() {
    let sc = setup();
    assert_eq!(
        read_as(&sc, "clinician", "treatment"),
        "p1:Ada,asthma,;p2:Bob,flu,;#|balance,"
    );
    assert_eq!(
        read_as(&sc, "billing", "billing"),
        "p1:Ada,120,;p2:Bob,0,;#|diagnosis,"
    );
}

#[test]
fn an_erased_subject_disappears_and_a_held_record_survives_erasure() {
    let sc = setup();
    let r = sc.cordon(&["records", "hold", "patients", "p2", "litigation-7"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let r = sc.cordon(&["records", "erase", "ada"]);
    assert_eq!(r.json()["erased"], 1);
    let r = sc.cordon(&["records", "erase", "bob"]);
    let report = r.json();
    assert_eq!(report["erased"], 0);
    assert_eq!(
        report["refused"][0]["reason"],
        "under legal hold `litigation-7`"
    );
    // Neither is served: ada is gone, bob's record is kept for the hold only.
    assert_eq!(read_as(&sc, "clinician", "treatment"), "#|balance,");
    let r = sc.cordon(&["records", "release", "patients", "p2", "litigation-7"]);
    assert_eq!(r.json()["erased"], true);
    let log = sc.cordon(&["records", "log"]).json();
    let actions: Vec<&str> = log
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        ["define", "import", "hold", "erase", "erase", "release"]
    );
    // The same six actions, and the run's one read, are in the decision log, which verifies.
    let verify = sc.cordon(&["audit", "verify"]);
    assert_eq!(verify.code, 0, "{}\n{}", verify.stdout, verify.stderr);
    assert!(
        verify.stdout.contains("\"entries\": 7"),
        "{}",
        verify.stdout
    );
}

#[test]
fn a_bad_import_names_every_bad_line_and_imports_nothing() {
    let sc = setup();
    let bad = sc.file(
        "bad.jsonl",
        "{\"id\": \"p9\", \"subject\": \"x\", \"classification\": \"public\"}\n{oops\n{\"id\": \"p8\", \"subject\": \"y\", \"classification\": \"top-secret\"}\n",
    );
    let r = sc.cordon(&["records", "import", "patients", s(&bad)]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("2 bad line(s)"), "{}", r.stderr);
    assert!(r.stderr.contains("line 2:"), "{}", r.stderr);
    assert!(
        r.stderr
            .contains("line 3: unknown classification `top-secret`"),
        "{}",
        r.stderr
    );
    assert_eq!(
        read_as(&sc, "clinician", "treatment"),
        "p1:Ada,asthma,;p2:Bob,flu,;#|balance,"
    );
}

#[test]
fn audit_query_says_who_read_a_record_in_which_role_for_what_purpose() {
    let sc = setup();
    read_as(&sc, "clinician", "treatment");
    let found = sc
        .cordon(&["audit", "query", "--record", "patients/p1"])
        .json();
    let reads: Vec<&serde_json::Value> = found
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "records:read")
        .collect();
    assert_eq!(reads.len(), 1, "{found}");
    assert_eq!(reads[0]["user"], "u-1");
    assert_eq!(reads[0]["roles"], serde_json::json!(["clinician"]));
    assert_eq!(reads[0]["purpose"], "treatment");
    assert_eq!(reads[0]["record_ids"], serde_json::json!(["p1"]));
}

#[test]
fn a_retention_sweep_is_logged_only_when_it_purged_something() {
    let sc = setup();
    let sweep = |sc: &Scratch| {
        let r = sc.cordon(&["records", "sweep"]);
        assert_eq!(r.code, 0, "{}", r.stderr);
        r.json()["purged"].as_u64().unwrap()
    };
    let logged_sweeps = |sc: &Scratch| {
        let all = sc.cordon(&["audit", "query"]).json();
        all.as_array()
            .unwrap()
            .iter()
            .filter(|e| e["action"] == "records:sweep")
            .count()
    };
    assert_eq!(sweep(&sc), 0);
    assert_eq!(
        logged_sweeps(&sc),
        0,
        "a sweep that purged nothing was logged"
    );
    let expired = sc.file(
        "expired.jsonl",
        r#"{"id": "old1", "subject": "zed", "classification": "public", "retain_until": 1, "fields": {"name": "Zed"}}
"#,
    );
    let r = sc.cordon(&["records", "import", "patients", s(&expired)]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(sweep(&sc), 1);
    assert_eq!(logged_sweeps(&sc), 1);
    assert_eq!(sweep(&sc), 0);
    assert_eq!(logged_sweeps(&sc), 1);
}

#[test]
fn erasing_a_subject_erases_the_stored_source_that_named_their_record() {
    let sc = setup();
    // A source run's text, as the log keeps it, naming record `p1` (ada's) and another not.
    let names = "from cordon_guest import records\ndef main(input):\n    return records.get('patients', 'p1')\n";
    let other = "def main(input):\n    return 'p10'\n";
    let log = cordon_audit::AuditLog::open_in(&sc.path("cordon-data")).unwrap();
    let named = log.put_source("python", names).unwrap().digest;
    let kept = log.put_source("python", other).unwrap().digest;
    log.close().unwrap();

    let r = sc.cordon(&["records", "erase", "ada"]);
    assert_eq!(r.code, 0, "{}", r.stderr);

    let r = sc.cordon(&["audit", "source", &named]);
    assert_eq!(r.code, 1);
    assert!(r.stdout.is_empty());
    assert!(r.stderr.contains("was erased"), "{}", r.stderr);
    let r = sc.cordon(&["audit", "source", &kept]);
    assert_eq!((r.code, r.stdout.as_str()), (0, other));
    let r = sc.cordon(&["audit", "verify"]);
    assert_eq!(r.code, 0, "{}", r.stdout);
    assert_eq!(r.json()["report"]["erased_sources"], 1);
}

#[test]
fn a_records_run_without_a_purpose_is_told_why_it_may_see_nothing() {
    let sc = setup();
    let policy = healthcare();
    let wasm = sc.path("reader.wasm");
    let args = |purpose: Option<&str>| {
        let mut a = vec![
            "run",
            s(&wasm),
            "--policy",
            &policy,
            "--user",
            "u-1",
            "--role",
            "clinician",
            "--region",
            "eu-west",
        ];
        if let Some(p) = purpose {
            a.extend(["--purpose", p]);
        }
        sc.cordon(&a)
    };
    let r = args(None);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert!(r.stderr.contains("without --purpose"), "{}", r.stderr);
    let r = args(Some("treatment"));
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert!(!r.stderr.contains("--purpose"), "{}", r.stderr);
}

#[test]
fn a_records_run_with_no_records_store_is_told_where_one_was_looked_for() {
    let sc = Scratch::new();
    let guest = records_guest(RecordsCall::Query { limit: 0 }, "patients", &["name"]).unwrap();
    let wasm = sc.file("reader.wasm", guest);
    let policy = healthcare();
    let r = sc.cordon(&[
        "run",
        s(&wasm),
        "--policy",
        &policy,
        "--purpose",
        "treatment",
    ]);
    assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
    assert_eq!(r.json()["error"]["kind"], "unsupported", "{}", r.stdout);
    assert!(
        r.stderr
            .contains("no records store at `cordon-data/records.redb`"),
        "{}",
        r.stderr
    );
}
