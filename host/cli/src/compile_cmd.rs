//! `cordon compile`: validate a component and compile it into the cache ahead of its first run.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use cordon_runtime::{CordonEngine, EngineOptions};

#[derive(Args)]
#[command(after_help = "\
Compiling an interpreter-sized component (Python or JavaScript, 12-18 MB) takes tens of seconds \
the first time. `cordon compile` does it ahead of the first `cordon run`, which then loads the \
compiled code from the cache in milliseconds. Two caches live in the cache directory:

  whole components, by their digest (artifacts/, one file each, mapped rather than read): the \
same component again is loaded, not compiled;
  single functions, by their code (functions.redb): a new component around an interpreter that \
was compiled before compiles only what is new, in a second or two instead of tens.

The report (JSON, on stdout) has the component's digest and size, where its code came from \
(`compiled`, `component-cache`), how many functions the function cache supplied and how many \
were compiled, and the time taken.

Exit status: 0 when the component is valid and compiled, 2 when it was refused (not a \
component, malformed, importing what Cordon does not provide, or too slow to compile).

Example:
  cordon compile build/guests/python-hello.wasm && cordon run build/guests/python-hello.wasm \\
      --policy examples/python-hello/policy.cedar --root examples/python-hello/root")]
pub(crate) struct CompileArgs {
    /// The component (.wasm) to compile; it must target the cordon:agent/agent world.
    component: PathBuf,

    /// Where to keep the compiled code (default: `<data>/cache`, the directory `cordon run`
    /// reads from).
    #[arg(long, value_name = "DIR")]
    cache_dir: Option<PathBuf>,

    /// Largest component accepted, in bytes (default 256M); K, M, G suffixes accepted.
    #[arg(long, value_parser = crate::run_cmd::parse_size)]
    max_component: Option<u64>,

    /// Most milliseconds the component may take to compile (default 120000); a slower one is
    /// refused.
    #[arg(long, value_name = "MS", value_parser = clap::value_parser!(u64).range(1..))]
    compile_timeout: Option<u64>,
}

pub(crate) fn run(args: CompileArgs, data: &Path) -> anyhow::Result<ExitCode> {
    let bytes = std::fs::read(&args.component)
        .with_context(|| format!("cannot read component `{}`", args.component.display()))?;
    let cache_dir = args.cache_dir.unwrap_or_else(|| data.join("cache"));
    let defaults = EngineOptions::default();
    let engine = CordonEngine::new(EngineOptions {
        cache_dir: Some(cache_dir.clone()),
        max_component_bytes: match args.max_component {
            Some(n) => usize::try_from(n).context("--max-component is too large")?,
            None => defaults.max_component_bytes,
        },
        compile_timeout: args
            .compile_timeout
            .map_or(defaults.compile_timeout, Duration::from_millis),
        ..defaults
    })?;
    let component = engine
        .load(&bytes)
        .with_context(|| format!("component `{}` was refused", args.component.display()))?;
    let report = component.compile_report();
    if let Some(warning) = &report.cache_warning {
        eprintln!("warning: {warning}");
    }
    let json = serde_json::json!({
        "component": args.component,
        "digest": component.digest(),
        "size": component.size(),
        "cache_dir": cache_dir,
        "source": report.source,
        "functions_reused": report.functions_reused,
        "functions_compiled": report.functions_compiled,
        "millis": report.millis,
        "cache_warning": report.cache_warning,
    });
    crate::out::json(&json)?;
    Ok(ExitCode::SUCCESS)
}
