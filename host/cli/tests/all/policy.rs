//! `cordon policy`: checking bundles.

use crate::support::{Scratch, s};

#[test]
fn check_prints_ids_and_digest_of_a_valid_bundle() {
    let sc = Scratch::new();
    let p = sc.file(
        "b/a.cedar",
        r#"@id("one") permit(principal, action, resource);"#,
    );
    let r = sc.cordon(&["policy", "check", s(p.parent().unwrap())]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let j = r.json();
    assert_eq!(j["policies"], serde_json::json!(["one"]));
    assert_eq!(j["digest"].as_str().unwrap().len(), 64);
}

#[test]
fn check_rejects_an_invalid_bundle_with_exit_two() {
    let sc = Scratch::new();
    let p = sc.file(
        "bad.cedar",
        r#"permit(principal, action, resource) when { context.purpos == "x" };"#,
    );
    let r = sc.cordon(&["policy", "check", s(&p)]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("purpos"), "{}", r.stderr);
}

#[test]
fn schema_prints_the_cedar_text_and_with_json_the_form_the_host_parses() {
    let sc = Scratch::new();
    let text = sc.cordon(&["policy", "schema"]);
    assert_eq!(text.code, 0, "{}", text.stderr);
    assert!(text.stdout.contains("namespace Cordon"), "{}", text.stdout);
    let json = sc.cordon(&["policy", "schema", "--json"]);
    assert_eq!(json.code, 0, "{}", json.stderr);
    let j = json.json();
    assert!(j["Cordon"]["entityTypes"]["File"].is_object(), "{j}");
    assert!(j["Cordon"]["actions"]["fs:read"].is_object(), "{j}");
}

/// Rex's quick-start policy (its README).
const REX_QUICK_START: &str = r#"
permit(principal, action in [file_system::Action::"open"], resource)
when { resource == file_system::Dir::"/tmp" || resource == file_system::Dir::"/private/tmp" };
permit(
    principal,
    action in [file_system::Action::"open", file_system::Action::"read",
               file_system::Action::"write", file_system::Action::"create"],
    resource
) when {
    resource == file_system::File::"/tmp/rex-hello-world" ||
    resource == file_system::File::"/private/tmp/rex-hello-world"
};
"#;

#[test]
fn from_rex_writes_a_cordon_bundle_that_checks_and_reports_what_it_could_not_map() {
    let sc = Scratch::new();
    let rex = sc.file("rex.cedar", REX_QUICK_START);
    let out = sc.path("cordon.cedar");
    let r = sc.cordon(&["policy", "from-rex", s(&rex), s(&out), "--rex-root", "/tmp"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stderr.contains("2 policies kept"), "{}", r.stderr);
    assert!(
        r.stderr
            .contains("`file_system::Dir::\"/private/tmp\"` is outside the rex root `/tmp`"),
        "{}",
        r.stderr
    );
    let text = std::fs::read_to_string(&out).unwrap();
    assert!(
        text.contains(r#"Cordon::File::"/rex-hello-world""#),
        "{text}"
    );
    let check = sc.cordon(&["policy", "check", s(&out)]);
    assert_eq!(check.code, 0, "{}", check.stderr);
    assert_eq!(
        check.json()["policies"],
        serde_json::json!(["policy0", "policy1"])
    );
}

#[test]
fn from_rex_refuses_a_relative_root_and_text_that_is_not_cedar() {
    let sc = Scratch::new();
    let rex = sc.file("rex.cedar", REX_QUICK_START);
    let r = sc.cordon(&["policy", "from-rex", s(&rex), "-", "--rex-root", "tmp"]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("`tmp` is not an absolute"),
        "{}",
        r.stderr
    );
    let bad = sc.file("bad.cedar", "permit(");
    let r = sc.cordon(&["policy", "from-rex", s(&bad), "-"]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("does not parse"), "{}", r.stderr);
}

#[test]
fn a_rex_policy_given_to_run_without_a_root_is_refused_with_what_to_add() {
    let sc = Scratch::new();
    let rex = sc.file("rex.cedar", REX_QUICK_START);
    let script = sc.file("s.rhai", "cat(\"/tmp/x\")");
    let r = sc.cordon(&["run", s(&script), "--policy", s(&rex)]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("--rex-root DIR"), "{}", r.stderr);
}

#[test]
fn a_reader_closing_the_pipe_early_ends_the_command_quietly_not_with_a_panic() {
    use std::process::{Command, Stdio};
    let sc = Scratch::new();
    let mut child = Command::new(env!("CARGO_BIN_EXE_cordon"))
        .current_dir(sc.path(""))
        .args(["policy", "schema", "--json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // `| head -0`: the reader goes away before cordon writes.
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(stderr.is_empty(), "{stderr}");
    assert_eq!(out.status.code(), Some(0), "{stderr}");
}

#[test]
fn check_warns_of_a_policy_that_can_never_match_as_written() {
    let sc = Scratch::new();
    let p = sc.file(
        "docs.cedar",
        r#"@id("docs") permit(principal, action, resource in Cordon::Dir::"docs");"#,
    );
    let r = sc.cordon(&["policy", "check", s(&p)]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("warning: policy `docs`: `Cordon::Dir::\"docs\"` can never match"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("such as `/docs`"), "{}", r.stderr);
    assert_eq!(r.json()["warnings"].as_array().unwrap().len(), 1);
}

/// `text` contains `needle`, or the test fails showing both.
fn shows(text: &str, needle: &str) {
    assert!(text.contains(needle), "{needle:?} is not in:\n{text}");
}

/// A bundle that reads `/docs` and never `/docs/private`, and cases for it.
fn docs_bundle_and_cases(
    sc: &Scratch,
    second_decision: &str,
) -> (std::path::PathBuf, std::path::PathBuf) {
    let bundle = sc.file(
        "bundle/docs.cedar",
        r#"@id("read-docs") permit(principal, action == Cordon::Action::"fs:read", resource in Cordon::Dir::"/docs");
           @id("private") forbid(principal, action, resource in Cordon::Dir::"/docs/private");"#,
    );
    let cases = sc.file(
        "tests/docs.json",
        format!(
            r#"{{
  "policies": "../bundle",
  "principal": {{ "tenant": "acme", "digest": "0a" }},
  "context": {{ "purpose": "p", "engagement": "e" }},
  "cases": [
    {{ "name": "a doc is read",
       "request": {{ "action": "fs:read", "resource": {{ "file": "/docs/a.md" }} }},
       "decision": "allow", "policy_ids": ["read-docs"] }},
    {{ "name": "a private doc is not read",
       "request": {{ "action": "fs:read", "resource": {{ "file": "/docs/private/b.md" }} }},
       "decision": "{second_decision}", "policy_ids": ["private"] }}
  ]
}}"#
        ),
    );
    (bundle.parent().unwrap().to_owned(), cases)
}

#[test]
fn test_passes_every_case_and_exits_zero() {
    let sc = Scratch::new();
    let (bundle, cases) = docs_bundle_and_cases(&sc, "deny");
    let r = sc.cordon(&["policy", "test", s(&bundle), s(&cases)]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    shows(&r.stdout, "pass  a doc is read: allow by `read-docs`\n");
    shows(
        &r.stdout,
        "pass  a private doc is not read: deny by `private`\n",
    );
    shows(&r.stdout, "2 of 2 cases passed, 0 failed");
}

#[test]
fn test_exits_one_showing_what_a_failing_case_expected_and_got() {
    let sc = Scratch::new();
    let (bundle, cases) = docs_bundle_and_cases(&sc, "allow");
    let r = sc.cordon(&["policy", "test", s(&bundle), s(&cases)]);
    assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
    shows(
        &r.stdout,
        "FAIL  a private doc is not read: expected allow by `private`, got deny by `private`\n",
    );
    shows(&r.stdout, "pass  a doc is read");
    shows(&r.stdout, "1 of 2 cases passed, 1 failed");
}

#[test]
fn test_with_json_reports_the_counts_and_every_outcome() {
    let sc = Scratch::new();
    let (bundle, cases) = docs_bundle_and_cases(&sc, "allow");
    let r = sc.cordon(&["policy", "test", s(&bundle), s(&cases), "--json"]);
    assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
    let j = r.json();
    assert_eq!(
        (j["passed"].as_u64(), j["failed"].as_u64()),
        (Some(1), Some(1))
    );
    assert_eq!(j["digest"].as_str().unwrap().len(), 64);
    let failed = &j["outcomes"][1];
    assert_eq!(failed["passed"], false);
    assert_eq!(failed["expected"], "allow");
    assert_eq!(failed["got"], "deny");
    assert_eq!(failed["got_policy_ids"], serde_json::json!(["private"]));
}

#[test]
fn test_finds_the_policies_beside_the_cases_file_and_a_dir_given_replaces_them() {
    let sc = Scratch::new();
    let (_, cases) = docs_bundle_and_cases(&sc, "deny");
    // From another directory: `policies` is relative to the cases file, not to the caller.
    let r = sc.cordon(&["policy", "test", s(&cases)]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    shows(&r.stdout, "2 of 2 cases passed, 0 failed");
    // A bundle named on the command line is the one tested.
    let open = sc.file(
        "open.cedar",
        r#"@id("read-docs") permit(principal, action, resource);"#,
    );
    let r = sc.cordon(&["policy", "test", s(&open), s(&cases)]);
    assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
    shows(
        &r.stdout,
        "expected deny by `private`, got allow by `read-docs`",
    );
}

#[test]
fn test_exits_two_naming_the_case_and_field_of_a_malformed_cases_file() {
    let sc = Scratch::new();
    let (bundle, cases) = docs_bundle_and_cases(&sc, "deny");
    let text = std::fs::read_to_string(&cases).unwrap();
    let bad = sc.file(
        "tests/bad.json",
        text.replacen("\"decision\": \"deny\"", "\"decison\": \"deny\"", 1),
    );
    let r = sc.cordon(&["policy", "test", s(&bundle), s(&bad)]);
    assert_eq!(r.code, 2, "{}\n{}", r.stdout, r.stderr);
    shows(
        &r.stderr,
        "case 2 (`a private doc is not read`): unknown field `decison`",
    );
    shows(&r.stderr, "bad.json");
    assert!(r.stdout.is_empty(), "{}", r.stdout);
}

#[test]
fn test_exits_two_for_a_policy_directory_that_does_not_exist() {
    let sc = Scratch::new();
    let (_, cases) = docs_bundle_and_cases(&sc, "deny");
    let r = sc.cordon(&["policy", "test", "no-such-dir", s(&cases)]);
    assert_eq!(r.code, 2, "{}\n{}", r.stdout, r.stderr);
    shows(&r.stderr, "`no-such-dir`");
    let r = sc.cordon(&["policy", "test", "no-such-cases.json"]);
    assert_eq!(r.code, 2, "{}\n{}", r.stdout, r.stderr);
    shows(&r.stderr, "no-such-cases.json");
}

#[test]
fn every_shipped_decision_case_file_passes_through_the_cli() {
    let sc = Scratch::new();
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../policies/tests");
    let mut n = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "json") {
            let r = sc.cordon(&["policy", "test", s(&path)]);
            assert_eq!(r.code, 0, "{}: {}\n{}", path.display(), r.stdout, r.stderr);
            assert!(!r.stdout.contains("FAIL"), "{}", r.stdout);
            assert!(r.stderr.is_empty(), "{}: {}", path.display(), r.stderr);
            n += 1;
        }
    }
    assert!(n >= 5, "expected the shipped case files in {dir}");
}

#[test]
fn test_help_teaches_the_case_format_and_exit_codes() {
    let sc = Scratch::new();
    let r = sc.cordon(&["policy", "test", "--help"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    for needle in [
        "Usage: cordon policy test [OPTIONS] [DIR] <CASES.json>",
        r#""policy_ids": ["read-docs"]"#,
        "relative to the cases file",
        "1 when any fails",
    ] {
        shows(&r.stdout, needle);
    }
}

#[test]
fn check_warns_of_an_unknown_attribute_and_a_permit_a_forbid_always_overrides() {
    let sc = Scratch::new();
    let p = sc.file(
        "b.cedar",
        r#"@id("owned") permit(principal, action == Cordon::Action::"fs:read", resource)
             when { resource has owner || resource.path like "/shared/*" };
           @id("read-secrets") permit(principal, action == Cordon::Action::"fs:read", resource in Cordon::Dir::"/secrets");
           @id("no-secrets") forbid(principal, action, resource in Cordon::Dir::"/secrets");"#,
    );
    let r = sc.cordon(&["policy", "check", s(&p)]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    shows(
        &r.stderr,
        "warning: policy `owned`: `resource has owner` is always false: the schema declares \
             `owner` for none of `File`",
    );
    shows(
        &r.stderr,
        "warning: policy `read-secrets`: this permit can never allow anything: forbid \
             `no-secrets` has no conditions",
    );
    assert_eq!(r.json()["warnings"].as_array().unwrap().len(), 2);
}
