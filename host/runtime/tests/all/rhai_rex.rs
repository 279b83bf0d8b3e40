//! Rhai scripts as Rex writes them, with the real runner (`build/runners/rhai.wasm`): Rex's
//! flag forms and file functions, Rex mode (Rex's paths below a root, each Rex check one
//! decision), Rex's denial wording, script arguments as variables, and the runner's limits.
//! Ignored by a plain `cargo test`, as the other source runs.

use cordon_runtime::{Language, RunReport, RunStatus, Source};
use serde_json::{Value, json};

use crate::source_guests::{output, runner};
use crate::support::{ALLOW_ALL, Sandbox, engine};

/// The Rex root of Rex-mode runs: the host directory Rex scripts name, the run's `/`.
const ROOT: &str = "/tmp/rex_example";

/// The most entries a walk lists (the runner's `LIMITS.walk_entries`).
const WALK_ENTRIES: usize = 5_000;

fn run_as(sb: &Sandbox, code: &str, policy: &str, input: &str, rex: bool) -> RunReport {
    let mut source = Source::new(Language::Rhai, code).unwrap();
    if rex {
        source = source.with_rex_root(ROOT).unwrap();
    }
    engine()
        .run_source(
            runner(Language::Rhai),
            &source,
            sb.invocation(policy, input),
        )
        .unwrap()
}

/// Run `code` in plain mode under `policy`; it must succeed.
fn plain(sb: &Sandbox, code: &str, policy: &str) -> (RunReport, Value) {
    let r = run_as(sb, code, policy, "{}", false);
    assert!(r.status.succeeded(), "{r:?}");
    let out = output(&r);
    (r, out)
}

/// Run `code` in Rex mode under `policy`; it must succeed.
fn rex(sb: &Sandbox, code: &str, policy: &str) -> (RunReport, Value) {
    let r = run_as(sb, code, policy, "{}", true);
    assert!(r.status.succeeded(), "{r:?}");
    let out = output(&r);
    (r, out)
}

/// The run's decisions as (action, resource).
fn decisions(r: &RunReport) -> Vec<(&str, &str)> {
    r.decisions
        .iter()
        .map(|d| (d.action.as_str(), d.resource.as_str()))
        .collect()
}

fn dir(p: &str) -> String {
    format!("Cordon::Dir::\"{p}\"")
}

fn file(p: &str) -> String {
    format!("Cordon::File::\"{p}\"")
}

#[test]
#[ignore = "needs build/runners: scripts/build-guests.sh"]
fn rhai_rex_cat_makes_each_rex_check_one_decision_in_rexs_order() {
    let sb = Sandbox::new();
    sb.write("a.txt", "hello\n");
    let policy = r#"
@id("open-anything") permit(principal, action == Cordon::Action::"fs:stat", resource in Cordon::Dir::"/");
@id("read-a") permit(principal, action == Cordon::Action::"fs:read", resource == Cordon::File::"/a.txt");
"#;
    let (r, out) = rex(&sb, "cat(\"/tmp/rex_example/a.txt\")", policy);
    assert_eq!(r.status, RunStatus::Ok, "{r:?}");
    assert_eq!(out, json!("hello\n"));
    // Rex opens the directory, opens the file, reads it.
    assert_eq!(
        decisions(&r),
        [
            ("fs:stat", dir("/").as_str()),
            ("fs:stat", file("/a.txt").as_str()),
            ("fs:read", file("/a.txt").as_str()),
        ]
    );
    assert!(r.decisions.iter().all(|d| d.decision == "allow"), "{r:?}");
    // Outside Rex mode the same read is one call.
    let (r, out) = plain(&sb, "cat(\"a.txt\")", policy);
    assert_eq!(out, json!("hello\n"));
    assert_eq!(decisions(&r), [("fs:read", file("/a.txt").as_str())]);
}

