//! `cordon new`, `cordon build` and `cordon dev`: agents written and built outside the
//! repository. The tests that build need the guest toolchain (scripts/install-guest-toolchain.sh,
//! or CORDON_GUEST_TOOLS) and are ignored by a plain `cargo test`; scripts/test.sh and CI run
//! them with `--include-ignored`.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::Value;

use crate::support::{cordon_in, s};

/// A scratch folder outside the repository, and `cordon new NAME --lang LANG` in it.
fn new_agent(name: &str, lang: &str) -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    assert!(!tmp.path().starts_with(repo.canonicalize().unwrap()));
    let r = cordon_in(tmp.path(), &["new", name, "--lang", lang], &[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.trim().ends_with(name), "{}", r.stdout);
    let dir = tmp.path().join(name);
    (tmp, dir)
}

/// `cordon build` in `dir`: its report.
fn build(dir: &Path) -> Value {
    let r = cordon_in(dir, &["build"], &[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    r.json()
}

/// `cordon run` of `component` under the agent's own policy and root, as its README says.
fn run(dir: &Path, component: &str, extra: &[&str]) -> (i32, Value) {
    let mut args = vec![
        "run",
        component,
        "--policy",
        "policy.cedar",
        "--root",
        "root",
        "--user",
        "alice",
        "--purpose",
        "demo",
    ];
    args.extend_from_slice(extra);
    let r = cordon_in(dir, &args, &[]);
    (r.code, r.json())
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let name = e.file_name();
        if name == "build" || name == "target" || name == "cordon-data" {
            continue;
        }
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &to.join(&name));
        } else {
            std::fs::copy(e.path(), to.join(&name)).unwrap();
        }
    }
}

