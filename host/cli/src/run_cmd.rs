//! `cordon run`: one component, one input, one JSON report.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use cap_std::ambient_authority;
use cap_std::fs::Dir;
use clap::Args;
use cordon_audit::{AuditLog, LogOptions};
use cordon_policy::{Human, RunContext, Taint};
use cordon_runtime::{
    CordonEngine, EngineOptions, Invocation, Language, RecordsGrant, RunLimits, Source,
};

use crate::egress::EgressSettings;
use crate::{policy_cmd, runners};

#[derive(Args)]
#[command(after_help = "\
The report (JSON, on stdout) has: status (ok, denied-and-handled, error, limit-exceeded, trap), \
output, stdout, stderr, every decision (action, resource, allow/deny, deciding policies), fuel \
used, peak memory, wall time and the decision log's head hash.

When the agent's own code fails (an uncaught Python or JavaScript exception, a Rust panic), the \
status is error and `error` says so in the agent's terms: kind exception (message `Type: \
message`) or panic, `location` (file and line of the agent's source), `traceback` (the agent's \
frames) and, when the code reached for files or the network without the SDK (`open`, `urllib`, \
`socket`, `requests`, `fetch`), a `hint` naming the SDK call to use; the full traceback is in \
stderr. A trap no SDK explained is status trap, with wasmtime's message.

Exit status: 0 when the component returned output (even if it handled denials), 1 when the run \
failed (the guest returned an error, its code failed, it hit a limit or trapped), 2 for bad input \
(an unreadable or invalid component, policy or argument).

Source runs: a `.py`, `.js` or `.rhai` file is run as sent by Cordon's runner for its language. \
Python and JavaScript define `main(input)`, whose return value is the output, and reach files, \
http and records through the SDK (`cordon_guest` in Python); a Rhai script (Rex's language) sees \
`input`, its last value is the output, and it calls Rex's functions (`cat`, `write`, `ls`, `info`). Policies see `context.code` (language, digest); the report and every \
decision name the source's digest, and `cordon audit source DIGEST` prints it back. A syntax error \
is an `invalid` error with its line and column; an uncaught exception an `exception` error with \
its type, message, line and traceback (and a `hint` when it reached for files or the network).

Examples:
  cordon run hello.wasm --policy hello.cedar --root ./files --user alice --role analyst \\
      --purpose reporting --engagement q3 --input '{\"name\": \"hello.txt\"}'
  cordon run agent.py --policy hello.cedar --root ./files --input '{\"n\": 3}'")]
pub(crate) struct RunArgs {
    /// The component (.wasm) to run; it must target the cordon:agent/agent world. Or agent
    /// source to run as sent: a `.py` or `.js` file defining `main(input)`, or a `.rhai` script,
    /// run by Cordon's runner for its language under the same policy, limits and log.
    component: PathBuf,

    /// Run the file as source in this language (`python`, `javascript` or `rhai`) whatever its
    /// extension.
    #[arg(long, value_name = "LANGUAGE", value_parser = parse_language)]
    language: Option<Language>,

    /// The folder holding the runner components (`python.wasm`, `javascript.wasm`) that source
    /// runs use. Default: `<data>/runners`, then `build/runners` of the Cordon checkout this
    /// binary was built in (scripts/build-guests.sh builds them).
    #[arg(long, value_name = "DIR", env = "CORDON_RUNNERS")]
    runners: Option<PathBuf>,

    /// The policy bundle: a .cedar file or a directory of them. Everything it does not permit
    /// is denied.
    #[arg(long, short = 'p')]
    policy: PathBuf,

    /// The directory the component's fs calls work in. Without it, fs calls are answered
    /// `unsupported` (after the policy check).
    #[arg(long)]
    root: Option<PathBuf>,

    /// Run a Rhai script as Rex runs it: its paths are host paths, and DIR is the host
    /// directory the run may reach (the run's root: `DIR/a.txt` is the run's `/a.txt`; nothing
    /// outside it exists). Each check Rex makes (open the directory, open the file, read it) is
    /// one decision. A Rex policy (`file_system::Action::"read"`, ...) given to --policy is
    /// translated for this root as `cordon policy from-rex` does, its notes on stderr.
    #[arg(long, value_name = "DIR", conflicts_with = "root")]
    rex_root: Option<PathBuf>,

