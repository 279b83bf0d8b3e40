//! Policy decisions as data: a JSON file of requests, each with the decision and the deciding
//! policy ids it must get. `policies/tests/*.json` pin the shipped bundles this way (one test
//! runs them all) and `cordon policy test` runs such a file against any bundle.
//!
//! ```json
//! {
//!   "description": "what the cases are about (optional)",
//!   "policies": "../examples/private-dir.cedar",
//!   "principal": { "tenant": "acme", "digest": "0a", "human": { "id": "ada", "roles": ["ops"] } },
//!   "context": { "purpose": "work", "engagement": "w-1" },
//!   "records": { "host_region": "eu-west", "requested_fields": ["name"] },
//!   "cases": [
//!     {
//!       "name": "the ledger is not read",
//!       "request": { "action": "fs:read", "resource": { "file": "/shared/ledger.csv" } },
//!       "decision": "deny",
//!       "policy_ids": ["ledger-is-not-read"]
//!     }
//!   ]
//! }
//! ```
//!
//! - `policies` (optional): the bundle, a `.cedar` file or a directory of them, relative to the
//!   cases file; whoever runs the cases may name another instead.
//! - `principal` ([`Principal`]) and `context` ([`RunContext`]): the run every case is decided
//!   in; a case may give its own `principal` or `context` instead.
//! - `records` (optional, [`RecordsContext`]): for `records:read` and `records:read-field`
//!   requests, the host region and the fields the read names; a case may give its own.
//! - each case: a `name`; a `request` ([`Request`]: `action`, `resource` as one of `file`,
//!   `dir`, `url` (`scheme`, `host`, `port`, `path`), `record` or `field`, and for `http:send`
//!   a `method`); optionally `taint` ([`Taint`]: what the run has read before, seen by
//!   `http:send`, `fs:write` and `fs:append`); the `decision` it must get, `allow` or `deny`;
//!   and `policy_ids`, the policies that must decide it, in any order (the permits that allow
//!   it or the forbids that deny it; `[]` for a denial where nothing permits the request).
//!
//! Unknown fields are refused, so a misspelt key is an error naming the case, not a case that
//! quietly tests less. A case passes when the decision and the set of deciding policies are
//! the expected ones and Cedar reported no evaluation error.
//!
//! ```
//! use std::path::Path;
//! use cordon_policy::{CaseFile, PolicyBundle};
//!
//! let cases = CaseFile::from_json(
//!     r#"{
//!       "principal": { "tenant": "acme", "digest": "0a" },
//!       "context": { "purpose": "work", "engagement": "w-1" },
//!       "cases": [
//!         { "name": "docs are read",
//!           "request": { "action": "fs:read", "resource": { "file": "/docs/a.md" } },
//!           "decision": "allow", "policy_ids": ["read-docs"] },
//!         { "name": "nothing else is",
//!           "request": { "action": "fs:read", "resource": { "file": "/etc/passwd" } },
//!           "decision": "deny", "policy_ids": [] }
//!       ]
//!     }"#,
//!     Path::new("cases.json"),
//! )?;
//! let bundle = PolicyBundle::from_sources([(
//!     "docs.cedar",
//!     r#"@id("read-docs")
//!        permit(principal, action == Cordon::Action::"fs:read", resource in Cordon::Dir::"/docs");"#,
//! )])?;
//! let outcomes = cases.run(&bundle)?;
//! assert!(outcomes.iter().all(|o| o.passed));
//! assert_eq!(outcomes[0].to_string(), "docs are read: allow by `read-docs`");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::bundle::PolicyBundle;
use crate::records::RecordsContext;
use crate::request::{Principal, Request, Resource, RunContext, check_normalized};
use crate::taint::Taint;

