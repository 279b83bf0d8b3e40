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
