//! `cordon policy`: check and test bundles before deploying them.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::Subcommand;
use cordon_policy::{CaseFile, PolicyBundle, RexTranslation};

#[derive(Subcommand)]
pub(crate) enum PolicyCommand {
    /// Parse and validate a bundle (a `.cedar` file or a directory of them) against the Cordon
    /// schema; print its policy ids, digest and warnings, each naming its policy: what
    /// validates but can never match as written (`Cordon::Dir::"docs"` for `/docs`,
    /// `context.method == "post"` for `POST`, `resource has owner` where no resource has an
    /// `owner`, a permit that a forbid with no conditions always overrides), also on stderr.
    Check {
        /// The bundle.
        path: PathBuf,
    },
    /// Run decision cases against a bundle: each case is a request with the decision and the
    /// deciding policy ids it must get. Prints a line per case, `pass` or `FAIL` with what
    /// was expected and what was got, then a summary; the bundle's warnings go to stderr.
    #[command(allow_missing_positional = true, after_help = TEST_HELP)]
    Test {
        /// The bundle (a `.cedar` file or a directory of them). Without it, the bundle the
        /// cases file names as `policies`, relative to the cases file.
        #[arg(value_name = "DIR")]
        policies: Option<PathBuf>,
        /// The decision cases (JSON; see below).
        #[arg(value_name = "CASES.json")]
        cases: PathBuf,
        /// Print the outcome as JSON: the counts and every case's expected and got decision
        /// and deciding policies.
        #[arg(long)]
        json: bool,
    },
    /// Translate a Rex policy (`file_system::`/`network::` actions, `User` principals) into
    /// Cordon's schema, and report every construct that could not be mapped as written.
    ///
    /// Rex paths are host paths: `--rex-root DIR` says which host directory is the run's root
    /// (`DIR/a` becomes `/a`; a path outside it names nothing a run can reach). Each Rex check
    /// becomes the Cordon action making the same check: `open` → `fs:stat`, `read` →
    /// `fs:read` (a file) or `fs:list` (a directory), `write` → `fs:write`/`fs:append`,
    /// `create` → `fs:create-dir`, `delete` → `fs:remove`, `move` → `fs:rename`, `stat` →
    /// `fs:stat`, `network::Action::"GET"` → `http:send` with `context.method == "GET"`. What
    /// cannot be mapped removes a permit, or the clause of a forbid: the result never allows
    /// more than the original. Run Rhai scripts with `cordon run --rex-root` so that every
    /// check Rex makes (open the directory, open the file, read it) is made.
    #[command(after_help = "\
Example:
  cordon policy from-rex rex-policy.cedar cordon-policy.cedar --rex-root /tmp/rex_example
  cordon policy check cordon-policy.cedar

Exit status: 0 when the translation was written (notes, if any, on stderr), 2 when the input is \
not a Rex policy set Cedar can parse.")]
    FromRex {
        /// The Rex policy file.
        input: PathBuf,
        /// Where to write the Cordon policy (`-`: stdout).
        output: PathBuf,
        /// The host directory that is the run's root.
        #[arg(long, value_name = "DIR", default_value = "/")]
        rex_root: String,
    },
    /// Print the Cordon Cedar schema that bundles are validated against.
    Schema {
        /// Print it in Cedar's JSON schema format (what the host parses) instead of Cedar's
        /// schema syntax.
        #[arg(long)]
        json: bool,
    },
}

const TEST_HELP: &str = r#"The cases file:
  {
    "policies": "../policies",
    "principal": {"tenant": "acme", "digest": "0a"},
    "context": {"purpose": "support", "engagement": "case-17"},
    "cases": [
      {"name": "docs are read",
       "request": {"action": "fs:read", "resource": {"file": "/docs/a.md"}},
       "decision": "allow", "policy_ids": ["read-docs"]},
      {"name": "nothing is posted",
       "request": {"action": "http:send", "method": "POST", "resource":
                   {"url": {"scheme": "https", "host": "api.example", "port": 443, "path": "/"}}},
       "decision": "deny", "policy_ids": []}
    ]
  }

