//! Components are validated at load, with errors that name the problem.

use cordon_runtime::LoadError;

use crate::support::engine;

#[test]
fn rejects_a_component_importing_an_unknown_interface_naming_it() {
    let err = engine()
        .load(&cordon_testkit::unknown_import_guest().unwrap())
        .unwrap_err();
    assert!(
        matches!(err, LoadError::UnknownImport(ref n) if n == "evil:net/raw"),
        "{err:?}"
    );
    assert!(err.to_string().contains("`evil:net/raw`"), "{err}");
}

#[test]
fn rejects_a_core_module_with_a_hint() {
    let err = engine()
        .load(&cordon_testkit::core_module().unwrap())
        .unwrap_err();
    assert!(matches!(err, LoadError::CoreModule), "{err:?}");
    assert!(err.to_string().contains("wasm-tools component new"));
}

#[test]
fn rejects_a_malformed_file() {
    let err = engine().load(b"\0asm\x0d\0\x01\0garbage").unwrap_err();
    assert!(matches!(err, LoadError::Malformed(_)), "{err:?}");
    let err = engine()
        .load(b"\x7fELF not wasm at all \xff\xfe")
        .unwrap_err();
    assert!(matches!(err, LoadError::NotWasm), "{err:?}");
    let err = engine().load(b"").unwrap_err();
    assert!(matches!(err, LoadError::NotWasm), "{err:?}");
}

#[test]
fn rejects_a_component_without_the_run_export() {
    let wit = tempfile::tempdir().unwrap();
    std::fs::write(
        wit.path().join("w.wit"),
        "package test:norun; world w { export start: func(input: string) -> string; }",
    )
    .unwrap();
    let bytes = cordon_testkit::component_of_world(
        r#"(module (memory (export "memory") 1)
             (func (export "cabi_realloc") (param i32 i32 i32 i32) (result i32) (i32.const 1024))
             (func (export "start") (param i32 i32) (result i32) (i32.const 0)))"#,
        wit.path(),
        "w",
    )
    .unwrap();
    let err = engine().load(&bytes).unwrap_err();
    assert!(matches!(err, LoadError::MissingRun(_)), "{err:?}");
}

#[test]
fn refuses_a_component_larger_than_the_engine_accepts_naming_both_sizes() {
    let bytes = cordon_testkit::echo_guest().unwrap();
    let engine = cordon_runtime::CordonEngine::new(cordon_runtime::EngineOptions {
        max_component_bytes: 100,
        ..cordon_runtime::EngineOptions::default()
    })
    .unwrap();
    let err = engine.load(&bytes).unwrap_err();
    assert!(
        matches!(err, LoadError::TooLarge { size, limit: 100 } if size == bytes.len()),
        "{err:?}"
    );
    assert!(err.to_string().contains("100 bytes"), "{err}");
}

#[test]
fn refuses_a_component_that_compiles_longer_than_the_limit() {
    let bytes = cordon_testkit::echo_guest().unwrap();
    let limit = std::time::Duration::from_micros(1);
    let engine = cordon_runtime::CordonEngine::new(cordon_runtime::EngineOptions {
        compile_timeout: limit,
        ..cordon_runtime::EngineOptions::default()
    })
    .unwrap();
    let err = engine.load(&bytes).unwrap_err();
    assert!(
        matches!(err, LoadError::CompileTimeout { limit: l } if l == limit),
        "{err:?}"
    );
    assert!(err.to_string().contains("did not compile within"), "{err}");
    // The default limit compiles the same component.
    assert!(crate::support::engine().load(&bytes).is_ok());
}

#[test]
fn names_a_component_by_the_blake3_digest_of_its_bytes() {
    let bytes = cordon_testkit::echo_guest().unwrap();
    let c = engine().load(&bytes).unwrap();
    assert_eq!(c.digest(), blake3::hash(&bytes).to_hex().as_str());
    assert_eq!(c.size(), bytes.len());
}

#[test]
fn compiled_components_are_cached_on_disk_across_engines() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let options = cordon_runtime::EngineOptions {
        cache_dir: Some(cache.clone()),
        ..cordon_runtime::EngineOptions::default()
    };
    let bytes = cordon_testkit::read_guest().unwrap();
    cordon_runtime::CordonEngine::new(options.clone())
        .unwrap()
        .load(&bytes)
        .unwrap();
    let files = walk(&cache);
    assert!(!files.is_empty(), "nothing cached in {}", cache.display());
    // A second engine (as in a second process) loads from the cache and adds nothing.
    cordon_runtime::CordonEngine::new(options)
        .unwrap()
        .load(&bytes)
        .unwrap();
    assert_eq!(walk(&cache).len(), files.len());
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(walk(&p))
            } else {
                out.push(p)
            }
        }
    }
    out
}