    /// JSON input handed to the component's `run`.
    #[arg(long, default_value = "{}", conflicts_with = "input_file")]
    input: String,

    /// Read the JSON input from a file instead.
    #[arg(long)]
    input_file: Option<PathBuf>,

    /// The human the run acts for. Without it, the run is unattended (`principal has human`
    /// is false in policies).
    #[arg(long)]
    user: Option<String>,

    /// A role of the user (repeatable): policies see `principal.human in Cordon::Role::"<role>"`.
    #[arg(long = "role", requires = "user")]
    roles: Vec<String>,

    /// The purpose of the run, seen by policies as `context.purpose` (record policies and
    /// consent are given per purpose: without one, records are usually withheld).
    #[arg(long, default_value = UNSET_PURPOSE)]
    purpose: String,

    /// The engagement (case, ticket) the run belongs to: `context.engagement`.
    #[arg(long, default_value = "none")]
    engagement: String,

    /// The tenant the run belongs to: `principal.tenant`.
    #[arg(long, default_value = "local")]
    tenant: String,

    /// Fuel (roughly, instructions) the run may use.
    #[arg(long)]
    fuel: Option<u64>,

    /// Memory the run may hold, in bytes; K, M, G suffixes (powers of 1024) are accepted.
    #[arg(long, value_parser = parse_size)]
    memory: Option<u64>,

    /// Wall-clock limit in milliseconds.
    #[arg(long)]
    timeout: Option<u64>,

    /// Most bytes of output (the result, and stdout plus stderr); K, M, G suffixes accepted.
    #[arg(long, value_parser = parse_size)]
    max_output: Option<u64>,

    /// Most host calls (fs, http, records) the run may make.
    #[arg(long)]
    max_host_calls: Option<u64>,

    /// Most bytes the run may write to files (fs write and append together; default 64M); a
    /// write past it is refused whole with `limit-exceeded`. K, M, G suffixes accepted.
    #[arg(long, value_parser = parse_size)]
    max_write: Option<u64>,

    /// Largest component accepted, in bytes (default 256M); K, M, G suffixes accepted.
    #[arg(long, value_parser = parse_size)]
    max_component: Option<u64>,

    /// Most milliseconds the component may take to compile (default 120000); a slower one is
    /// refused. Compilation does not count against `--timeout`.
    #[arg(long, value_name = "MS", value_parser = clap::value_parser!(u64).range(1..))]
    compile_timeout: Option<u64>,

    /// How long to wait, in milliseconds, for another `cordon run` or `cordon serve` on the
    /// same data directory to release the decision log before giving up.
    #[arg(long, value_name = "MS", default_value_t = 30_000)]
    log_wait: u64,

    /// An address range http calls may reach although it is special-purpose (repeatable), e.g.
    /// `127.0.0.0/8` for a local test server. Without it, loopback, private, link-local (cloud
    /// metadata), unique-local and other special ranges are refused whatever the policy says.
    #[arg(long = "allow-egress-range", value_name = "CIDR")]
    egress_ranges: Vec<String>,

    /// Most bytes of one http response body; K, M, G suffixes accepted.
    #[arg(long, value_parser = parse_size)]
    max_response: Option<u64>,

    /// Most milliseconds one http request may take, redirects included (default 30000); a
    /// slower request is abandoned and the guest gets `limit-exceeded`.
    #[arg(long, value_name = "MS", value_parser = clap::value_parser!(u64).range(1..))]
    http_timeout: Option<u64>,

    /// A PEM file of certificate authorities https may also trust besides the public web PKI
    /// (repeatable), e.g. an internal CA.
    #[arg(long = "http-ca", value_name = "FILE")]
    http_cas: Vec<PathBuf>,