/// A file of decision cases (see the [module](self) for its format).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaseFile {
    /// What the cases are about, for the reader.
    #[serde(default)]
    pub description: String,
    /// The bundle the cases are written for, as written in the file (see
    /// [`CaseFile::bundle_path`]).
    #[serde(default)]
    pub policies: Option<PathBuf>,
    /// Who makes every request, unless a case says otherwise.
    pub principal: Principal,
    /// The run's context, unless a case says otherwise.
    pub context: RunContext,
    /// For record reads: the host region and requested fields, unless a case says otherwise.
    #[serde(default)]
    pub records: Option<RecordsContext>,
    /// The cases, in the order they are run.
    pub cases: Vec<Case>,
    /// Where the file was read from: what `policies` is relative to.
    #[serde(skip)]
    origin: PathBuf,
}

/// One request and what it must get.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Case {
    /// What the case checks, in words.
    pub name: String,
    /// This case's principal instead of the file's.
    #[serde(default)]
    pub principal: Option<Principal>,
    /// This case's context instead of the file's.
    #[serde(default)]
    pub context: Option<RunContext>,
    /// This case's records context instead of the file's.
    #[serde(default)]
    pub records: Option<RecordsContext>,
    /// What the run has read before this request (`context.taint`); default: nothing.
    #[serde(default)]
    pub taint: Taint,
    /// The request.
    pub request: Request,
    /// The decision it must get.
    pub decision: Verdict,
    /// The policies that must decide it, in any order.
    pub policy_ids: Vec<String>,
}

/// Allowed or denied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// The request may go ahead.
    Allow,
    /// It may not.
    Deny,
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Verdict::Allow => "allow",
            Verdict::Deny => "deny",
        })
    }
}

/// Why a cases file cannot be run. Each message names the file, and the case when one is to
/// blame (by its position, from 1, and its name).
#[derive(Debug, thiserror::Error)]
pub enum CaseError {
    /// The file could not be read.
    #[error("cannot read decision cases `{path}`")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The file is not a cases file: bad JSON, a missing or unknown field, a value of the
    /// wrong type, or a request that can never be made.
    #[error("`{}`{}: {message}", path.display(), in_case(.case))]
    Invalid {
        /// The file.
        path: PathBuf,
        /// The case to blame: its position (from 1) and name.
        case: Option<(usize, String)>,
        /// What is wrong.
        message: String,
    },
}

fn in_case(case: &Option<(usize, String)>) -> String {
    match case {
        Some((n, name)) => format!(": case {n} (`{name}`)"),
        None => String::new(),
    }
}

/// What one case got.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Outcome {
    /// The case's name.
    pub name: String,
    /// Whether it got what it expected, with no evaluation error.
    pub passed: bool,
    /// The decision it expected.
    pub expected: Verdict,
    /// The policies it expected to decide, sorted.
    pub expected_policy_ids: Vec<String>,
    /// The decision it got.
    pub got: Verdict,
    /// The policies that decided it, sorted.
    pub got_policy_ids: Vec<String>,
    /// Cedar's evaluation errors (a policy that errors is skipped).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<String>,
}

impl fmt::Display for Outcome {
    /// `name: deny by `a``, or for a failure
    /// `name: expected deny by `a`, got allow by `b``, then any evaluation errors.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: ", self.name)?;
        let got = by(self.got, &self.got_policy_ids);
        if self.got == self.expected && self.got_policy_ids == self.expected_policy_ids {
            f.write_str(&got)?;
        } else {
            let expected = by(self.expected, &self.expected_policy_ids);
            write!(f, "expected {expected}, got {got}")?;
        }
        if !self.errors.is_empty() {
            write!(f, " (evaluation errors: {})", self.errors.join("; "))?;
        }
        Ok(())
    }
}

/// `allow by `a``, `deny by `a`, `b``, `deny by no policy`.
fn by(verdict: Verdict, ids: &[String]) -> String {
    if ids.is_empty() {
        return format!("{verdict} by no policy");
    }
    let ids: Vec<String> = ids.iter().map(|id| format!("`{id}`")).collect();
    format!("{verdict} by {}", ids.join(", "))
}