/// The template's agent, built and run: the summary of root/notes its README promises, what it
/// printed in `stdout`, one allowed decision per call, and the digest `cordon build` printed.
fn assert_template_runs(dir: &Path, built: &Value) {
    let component = built["component"].as_str().unwrap();
    let name = dir.file_name().unwrap().to_str().unwrap();
    assert_eq!(component, s(&dir.join(format!("build/{name}.wasm"))));
    let (code, j) = run(dir, component, &[]);
    assert_eq!(code, 0, "{j}");
    assert_eq!(j["status"], "ok", "{j}");
    assert_eq!(j["component_digest"], built["digest"], "{j}");
    assert_eq!(
        built["digest"],
        cordon_runtime::digest(&std::fs::read(component).unwrap())
    );
    let out = &j["output"];
    assert_eq!(out["dir"], "notes");
    assert_eq!(out["files"]["hello.txt"]["lines"], 2, "{j}");
    assert_eq!(out["files"]["todo.txt"]["lines"], 3, "{j}");
    assert_eq!(out["total"]["lines"], 5, "{j}");
    assert_eq!(out["total"]["words"], 19, "{j}");
    assert_eq!(out["total"]["bytes"], 99, "{j}");
    assert_eq!(out["skipped"], serde_json::json!({}));
    let stdout = j["stdout"].as_str().unwrap();
    assert!(stdout.contains("read notes/hello.txt: 2 lines\n"), "{j}");
    assert!(stdout.contains("read notes/todo.txt: 3 lines\n"), "{j}");
    let decisions = j["decisions"].as_array().unwrap();
    assert_eq!(decisions.len(), 3, "{j}");
    assert!(decisions.iter().all(|d| d["decision"] == "allow"), "{j}");
    assert_eq!(decisions[0]["action"], "fs:list");
    assert_eq!(
        decisions[0]["policy_ids"],
        serde_json::json!(["list-notes"])
    );

    // What the README says to try: listing `/` is not permitted, and the run ends so.
    let (code, j) = run(dir, component, &["--input", r#"{"dir": "."}"#]);
    assert_eq!(code, 1, "{j}");
    assert_eq!(j["status"], "error", "{j}");
    assert_eq!(j["error"]["kind"], "access-denied", "{j}");
    assert_eq!(j["decisions"][0]["resource"], r#"Cordon::Dir::"/""#, "{j}");
}

#[test]
fn new_writes_a_policy_that_passes_policy_check_for_each_language() {
    for lang in ["rust", "python", "js"] {
        let (_tmp, dir) = new_agent("checked", lang);
        let r = cordon_in(&dir, &["policy", "check", "policy.cedar"], &[]);
        assert_eq!(r.code, 0, "{lang}: {}", r.stderr);
        assert_eq!(r.json()["warnings"], serde_json::json!([]), "{lang}");
        assert!(dir.join("README.md").is_file());
        assert!(dir.join("root/notes/hello.txt").is_file());
    }
}

#[test]
fn new_writes_each_languages_own_files() {
    let (_tmp, dir) = new_agent("my-agent", "rust");
    let manifest = std::fs::read_to_string(dir.join("Cargo.toml")).unwrap();
    assert!(manifest.contains(r#"name = "my-agent""#), "{manifest}");
    assert!(
        manifest.contains("cordon-guest = { path = \""),
        "{manifest}"
    );
    assert!(dir.join("src/lib.rs").is_file() && dir.join("Cargo.lock").is_file());
    let (_tmp, dir) = new_agent("my-agent", "python");
    assert!(dir.join("agent.py").is_file());
    let requirements = std::fs::read_to_string(dir.join("requirements.txt")).unwrap();
    assert!(
        requirements.lines().all(|l| l.starts_with('#')),
        "no package is declared: {requirements}"
    );
    let (_tmp, dir) = new_agent("my-agent", "js");
    assert!(dir.join("agent.js").is_file());
    let readme = std::fs::read_to_string(dir.join("README.md")).unwrap();
    assert!(readme.contains("cordon run build/my-agent.wasm --policy policy.cedar --root root"));
}

#[test]
fn new_refuses_a_folder_that_is_not_empty() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::create_dir(tmp.path().join("taken")).unwrap();
    std::fs::write(tmp.path().join("taken/keep.txt"), "mine").unwrap();
    let r = cordon_in(tmp.path(), &["new", "taken", "--lang", "python"], &[]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("`./taken` already exists and is not empty"),
        "{}",
        r.stderr
    );
    assert_eq!(
        std::fs::read_dir(tmp.path().join("taken")).unwrap().count(),
        1
    );
    // An empty folder is fine.
    std::fs::create_dir(tmp.path().join("empty")).unwrap();
    let r = cordon_in(tmp.path(), &["new", "empty", "--lang", "js"], &[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
}

#[test]
fn new_refuses_a_name_that_is_not_a_package_name() {
    let tmp = tempfile::tempdir().unwrap();
    for bad in ["My Agent", "../escape", "9lives", "a/b"] {
        let r = cordon_in(tmp.path(), &["new", bad, "--lang", "rust"], &[]);
        assert_eq!(r.code, 2, "{bad}: {}", r.stderr);
        assert!(
            r.stderr.contains(&format!("invalid agent name `{bad}`")),
            "{}",
            r.stderr
        );
    }
    assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 0);
}

#[test]
fn new_writes_into_the_folder_dir_names() {
    let tmp = tempfile::tempdir().unwrap();
    let parent = tmp.path().join("agents");
    let r = cordon_in(
        tmp.path(),
        &["new", "here", "--lang", "js", "--dir", s(&parent)],
        &[],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(parent.join("here/agent.js").is_file());
}

#[test]
fn build_says_what_it_looked_for_in_a_folder_with_no_agent() {
    let tmp = tempfile::tempdir().unwrap();
    let r = cordon_in(tmp.path(), &["build"], &[]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr
            .contains("looked for Cargo.toml (Rust), agent.py (Python), agent.js (JavaScript)"),
        "{}",
        r.stderr
    );
    let r = cordon_in(tmp.path(), &["build", ".", "--lang", "python"], &[]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("it has no agent.py"), "{}", r.stderr);
}

#[test]
fn build_names_what_to_set_when_the_checkout_or_toolchain_is_missing() {
    let (tmp, dir) = new_agent("lost", "js");
    let nowhere = tmp.path().join("nowhere");
    let r = cordon_in(&dir, &["build"], &[("CORDON_SDK", s(&nowhere))]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("CORDON_SDK=`") && r.stderr.contains("is not a Cordon checkout"),
        "{}",
        r.stderr
    );
    let r = cordon_in(&dir, &["build"], &[("CORDON_GUEST_TOOLS", s(&nowhere))]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("run scripts/install-guest-toolchain.sh")
            && r.stderr.contains("CORDON_GUEST_TOOLS"),
        "{}",
        r.stderr
    );
}

#[test]
#[ignore = "needs the guest toolchain: scripts/install-guest-toolchain.sh"]
fn a_new_rust_agent_builds_runs_and_builds_to_the_same_digest_from_another_folder() {
    let (tmp, dir) = new_agent("notes-rust", "rust");
    let built = build(&dir);
    assert_eq!(built["language"], "Rust");
    assert_template_runs(&dir, &built);

    // The same source in another folder: the same bytes (no path of this machine is in them).
    let copy = tmp.path().join("elsewhere/notes-rust");
    copy_dir(&dir, &copy);
    let again = build(&copy);
    assert_eq!(again["digest"], built["digest"]);
    let bytes = std::fs::read(again["component"].as_str().unwrap()).unwrap();
    assert!(!contains(&bytes, s(tmp.path()).as_bytes()));
}

#[test]
#[ignore = "needs the guest toolchain: scripts/install-guest-toolchain.sh"]
fn a_new_python_agent_builds_and_runs_outside_the_repository() {
    let (tmp, dir) = new_agent("notes-python", "python");
    let built = build(&dir);
    assert_eq!(built["language"], "Python");
    assert_template_runs(&dir, &built);
    let bytes = std::fs::read(built["component"].as_str().unwrap()).unwrap();
    assert!(!contains(&bytes, s(tmp.path()).as_bytes()));
}

/// componentize-py also put the build machine's site-packages on the path: an agent that
/// imported a package it never declared was built, with that package in it.
#[test]
#[ignore = "needs the guest toolchain: scripts/install-guest-toolchain.sh"]
fn a_python_agent_cannot_import_a_package_it_did_not_declare() {
    let (_tmp, dir) = new_agent("undeclared", "python");
    // pip is in every Python environment's site-packages, the toolchain's included.
    let agent = std::fs::read_to_string(dir.join("agent.py")).unwrap();
    std::fs::write(dir.join("agent.py"), format!("import pip\n{agent}")).unwrap();
    let r = cordon_in(&dir, &["build"], &[]);
    assert_eq!(r.code, 2, "{}", r.stdout);
    assert!(r.stderr.contains("No module named 'pip'"), "{}", r.stderr);
}

#[test]
#[ignore = "needs the guest toolchain: scripts/install-guest-toolchain.sh"]
fn a_new_javascript_agent_builds_and_runs_and_names_no_scratch_folder() {
    let (tmp, dir) = new_agent("notes-js", "js");
    let built = build(&dir);
    assert_eq!(built["language"], "JavaScript");
    assert_template_runs(&dir, &built);

    // componentize.mjs built in a scratch folder with a random name, which the component
    // recorded: the same source built from another folder now records the same one.
    let copy = tmp.path().join("elsewhere/notes-js");
    copy_dir(&dir, &copy);
    let again = build(&copy);
    let first = std::fs::read(built["component"].as_str().unwrap()).unwrap();
    let second = std::fs::read(again["component"].as_str().unwrap()).unwrap();
    let scratch = |bytes: &[u8]| {
        let mut found: Vec<Vec<u8>> = bytes
            .windows(15)
            .enumerate()
            .filter(|(_, w)| *w == b"/tmp/cordon-js-")
            .map(|(i, _)| bytes[i..(i + 31).min(bytes.len())].to_vec())
            .collect();
        found.sort();
        found.dedup();
        found
    };
    assert_eq!(scratch(&first).len(), 1);
    assert_eq!(scratch(&first), scratch(&second));
    assert!(!contains(&first, s(tmp.path()).as_bytes()));
}

#[test]
#[ignore = "needs the guest toolchain: scripts/install-guest-toolchain.sh"]
fn cordon_dev_rebuilds_and_reruns_when_the_source_changes() {
    let (_tmp, dir) = new_agent("live", "js");
    let mut child = Command::new(env!("CARGO_BIN_EXE_cordon"))
        .current_dir(&dir)
        .env_remove("CORDON_DATA")
        .args(["dev", "--max-runs", "2", "--poll", "50", "--"])
        .args(["--policy", "policy.cedar", "--root", "root"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Each report is pretty-printed JSON ending with a `}` line of its own.
    let (tx, rx) = mpsc::channel();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        let mut report = String::new();
        for line in BufReader::new(stdout).lines() {
            let line = line.unwrap();
            report.push_str(&line);
            report.push('\n');
            if line == "}" {
                tx.send(std::mem::take(&mut report)).unwrap();
            }
        }
    });
    // The builds' chatter goes to stderr: read it as it comes, lest the pipe fill.
    let stderr = child.stderr.take().unwrap();
    let stderr = std::thread::spawn(move || {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut BufReader::new(stderr), &mut text).unwrap();
        text
    });
    let wait = Duration::from_secs(600);
    let first: Value = serde_json::from_str(&rx.recv_timeout(wait).unwrap()).unwrap();
    assert_eq!(first["status"], "ok", "{first}");
    assert_eq!(first["output"]["total"]["lines"], 5);

    let agent = std::fs::read_to_string(dir.join("agent.js")).unwrap();
    let edited = agent.replace("return summary;", "return { ...summary, edited: true };");
    assert_ne!(agent, edited);
    std::fs::write(dir.join("agent.js"), edited).unwrap();
    let second: Value = serde_json::from_str(&rx.recv_timeout(wait).unwrap()).unwrap();
    assert_eq!(second["status"], "ok", "{second}");
    assert_eq!(second["output"]["edited"], true, "{second}");
    assert_ne!(second["component_digest"], first["component_digest"]);
    let status = child.wait().unwrap();
    let stderr = stderr.join().unwrap();
    assert!(status.success(), "{stderr}");
    assert!(stderr.contains("agent.js` changed; rebuilding"), "{stderr}");
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}
