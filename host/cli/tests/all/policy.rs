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
