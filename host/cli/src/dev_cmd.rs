//! `cordon dev`: build an agent folder, run it, and do both again each time its source changes.
//!
//! Changes are found by polling: every `--poll` milliseconds the folder's files (their names,
//! sizes and modification times) are compared with those the last build saw.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::{Duration, SystemTime};

use anyhow::Context;
use clap::Args;

use crate::agent::{self, Lang};

#[derive(Args)]
#[command(after_help = "\
Builds the agent in DIR as `cordon build` does (into DIR/build/<folder>.wasm), runs it with \
`cordon run COMPONENT RUN_ARGS...` (its JSON report on stdout), then watches DIR: when a file \
changes, it builds and runs again. A build that fails is reported on stderr and the next change \
is awaited. Files under target/, build/, root/, node_modules/, cordon-data/, __pycache__/, \
hidden ones and Cargo.lock are not watched (root/ is what runs read and may write; the build \
updates Cargo.lock). Stop it with Ctrl-C, or \
give --max-runs.

Examples:
  cordon dev -- --policy policy.cedar --root root --user alice --purpose demo
  cordon dev ../notes-summary -- --policy ../notes-summary/policy.cedar --root data \\
      --input '{\"dir\": \"docs\"}'")]
pub(crate) struct DevArgs {
    /// The agent's folder.
    #[arg(default_value = ".")]
    dir: PathBuf,

    /// The agent's language, when the folder does not say or says several.
    #[arg(long, value_enum)]
    lang: Option<Lang>,

    /// Stop after this many runs (default: never).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    max_runs: Option<u64>,

    /// How often to look for changes, in milliseconds (at least 10).
    #[arg(long, value_name = "MS", default_value_t = 300,
          value_parser = clap::value_parser!(u64).range(10..))]
    poll: u64,

    /// What to give `cordon run` after the component: --policy, --root, --input, ...
    #[arg(last = true, value_name = "RUN_ARGS")]
    run_args: Vec<OsString>,
}

/// Folder names whose files are not the agent's source.
const UNWATCHED: [&str; 6] = [
    "target",
    "build",
    "root",
    "node_modules",
    "cordon-data",
    "__pycache__",
];

/// Files the build itself writes: a first Rust build adds the agent to its Cargo.lock.
const BUILD_WRITES: [&str; 1] = ["Cargo.lock"];

/// Each watched file under `dir`, with its size and modification time.
type Snapshot = BTreeMap<PathBuf, (u64, Option<SystemTime>)>;

fn snapshot(dir: &Path) -> anyhow::Result<Snapshot> {
    let mut files = Snapshot::new();
    let mut pending = vec![dir.to_owned()];
    while let Some(folder) = pending.pop() {
        let entries = std::fs::read_dir(&folder)
            .with_context(|| format!("cannot list `{}`", folder.display()))?;
        for entry in entries {
            let entry = entry?;
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if name.starts_with('.') || BUILD_WRITES.contains(&name.as_ref()) {
                continue;
            }
            let meta = entry.metadata()?;
            if meta.is_dir() {
                if !UNWATCHED.contains(&name.as_ref()) {
                    pending.push(entry.path());
                }
            } else {
                files.insert(entry.path(), (meta.len(), meta.modified().ok()));
            }
        }
    }
    Ok(files)
}

pub(crate) fn run(args: DevArgs, data: &Path) -> anyhow::Result<ExitCode> {
    let lang = agent::detect(&args.dir, args.lang)?;
    let out = agent::default_output(&args.dir)?;
    let exe = std::env::current_exe().context("cannot find the `cordon` binary")?;
    let poll = Duration::from_millis(args.poll);
    let mut runs = 0;
    let mut code = ExitCode::SUCCESS;
    loop {
        let seen = snapshot(&args.dir)?;
        match agent::build(&args.dir, lang, &out) {
            Ok(built) => {
                eprintln!(
                    "cordon dev: built `{}` ({})",
                    built.path.display(),
                    built.digest()
                );
                let status = Command::new(&exe)
                    .arg("--data")
                    .arg(data)
                    .arg("run")
                    .arg(&built.path)
                    .args(&args.run_args)
                    .status()
                    .context("cannot start `cordon run`")?;
                runs += 1;
                code = status
                    .code()
                    .and_then(|c| u8::try_from(c).ok())
                    .map_or(ExitCode::FAILURE, ExitCode::from);
            }
            Err(e) => {
                eprintln!("cordon dev: error: {e}");
                for cause in e.chain().skip(1) {
                    eprintln!("  caused by: {cause}");
                }
            }
        }
        if args.max_runs.is_some_and(|max| runs >= max) {
            return Ok(code);
        }
        eprintln!(
            "cordon dev: watching `{}` for changes (Ctrl-C to stop)",
            args.dir.display()
        );
        loop {
            std::thread::sleep(poll);
            let now = snapshot(&args.dir)?;
            if now != seen {
                let changed: Vec<String> = now
                    .iter()
                    .filter(|(path, meta)| seen.get(*path) != Some(meta))
                    .map(|(path, _)| format!("`{}`", path.display()))
                    .chain(
                        seen.keys()
                            .filter(|path| !now.contains_key(*path))
                            .map(|path| format!("`{}` (removed)", path.display())),
                    )
                    .collect();
                eprintln!("cordon dev: {} changed; rebuilding", changed.join(", "));
                break;
            }
        }
    }
}
