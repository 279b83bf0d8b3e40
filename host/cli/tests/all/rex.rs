//! Rex's own example, run by `cordon run`: its scripts and policies (Rex's `example/` folder, in
//! our words: the same operations and the same policies) give Rex's outcomes, each Rex check is
//! one decision, and the root is the only directory a script reaches. The runs need the Rhai
//! runner built by scripts/build-guests.sh (ignored by a plain `cargo test`; CI runs them).

use crate::support::{Scratch, s};

/// Read-only: open, read and stat anything under the example folder.
fn read_only(root: &str) -> String {
    format!(
        r#"permit(principal,
    action in [file_system::Action::"open", file_system::Action::"read", file_system::Action::"stat"],
    resource) when {{ resource in file_system::Dir::"{root}" }};"#
    )
}

/// Read-write: also write, create, delete, chmod and chown there.
fn read_write(root: &str) -> String {
    format!(
        r#"permit(principal,
    action in [file_system::Action::"open", file_system::Action::"read", file_system::Action::"stat",
               file_system::Action::"write", file_system::Action::"create", file_system::Action::"delete",
               file_system::Action::"chmod", file_system::Action::"chown"],
    resource) when {{ resource in file_system::Dir::"{root}" }};"#
    )
}

/// Reads the greeting and lists the folder, logging both.
fn reader(root: &str) -> String {
    format!(
        "let text = cat(\"{root}/hello.txt\");\ninfo(`the file says: ${{text}}`);\n\
         let names = ls(\"{root}\");\ninfo(`the folder holds: ${{names.keys()}}`);\ntext\n"
    )
}

/// Creates a file, fills it, and reads it back.
fn writer(root: &str) -> String {
    format!(
        "let path = \"{root}/written.txt\";\ntouch(path);\nreplace(path, \"written by the script\");\n\
         let back = cat(path);\ninfo(`read back: ${{back}}`);\nback\n"
    )
}

struct Example {
    sc: Scratch,
    root: String,
}

impl Example {
    fn new() -> Example {
        let sc = Scratch::new();
        sc.file("rex_example/hello.txt", "Hello from the example\n");
        let root = std::fs::canonicalize(sc.path("rex_example"))
            .unwrap()
            .to_str()
            .unwrap()
            .to_owned();
        Example { sc, root }
    }

    fn run(&self, script: &str, policy: &str) -> crate::support::Ran {
        let script = self.sc.file("script.rhai", script);
        let policy = self.sc.file("policy.cedar", policy);
        self.sc.cordon(&[
            "run",
            s(&script),
            "--policy",
            s(&policy),
            "--rex-root",
            &self.root,
        ])
    }
}

