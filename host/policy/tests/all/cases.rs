//! Policy decisions as data: every `policies/tests/*.json` file names a bundle, a principal and a
//! context, and lists requests with the decision and deciding policy ids they must get.

use std::path::{Path, PathBuf};

use cordon_policy::{PolicyBundle, Principal, RecordsContext, Request, RunContext, Taint};
use serde::Deserialize;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CaseFile {
    #[expect(dead_code, reason = "documentation for the reader of the JSON file")]
    description: String,
    policies: PathBuf,
    principal: Principal,
    context: RunContext,
    /// For record reads: host region and requested fields, unless a case names its own.
    #[serde(default)]
    records: Option<RecordsContext>,
    cases: Vec<Case>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    name: String,
    #[serde(default)]
    principal: Option<Principal>,
    #[serde(default)]
    context: Option<RunContext>,
    #[serde(default)]
    records: Option<RecordsContext>,
    /// What the run has read before this request (`context.taint`); default: nothing.
    #[serde(default)]
    taint: Taint,
    request: Request,
    decision: Expected,
    policy_ids: Vec<String>,
}

#[derive(Deserialize, PartialEq, Debug, Clone, Copy)]
#[serde(rename_all = "lowercase")]
enum Expected {
    Allow,
    Deny,
}

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
        let text = std::fs::read_to_string(&file).unwrap();
        let cf: CaseFile =
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        let policies = file.parent().unwrap().join(&cf.policies);
        let bundle =
            PolicyBundle::load(&policies).unwrap_or_else(|e| panic!("{}: {e}", policies.display()));
        for case in cf.cases {
            let principal = case.principal.as_ref().unwrap_or(&cf.principal);
            let context = case.context.as_ref().unwrap_or(&cf.context);
            let session = bundle.session(principal, context).unwrap();
            let d = match case.records.as_ref().or(cf.records.as_ref()) {
                Some(rc) => session.authorize_records(&case.request, rc),
                None => session.authorize_with_taint(&case.request, &case.taint),
            };
            let got = if d.allowed {
                Expected::Allow
            } else {
                Expected::Deny
            };
            let mut got_ids = d.policy_ids.clone();
            got_ids.sort();
            let mut want_ids = case.policy_ids.clone();
            want_ids.sort();
            if got != case.decision || got_ids != want_ids || !d.errors.is_empty() {
                failures.push(format!(
                    "{}: {}: expected {:?} by {:?}, got {:?} by {:?} (errors {:?})",
                    file.display(),
                    case.name,
                    case.decision,
                    want_ids,
                    got,
                    got_ids,
                    d.errors
                ));
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
