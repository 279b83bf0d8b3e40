//! Source runs (agent-written Python, JavaScript and Rhai run as sent by Cordon's runners)
//! beside a component doing the same, in one run:
//!
//! - `source_constant`: `main` returning a constant, as Python and JavaScript source, beside
//!   the Rust `bench-ops` guest answering `{"op": "none"}` (the baseline: a run that does
//!   nothing) — what a source run costs end to end in-process: instantiate the runner from the
//!   pool, hand it the source, compile and call `main`, log nothing.
//! - `source_fs_read_x1000`: 1,000 gated `fs.read` calls of one file from Python and
//!   JavaScript source, and 1,000 `cat`s from a Rhai script, beside the `bench-ops` guest doing
//!   the same 1,000 reads. Subtract the constant run and divide by 1,000 for µs per call.
//!   `rhai_rex_mode` runs the same script as Rex does (`Source::with_rex_root`): each `cat` makes
//!   Rex's three checks (stat the directory, stat the file, read it), three decisions.
//!
//! Needs `build/runners/{python,javascript,rhai}.wasm` and `build/guests/bench-ops.wasm`
//! (`scripts/build-guests.sh`); a missing one is skipped with a message.

#![expect(
    clippy::expect_used,
    reason = "a bench that cannot set up should stop loudly"
)]

use cordon_benches as _;
use std::hint::black_box;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use cap_std::ambient_authority;
use cap_std::fs::Dir;
use cordon_audit::AuditLog;
use cordon_policy::{PolicyBundle, RunContext};
use cordon_runtime::{
    CordonEngine, EngineOptions, Invocation, Language, LoadedComponent, PoolOptions, RunLimits,
    RunStatus, Source,
};
use criterion::{Criterion, criterion_group, criterion_main};

const READS: usize = 1_000;

const PY_CONSTANT: &str = "def main(input):\n    return 42\n";
const JS_CONSTANT: &str = "function main(input) {\n  return 42;\n}\n";
const PY_READS: &str = "from cordon_guest import fs\n\n\
def main(input):\n    n = 0\n    for _ in range(input[\"times\"]):\n        \
n += len(fs.read(\"one.txt\"))\n    return n\n";
const JS_READS: &str = "function main(input) {\n  let n = 0;\n  \
for (let i = 0; i < input.times; i++) {\n    n += cordon.fs.read(\"one.txt\").length;\n  }\n  \
return n;\n}\n";
const RHAI_CONSTANT: &str = "42\n";
const RHAI_READS: &str = "let n = 0;\nfor i in 0..input.times { n += cat(input.path).len(); }\nn\n";

fn built(rel: &str) -> Option<Vec<u8>> {
    std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(rel)).ok()
}