fn decisions(j: &serde_json::Value) -> Vec<(String, String, String)> {
    j["decisions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["action"].as_str().unwrap().to_owned(),
                d["resource"].as_str().unwrap().to_owned(),
                d["decision"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[test]
#[ignore = "needs build/runners: scripts/build-guests.sh"]
fn rex_read_script_under_the_read_only_policy_reads_and_lists_with_one_decision_per_rex_check() {
    let ex = Example::new();
    let r = ex.run(&reader(&ex.root), &read_only(&ex.root));
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert!(r.stderr.contains("translated Rex policy"), "{}", r.stderr);
    let j = r.json();
    assert_eq!(j["output"], "Hello from the example\n");
    let stdout = j["stdout"].as_str().unwrap();
    assert!(
        stdout.contains("the file says: Hello from the example"),
        "{stdout}"
    );
    assert!(stdout.contains("hello.txt"), "{stdout}");
    // cat: open the folder, open the file, read it; ls: open the folder, read it.
    let allow = |a: &str, r: &str| (a.to_owned(), r.to_owned(), "allow".to_owned());
    assert_eq!(
        decisions(&j),
        [
            allow("fs:stat", r#"Cordon::Dir::"/""#),
            allow("fs:stat", r#"Cordon::File::"/hello.txt""#),
            allow("fs:read", r#"Cordon::File::"/hello.txt""#),
            allow("fs:stat", r#"Cordon::Dir::"/""#),
            allow("fs:list", r#"Cordon::Dir::"/""#),
        ]
    );
}

#[test]
#[ignore = "needs build/runners: scripts/build-guests.sh"]
fn rex_write_script_writes_under_the_read_write_policy() {
    let ex = Example::new();
    let r = ex.run(&writer(&ex.root), &read_write(&ex.root));
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert_eq!(r.json()["output"], "written by the script");
    assert_eq!(
        std::fs::read_to_string(ex.sc.path("rex_example/written.txt")).unwrap(),
        "written by the script"
    );
}

#[test]
#[ignore = "needs build/runners: scripts/build-guests.sh"]
fn rex_write_script_is_denied_under_the_read_only_policy_and_writes_nothing() {
    let ex = Example::new();
    let r = ex.run(&writer(&ex.root), &read_only(&ex.root));
    assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
    let j = r.json();
    assert_eq!(j["error"]["kind"], "access-denied", "{j}");
    assert!(!ex.sc.path("rex_example/written.txt").exists());
    assert!(decisions(&j).iter().any(|(_, _, d)| d == "deny"), "{j}");
}

#[test]
#[ignore = "needs build/runners: scripts/build-guests.sh"]
fn a_denied_rex_write_is_caught_with_rex_wording_and_the_host_path() {
    let ex = Example::new();
    let script = format!(
        "let said = \"written\";\ntry {{ write(\"{root}/new.txt\", \"x\"); }} catch (e) {{ said = e.message; }}\nsaid",
        root = ex.root
    );
    let r = ex.run(&script, &read_only(&ex.root));
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let message = r.json()["output"].as_str().unwrap().to_owned();
    assert!(message.contains("Permission denied"), "{message}");
    assert!(
        message.contains(&format!("{}/new.txt", ex.root)),
        "{message}"
    );
    assert!(!ex.sc.path("rex_example/new.txt").exists());
}

#[test]
#[ignore = "needs build/runners: scripts/build-guests.sh"]
fn a_rex_path_outside_the_root_reaches_nothing_and_asks_no_policy() {
    let ex = Example::new();
    // Even a policy that allows everything everywhere grants nothing outside the root.
    let everything = r#"permit(principal, action, resource in file_system::Dir::"/");"#;
    let script =
        "let kind = \"read\";\ntry { cat(\"/etc/hostname\"); } catch (e) { kind = e.kind; }\nkind";
    let r = ex.run(script, everything);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let j = r.json();
    assert_eq!(j["output"], "invalid", "{j}");
    assert!(decisions(&j).is_empty(), "{j}");
}

#[test]
#[ignore = "needs build/runners: scripts/build-guests.sh"]
fn rex_script_arguments_file_values_are_the_scripts_variables() {
    let ex = Example::new();
    let script = ex
        .sc
        .file("args.rhai", format!("cat(\"{}/\" + file_name)", ex.root));
    let policy = ex.sc.file("policy.cedar", read_only(&ex.root));
    let args = ex.sc.file(
        "args.json",
        r#"{"file_name": {"stringValue": "hello.txt"}}"#,
    );
    let r = ex.sc.cordon(&[
        "run",
        s(&script),
        "--policy",
        s(&policy),
        "--rex-root",
        &ex.root,
        "--input-file",
        s(&args),
    ]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert_eq!(r.json()["output"], "Hello from the example\n");
}

#[test]
#[ignore = "needs build/runners: scripts/build-guests.sh"]
fn a_runaway_rex_loop_is_stopped_by_rexs_operation_limit_and_by_fuel_whichever_comes_first() {
    let ex = Example::new();
    let script = ex.sc.file("spin.rhai", "let n = 0;\nloop { n += 1; }\n");
    let policy = ex.sc.file("policy.cedar", read_only(&ex.root));
    let run = |fuel: &str| {
        ex.sc.cordon(&[
            "run",
            s(&script),
            "--policy",
            s(&policy),
            "--rex-root",
            &ex.root,
            "--fuel",
            fuel,
            "--timeout",
            "60000",
        ])
    };
    // Plenty of fuel: Rex's own limit of operations ends it, as an error the report names.
    let r = run("100000000000");
    assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
    let j = r.json();
    assert_eq!(j["error"]["kind"], "exception", "{j}");
    assert!(
        j["error"]["message"]
            .as_str()
            .unwrap()
            .contains("too many operations"),
        "{j}"
    );
    // Little fuel: Cordon's meter ends it first.
    let r = run("20000000");
    assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
    let j = r.json();
    assert_eq!(j["status"], "limit-exceeded", "{j}");
    assert_eq!(j["limit"], "fuel", "{j}");
}