`policies` (optional) is relative to the cases file; DIR on the command line is used instead of
it. `principal` may add `"human": {"id": "ada", "roles": ["clinician"]}`. A resource is one of
`file` or `dir` (an absolute path inside the run's root), `url`, `record` or `field`.
`policy_ids` are the policies that must decide the case, in any order: the permits that allow it,
or the forbids that deny it (`[]`: nothing permits it). A case may give its own `principal` or
`context`, and `taint` (what the run read before: {"classification": 2, "categories":
["health"]}); record reads take `records` ({"host_region": "eu-west", "requested_fields":
["name"]}) in the file or the case. Unknown fields are errors. policies/tests/*.json are
examples.

Example:
  cordon policy test policies/tests/private-dir.json
  cordon policy test my-policies/ policies/tests/private-dir.json

Exit status: 0 when every case passes, 1 when any fails, 2 when the cases file or the bundle
cannot be read or is not valid."#;

pub(crate) fn run(cmd: PolicyCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        PolicyCommand::Check { path } => {
            let bundle = load_checked(&path)?;
            let report = serde_json::json!({
                "valid": true,
                "digest": bundle.digest(),
                "policies": bundle.policy_ids(),
                "warnings": bundle.warnings(),
            });
            crate::out::json(&report)?;
        }
        PolicyCommand::Test {
            policies,
            cases,
            json,
        } => return test(policies, &cases, json),
        PolicyCommand::FromRex {
            input,
            output,
            rex_root,
        } => {
            let text = read_policy(&input)?;
            let t = cordon_policy::translate_rex(&text, &rex_root)
                .with_context(|| format!("cannot translate `{}`", input.display()))?;
            report_translation(&input, &t);
            if t.kept.is_empty() {
                eprintln!("warning: no policy could be translated: everything will be denied");
            }
            if output.as_os_str() == "-" {
                crate::out::text(&t.text)?;
            } else {
                std::fs::write(&output, &t.text)
                    .with_context(|| format!("cannot write `{}`", output.display()))?;
            }
        }
        PolicyCommand::Schema { json: false } => crate::out::text(cordon_policy::SCHEMA_TEXT)?,
        PolicyCommand::Schema { json: true } => crate::out::text(cordon_policy::SCHEMA_JSON)?,
    }
    Ok(ExitCode::SUCCESS)
}

/// The bundle at `path`, its warnings said on stderr.
fn load_checked(path: &Path) -> anyhow::Result<PolicyBundle> {
    let bundle = PolicyBundle::load(path)
        .with_context(|| format!("policy bundle `{}` is not valid", path.display()))?;
    for warning in bundle.warnings() {
        eprintln!("warning: {warning}");
    }
    Ok(bundle)
}

/// `cordon policy test`: 0 when every case passes, 1 when one fails.
fn test(policies: Option<PathBuf>, cases_path: &Path, json: bool) -> anyhow::Result<ExitCode> {
    let cases = CaseFile::load(cases_path)?;
    let Some(policies) = policies.or_else(|| cases.bundle_path()) else {
        bail!(
            "`{}` names no `policies`: give the bundle on the command line (`cordon policy test \
             DIR {}`)",
            cases_path.display(),
            cases_path.display()
        );
    };
    let bundle = load_checked(&policies)?;
    let outcomes = cases.run(&bundle)?;
    let failed = outcomes.iter().filter(|o| !o.passed).count();
    let passed = outcomes.len() - failed;
    if json {
        crate::out::json(&serde_json::json!({
            "cases": cases_path,
            "policies": policies,
            "digest": bundle.digest(),
            "passed": passed,
            "failed": failed,
            "outcomes": outcomes,
        }))?;
    } else {
        for o in &outcomes {
            crate::out::line(format_args!(
                "{}  {o}",
                if o.passed { "pass" } else { "FAIL" }
            ))?;
        }
        crate::out::line(format_args!(
            "\n{passed} of {} cases passed, {failed} failed (`{}` against `{}`)",
            outcomes.len(),
            cases_path.display(),
            policies.display()
        ))?;
    }
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn read_policy(path: &Path) -> anyhow::Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("cannot read `{}`", path.display()))
}

/// Say on stderr what a Rex translation kept and could not map.
fn report_translation(input: &Path, t: &RexTranslation) {
    eprintln!(
        "translated Rex policy `{}`: {} polic{} kept ({}), {} note{}",
        input.display(),
        t.kept.len(),
        if t.kept.len() == 1 { "y" } else { "ies" },
        t.kept.join(", "),
        t.notes.len(),
        if t.notes.len() == 1 { "" } else { "s" },
    );
    for note in &t.notes {
        eprintln!("  {note}");
    }
}

/// The bundle at `path`; a single file written for Rex is translated for `rex_root` first
/// (`None`: the caller has no root to give, and a Rex policy is refused). Returns whether it
/// was a Rex policy.
pub(crate) fn load_bundle(
    path: &Path,
    rex_root: Option<&str>,
) -> anyhow::Result<(PolicyBundle, bool)> {
    let invalid = || format!("policy bundle `{}` is not valid", path.display());
    if path.is_file() {
        let text = read_policy(path)?;
        if cordon_policy::is_rex_policy(&text) {
            let Some(root) = rex_root else {
                bail!(
                    "`{}` is a Rex policy: its paths are host paths, so say which host directory \
                     is the run's root with --rex-root DIR (or --root DIR)",
                    path.display()
                );
            };
            let t = cordon_policy::translate_rex(&text, root)
                .with_context(|| format!("cannot translate `{}`", path.display()))?;
            report_translation(path, &t);
            let name = path.file_name().map_or_else(
                || "rex.cedar".to_owned(),
                |n| n.to_string_lossy().into_owned(),
            );
            let bundle = PolicyBundle::from_sources([(name, t.text)]).with_context(invalid)?;
            return Ok((bundle, true));
        }
    }
    Ok((PolicyBundle::load(path).with_context(invalid)?, false))
}
