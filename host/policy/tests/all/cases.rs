//! Policy decisions as data: every `policies/tests/*.json` file names a bundle, a principal and a
//! context, and lists requests with the decision and deciding policy ids they must get (the
//! format is `cordon_policy::cases`, which `cordon policy test` runs too).

use std::path::{Path, PathBuf};

use cordon_policy::{CaseFile, PolicyBundle};

fn case_files() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../policies/tests");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    files
}

#[test]
fn every_json_decision_case_gets_its_decision_and_deciding_policies() {
    let files = case_files();
    assert!(!files.is_empty(), "no decision cases found");
    let mut failures = Vec::new();
    let mut checked = 0;
    for file in files {
        let cases = CaseFile::load(&file).unwrap_or_else(|e| panic!("{e}"));
        let policies = cases
            .bundle_path()
            .unwrap_or_else(|| panic!("{} names no policies", file.display()));
        let bundle =
            PolicyBundle::load(&policies).unwrap_or_else(|e| panic!("{}: {e}", policies.display()));
        for outcome in cases.run(&bundle).unwrap_or_else(|e| panic!("{e}")) {
            if !outcome.passed {
                failures.push(format!("{}: {outcome}", file.display()));
            }
            checked += 1;
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {checked} cases failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