#[test]
#[ignore = "needs build/runners: scripts/build-guests.sh"]
fn rhai_rex_commands_check_as_rex_does_and_write_appends() {
    let sb = Sandbox::new();
    sb.write("d/b.txt", "b\n");
    let script = r#"
touch("/tmp/rex_example/n.txt");
write("/tmp/rex_example/n.txt", "one\n");
mv("/tmp/rex_example/n.txt", "/tmp/rex_example/d/m.txt");
let text = cat("/tmp/rex_example/d/m.txt");
rm("/tmp/rex_example/d/m.txt");
text
"#;
    let (r, out) = rex(&sb, script, ALLOW_ALL);
    assert_eq!(out, json!("one\n"));
    assert_eq!(sb.read("d/m.txt"), None);
    let (root, d, n, m) = (dir("/"), dir("/d"), file("/n.txt"), file("/d/m.txt"));
    assert_eq!(
        decisions(&r),
        [
            // touch: open the directory, open the file (none yet), create it.
            ("fs:stat", root.as_str()),
            ("fs:stat", n.as_str()),
            ("fs:append", n.as_str()),
            // write (Rex appends): the opens, Rex's read of the file, the write.
            ("fs:stat", root.as_str()),
            ("fs:stat", n.as_str()),
            ("fs:read", n.as_str()),
            ("fs:append", n.as_str()),
            // mv: open both directories and the file, move it, open it under its new name.
            ("fs:stat", root.as_str()),
            ("fs:stat", n.as_str()),
            ("fs:stat", d.as_str()),
            ("fs:rename", n.as_str()),
            ("fs:write", m.as_str()),
            ("fs:stat", m.as_str()),
            // cat
            ("fs:stat", d.as_str()),
            ("fs:stat", m.as_str()),
            ("fs:read", m.as_str()),
            // rm: Cordon looks at what it is (Rex's open of the file), opens its directory.
            ("fs:stat", m.as_str()),
            ("fs:stat", d.as_str()),
            ("fs:remove", m.as_str()),
        ],
        "{r:?}"
    );
}

#[test]
#[ignore = "needs build/runners: scripts/build-guests.sh"]
fn rhai_rex_results_show_rex_paths_and_cp_needs_force_to_overwrite() {
    let sb = Sandbox::new();
    sb.write("t/a.txt", "hello");
    sb.write("t/sub/b.txt", "abc");
    sb.write("t/c.txt", "not empty");
    let script = r#"
let refused = "";
try { cp("/tmp/rex_example/t/a.txt", "/tmp/rex_example/t/c.txt"); } catch (e) { refused = e.kind; }
cp([cp::force], "/tmp/rex_example/t/a.txt", "/tmp/rex_example/t/c.txt");
#{ ls: ls("/tmp/rex_example/t"), du: du([du::summarize], "/tmp/rex_example/t"),
   root: ls("/tmp/rex_example").keys(), refused: refused }
"#;
    let (_, out) = rex(&sb, script, ALLOW_ALL);
    assert_eq!(out["refused"], "io", "{out}");
    assert_eq!(sb.read("t/c.txt").as_deref(), Some("hello"));
    assert_eq!(out["ls"]["sub"]["path"], "/tmp/rex_example/t/sub", "{out}");
    assert_eq!(out["ls"]["a.txt"]["type"], "file", "{out}");
    assert_eq!(
        out["du"]["entries"],
        json!([{"path": "/tmp/rex_example/t", "size_bytes": 13, "inode_count": 5}]),
        "{out}"
    );
    assert_eq!(out["root"], json!(["t"]));
}