impl CaseFile {
    /// Read and check the cases file at `path`.
    pub fn load(path: &Path) -> Result<CaseFile, CaseError> {
        let text = std::fs::read_to_string(path).map_err(|source| CaseError::Io {
            path: path.to_owned(),
            source,
        })?;
        Self::from_json(&text, path)
    }

    /// Parse and check cases written as `text`, read from `path` (what errors name and
    /// `policies` is relative to).
    pub fn from_json(text: &str, path: &Path) -> Result<CaseFile, CaseError> {
        let invalid = |case, message| CaseError::Invalid {
            path: path.to_owned(),
            case,
            message,
        };
        let mut file: CaseFile = serde_json::from_str(text)
            .map_err(|e| invalid(case_to_blame(text, &e), e.to_string()))?;
        file.origin = path.to_owned();
        if file.cases.is_empty() {
            return Err(invalid(None, "there are no cases".into()));
        }
        for (i, case) in file.cases.iter().enumerate() {
            if let Resource::File(p) | Resource::Dir(p) = &case.request.resource
                && let Err(e) = check_normalized(p)
            {
                let message = format!(
                    "{e}: requests name paths from the run's root, such as `/{}`",
                    p.trim_matches('/')
                );
                return Err(invalid(Some((i + 1, case.name.clone())), message));
            }
        }
        Ok(file)
    }

    /// The bundle named by `policies`, relative to the directory of the cases file; `None`
    /// when the file names none.
    pub fn bundle_path(&self) -> Option<PathBuf> {
        let policies = self.policies.as_ref()?;
        let dir = self.origin.parent().unwrap_or(Path::new(""));
        Some(dir.join(policies))
    }

    /// Decide every case with `bundle`, in order. An error means a case could not be asked at
    /// all (its principal or context cannot be built into Cedar), not that it failed.
    pub fn run(&self, bundle: &PolicyBundle) -> Result<Vec<Outcome>, CaseError> {
        self.cases
            .iter()
            .enumerate()
            .map(|(i, case)| {
                self.run_one(bundle, case)
                    .map_err(|message| CaseError::Invalid {
                        path: self.origin.clone(),
                        case: Some((i + 1, case.name.clone())),
                        message,
                    })
            })
            .collect()
    }

    fn run_one(&self, bundle: &PolicyBundle, case: &Case) -> Result<Outcome, String> {
        let principal = case.principal.as_ref().unwrap_or(&self.principal);
        let context = case.context.as_ref().unwrap_or(&self.context);
        let session = bundle
            .session(principal, context)
            .map_err(|e| e.to_string())?;
        let d = match case.records.as_ref().or(self.records.as_ref()) {
            Some(rc) => session.authorize_records(&case.request, rc),
            None => session.authorize_with_taint(&case.request, &case.taint),
        };
        let got = if d.allowed {
            Verdict::Allow
        } else {
            Verdict::Deny
        };
        let mut got_policy_ids = d.policy_ids;
        got_policy_ids.sort();
        let mut expected_policy_ids = case.policy_ids.clone();
        expected_policy_ids.sort();
        Ok(Outcome {
            name: case.name.clone(),
            passed: got == case.decision
                && got_policy_ids == expected_policy_ids
                && d.errors.is_empty(),
            expected: case.decision,
            expected_policy_ids,
            got,
            got_policy_ids,
            errors: d.errors,
        })
    }
}