#[test]
fn a_new_component_reuses_the_functions_an_earlier_one_compiled() {
    use cordon_runtime::CodeSource;
    let dir = tempfile::tempdir().unwrap();
    let options = cordon_runtime::EngineOptions {
        cache_dir: Some(dir.path().join("cache")),
        ..cordon_runtime::EngineOptions::default()
    };
    let first = cordon_runtime::CordonEngine::new(options.clone()).unwrap();
    let echo = first.load(&cordon_testkit::echo_guest().unwrap()).unwrap();
    let report = echo.compile_report();
    assert_eq!(report.source, CodeSource::Compiled);
    assert!(report.functions_compiled > 0, "{report:?}");
    assert_eq!(report.cache_warning, None);
    // The same engine hands the same bytes out again.
    let again = first.load(&cordon_testkit::echo_guest().unwrap()).unwrap();
    assert_eq!(again.compile_report().source, CodeSource::Loaded);

    // Another engine (as in another process): the spin guest shares the echo guest's
    // allocator and component glue, which are not compiled again.
    let second = cordon_runtime::CordonEngine::new(options).unwrap();
    let spin = second.load(&cordon_testkit::spin_guest().unwrap()).unwrap();
    let report = spin.compile_report();
    assert_eq!(report.source, CodeSource::Compiled);
    assert!(report.functions_reused > 0, "{report:?}");
    // And the echo guest's bytes come whole from the component cache.
    let echo = second.load(&cordon_testkit::echo_guest().unwrap()).unwrap();
    assert_eq!(echo.compile_report().source, CodeSource::ComponentCache);
    assert_eq!(echo.compile_report().functions_compiled, 0);
}

#[test]
fn loads_wait_for_the_compilation_before_them_within_their_timeout() {
    let engine = std::sync::Arc::new(crate::support::engine());
    let loads: Vec<_> = [
        cordon_testkit::echo_guest().unwrap(),
        cordon_testkit::spin_guest().unwrap(),
        cordon_testkit::trap_guest().unwrap(),
    ]
    .into_iter()
    .map(|bytes| {
        let engine = engine.clone();
        std::thread::spawn(move || engine.load(&bytes).map(|c| c.digest().to_owned()))
    })
    .collect();
    for l in loads {
        assert!(l.join().unwrap().is_ok());
    }
}

/// The `.cwasm` files of the whole-component cache under `cache`.
fn artifacts_under(cache: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let Ok(engines) = std::fs::read_dir(cache.join("artifacts")) else {
        return out;
    };
    for engine in engines {
        for file in std::fs::read_dir(engine.unwrap().path()).unwrap() {
            let path = file.unwrap().path();
            if path.extension().is_some_and(|e| e == "cwasm") {
                out.push(path);
            }
        }
    }
    out
}

#[test]
fn a_damaged_or_foreign_cached_component_is_compiled_again_not_trusted() {
    use cordon_runtime::CodeSource;
    let dir = tempfile::tempdir().unwrap();
    let options = cordon_runtime::EngineOptions {
        cache_dir: Some(dir.path().join("cache")),
        ..cordon_runtime::EngineOptions::default()
    };
    let echo = cordon_testkit::echo_guest().unwrap();
    let first = cordon_runtime::CordonEngine::new(options.clone()).unwrap();
    let loaded = first.load(&echo).unwrap();
    let files = artifacts_under(&dir.path().join("cache"));
    assert_eq!(files.len(), 1, "{files:?}");
    assert_eq!(
        files[0].file_name().unwrap().to_str().unwrap(),
        format!("{}.cwasm", loaded.digest())
    );
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&files[0]).unwrap().permissions().mode() & 0o777,
        0o600
    );
    // A file that is not wasmtime's (garbage, or cut short) is refused by its header check,
    // and the component compiled and kept again.
    for damage in [b"not compiled code".to_vec(), {
        let mut b = std::fs::read(&files[0]).unwrap();
        b.truncate(b.len() / 2);
        b
    }] {
        std::fs::write(&files[0], damage).unwrap();
        let engine = cordon_runtime::CordonEngine::new(options.clone()).unwrap();
        let again = engine.load(&echo).unwrap();
        assert_eq!(again.compile_report().source, CodeSource::Compiled);
        let engine = cordon_runtime::CordonEngine::new(options.clone()).unwrap();
        let again = engine.load(&echo).unwrap();
        assert_eq!(again.compile_report().source, CodeSource::ComponentCache);
    }
}

#[test]
fn the_component_cache_keeps_within_its_bound_dropping_the_oldest() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let measure = cordon_runtime::CordonEngine::new(cordon_runtime::EngineOptions {
        cache_dir: Some(cache.clone()),
        ..cordon_runtime::EngineOptions::default()
    })
    .unwrap();
    measure
        .load(&cordon_testkit::echo_guest().unwrap())
        .unwrap();
    let one = std::fs::metadata(&artifacts_under(&cache)[0])
        .unwrap()
        .len();
    // Room for about one and a half compiled guests.
    let engine = cordon_runtime::CordonEngine::new(cordon_runtime::EngineOptions {
        cache_dir: Some(cache.clone()),
        artifact_cache_bytes: one * 3 / 2,
        ..cordon_runtime::EngineOptions::default()
    })
    .unwrap();
    for guest in [
        cordon_testkit::spin_guest().unwrap(),
        cordon_testkit::trap_guest().unwrap(),
    ] {
        engine.load(&guest).unwrap();
        let files = artifacts_under(&cache);
        let total: u64 = files
            .iter()
            .map(|f| std::fs::metadata(f).unwrap().len())
            .sum();
        assert!(total <= one * 3 / 2, "{total} bytes in {files:?}");
        assert!(!files.is_empty());
    }
}
