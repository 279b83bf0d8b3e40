//! `cordon`: run agent components locally under a Cedar policy, and check the decision log.
//!
//! This binary parses arguments and wires the crates together; the work is in cordon-runtime,
//! cordon-policy and cordon-audit.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// mimalloc, not glibc's malloc: record reads allocate per returned field, and on a heap
/// fragmented by decoding a large collection glibc made a 1M-record query 4-5x slower
/// (`cargo bench -p cordon-benches --bench records`; the benches use this allocator too).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod agent;
mod audit_cmd;
mod build_cmd;
mod checkout;
mod compile_cmd;
mod dev_cmd;
mod egress;
mod new_cmd;
mod out;
mod policy_cmd;
mod records_cmd;
mod run_cmd;
mod runners;
mod serve_cmd;

/// Exit code for bad input: an unreadable or invalid component, policy or argument.
pub(crate) const EXIT_BAD_INPUT: u8 = 2;

#[derive(Parser)]
#[command(
    name = "cordon",
    version,
    about = "Run agent-generated WebAssembly components with every host call checked by Cedar and logged",
    long_about = "Run agent-generated WebAssembly components with every host call checked by Cedar \
and logged.\n\nA component gets no ambient access: its only way out is the cordon:agent imports \
(fs, http, records). Every call is decided by the policy bundle you give it, appended to a \
hash-chained decision log, and only then carried out. Denied calls reach the guest as a typed \
`access-denied` error naming the deciding policies.",
    after_help = "Examples:\n  cordon new my-agent --lang python && cd my-agent && cordon build\n  \
cordon run agent.wasm --policy policy.cedar --root ./files --input '{\"path\":\"a.txt\"}'\n  \
cordon compile agent.wasm\n  \
cordon policy check policies/\n  cordon policy test policies/tests/private-dir.json\n  cordon audit verify"
)]
struct Cli {
    /// Where Cordon keeps its state: the decision log and the compiled-component cache.
    #[arg(
        long,
        global = true,
        default_value = "cordon-data",
        env = "CORDON_DATA"
    )]
    data: PathBuf,

    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a component once and print a JSON report of what it did.
    Run(Box<run_cmd::RunArgs>),
    /// Validate a component and compile it into the cache ahead of its first run.
    Compile(compile_cmd::CompileArgs),
    /// Write a new agent (Rust, Python or JavaScript) with its policy, ready to build and run.
    New(new_cmd::NewArgs),
    /// Build an agent folder into a component and print its digest.
    Build(build_cmd::BuildArgs),
    /// Build and run an agent, and again each time its source changes.
    Dev(dev_cmd::DevArgs),
    /// Check policy bundles against the Cordon schema and test their decisions.
    #[command(subcommand)]
    Policy(policy_cmd::PolicyCommand),
    /// Verify, query and export the decision log.
    #[command(subcommand)]
    Audit(audit_cmd::AuditCommand),
    /// Define collections, import records, erase subjects, hold and release records.
    #[command(subcommand)]
    Records(records_cmd::RecordsCommand),
    /// Serve the authenticated HTTP API: tenants, components, policy bundles, runs.
    Serve(serve_cmd::ServeArgs),
    /// A development identity provider: make a key, sign on-behalf-of tokens (demos only).
    #[command(subcommand)]
    Token(serve_cmd::TokenCommand),
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_env("CORDON_LOG"))
        // With `CORDON_LOG=info`, each host call's span reports its time when it closes.
        .with_span_events(tracing_subscriber::fmt::format::FmtSpan::CLOSE)
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Run(args) => run_cmd::run(*args, &cli.data),
        Command::Compile(args) => compile_cmd::run(args, &cli.data),
        Command::New(args) => new_cmd::run(args),
        Command::Build(args) => build_cmd::run(args),
        Command::Dev(args) => dev_cmd::run(args, &cli.data),
        Command::Policy(cmd) => policy_cmd::run(cmd),
        Command::Audit(cmd) => audit_cmd::run(cmd, &cli.data),
        Command::Serve(args) => serve_cmd::serve(args, &cli.data),
        Command::Token(cmd) => serve_cmd::token(cmd),
        Command::Records(cmd) => records_cmd::run(cmd, &cli.data),
    };
    match result {
        Ok(code) => code,
        // The reader of our output went away (`| head`): nothing is wrong.
        Err(e) if e.is::<out::Closed>() => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            for cause in e.chain().skip(1) {
                eprintln!("  caused by: {cause}");
            }
            ExitCode::from(EXIT_BAD_INPUT)
        }
    }
}