/// The case a parse error of the file lies in: the first case that does not parse on its own
/// with the same message. `None` when the error is outside the cases.
fn case_to_blame(text: &str, err: &serde_json::Error) -> Option<(usize, String)> {
    let whole: serde_json::Value = serde_json::from_str(text).ok()?;
    let message = err.to_string();
    whole
        .get("cases")?
        .as_array()?
        .iter()
        .enumerate()
        .find_map(|(i, c)| {
            let own = serde_json::from_value::<Case>(c.clone()).err()?;
            let name = c.get("name").and_then(|n| n.as_str()).unwrap_or_default();
            message
                .starts_with(&own.to_string())
                .then(|| (i + 1, name.to_owned()))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEAD: &str = r#""principal": { "tenant": "acme", "digest": "0a" },
        "context": { "purpose": "p", "engagement": "e" }"#;

    fn parse(cases: &str) -> Result<CaseFile, CaseError> {
        CaseFile::from_json(
            &format!("{{ {HEAD}, \"cases\": [{cases}] }}"),
            Path::new("t.json"),
        )
    }

    const GOOD: &str = r#"{ "name": "reads", "request": { "action": "fs:read",
        "resource": { "file": "/a" } }, "decision": "deny", "policy_ids": [] }"#;

    #[test]
    fn a_misspelt_key_in_a_case_is_an_error_naming_the_case_and_the_key() {
        let bad = r#"{ "name": "second", "request": { "action": "fs:read",
            "resource": { "file": "/a" } }, "decison": "deny", "policy_ids": [] }"#;
        let err = parse(&format!("{GOOD}, {bad}")).unwrap_err().to_string();
        assert!(
            err.starts_with("`t.json`: case 2 (`second`): unknown field `decison`"),
            "{err}"
        );
        assert!(err.contains(" at line 4 column "), "{err}");
    }

    #[test]
    fn an_error_outside_the_cases_names_no_case() {
        let err = CaseFile::from_json(
            &format!("{{ {HEAD}, \"polices\": \"x\", \"cases\": [{GOOD}] }}"),
            Path::new("t.json"),
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.starts_with("`t.json`: unknown field `polices`"),
            "{err}"
        );
    }

    #[test]
    fn a_relative_path_is_refused_since_no_request_ever_names_one() {
        let rel = GOOD.replace("\"/a\"", "\"docs/a.txt\"");
        let err = parse(&rel).unwrap_err().to_string();
        assert!(err.contains("case 1 (`reads`)"), "{err}");
        assert!(err.contains("docs/a.txt"), "{err}");
    }

    #[test]
    fn a_file_with_no_cases_is_refused() {
        let err = parse("").unwrap_err().to_string();
        assert!(err.contains("no cases"), "{err}");
    }

    #[test]
    fn policies_are_found_beside_the_cases_file() {
        let text = format!("{{ {HEAD}, \"policies\": \"../p.cedar\", \"cases\": [{GOOD}] }}");
        let f = CaseFile::from_json(&text, Path::new("dir/tests/t.json")).unwrap();
        assert_eq!(f.bundle_path(), Some(PathBuf::from("dir/tests/../p.cedar")));
        assert_eq!(parse(GOOD).unwrap().bundle_path(), None);
    }

    #[test]
    fn a_case_fails_on_another_decision_or_other_deciding_policies() {
        let bundle = PolicyBundle::from_sources([(
            "p.cedar",
            r#"@id("all") permit(principal, action, resource);
               @id("no-b") forbid(principal, action, resource == Cordon::File::"/b");"#,
        )])
        .unwrap();
        let case = |file: &str, decision: &str, ids: &str| {
            format!(
                r#"{{ "name": "{file}", "request": {{ "action": "fs:read",
                "resource": {{ "file": "{file}" }} }}, "decision": "{decision}",
                "policy_ids": {ids} }}"#
            )
        };
        let f = parse(
            &[
                case("/a", "allow", r#"["all"]"#),
                case("/b", "allow", r#"["all"]"#),
                case("/b", "deny", "[]"),
                case("/b", "deny", r#"["no-b"]"#),
            ]
            .join(","),
        )
        .unwrap();
        let got: Vec<bool> = f.run(&bundle).unwrap().iter().map(|o| o.passed).collect();
        assert_eq!(got, [true, false, false, true]);
        let o = &f.run(&bundle).unwrap()[1];
        assert_eq!(
            o.to_string(),
            "/b: expected allow by `all`, got deny by `no-b`"
        );
    }
}
