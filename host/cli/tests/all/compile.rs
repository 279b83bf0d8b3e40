//! `cordon compile`: validate and compile ahead of a run, into the cache the run reads.

use crate::support::{Scratch, s};

#[test]
fn compiles_into_the_cache_and_a_second_compile_reads_it_back() {
    let sc = Scratch::new();
    let guest = sc.file("echo.wasm", cordon_testkit::echo_guest().unwrap());
    let first = sc.cordon(&["compile", s(&guest)]);
    assert_eq!(first.code, 0, "{}", first.stderr);
    let j = first.json();
    assert_eq!(
        j["digest"],
        cordon_runtime::digest(&std::fs::read(&guest).unwrap())
    );
    assert_eq!(j["source"], "compiled");
    assert!(j["functions_compiled"].as_u64().unwrap() > 0, "{j}");
    assert!(j["millis"].as_u64().is_some());
    assert!(sc.path("cordon-data/cache/functions.redb").exists());

    let again = sc.cordon(&["compile", s(&guest)]).json();
    assert_eq!(again["source"], "component-cache", "{again}");
    assert_eq!(again["functions_compiled"], 0);
}

#[test]
fn a_new_component_reuses_the_functions_of_one_compiled_before() {
    let sc = Scratch::new();
    // Both guests share the test kit's prelude (its allocator) and the component glue.
    let echo = sc.file("echo.wasm", cordon_testkit::echo_guest().unwrap());
    let spin = sc.file("spin.wasm", cordon_testkit::spin_guest().unwrap());
    let cache = sc.path("elsewhere");
    let compile = |guest| {
        sc.cordon(&["compile", s(guest), "--cache-dir", s(&cache)])
            .json()
    };
    assert_eq!(compile(&echo)["functions_reused"], 0);
    let j = compile(&spin);
    assert_eq!(j["source"], "compiled");
    assert!(j["functions_reused"].as_u64().unwrap() > 0, "{j}");
    assert!(cache.join("functions.redb").exists());
    assert!(
        !sc.path("cordon-data").exists(),
        "--cache-dir replaces the data dir's"
    );
}

#[test]
fn a_corrupt_function_cache_still_compiles_with_a_warning() {
    let sc = Scratch::new();
    sc.file("cordon-data/cache/functions.redb", vec![0xa5; 8192]);
    let guest = sc.file("echo.wasm", cordon_testkit::echo_guest().unwrap());
    let r = sc.cordon(&["compile", s(&guest)]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr.contains("warning: the function cache"),
        "{}",
        r.stderr
    );
    let j = r.json();
    assert_eq!(j["source"], "compiled");
    assert!(
        j["cache_warning"]
            .as_str()
            .unwrap()
            .contains("functions.redb"),
        "{j}"
    );
}

#[test]
fn refuses_what_is_not_a_cordon_component_with_exit_2() {
    let sc = Scratch::new();
    let module = sc.file("core.wasm", cordon_testkit::core_module().unwrap());
    let r = sc.cordon(&["compile", s(&module)]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("not a component"), "{}", r.stderr);
    let unknown = sc.file("evil.wasm", cordon_testkit::unknown_import_guest().unwrap());
    let r = sc.cordon(&["compile", s(&unknown)]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("evil:net/raw"), "{}", r.stderr);
}

#[test]
fn help_says_what_the_caches_are() {
    let r = Scratch::new().cordon(&["compile", "--help"]);
    assert_eq!(r.code, 0);
    assert!(r.stdout.contains("--cache-dir"), "{}", r.stdout);
    assert!(r.stdout.contains("functions.redb"), "{}", r.stdout);
}
