//! Compiling a new Python component: cold, with an empty cache (the baseline), beside the same
//! component after another Python component with the same componentize-py interpreter
//! (python-hello) filled the function cache, in one run. Also, for scale, the same bytes read
//! back whole from the component cache (what a second `cordon run` of a component does).
//!
//! Each sample compiles `python-wordcount` in a fresh cache directory: empty for `cold`; holding
//! only the function cache python-hello left (`functions.redb`, copied, so no sample sees
//! another's functions) for `after-python-hello`.
//!
//! Needs `build/guests/python-hello.wasm` and `build/guests/python-wordcount.wasm`
//! (`scripts/build-guests.sh python-hello python-wordcount`); without them it says so and
//! measures nothing.

#![expect(
    clippy::expect_used,
    reason = "a bench that cannot set up should stop loudly"
)]

use cordon_benches as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use cordon_runtime::{CodeSource, CordonEngine, EngineOptions};
use criterion::{Criterion, SamplingMode, criterion_group, criterion_main};

const FUNCTION_CACHE_FILE: &str = "functions.redb";

fn guest(name: &str) -> Option<Vec<u8>> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../build/guests")
        .join(format!("{name}.wasm"));
    std::fs::read(&path).ok()
}

/// Load `bytes` in a new engine whose cache directory is `cache`; its report says how.
fn load(cache: &Path, bytes: &[u8]) -> (Duration, CodeSource) {
    let engine = CordonEngine::new(EngineOptions {
        cache_dir: Some(cache.to_path_buf()),
        ..EngineOptions::default()
    })
    .expect("engine");
    let started = Instant::now();
    let c = engine.load(bytes).expect("load");
    (started.elapsed(), c.compile_report().source)
}

fn compile(c: &mut Criterion) {
    let (Some(hello), Some(wordcount)) = (guest("python-hello"), guest("python-wordcount")) else {
        eprintln!(
            "compile bench skipped: build/guests lacks python-hello.wasm or python-wordcount.wasm \
             (scripts/build-guests.sh python-hello python-wordcount)"
        );
        return;
    };
    let scratch = tempfile::tempdir().expect("tempdir");
    // python-hello's functions, once.
    let warm: PathBuf = scratch.path().join("warm");
    load(&warm, &hello);
    let functions = warm.join(FUNCTION_CACHE_FILE);
    assert!(functions.exists(), "python-hello left no function cache");
    // python-wordcount whole, once.
    let whole = scratch.path().join("whole");
    load(&whole, &wordcount);

    let mut sample = 0u64;
    let mut fresh = || {
        sample += 1;
        scratch.path().join(format!("sample-{sample}"))
    };
    let mut g = c.benchmark_group("compile_python_wordcount");
    // Seconds per iteration: ten samples of one compile each, not criterion's growing counts.
    g.sampling_mode(SamplingMode::Flat)
        .sample_size(10)
        .warm_up_time(Duration::from_millis(1))
        .measurement_time(Duration::from_secs(60));
    g.bench_function("cold", |b| {
        b.iter_custom(|iters| {
            (0..iters)
                .map(|_| {
                    let dir = fresh();
                    let (took, source) = load(&dir, &wordcount);
                    assert_eq!(source, CodeSource::Compiled);
                    let _ = std::fs::remove_dir_all(&dir);
                    took
                })
                .sum()
        });
    });
    g.bench_function("after-python-hello", |b| {
        b.iter_custom(|iters| {
            (0..iters)
                .map(|_| {
                    let dir = fresh();
                    std::fs::create_dir_all(&dir).expect("dir");
                    std::fs::copy(&functions, dir.join(FUNCTION_CACHE_FILE)).expect("copy");
                    let (took, source) = load(&dir, &wordcount);
                    assert_eq!(source, CodeSource::Compiled);
                    let _ = std::fs::remove_dir_all(&dir);
                    took
                })
                .sum()
        });
    });
    g.bench_function("component-cache", |b| {
        b.iter_custom(|iters| {
            (0..iters)
                .map(|_| {
                    let (took, source) = load(&whole, &wordcount);
                    assert_eq!(source, CodeSource::ComponentCache);
                    took
                })
                .sum()
        });
    });
    g.finish();
}

criterion_group!(benches, compile);
criterion_main!(benches);