#[test]
#[ignore = "needs build/runners: scripts/build-guests.sh"]
fn rhai_rex_paths_outside_the_root_are_invalid_before_any_decision() {
    let sb = Sandbox::new();
    sb.write("a.txt", "inside\n");
    let script = r#"
let out = #{};
for p in ["/etc/passwd", "a.txt", "/tmp/rex_example2/a.txt", "/tmp/rex_example/../a.txt", "/tmp"] {
    try { cat(p); out[p] = "read"; } catch (e) { out[p] = e.kind + " " + e.message; }
}
try { write([write::replace], "/tmp/written.txt", "x"); out.write = "written"; }
catch (e) { out.write = e.kind + " " + e.message; }
out
"#;
    let (r, out) = rex(&sb, script, ALLOW_ALL);
    for (path, outcome) in out.as_object().unwrap() {
        let outcome = outcome.as_str().unwrap();
        assert!(outcome.starts_with("invalid "), "{path}: {outcome}");
        assert!(outcome.contains(ROOT), "{path}: {outcome}");
        let named = if path == "write" {
            "/tmp/written.txt"
        } else {
            path
        };
        assert!(outcome.contains(&format!("`{named}`")), "{path}: {outcome}");
    }
    assert!(r.decisions.is_empty(), "{:?}", r.decisions);
    assert_eq!(r.status, RunStatus::Ok);
    let names: Vec<_> = std::fs::read_dir(sb.dir.path().join("root"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["a.txt"]);
    // Escaping, it ends the run as the typed error.
    let r = run_as(&sb, "cat(\"/etc/passwd\")", ALLOW_ALL, "{}", true);
    assert_eq!(r.status, RunStatus::Error, "{r:?}");
    assert_eq!(r.error.as_ref().unwrap().kind, "invalid", "{r:?}");
}

#[test]
#[ignore = "needs build/runners: scripts/build-guests.sh"]
fn rhai_denial_reads_as_rexs_names_the_policy_and_is_caught() {
    let sb = Sandbox::new();
    sb.write("secret.txt", "top secret\n");
    sb.write("hello.txt", "hi\n");
    let policy = r#"
@id("open-anything") permit(principal, action == Cordon::Action::"fs:stat", resource in Cordon::Dir::"/");
@id("read-anything") permit(principal, action == Cordon::Action::"fs:read", resource);
@id("no-secrets") forbid(principal, action == Cordon::Action::"fs:read", resource == Cordon::File::"/secret.txt");
"#;
    let script = "let caught = (); try { cat(\"/tmp/rex_example/secret.txt\"); } catch (e) { caught = e; } caught";
    let (r, out) = rex(&sb, script, policy);
    assert_eq!(r.status, RunStatus::DeniedAndHandled, "{r:?}");
    assert_eq!(out["kind"], "access-denied");
    let message = out["message"].as_str().unwrap();
    assert!(
        message.starts_with(
            "Permission denied: the agent unauthorized to perform file_system::Action::\"read\" \
             for file_system::File::/tmp/rex_example/secret.txt (denied by policy `no-secrets`; \
             decision "
        ),
        "{message}"
    );
    assert_eq!(out["action"], "fs:read");
    assert_eq!(out["resource"], file("/secret.txt"));
    assert_eq!(out["policy_ids"], json!(["no-secrets"]));
    assert!(!serde_json::to_string(&r).unwrap().contains("top secret"));
    // Rex's `open` is a stat: refused, the message names Rex's action on the directory.
    let read_only =
        r#"@id("read-anything") permit(principal, action == Cordon::Action::"fs:read", resource);"#;
    let (_, out) = rex(&sb, script.replace("secret", "hello").as_str(), read_only);
    let message = out["message"].as_str().unwrap();
    assert!(
        message.contains(
            "unauthorized to perform file_system::Action::\"open\" for \
             file_system::Dir::/tmp/rex_example (no policy permits it; decision"
        ),
        "{message}"
    );
    assert_eq!(out["action"], "fs:stat");
    // Uncaught, it ends the run as the typed denial.
    let r = run_as(
        &sb,
        "cat(\"/tmp/rex_example/secret.txt\")",
        policy,
        "{}",
        true,
    );
    assert_eq!(r.status, RunStatus::Error, "{r:?}");
    let e = r.error.unwrap();
    assert_eq!(e.kind, "access-denied");
    assert_eq!(
        e.policy_ids.as_deref(),
        Some(&["no-secrets".to_owned()][..])
    );
    // Plain mode names Cordon's action and resource.
    let (_, out) = plain(
        &sb,
        "let m = (); try { write(\"hello.txt\", \"x\"); } catch (e) { m = e.message; } m",
        policy,
    );
    assert!(
        out.as_str().unwrap().starts_with(
            "Permission denied: the agent unauthorized to perform Cordon::Action::\"fs:write\" \
             for Cordon::File::\"/hello.txt\" (no policy permits it; decision"
        ),
        "{out}"
    );
}

#[test]
#[ignore = "needs build/runners: scripts/build-guests.sh"]
fn rhai_script_arguments_are_constants_with_rex_typed_forms_unwrapped() {
    let sb = Sandbox::new();
    sb.write("a.txt", "from the argument\n");
    let input = json!({
        "file_name": {"stringValue": "a.txt"},
        "count": {"longValue": 3},
        "small": {"integerValue": 2},
        "ratio": {"doubleValue": 0.5},
        "on": {"booleanValue": true},
        "names": {"listValue": [{"stringValue": "x"}, {"longValue": 1}]},
        "user": {"mapValue": {"name": {"stringValue": "alice"}}},
        "two_keys": {"stringValue": "a", "longValue": 1},
        "plain": 5,
        "not-an-identifier": 1,
    });
    let script = r#"
let shadowed = "";
try { file_name = "b.txt"; } catch (e) { shadowed = "constant"; }
#{ text: cat(file_name), file_name: file_name, count: count, small: small, ratio: ratio,
   on: on, names: names, user: user, two_keys: two_keys, plain: plain,
   whole: input.file_name, shadowed: shadowed }
"#;
    let r = run_as(&sb, script, ALLOW_ALL, &input.to_string(), false);
    assert_eq!(r.status, RunStatus::Ok, "{r:?}");
    assert_eq!(
        output(&r),
        json!({
            "text": "from the argument\n", "file_name": "a.txt", "count": 3, "small": 2,
            "ratio": 0.5, "on": true, "names": ["x", 1], "user": {"name": "alice"},
            "two_keys": {"stringValue": "a", "longValue": 1}, "plain": 5,
            "whole": {"stringValue": "a.txt"}, "shadowed": "constant"
        })
    );
}

