//! `cordon run agent.py` / `agent.js`: source run as sent by the runner for its language, and
//! `cordon audit source` printing back exactly what ran. The end-to-end tests need the runners
//! built by scripts/build-guests.sh (ignored by a plain `cargo test`; CI runs them).

use crate::support::{Scratch, s};

const POLICY: &str = r#"
@id("read-anything") permit(principal, action == Cordon::Action::"fs:read", resource);
@id("hello-is-read-only") forbid(principal, action == Cordon::Action::"fs:write", resource == Cordon::File::"/hello.txt");
"#;

#[test]
fn source_without_a_runner_is_bad_input_that_says_how_to_build_one() {
    let sc = Scratch::new();
    let agent = sc.file("agent.py", "def main(input):\n    return 1\n");
    let policy = sc.file("p.cedar", POLICY);
    let empty = sc.path("no-runners");
    std::fs::create_dir(&empty).unwrap();
    let r = sc.cordon(&[
        "run",
        s(&agent),
        "--policy",
        s(&policy),
        "--runners",
        s(&empty),
    ]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("no python runner"), "{}", r.stderr);
    assert!(r.stderr.contains("build-guests.sh"), "{}", r.stderr);
    assert!(r.stdout.is_empty(), "nothing ran: {}", r.stdout);
}

#[test]
fn unknown_languages_and_empty_source_are_refused() {
    let sc = Scratch::new();
    let policy = sc.file("p.cedar", POLICY);
    let agent = sc.file("agent.txt", "print(1)");
    let r = sc.cordon(&[
        "run",
        s(&agent),
        "--policy",
        s(&policy),
        "--language",
        "cobol",
    ]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains("`cobol` is not a language"),
        "{}",
        r.stderr
    );
    let empty = sc.file("empty.py", "\n\n");
    let r = sc.cordon(&["run", s(&empty), "--policy", s(&policy)]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("the source is empty"), "{}", r.stderr);
}

/// Run `file` (source in `language`'s file type) twice over the hello root, then print its
/// source back from the log.
fn assert_runs_as_sent_and_prints_back(file: &str, code: &str, language: &str) {
    let sc = Scratch::new();
    sc.file("root/hello.txt", "Hello!\n");
    let agent = sc.file(file, code);
    let policy = sc.file("p.cedar", POLICY);
    let root = sc.path("root");
    let args = [
        "run",
        s(&agent),
        "--policy",
        s(&policy),
        "--root",
        s(&root),
        "--user",
        "alice",
        "--purpose",
        "demo",
    ];
    let r = sc.cordon(&args);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let j = r.json();
    assert_eq!(j["status"], "denied-and-handled", "{j}");
    assert_eq!(j["output"]["read"], "Hello!\n", "{j}");
    assert_eq!(
        j["output"]["write"], "denied by policy [hello-is-read-only]",
        "{j}"
    );
    let digest = blake3::hash(code.as_bytes()).to_hex().to_string();
    assert_eq!(j["code"]["language"], language);
    assert_eq!(j["code"]["digest"], digest.as_str());
    assert_eq!(
        std::fs::read_to_string(root.join("hello.txt")).unwrap(),
        "Hello!\n"
    );

    let back = sc.cordon(&["audit", "source", &digest]);
    assert_eq!(back.code, 0, "{}", back.stderr);
    assert_eq!(back.stdout, code, "exactly the source that ran");
    let verify = sc.cordon(&["audit", "verify"]);
    assert_eq!(verify.code, 0, "{}\n{}", verify.stdout, verify.stderr);
}

#[test]
#[ignore = "needs build/runners: scripts/build-guests.sh"]
fn cordon_runs_python_source_and_audit_prints_it_back() {
    assert_runs_as_sent_and_prints_back(
        "agent.py",
        "from cordon_guest import AccessDenied, fs\n\n\
def main(input):\n    text = fs.read_text(\"hello.txt\")\n    try:\n        fs.write(\"hello.txt\", \"x\")\n        \
wrote = \"written\"\n    except AccessDenied as d:\n        \
wrote = \"denied by policy [\" + \", \".join(d.policy_ids) + \"]\"\n    return {\"read\": text, \"write\": wrote}\n",
        "python",
    );
}

#[test]
#[ignore = "needs build/runners: scripts/build-guests.sh"]
fn a_python_syntax_error_exits_one_with_its_line() {
    let sc = Scratch::new();
    let agent = sc.file("bad.py", "def main(input):\n    return )\n");
    let policy = sc.file("p.cedar", POLICY);
    let r = sc.cordon(&["run", s(&agent), "--policy", s(&policy)]);
    assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
    let j = r.json();
    assert_eq!(j["status"], "error");
    assert_eq!(j["error"]["kind"], "invalid");
    assert_eq!(j["error"]["location"]["line"], 2, "{j}");
}
