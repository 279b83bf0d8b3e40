//! `cordon build`: build an agent folder into a component and say what it is.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use clap::Args;

use crate::agent::{self, Lang};

#[derive(Args)]
#[command(after_help = "\
The language is that of the file the folder has: Cargo.toml (Rust), agent.py (Python, a \
module with `run(input)`), agent.js (JavaScript, an ES module exporting `run(input)`); --lang \
picks one when there are several. The build uses the Cordon checkout's own scripts (CORDON_SDK, \
else the checkout of this binary) and the guest toolchain of scripts/install-guest-toolchain.sh \
(CORDON_GUEST_TOOLS, else the checkout's build/tools):

  Rust        cargo build --release --target wasm32-unknown-unknown (into DIR/target) and \
`wasm-tools component new`; the component may import nothing but cordon:agent and stdout/stderr
  Python      componentize-py over the agent's .py files, the SDK and the packages \
requirements.txt declares (installed into DIR/build/python-deps), nothing else of this machine
  JavaScript  componentize-js over the agent's .js files and the SDK

The report (JSON, on stdout) names the component, its language, size and digest: the digest \
`cordon run` reports for it, which policies and the decision log name it by. Paths of this \
machine (the agent's folder, the checkout, scratch folders) are kept out of the component.

Exit status: 0 when the component was built, 2 when the build failed or there is no agent.

Examples:
  cordon build                          # the agent in this folder, into build/<folder>.wasm
  cordon build notes-summary -o notes.wasm
  cordon build . --lang python")]
pub(crate) struct BuildArgs {
    /// The agent's folder.
    #[arg(default_value = ".")]
    dir: PathBuf,

    /// Where to write the component (default: DIR/build/<folder name>.wasm).
    #[arg(short, long, value_name = "OUT.wasm")]
    out: Option<PathBuf>,

    /// The agent's language, when the folder does not say or says several.
    #[arg(long, value_enum)]
    lang: Option<Lang>,
}

pub(crate) fn run(args: BuildArgs) -> anyhow::Result<ExitCode> {
    let lang = agent::detect(&args.dir, args.lang)?;
    let out = match args.out {
        Some(out) => out,
        None => agent::default_output(&args.dir)?,
    };
    let start = Instant::now();
    let built = agent::build(&args.dir, lang, &out)?;
    crate::out::json(&serde_json::json!({
        "component": built.path,
        "language": built.lang.name(),
        "size": built.bytes.len(),
        "digest": built.digest(),
        "millis": start.elapsed().as_millis(),
    }))?;
    Ok(ExitCode::SUCCESS)
}
