//! `cordon run`: the JSON report, exit codes, and clear errors for bad input.

use crate::support::{Scratch, s};

const ALLOW_ALL: &str = r#"@id("allow-all") permit(principal, action, resource);"#;
const READ_42: &str = r#"@id("read-42") permit(principal, action == Cordon::Action::"fs:read", resource == Cordon::File::"/42");"#;

#[test]
fn prints_a_json_report_and_exits_zero_on_success() {
    let sc = Scratch::new();
    let guest = sc.file("echo.wasm", cordon_testkit::echo_guest().unwrap());
    let policy = sc.file("p.cedar", ALLOW_ALL);
    let r = sc.cordon(&[
        "run",
        s(&guest),
        "--policy",
        s(&policy),
        "--input",
        r#"{"n": 1}"#,
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let j = r.json();
    assert_eq!(j["status"], "ok");
    assert_eq!(j["output"], serde_json::json!({"n": 1}));
    assert_eq!(j["component_digest"].as_str().unwrap().len(), 64);
    assert!(j["fuel_used"].as_u64().unwrap() > 0);
    assert!(j["wall_ms"].as_f64().is_some());
    assert!(
        sc.path("cordon-data/audit.redb").exists(),
        "the default data dir holds the log"
    );
}

#[test]
fn an_allowed_and_a_denied_read_are_reported_with_their_policies() {
    let sc = Scratch::new();
    // The test guest uses its (JSON) input as the path: the inputs `42` and `7` name the
    // files `/42` and `/7`.
    sc.file("root/42", "public data");
    sc.file("root/7", "secret data");
    let guest = sc.file("read.wasm", cordon_testkit::read_guest().unwrap());
    let policy = sc.file("p.cedar", READ_42);
    let root = sc.path("root");
    let run = |input: &str| {
        sc.cordon(&[
            "run",
            s(&guest),
            "-p",
            s(&policy),
            "--root",
            s(&root),
            "--input",
            input,
        ])
    };

    let denied = run("7");
    assert_eq!(
        denied.code, 1,
        "the guest returns the denial as its error: {}",
        denied.stdout
    );
    let j = denied.json();
    assert_eq!(j["status"], "error");
    assert_eq!(j["error"]["kind"], "access-denied");
    assert_eq!(j["decisions"][0]["decision"], "deny");
    assert_eq!(j["decisions"][0]["resource"], r#"Cordon::File::"/7""#);
    assert!(!denied.stdout.contains("secret data"));

    let allowed = run("42");
    assert_eq!(allowed.code, 0, "{}", allowed.stdout);
    let j = allowed.json();
    assert_eq!(j["output"], "public data");
    assert_eq!(j["decisions"][0]["decision"], "allow");
    assert_eq!(
        j["decisions"][0]["policy_ids"],
        serde_json::json!(["read-42"])
    );
    // Both runs' decisions are in the one log, chained.
    assert_eq!(j["audit"]["last_seq"].as_u64(), Some(1));
}

#[test]
fn input_that_is_not_json_is_refused_before_running() {
    let sc = Scratch::new();
    let guest = sc.file("echo.wasm", cordon_testkit::echo_guest().unwrap());
    let policy = sc.file("p.cedar", ALLOW_ALL);
    let r = sc.cordon(&["run", s(&guest), "-p", s(&policy), "--input", "{not json"]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("not valid JSON"), "{}", r.stderr);
    assert!(
        !sc.path("cordon-data").exists(),
        "nothing ran, nothing was created"
    );
}

#[test]
fn a_limit_exits_one_and_names_the_limit() {
    let sc = Scratch::new();
    let guest = sc.file("spin.wasm", cordon_testkit::spin_guest().unwrap());
    let policy = sc.file("p.cedar", ALLOW_ALL);
    let r = sc.cordon(&["run", s(&guest), "-p", s(&policy), "--fuel", "100000"]);
    assert_eq!(r.code, 1);
    let j = r.json();
    assert_eq!(j["status"], "limit-exceeded");
    assert_eq!(j["limit"], "fuel");
    let r = sc.cordon(&[
        "run",
        s(&guest),
        "-p",
        s(&policy),
        "--timeout",
        "50",
        "--fuel",
        "1000000000000",
    ]);
    assert_eq!(r.json()["limit"], "timeout");
}

#[test]
fn a_policy_typo_is_refused_naming_it() {
    let sc = Scratch::new();
    let guest = sc.file("echo.wasm", cordon_testkit::echo_guest().unwrap());
    let policy = sc.file(
        "p.cedar",
        r#"permit(principal, action == Cordon::Action::"fs:raed", resource);"#,
    );
    let r = sc.cordon(&["run", s(&guest), "-p", s(&policy)]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("fs:raed"), "{}", r.stderr);
    assert!(r.stdout.is_empty());
}

#[test]
fn a_malformed_component_is_refused_with_a_clear_message() {
    let sc = Scratch::new();
    let policy = sc.file("p.cedar", ALLOW_ALL);
    let junk = sc.file("junk.wasm", b"this is not wasm\xff");
    let r = sc.cordon(&["run", s(&junk), "-p", s(&policy)]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("not a WebAssembly file"), "{}", r.stderr);
    let module = sc.file("core.wasm", cordon_testkit::core_module().unwrap());
    let r = sc.cordon(&["run", s(&module), "-p", s(&policy)]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("wasm-tools component new"),
        "{}",
        r.stderr
    );
    let r = sc.cordon(&["run", "missing.wasm", "-p", s(&policy)]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("missing.wasm"), "{}", r.stderr);
}

#[test]
fn limits_out_of_bounds_are_refused() {
    let sc = Scratch::new();
    let guest = sc.file("echo.wasm", cordon_testkit::echo_guest().unwrap());
    let policy = sc.file("p.cedar", ALLOW_ALL);
    let r = sc.cordon(&["run", s(&guest), "-p", s(&policy), "--memory", "1K"]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("memory_bytes"), "{}", r.stderr);
}

#[test]
fn the_user_roles_purpose_and_engagement_reach_the_policy() {
    let sc = Scratch::new();
    sc.file("root/\"a.txt\"", "a");
    let guest = sc.file("read.wasm", cordon_testkit::read_guest().unwrap());
    let policy = sc.file(
        "p.cedar",
        r#"@id("analysts") permit(principal, action, resource) when {
             principal has human && principal.human in Cordon::Role::"analyst"
             && context.purpose == "audit" && context.engagement == "E-1" };"#,
    );
    let root = sc.path("root");
    let base = [
        "run",
        s(&guest),
        "-p",
        s(&policy),
        "--root",
        s(&root),
        "--input",
        r#""a.txt""#,
    ];
    let with = |extra: &[&str]| {
        let mut args: Vec<&str> = base.to_vec();
        args.extend_from_slice(extra);
        sc.cordon(&args).json()["decisions"][0]["decision"].clone()
    };
    assert_eq!(
        with(&[
            "--user",
            "ann",
            "--role",
            "analyst",
            "--purpose",
            "audit",
            "--engagement",
            "E-1"
        ]),
        "allow"
    );
    assert_eq!(
        with(&[
            "--user",
            "ann",
            "--role",
            "intern",
            "--purpose",
            "audit",
            "--engagement",
            "E-1"
        ]),
        "deny"
    );
    assert_eq!(
        with(&[
            "--user",
            "ann",
            "--role",
            "analyst",
            "--purpose",
            "sales",
            "--engagement",
            "E-1"
        ]),
        "deny"
    );
    assert_eq!(with(&["--purpose", "audit", "--engagement", "E-1"]), "deny");
}

#[test]
fn help_teaches_the_flags_and_exit_codes() {
    let sc = Scratch::new();
    let r = sc.cordon(&["run", "--help"]);
    assert_eq!(r.code, 0);
    for needle in [
        "--policy",
        "--root",
        "--purpose",
        "--fuel",
        "Exit status",
        "Example",
    ] {
        assert!(r.stdout.contains(needle), "missing {needle}: {}", r.stdout);
    }
}

#[test]
fn an_egress_refusal_names_the_flag_that_allows_the_range_and_keeps_its_policy_id() {
    let sc = Scratch::new();
    let guest = sc.file(
        "get.wasm",
        cordon_testkit::http_send_to_guest("GET", "http://127.0.0.1:9/").unwrap(),
    );
    let policy = sc.file("p.cedar", ALLOW_ALL);
    let r = sc.cordon(&["run", s(&guest), "--policy", s(&policy)]);
    assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
    let j = r.json();
    // The log entry: allowed by the policy, then refused by the guard under its own id.
    assert_eq!(
        j["decisions"][0]["policy_ids"],
        serde_json::json!(["allow-all"])
    );
    assert_eq!(j["decisions"][1]["decision"], "deny");
    assert_eq!(
        j["decisions"][1]["policy_ids"],
        serde_json::json!(["cordon:egress"])
    );
    // What the guest got back, as the report shows it: the flag and the config key.
    assert_eq!(j["error"]["kind"], "access-denied");
    assert_eq!(
        j["error"]["policy_ids"],
        serde_json::json!(["cordon:egress"])
    );
    let message = j["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("`cordon run --allow-egress-range CIDR`"),
        "{message}"
    );
    assert!(message.contains(r#""allow_ranges""#), "{message}");
    // And the operator, on stderr.
    assert!(
        r.stderr
            .contains("allow its range with --allow-egress-range CIDR"),
        "{}",
        r.stderr
    );
}