#[test]
#[ignore = "needs build/runners: scripts/build-guests.sh"]
fn rhai_cat_tail_and_wc_flags_shape_output_as_rexs() {
    let sb = Sandbox::new();
    sb.write("c.txt", "one\ntwo\n");
    let lines: String = (1..=12).map(|i| format!("l{i}\n")).collect();
    sb.write("t.txt", &lines);
    sb.write("w.txt", "one two\nthree\n");
    let script = r#"
#{ number: cat([cat::number], "c.txt"), n: cat([cat::n], "c.txt"),
   last: tail("t.txt"), first2: tail([tail::n(2)], "t.txt"), last2: tail([tail::n(-2)], "t.txt"),
   from: tail([tail::from(11)], "t.txt"), range: tail([tail::range(2, 4)], "t.txt"),
   lines: wc([wc::l], "w.txt"), words_bytes: wc([wc::words, wc::c], "w.txt"), all: wc("w.txt") }
"#;
    let (_, out) = plain(&sb, script, ALLOW_ALL);
    assert_eq!(out["number"], "     1\tone\n     2\ttwo");
    assert_eq!(out["n"], out["number"]);
    let l = |r: std::ops::RangeInclusive<i32>| -> Value {
        r.map(|i| format!("l{i}")).collect::<Vec<_>>().into()
    };
    assert_eq!(out["last"], l(3..=12));
    assert_eq!(out["first2"], l(1..=2));
    assert_eq!(out["last2"], l(11..=12));
    assert_eq!(out["from"], l(11..=12));
    assert_eq!(out["range"], l(2..=4));
    assert_eq!(out["lines"], json!({"lines": 2}));
    assert_eq!(out["words_bytes"], json!({"words": 3, "bytes": 14}));
    assert_eq!(out["all"], json!({"lines": 2, "words": 3, "bytes": 14}));
}

#[test]
#[ignore = "needs build/runners: scripts/build-guests.sh"]
fn rhai_grep_and_sed_follow_rexs_flags() {
    let sb = Sandbox::new();
    sb.write("g.txt", "Error one\nwarning two\nerror three\nok\n");
    sb.write("s.txt", "a-1 b-2 a-3\n");
    sb.write("i.txt", "a-1 b-2 b-3\n");
    let script = r#"
#{ plain: grep("error", "g.txt"), i: grep([grep::i], "error", "g.txt"),
   c: grep([grep::c, grep::ignore_case], "error", "g.txt"), v: grep([grep::v], "error", "g.txt"),
   n: grep([grep::n, grep::i], "error", "g.txt"), m: grep([grep::m(1), grep::i], "error", "g.txt"),
   regex: grep("^w.*o$", "g.txt"),
   first: sed("a", "X", "s.txt"), all: sed([sed::g], "a", "X", "s.txt"),
   groups: sed([sed::regex, sed::all], "([ab])-(\\d)", "$2$1", "s.txt"),
   in_place: sed([sed::i, sed::g], "b", "B", "i.txt") }
"#;
    let (_, out) = plain(&sb, script, ALLOW_ALL);
    assert_eq!(out["plain"], json!(["error three"]));
    assert_eq!(out["i"], json!(["Error one", "error three"]));
    assert_eq!(out["c"], json!(["2"]));
    assert_eq!(out["v"], json!(["Error one", "warning two", "ok"]));
    assert_eq!(out["n"], json!(["1:Error one", "3:error three"]));
    assert_eq!(out["m"], json!(["Error one"]));
    assert_eq!(out["regex"], json!(["warning two"]));
    assert_eq!(out["first"], "X-1 b-2 a-3\n");
    assert_eq!(out["all"], "X-1 b-2 X-3\n");
    assert_eq!(out["groups"], "1a 2b 3a\n");
    assert_eq!(out["in_place"], "a-1 B-2 B-3\n");
    // Only `sed::in_place` writes.
    assert_eq!(sb.read("s.txt").as_deref(), Some("a-1 b-2 a-3\n"));
    assert_eq!(sb.read("i.txt").as_deref(), Some("a-1 B-2 B-3\n"));
}