    /// Labels of data the input already contains, as JSON, e.g. `{"classification": 2,
    /// "categories": ["health"]}`; policies see them as `context.taint` on http and fs writes.
    #[arg(long, value_name = "JSON")]
    input_taint: Option<String>,

    /// The region this host runs in, seen by record policies as `context.host_region` (e.g.
    /// `eu-west` for EU residency rules). Records are read from `<data>/records.redb` when it
    /// exists; otherwise records calls are answered `unsupported`.
    #[arg(long, default_value = "local")]
    region: String,
}

/// `dir` as the absolute host path a Rex script names it by (symlinks resolved).
fn host_path(dir: &Path) -> anyhow::Result<String> {
    let full = std::fs::canonicalize(dir)
        .with_context(|| format!("cannot open root directory `{}`", dir.display()))?;
    full.to_str().map(str::to_owned).with_context(|| {
        format!(
            "the root `{}` is not UTF-8: Rex paths are text",
            full.display()
        )
    })
}

/// `python`, `javascript` (also `py`, `js`).
fn parse_language(s: &str) -> Result<Language, String> {
    Language::from_name(s).ok_or_else(|| format!("`{s}` is not a language ({})", Language::names()))
}

/// `65536`, `64K`, `16M`, `1G` (also `KiB`, `MiB`, `GiB`).
pub(crate) fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (digits, unit) = t.split_at(split);
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("`{s}` is not a size (e.g. 65536, 64K, 16M, 1G)"))?;
    let shift = match unit.trim().to_ascii_uppercase().as_str() {
        "" | "B" => 0,
        "K" | "KB" | "KIB" => 10,
        "M" | "MB" | "MIB" => 20,
        "G" | "GB" | "GIB" => 30,
        _ => return Err(format!("`{s}` has an unknown unit (use K, M or G)")),
    };
    n.checked_mul(1 << shift)
        .ok_or_else(|| format!("`{s}` is too large"))
}

/// The purpose of a run given none.
const UNSET_PURPOSE: &str = "unspecified";

