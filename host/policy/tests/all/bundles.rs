//! Loading bundles: validated at load, errors that name what is wrong.

use cordon_policy::{BundleError, PolicyBundle};

fn load(text: &str) -> Result<PolicyBundle, BundleError> {
    PolicyBundle::from_sources([("test.cedar", text)])
}

#[test]
fn rejects_a_misspelt_action_naming_it() {
    let err =
        load(r#"permit(principal, action == Cordon::Action::"fs:raed", resource);"#).unwrap_err();
    assert!(matches!(err, BundleError::Invalid(_)), "{err:?}");
    assert!(err.to_string().contains("fs:raed"), "{err}");
}

#[test]
fn rejects_a_misspelt_attribute_naming_it() {
    let err = load(
        r#"permit(principal, action == Cordon::Action::"fs:read", resource) when { context.purpos == "x" };"#,
    )
    .unwrap_err();
    assert!(matches!(err, BundleError::Invalid(_)), "{err:?}");
    assert!(err.to_string().contains("purpos"), "{err}");
}

#[test]
fn rejects_an_unknown_entity_type_naming_it() {
    let err = load(r#"permit(principal, action, resource in Cordon::Folder::"/a");"#).unwrap_err();
    assert!(err.to_string().contains("Folder"), "{err}");
}

#[test]
fn rejects_an_action_on_a_resource_type_it_does_not_apply_to() {
    let err = load(
        r#"permit(principal, action == Cordon::Action::"fs:list", resource == Cordon::File::"/a");"#,
    )
    .unwrap_err();
    assert!(matches!(err, BundleError::Invalid(_)), "{err:?}");
}

#[test]
fn reports_a_syntax_error_with_file_line_and_column() {
    let err = load("permit(principal, action, resource);\npermit(principal action, resource);")
        .unwrap_err();
    let BundleError::Parse { file, message } = &err else {
        panic!("{err:?}")
    };
    assert_eq!(file, "test.cedar");
    assert!(message.contains("line 2"), "{message}");
}

#[test]
fn rejects_duplicate_policy_ids() {
    let err = load(
        r#"@id("a") permit(principal, action, resource);
           @id("a") forbid(principal, action, resource);"#,
    )
    .unwrap_err();
    assert!(
        matches!(&err, BundleError::DuplicateId(id) if id == "a"),
        "{err:?}"
    );
}

#[test]
fn rejects_an_empty_bundle() {
    let err = load("// nothing here\n").unwrap_err();
    assert!(matches!(err, BundleError::Empty(_)), "{err:?}");
    let dir = tempfile::tempdir().unwrap();
    let err = PolicyBundle::load(dir.path()).unwrap_err();
    assert!(matches!(err, BundleError::Empty(_)), "{err:?}");
}

#[test]
fn rejects_templates() {
    let err = load("permit(principal == ?principal, action, resource);").unwrap_err();
    assert!(matches!(err, BundleError::Template { .. }), "{err:?}");
}

#[test]
fn names_policies_by_annotation_or_by_file_and_position() {
    let b = load(
        r#"permit(principal, action, resource);
           @id("named") forbid(principal, action, resource is Cordon::File) when { resource.name == "x" };
           permit(principal, action == Cordon::Action::"fs:read", resource);"#,
    )
    .unwrap();
    assert_eq!(
        b.policy_ids(),
        ["test.cedar/policy0", "named", "test.cedar/policy2"]
    );
}

#[test]
fn loads_every_cedar_file_of_a_directory_in_name_order() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("b.cedar"),
        r#"@id("b") permit(principal, action, resource);"#,
    )
    .unwrap();
    std::fs::write(
        dir.path().join("a.cedar"),
        r#"@id("a") permit(principal, action, resource);"#,
    )
    .unwrap();
    std::fs::write(dir.path().join("notes.txt"), "not cedar").unwrap();
    let b = PolicyBundle::load(dir.path()).unwrap();
    assert_eq!(b.policy_ids(), ["a", "b"]);
}

#[test]
fn a_missing_path_is_an_io_error_naming_it() {
    let err = PolicyBundle::load("/no/such/policies".as_ref()).unwrap_err();
    assert!(err.to_string().contains("/no/such/policies"), "{err}");
}