fn source(c: &mut Criterion) {
    let engine = CordonEngine::new(EngineOptions {
        cache_dir: None,
        pool: Some(PoolOptions { max_runs: 4 }),
        ..EngineOptions::default()
    })
    .expect("engine");
    let load = |rel: &str| -> Option<LoadedComponent> {
        match built(rel) {
            Some(bytes) => Some(engine.load(&bytes).expect("load")),
            None => {
                eprintln!("source bench: {rel} is missing (scripts/build-guests.sh); skipped");
                None
            }
        }
    };
    let rust = load("build/guests/bench-ops.wasm");
    let python = load("build/runners/python.wasm");
    let javascript = load("build/runners/javascript.wasm");
    let rhai = load("build/runners/rhai.wasm");

    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir(dir.path().join("root")).expect("mkdir");
    std::fs::write(dir.path().join("root/one.txt"), "hello").expect("write");
    let log = Arc::new(AuditLog::open_in(dir.path()).expect("log"));
    let bundle = PolicyBundle::load(
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../policies/examples/allow-all.cedar"
        )
        .as_ref(),
    )
    .expect("bundle");
    let invocation = |input: &str| Invocation {
        run_id: "bench".into(),
        tenant: "bench".into(),
        human: None,
        context: RunContext::new("benchmark", "none"),
        bundle: bundle.clone(),
        root: Some(
            Dir::open_ambient_dir(dir.path().join("root"), ambient_authority()).expect("root"),
        ),
        limits: RunLimits {
            max_host_calls: 3 * READS as u64 + 10,
            ..RunLimits::default()
        },
        log: log.clone(),
        input: input.into(),
        egress: cordon_runtime::EgressPolicy::default(),
        taint: cordon_policy::Taint::default(),
        shadow: None,
        cancel: None,
        records: None,
    };
    let check = |r: &cordon_runtime::RunReport, decisions: usize| {
        assert_eq!(r.status, RunStatus::Ok, "{:?} {:?}", r.error, r.trap);
        assert_eq!(r.decisions.len(), decisions);
    };
    let run_source = |runner: &LoadedComponent, language, code: &str, input: &str, n| {
        let s = Source::new(language, code).expect("source");
        let r = engine
            .run_source(runner, &s, invocation(input))
            .expect("run");
        check(&r, n);
        black_box(r)
    };
    let root = std::fs::canonicalize(dir.path().join("root")).expect("root path");
    let root = root.to_str().expect("utf-8 root").to_owned();
    let run_rex = |runner: &LoadedComponent, code: &str, input: &str, n| {
        let s = Source::new(Language::Rhai, code)
            .expect("source")
            .with_rex_root(root.clone())
            .expect("rex root");
        let r = engine
            .run_source(runner, &s, invocation(input))
            .expect("run");
        check(&r, n);
        black_box(r)
    };

    let mut g = c.benchmark_group("source_constant");
    g.sample_size(30).measurement_time(Duration::from_secs(10));
    if let Some(rust) = &rust {
        g.bench_function("rust_component_baseline", |b| {
            b.iter(|| {
                let r = engine
                    .run(rust, invocation(r#"{"op": "none"}"#))
                    .expect("run");
                check(&r, 0);
                black_box(r)
            })
        });
    }
    if let Some(py) = &python {
        g.bench_function("python_source", |b| {
            b.iter(|| run_source(py, Language::Python, PY_CONSTANT, "{}", 0))
        });
    }
    if let Some(js) = &javascript {
        g.bench_function("javascript_source", |b| {
            b.iter(|| run_source(js, Language::Javascript, JS_CONSTANT, "{}", 0))
        });
    }
    if let Some(rhai) = &rhai {
        g.bench_function("rhai_source", |b| {
            b.iter(|| run_source(rhai, Language::Rhai, RHAI_CONSTANT, "{}", 0))
        });
    }
    g.finish();

    let reads = format!(r#"{{"op": "read", "path": "one.txt", "times": {READS}}}"#);
    let times = format!(r#"{{"times": {READS}}}"#);
    let cats = format!(r#"{{"times": {READS}, "path": "one.txt"}}"#);
    let rex_cats = format!(r#"{{"times": {READS}, "path": "{root}/one.txt"}}"#);
    let mut g = c.benchmark_group(format!("source_fs_read_x{READS}"));
    g.sample_size(20).measurement_time(Duration::from_secs(10));
    if let Some(rust) = &rust {
        g.bench_function("rust_component_baseline", |b| {
            b.iter(|| {
                let r = engine.run(rust, invocation(&reads)).expect("run");
                check(&r, READS);
                black_box(r)
            })
        });
    }
    if let Some(py) = &python {
        g.bench_function("python_source", |b| {
            b.iter(|| run_source(py, Language::Python, PY_READS, &times, READS))
        });
    }
    if let Some(js) = &javascript {
        g.bench_function("javascript_source", |b| {
            b.iter(|| run_source(js, Language::Javascript, JS_READS, &times, READS))
        });
    }
    if let Some(rhai) = &rhai {
        g.bench_function("rhai_source", |b| {
            b.iter(|| run_source(rhai, Language::Rhai, RHAI_READS, &cats, READS))
        });
        g.bench_function("rhai_rex_mode", |b| {
            b.iter(|| run_rex(rhai, RHAI_READS, &rex_cats, 3 * READS))
        });
    }
    g.finish();
}

criterion_group!(benches, source);
criterion_main!(benches);