pub(crate) fn run(args: RunArgs, data: &Path) -> anyhow::Result<ExitCode> {
    let args_purpose_unset = args.purpose == UNSET_PURPOSE;
    let defaults = RunLimits::default();
    let limits = RunLimits {
        fuel: args.fuel.unwrap_or(defaults.fuel),
        memory_bytes: args.memory.unwrap_or(defaults.memory_bytes),
        timeout_ms: args.timeout.unwrap_or(defaults.timeout_ms),
        max_output_bytes: args.max_output.unwrap_or(defaults.max_output_bytes),
        max_host_calls: args.max_host_calls.unwrap_or(defaults.max_host_calls),
        max_write_bytes: args.max_write.unwrap_or(defaults.max_write_bytes),
    };
    limits.validate().context("invalid limit")?;
    let input = match &args.input_file {
        Some(f) => std::fs::read_to_string(f)
            .with_context(|| format!("cannot read input file `{}`", f.display()))?,
        None => args.input.clone(),
    };
    if let Err(e) = serde_json::from_str::<serde_json::Value>(&input) {
        bail!("the input is not valid JSON: {e}");
    }
    let egress = EgressSettings {
        allow_ranges: args.egress_ranges.clone(),
        trusted_ca_files: args.http_cas.clone(),
        request_timeout_ms: args.http_timeout,
        max_response_bytes: args.max_response,
    }
    .into_policy()?;
    let taint: Taint = match &args.input_taint {
        Some(t) => serde_json::from_str(t)
            .with_context(|| format!("--input-taint `{t}` is not a taint"))?,
        None => Taint::default(),
    };
    // A Rex root is a host path the script names: the directory itself, made absolute.
    let rex_root = match &args.rex_root {
        Some(dir) => Some(host_path(dir)?),
        None => match &args.root {
            Some(dir) => Some(host_path(dir)?),
            None => None,
        },
    };
    let (bundle, rex_policy) = policy_cmd::load_bundle(&args.policy, rex_root.as_deref())?;
    // Source (by --language or the file's extension) runs in the runner for its language.
    let source = match args
        .language
        .or_else(|| Language::from_path(&args.component))
    {
        Some(language) => {
            let code = std::fs::read_to_string(&args.component).with_context(|| {
                format!(
                    "cannot read source `{}` as UTF-8 text",
                    args.component.display()
                )
            })?;
            let mut source = Source::new(language, code)
                .with_context(|| format!("source `{}` was refused", args.component.display()))?;
            // A script under a Rex policy, or given a Rex root, runs as Rex runs it.
            if let (Some(root), true) = (&rex_root, rex_policy || args.rex_root.is_some()) {
                source = source.with_rex_root(root.clone()).with_context(|| {
                    format!("cannot run `{}` as Rex does", args.component.display())
                })?;
            }
            Some(source)
        }
        None => None,
    };
    let wasm_path = match &source {
        Some(s) => runners::find(s.language(), args.runners.as_deref(), data)?,
        None => args.component.clone(),
    };
    let bytes = std::fs::read(&wasm_path)
        .with_context(|| format!("cannot read component `{}`", wasm_path.display()))?;
    let root = match args.root.as_ref().or(args.rex_root.as_ref()) {
        Some(r) => Some(
            Dir::open_ambient_dir(r, ambient_authority())
                .with_context(|| format!("cannot open root directory `{}`", r.display()))?,
        ),
        None => None,
    };
    std::fs::create_dir_all(data)
        .with_context(|| format!("cannot create data directory `{}`", data.display()))?;
    // One run allocates on demand: a pool pays for reserving and releasing its slots, which
    // only reuse across runs (`cordon serve`) repays. The runtime's tests check that the
    // SDK's guests fit a slot of the pool all the same.
    let engine_defaults = EngineOptions::default();
    let engine = CordonEngine::new(EngineOptions {
        cache_dir: Some(data.join("cache")),
        pool: None,
        max_component_bytes: match args.max_component {
            Some(n) => usize::try_from(n).context("--max-component is too large")?,
            None => engine_defaults.max_component_bytes,
        },
        compile_timeout: args
            .compile_timeout
            .map_or(engine_defaults.compile_timeout, Duration::from_millis),
        ..engine_defaults
    })?;
    let component = engine
        .load(&bytes)
        .with_context(|| format!("component `{}` was refused", wasm_path.display()))?;
    if let Some(warning) = &component.compile_report().cache_warning {
        eprintln!("warning: {warning}");
    }
    let log_path = data.join(cordon_audit::LOG_FILE);
    // Another `cordon run` on this data directory holds the log until it ends: wait for it.
    let log_options = LogOptions {
        lock_wait: Duration::from_millis(args.log_wait),
        ..LogOptions::in_dir(data)
    };
    let log = AuditLog::open(&log_path, log_options)
        .with_context(|| format!("cannot open the decision log `{}`", log_path.display()))?;
    let log = Arc::new(log);
    let records_path = data.join(cordon_records::RECORDS_FILE);
    let has_records = records_path.exists();
    let records = if has_records {
        let store = cordon_records::RecordStore::open(&records_path)?;
        Some(RecordsGrant {
            store: Arc::new(store),
            region: args.region.clone(),
        })
    } else {
        None
    };
    let inv = Invocation {
        run_id: uuid::Uuid::new_v4().to_string(),
        tenant: args.tenant,
        human: args.user.map(|u| Human::new(u, args.roles)),
        context: RunContext::new(args.purpose, args.engagement),
        bundle,
        root,
        limits,
        log,
        input,
        egress,
        taint,
        shadow: None,
        cancel: None,
        records,
    };
    let report = match &source {
        Some(source) => engine.run_source(&component, source, inv)?,
        None => engine.run(&component, inv)?,
    };
    // The guest ended on a records call this run had no store for: say where one was looked for.
    let unsupported_records = report
        .error
        .as_ref()
        .is_some_and(|e| e.kind == "unsupported" && e.message.contains("records store"));
    if !has_records && unsupported_records {
        eprintln!(
            "note: there is no records store at `{}`: `cordon records define` and `cordon \
             records import` create it there (--data or CORDON_DATA choose another data \
             directory)",
            records_path.display()
        );
    }
    if args_purpose_unset
        && report
            .decisions
            .iter()
            .any(|d| d.action.starts_with("records:"))
    {
        eprintln!(
            "note: this run read records without --purpose (`context.purpose` was \
             `{UNSET_PURPOSE}`): record policies grant reads for a purpose, and subjects \
             consent to purposes, so it may have been shown nothing; say why it reads with \
             --purpose"
        );
    }
    // The policy allowed a request the host's egress guard refused: say which flag allows it.
    if let Some(d) = report
        .decisions
        .iter()
        .find(|d| d.policy_ids == [cordon_runtime::EGRESS_GUARD])
    {
        eprintln!(
            "note: the policy allowed {} {}, but `{}` refused it: the host's address is \
             special-purpose (loopback, private, link-local, ...; CORDON_LOG=cordon.http=info \
             logs which); allow its range with --allow-egress-range CIDR, e.g. 127.0.0.0/8",
            d.action,
            d.resource,
            cordon_runtime::EGRESS_GUARD
        );
    }
    let succeeded = report.status.succeeded();
    let mut report = report;
    let decisions = std::mem::take(&mut report.decisions);
    let mut head = serde_json::to_value(&report)?;
    // Show JSON output as JSON rather than as an escaped string.
    if let Some(out) = report
        .output
        .as_deref()
        .and_then(|o| serde_json::from_str::<serde_json::Value>(o).ok())
    {
        head["output"] = out;
    }
    crate::out::json(&Shown {
        head,
        decisions: &decisions,
    })?;
    Ok(if succeeded {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// A run's report as printed: its fields as a JSON value (small, with the output shown as
/// JSON), with the decisions, which can be tens of thousands, serialised in their place
/// straight from the report rather than through a value each.
struct Shown<'a> {
    head: serde_json::Value,
    decisions: &'a [cordon_runtime::DecisionRecord],
}

impl serde::Serialize for Shown<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let Some(fields) = self.head.as_object() else {
            return self.head.serialize(serializer);
        };
        let mut map = serializer.serialize_map(Some(fields.len()))?;
        for (key, value) in fields {
            if key == "decisions" {
                map.serialize_entry(key, self.decisions)?;
            } else {
                map.serialize_entry(key, value)?;
            }
        }
        map.end()
    }
}

