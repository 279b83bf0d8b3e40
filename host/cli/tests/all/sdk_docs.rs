//! The Python and JavaScript SDK references (docs/sdk-python.md, docs/sdk-js.md) are generated
//! from the SDKs' docstrings and JSDoc by scripts/gen-sdk-docs.py (Python 3, standard library
//! only). These tests fail when a committed page is not what the script writes from the current
//! source, and when a public function, class or method lacks its documentation or example.

use std::process::Command;

use crate::guests::repo;

fn generator(mode: &str) -> (bool, String) {
    let script = repo().join("scripts/gen-sdk-docs.py");
    let out = Command::new("python3")
        .arg(&script)
        .arg(mode)
        .output()
        .unwrap_or_else(|e| panic!("python3 {}: {e}", script.display()));
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn every_public_sdk_item_has_documentation_and_an_example() {
    let (ok, stderr) = generator("--lint");
    assert!(ok, "undocumented SDK items:\n{stderr}");
}

#[test]
fn the_committed_sdk_references_are_what_the_docstrings_generate() {
    let (ok, stderr) = generator("--check");
    assert!(
        ok,
        "{stderr}(run scripts/gen-sdk-docs.py and commit docs/sdk-*.md)"
    );
}
