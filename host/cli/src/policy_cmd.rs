//! `cordon policy`: check bundles before deploying them.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Subcommand;
use cordon_policy::PolicyBundle;

#[derive(Subcommand)]
pub(crate) enum PolicyCommand {
    /// Parse and validate a bundle (a `.cedar` file or a directory of them) against the Cordon
    /// schema; print its policy ids and digest.
    Check {
        /// The bundle.
        path: PathBuf,
    },
    /// Print the Cordon Cedar schema that bundles are validated against.
    Schema {
        /// Print it in Cedar's JSON schema format (what the host parses) instead of Cedar's
        /// schema syntax.
        #[arg(long)]
        json: bool,
    },
}

pub(crate) fn run(cmd: PolicyCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        PolicyCommand::Check { path } => {
            let bundle = PolicyBundle::load(&path)
                .with_context(|| format!("policy bundle `{}` is not valid", path.display()))?;
            let report = serde_json::json!({
                "valid": true,
                "digest": bundle.digest(),
                "policies": bundle.policy_ids(),
            });
            println!("{}", serde_json::to_string_pretty(&report)?);
        }
        PolicyCommand::Schema { json: false } => print!("{}", cordon_policy::SCHEMA_TEXT),
        PolicyCommand::Schema { json: true } => print!("{}", cordon_policy::SCHEMA_JSON),
    }
    Ok(ExitCode::SUCCESS)
}