#[cfg(test)]
mod tests {
    use super::parse_size;

    #[test]
    fn a_printed_report_keeps_its_decisions_in_their_place_and_in_order() {
        let decision = |seq| cordon_runtime::DecisionRecord {
            seq,
            action: "fs:read".into(),
            resource: r#"Cordon::File::"/a.txt""#.into(),
            decision: "allow",
            policy_ids: vec!["p".into()],
            taint: None,
        };
        let decisions = [decision(7), decision(8)];
        let head = serde_json::json!({"run_id": "r", "decisions": [], "output": {"n": 1}});
        let shown = serde_json::to_value(super::Shown {
            head,
            decisions: &decisions,
        })
        .unwrap();
        assert_eq!(
            shown.as_object().unwrap().keys().collect::<Vec<_>>(),
            ["run_id", "decisions", "output"]
        );
        assert_eq!(shown["decisions"][1]["seq"], 8);
        assert_eq!(shown["decisions"][0]["policy_ids"][0], "p");
        assert_eq!(shown["output"]["n"], 1);
    }

    #[test]
    fn sizes_take_binary_suffixes_and_reject_nonsense() {
        assert_eq!(parse_size("65536"), Ok(65536));
        assert_eq!(parse_size("64K"), Ok(64 << 10));
        assert_eq!(parse_size("16MiB"), Ok(16 << 20));
        assert_eq!(parse_size("1g"), Ok(1 << 30));
        assert!(parse_size("ten").is_err());
        assert!(parse_size("5T").is_err());
        assert!(parse_size("99999999999999999999G").is_err());
    }
}