#[test]
#[ignore = "needs build/runners: scripts/build-guests.sh"]
fn rhai_awk_helpers_split_filter_sum_and_count_fields() {
    let sb = Sandbox::new();
    sb.write("a.csv", "x,1,red\ny,2,blue\nz,3.5,red\n");
    let script = r#"
let bad = "";
try { awk_field(0, ",", "a.csv"); } catch (e) { bad = e.kind; }
#{ split: awk_split("a b c", " "), field: awk_field(1, ",", "a.csv"),
   filter: awk_filter("red", "a.csv"), filter_field: awk_filter_field(3, ",", "blu", "a.csv"),
   sum: awk_sum(2, ",", "a.csv"), unique: awk_count_unique(3, ",", "a.csv"),
   range: awk_filter_range(2, 3, "a.csv"), bad: bad }
"#;
    let (_, out) = plain(&sb, script, ALLOW_ALL);
    assert_eq!(
        out,
        json!({
            "split": ["a", "b", "c"], "field": ["x", "y", "z"],
            "filter": ["x,1,red", "z,3.5,red"], "filter_field": ["y,2,blue"], "sum": 6.5,
            "unique": {"red": 2, "blue": 1}, "range": ["y,2,blue", "z,3.5,red"], "bad": "invalid"
        })
    );
}

#[test]
#[ignore = "needs build/runners: scripts/build-guests.sh"]
fn rhai_file_commands_take_rexs_flags() {
    let sb = Sandbox::new();
    sb.write(".hidden", "h");
    let script = r#"
write("w.txt", "a");
write([write::append], "w.txt", "b");
write([write::a], "w.txt", "c");
let appended = cat("w.txt");
write([write::replace], "w.txt", "new");
let replaced = cat("w.txt");
replace("w.txt", "over");
cp([cp::f, cp::p], "w.txt", "w2.txt");
mv([mv::v], "w2.txt", "w3.txt");
mkdir([mkdir::p], "x/y/z");
mkdir("x");
touch("x/y/z/f.txt");
let tree = ls("x/y/z").keys();
rm([rm::r], "x");
let missing = "";
try { rm([rm::force], "missing"); } catch (e) { missing = e.kind; }
#{ appended: appended, replaced: replaced, tree: tree, missing: missing,
   hidden: ls("/").keys(), all: ls([ls::a, ls::l, ls::R], "/").keys() }
"#;
    let (r, out) = plain(&sb, script, ALLOW_ALL);
    assert_eq!(out["appended"], "abc");
    assert_eq!(out["replaced"], "new");
    assert_eq!(out["tree"], json!(["f.txt"]));
    assert_eq!(out["missing"], "not-found");
    assert_eq!(out["hidden"], json!(["w.txt", "w3.txt"]));
    assert_eq!(out["all"], json!([".hidden", "w.txt", "w3.txt"]));
    assert_eq!(sb.read("w.txt").as_deref(), Some("over"));
    assert_eq!(sb.read("w3.txt").as_deref(), Some("over"));
    assert!(!sb.dir.path().join("root/x").exists());
    assert_eq!(r.stdout, "info: Moved from '/w2.txt' to '/w3.txt'\n");
}

#[test]
#[ignore = "needs build/runners: scripts/build-guests.sh"]
fn rhai_find_files_and_du_walk_the_tree_as_rex() {
    let sb = Sandbox::new();
    sb.write("t/a.txt", "hello");
    sb.write("t/sub/b.txt", "abc");
    sb.write("t/sub/c.log", "xy");
    let script = r#"
#{ top: find_files("*.txt", "t"), deep: find_files([glob::r], "*.txt", "t"),
   all: glob("*", "t"), dirs: find_files([glob::recursive], "s*", "t"),
   du: du("t"), s: du([du::s], "t").entries, a: du([du::a], "t").entries,
   d0: du([du::d(0)], "t").entries, d1: du([du::max_depth(1)], "t").entries }