#[test]
fn the_digest_depends_on_content_not_on_source_order() {
    let a = r#"@id("a") permit(principal, action, resource);"#;
    let b = r#"@id("b") permit(principal, action, resource);"#;
    let one = PolicyBundle::from_sources([("a.cedar", a), ("b.cedar", b)]).unwrap();
    let two = PolicyBundle::from_sources([("b.cedar", b), ("a.cedar", a)]).unwrap();
    let b2 = b.replace("permit", "forbid");
    let three = PolicyBundle::from_sources([("a.cedar", a), ("b.cedar", b2.as_str())]).unwrap();
    assert_eq!(one.digest(), two.digest());
    assert_ne!(one.digest(), three.digest());
    assert_eq!(one.digest().len(), 64);
}

/// Every bundle the repository ships: `policies/examples/*.cedar`, and each example agent's
/// directory (all its `.cedar` files, as `cordon run --policy examples/NAME` loads them).
fn shipped_bundles() -> Vec<std::path::PathBuf> {
    let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut bundles = Vec::new();
    for entry in std::fs::read_dir(repo.join("policies/examples")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "cedar") {
            bundles.push(path);
        }
    }
    for entry in std::fs::read_dir(repo.join("examples")).unwrap() {
        let path = entry.unwrap().path();
        let has_cedar = path.is_dir()
            && std::fs::read_dir(&path)
                .unwrap()
                .any(|f| f.unwrap().path().extension().is_some_and(|e| e == "cedar"));
        if has_cedar {
            bundles.push(path);
        }
    }
    bundles.sort();
    bundles
}

#[test]
fn every_shipped_bundle_validates_without_warnings() {
    let bundles = shipped_bundles();
    assert!(
        bundles.len() >= 10,
        "expected the shipped bundles: {bundles:?}"
    );
    for path in bundles {
        let bundle =
            PolicyBundle::load(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert!(
            bundle.warnings().is_empty(),
            "{}: {:#?}",
            path.display(),
            bundle.warnings()
        );
    }
}

#[test]
fn rejects_a_policy_that_can_never_apply() {
    let scope = load(
        r#"permit(principal, action == Cordon::Action::"fs:list", resource is Cordon::File);"#,
    )
    .unwrap_err();
    assert!(scope.to_string().contains("impossible"), "{scope}");
}

/// `policies/schema.json` is what the host parses; `policies/schema.cedarschema` is what people
/// read and edit. After an edit of the Cedar text, `CORDON_BLESS=1 cargo test -p cordon-policy
/// --test all json_schema` rewrites the JSON form.
#[test]
fn the_json_schema_says_exactly_what_the_cedar_schema_says() {
    let (fragment, _) =
        cedar_policy::SchemaFragment::from_cedarschema_str(cordon_policy::SCHEMA_TEXT).unwrap();
    let expected = fragment.to_json_value().unwrap();
    let shipped: serde_json::Value = serde_json::from_str(cordon_policy::SCHEMA_JSON).unwrap();
    if shipped != expected && std::env::var_os("CORDON_BLESS").is_some() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../policies/schema.json");
        let text = serde_json::to_string_pretty(&expected).unwrap() + "\n";
        std::fs::write(path, text).unwrap();
        return;
    }
    assert!(
        shipped == expected,
        "policies/schema.json is stale: rerun this test with CORDON_BLESS=1 to rewrite it"
    );
}

#[test]
fn policies_that_can_never_match_as_written_load_with_a_warning_naming_them() {
    let b = cordon_policy::PolicyBundle::from_sources([(
        "w.cedar",
        r#"@id("relative-dir") permit(principal, action, resource in Cordon::Dir::"docs");
           @id("dotted") permit(principal, action, resource == Cordon::File::"/a/./b.txt");
           @id("pattern") permit(principal, action, resource) when { resource is Cordon::File && resource.path like "logs/*" };
           @id("method") permit(principal, action == Cordon::Action::"http:send", resource) when { context.method == "post" };
           @id("fine") permit(principal, action, resource in Cordon::Dir::"/docs") when { context has code };
           @id("fine-http") permit(principal, action == Cordon::Action::"http:send", resource) when { context.method == "GET" };"#,
    )])
    .unwrap();
    let w = b.warnings();
    assert_eq!(w.len(), 4, "{w:#?}");
    for (id, what) in [
        ("relative-dir", "Cordon::Dir::\"docs\"` can never match"),
        ("dotted", "Cordon::File::\"/a/./b.txt\"` can never match"),
        ("pattern", "`like` pattern on a path"),
        ("method", "`\"POST\"`"),
    ] {
        assert!(
            w.iter()
                .any(|m| m.starts_with(&format!("policy `{id}`")) && m.contains(what)),
            "{id}: {w:#?}"
        );
    }
}