"#;
    let (r, out) = plain(&sb, script, ALLOW_ALL);
    assert_eq!(out["top"], json!(["a.txt"]));
    assert_eq!(out["deep"], json!(["a.txt", "b.txt"]));
    assert_eq!(out["all"], json!(["a.txt", "sub"]));
    assert_eq!(out["dirs"], json!(["sub"]));
    let e = |p: &str, size: u64, inodes: u64| json!({"path": p, "size_bytes": size, "inode_count": inodes});
    let sub = || e("/t/sub", 5, 3);
    let t = || e("/t", 10, 5);
    assert_eq!(
        out["du"],
        json!({"entries": [sub(), t()], "total_size_bytes": 10, "total_inode_count": 5})
    );
    assert_eq!(out["s"], json!([t()]));
    assert_eq!(
        out["a"],
        json!([
            e("/t/a.txt", 5, 1),
            e("/t/sub/b.txt", 3, 1),
            e("/t/sub/c.log", 2, 1),
            sub(),
            t()
        ])
    );
    assert_eq!(out["d0"], json!([t()]));
    assert_eq!(out["d1"], json!([sub(), t()]));
    // A plain-mode walk lists directories and stats files, nothing more.
    assert!(
        r.decisions
            .iter()
            .all(|d| d.action == "fs:list" || (d.action == "fs:stat" && d.resource.contains('.'))),
        "{:?}",
        r.decisions
    );
}

#[test]
#[ignore = "needs build/runners: scripts/build-guests.sh"]
fn rhai_walks_past_the_entry_limit_and_seq_past_the_array_limit_stop_with_limit_errors() {
    let sb = Sandbox::new();
    let big = sb.dir.path().join("root/big");
    std::fs::create_dir(&big).unwrap();
    for i in 0..=WALK_ENTRIES {
        std::fs::write(big.join(format!("f{i}")), "").unwrap();
    }
    let script = r#"
fn attempt(f) {
    try { f.call(); return "finished"; } catch (e) { return e.kind + " " + e.message; }
}
#{ find: attempt(|| find_files([glob::r], "*", "big")), du: attempt(|| du("big")),
   rm: attempt(|| rm([rm::r], "big")), seq: attempt(|| seq(0, 1 << 20)),
   step: attempt(|| seq([seq::step(2)], 0, 4_200_000)), fits: seq([seq::step(5)], 0, 20) }
"#;
    let (r, out) = plain(&sb, script, ALLOW_ALL);
    let limit = format!("holds more than the {WALK_ENTRIES} entries a walk may list");
    for walk in ["find", "du", "rm"] {
        let outcome = out[walk].as_str().unwrap();
        assert!(outcome.starts_with("limit-exceeded "), "{walk}: {outcome}");
        assert!(outcome.contains(&limit), "{walk}: {outcome}");
    }
    for seq in ["seq", "step"] {
        let outcome = out[seq].as_str().unwrap();
        assert!(outcome.starts_with("limit-exceeded "), "{seq}: {outcome}");
    }
    assert_eq!(out["fits"], json!([0, 5, 10, 15, 20]));
    // Each walk stopped at its first listing; `rm` removed nothing.
    assert_eq!(std::fs::read_dir(&big).unwrap().count(), WALK_ENTRIES + 1);
    assert_eq!(
        decisions(&r)
            .iter()
            .filter(|(a, _)| *a != "fs:list")
            .collect::<Vec<_>>(),
        [&("fs:remove", dir("/big").as_str())]
    );
}

#[test]
#[ignore = "needs build/runners: scripts/build-guests.sh"]
fn rhai_wrong_flag_types_are_invalid_errors_naming_them() {
    let sb = Sandbox::new();
    sb.write("a.txt", "a\n");
    let script = r#"
fn attempt(f) {
    try { f.call(); return "finished"; } catch (e) { return e.kind + " " + e.message; }
}
#{ string: attempt(|| cat(["number"], "a.txt")), other: attempt(|| cat([ls::all], "a.txt")),
   value: attempt(|| tail([tail::n("5")], "a.txt")), zero: attempt(|| seq([seq::step(0)], 1, 2)) }
"#;
    let (r, out) = plain(&sb, script, ALLOW_ALL);
    assert_eq!(r.status, RunStatus::Ok, "{r:?}");
    assert_eq!(
        out,
        json!({
            "string": "invalid invalid: flag 0 of `cat` is the string `number`, not a `CatFlag`: \
                       the flags are `cat::number`, `cat::n`",
            "other": "invalid invalid: flag 0 of `cat` is a `LsFlag`, not a `CatFlag`: the flags \
                      are `cat::number`, `cat::n`",
            "value": "invalid invalid: `tail::n` takes an integer, not the string `5`",
            "zero": "invalid invalid: `seq`: the step cannot be zero",
        })
    );
    // Nothing was read: a flag is checked before any call.
    assert!(r.decisions.is_empty(), "{:?}", r.decisions);
}
