//! The fs capability: allowed and denied calls, what the guest sees, what the disk shows, and
//! what the log records.

use cordon_audit::DecisionLog;
use cordon_runtime::RunStatus;
use cordon_testkit::{UnitCall, list_guest, read_guest, stat_guest, unit_call_guest};

use crate::support::{ALLOW_ALL, ALLOW_DATA_READS, Sandbox, load};

#[test]
fn allows_a_read_the_policy_permits() {
    let sb = Sandbox::new();
    sb.write("data/a.txt", "hello");
    let r = sb.run(&load(read_guest()), ALLOW_DATA_READS, "data/a.txt");
    assert_eq!(r.status, RunStatus::Ok, "{r:?}");
    assert_eq!(r.output.as_deref(), Some("hello"));
    assert_eq!(r.decisions.len(), 1);
    assert_eq!(r.decisions[0].action, "fs:read");
    assert_eq!(r.decisions[0].resource, r#"Cordon::File::"/data/a.txt""#);
    assert_eq!(r.decisions[0].decision, "allow");
    assert_eq!(r.decisions[0].policy_ids, ["read-data"]);
}

#[test]
fn denies_a_read_outside_the_policy_before_touching_the_file() {
    let sb = Sandbox::new();
    // The path does not exist: a `not-found` would prove the host looked; `access-denied`
    // proves it did not.
    let r = sb.run(&load(read_guest()), ALLOW_DATA_READS, "private/missing.txt");
    assert_eq!(r.status, RunStatus::Error, "{r:?}");
    let e = r.error.unwrap();
    assert_eq!(e.kind, "access-denied");
    assert!(
        e.message
            .contains(r#"Cordon::File::"/private/missing.txt""#),
        "{}",
        e.message
    );
    assert_eq!(r.decisions[0].decision, "deny");
}

#[test]
fn a_denial_names_the_forbidding_policy_and_the_logged_decision() {
    let sb = Sandbox::new();
    sb.write("data/.env", "KEY=1");
    let policy = format!(
        "{ALLOW_ALL}\n@id(\"no-env\") forbid(principal, action, resource is Cordon::File) when {{ resource.name == \".env\" }};"
    );
    let r = sb.run(&load(read_guest()), &policy, "data/.env");
    let e = r.error.clone().unwrap();
    assert_eq!(e.kind, "access-denied");
    assert_eq!(e.policy_ids.unwrap(), ["no-env"]);
    let seq = r.decisions[0].seq;
    assert!(
        e.message.contains(&format!("decision {seq}")),
        "{}",
        e.message
    );
    assert_eq!(r.audit.last_seq, Some(seq));
    assert_eq!(sb.log.head().unwrap().seq, seq);
}

#[test]
fn denied_decisions_are_durable_in_the_log_when_the_run_returns() {
    let sb = Sandbox::new();
    let r = sb.run(&load(read_guest()), ALLOW_DATA_READS, "etc/passwd");
    assert_eq!(r.decisions.len(), 1);
    let path = sb.dir.path().join("audit.redb");
    let head = r.audit.head.clone().unwrap();
    drop(sb.log);
    let key =
        cordon_audit::PublicKey::read(&sb.dir.path().join(cordon_audit::PUBLIC_KEY_FILE)).unwrap();
    let report = cordon_audit::verify(&path, &key).unwrap();
    assert_eq!(report.entries, 1);
    assert_eq!(report.head.map(|h| h.to_hex()), Some(head));
}

#[test]
fn a_denied_write_leaves_the_file_unchanged() {
    let sb = Sandbox::new();
    sb.write("data/a.txt", "original");
    let r = sb.run(
        &load(unit_call_guest(UnitCall::Write)),
        ALLOW_DATA_READS,
        "data/a.txt",
    );
    assert_eq!(r.error.unwrap().kind, "access-denied");
    assert_eq!(sb.read("data/a.txt").as_deref(), Some("original"));
}

#[test]
fn an_allowed_write_creates_and_truncates() {
    let sb = Sandbox::new();
    sb.write("out/a.txt", "a much longer original");
    let guest = load(unit_call_guest(UnitCall::Write));
    let r = sb.run(&guest, ALLOW_ALL, "out/a.txt");
    assert_eq!(r.output.as_deref(), Some("ok"), "{r:?}");
    assert_eq!(sb.read("out/a.txt").as_deref(), Some("written"));
    let r = sb.run(&guest, ALLOW_ALL, "out/new.txt");
    assert_eq!(r.output.as_deref(), Some("ok"));
    assert_eq!(sb.read("out/new.txt").as_deref(), Some("written"));
}

#[test]
fn append_adds_to_the_end() {
    let sb = Sandbox::new();
    sb.write("log.txt", "line;");
    let r = sb.run(
        &load(unit_call_guest(UnitCall::Append)),
        ALLOW_ALL,
        "log.txt",
    );
    assert_eq!(r.output.as_deref(), Some("ok"), "{r:?}");
    assert_eq!(sb.read("log.txt").as_deref(), Some("line;written"));
}

#[test]
fn list_stat_create_remove_and_rename_work_when_allowed() {
    let sb = Sandbox::new();
    sb.write("d/one.txt", "1");
    sb.write("d/two.txt", "22");
    let r = sb.run(&load(list_guest()), ALLOW_ALL, "d");
    assert_eq!(r.output.as_deref(), Some("xx"), "{r:?}");
    assert_eq!(r.decisions[0].resource, r#"Cordon::Dir::"/d""#);
    let r = sb.run(&load(stat_guest()), ALLOW_ALL, "d/two.txt");
    assert_eq!(r.output.as_deref(), Some("xx"), "{r:?}");
    let r = sb.run(
        &load(unit_call_guest(UnitCall::CreateDir)),
        ALLOW_ALL,
        "d/sub",
    );
    assert_eq!(r.output.as_deref(), Some("ok"));
    assert!(sb.dir.path().join("root/d/sub").is_dir());
    let r = sb.run(
        &load(unit_call_guest(UnitCall::Remove)),
        ALLOW_ALL,
        "d/one.txt",
    );
    assert_eq!(r.output.as_deref(), Some("ok"));
    assert_eq!(sb.read("d/one.txt"), None);
    let r = sb.run(
        &load(unit_call_guest(UnitCall::Rename)),
        ALLOW_ALL,
        "d/two.txt",
    );
    assert_eq!(r.output.as_deref(), Some("ok"), "{r:?}");
    assert_eq!(sb.read("moved.txt").as_deref(), Some("22"));
    assert_eq!(
        r.decisions
            .iter()
            .map(|d| d.action.as_str())
            .collect::<Vec<_>>(),
        ["fs:rename", "fs:write"]
    );
}

#[test]
fn rename_needs_write_permission_on_the_destination() {
    let sb = Sandbox::new();
    sb.write("a.txt", "a");
    let policy =
        r#"@id("rename-only") permit(principal, action == Cordon::Action::"fs:rename", resource);"#;
    let r = sb.run(&load(unit_call_guest(UnitCall::Rename)), policy, "a.txt");
    assert_eq!(r.error.unwrap().kind, "access-denied");
    assert_eq!(sb.read("a.txt").as_deref(), Some("a"));
    assert_eq!(sb.read("moved.txt"), None);
}

#[test]
fn a_missing_file_is_not_found_for_the_guest() {
    let sb = Sandbox::new();
    let r = sb.run(&load(read_guest()), ALLOW_ALL, "nope.txt");
    assert_eq!(r.status, RunStatus::Error);
    assert_eq!(r.error.unwrap().kind, "not-found");
}

#[test]
fn dot_dot_cannot_escape_even_when_everything_is_allowed() {
    let sb = Sandbox::new();
    for path in [
        "../outside/secret.txt",
        "data/../../outside/secret.txt",
        "/../outside/secret.txt",
    ] {
        let r = sb.run(&load(read_guest()), ALLOW_ALL, path);
        assert_eq!(
            r.error.as_ref().map(|e| e.kind),
            Some("invalid"),
            "{path}: {r:?}"
        );
        assert!(
            r.decisions.is_empty(),
            "an invalid path is refused before the policy is asked"
        );
    }
}

#[test]
fn absolute_paths_are_inside_the_root() {
    let sb = Sandbox::new();
    sb.write("etc/passwd", "not the host's");
    let r = sb.run(&load(read_guest()), ALLOW_ALL, "/etc/passwd");
    assert_eq!(r.output.as_deref(), Some("not the host's"));
}

#[cfg(unix)]
#[test]
fn symlinks_are_not_followed_out_of_the_root_or_within_it() {
    let sb = Sandbox::new();
    let root = sb.dir.path().join("root");
    std::os::unix::fs::symlink(sb.dir.path().join("outside"), root.join("escape")).unwrap();
    std::os::unix::fs::symlink(
        sb.dir.path().join("outside/secret.txt"),
        root.join("secret-link"),
    )
    .unwrap();
    sb.write("data/inner.txt", "inner");
    std::os::unix::fs::symlink("data/inner.txt", root.join("inner-link")).unwrap();
    for path in ["escape/secret.txt", "secret-link", "inner-link"] {
        let r = sb.run(&load(read_guest()), ALLOW_ALL, path);
        assert_eq!(
            r.error.as_ref().map(|e| e.kind),
            Some("invalid"),
            "{path}: {r:?}"
        );
        assert_eq!(r.output, None);
    }
    // Writing through a link must not create or change anything outside.
    let r = sb.run(
        &load(unit_call_guest(UnitCall::Write)),
        ALLOW_ALL,
        "escape/secret.txt",
    );
    assert_eq!(r.error.as_ref().map(|e| e.kind), Some("invalid"));
    assert_eq!(
        std::fs::read_to_string(sb.dir.path().join("outside/secret.txt")).unwrap(),
        "top secret"
    );
}

#[test]
fn a_run_without_a_root_gets_unsupported_after_the_policy_check() {
    let sb = Sandbox::new();
    let inv = cordon_runtime::Invocation {
        root: None,
        ..sb.invocation(ALLOW_ALL, "a.txt")
    };
    let r = crate::support::engine()
        .run(&load(read_guest()), inv)
        .unwrap();
    assert_eq!(r.error.unwrap().kind, "unsupported");
    assert_eq!(r.decisions.len(), 1);
}

#[test]
fn every_call_of_a_run_is_decided_and_logged_in_order() {
    let sb = Sandbox::new();
    sb.write("a.txt", "hello");
    let r = sb.run(&load(cordon_testkit::read_n_guest(100)), ALLOW_ALL, "a.txt");
    assert_eq!(r.output.as_deref(), Some("hello"), "{r:?}");
    assert_eq!(r.host_calls, 100);
    let seqs: Vec<u64> = r.decisions.iter().map(|d| d.seq).collect();
    assert_eq!(seqs, (0..100).collect::<Vec<_>>());
    assert_eq!(sb.log.head().unwrap().seq, 99);
}

#[test]
fn each_distinct_path_is_decided_on_its_own() {
    let sb = Sandbox::new();
    for i in 0..12 {
        sb.write(&format!("d/f{i:05}"), &format!("content {i}"));
    }
    let policy = r#"@id("read-d") permit(principal, action == Cordon::Action::"fs:read", resource in Cordon::Dir::"/d");
        @id("not-7") forbid(principal, action, resource) when { resource has name && resource.name == "f00007" };"#;
    let r = sb.run(
        &load(cordon_testkit::read_distinct_guest(12)),
        policy,
        "d/f",
    );
    assert_eq!(r.output.as_deref(), Some("content 11"), "{r:?}");
    let seen: Vec<(&str, &str)> = r
        .decisions
        .iter()
        .map(|d| (d.resource.as_str(), d.decision))
        .collect();
    let expected: Vec<(String, &str)> = (0..12)
        .map(|i| {
            let verdict = if i == 7 { "deny" } else { "allow" };
            (format!(r#"Cordon::File::"/d/f{i:05}""#), verdict)
        })
        .collect();
    let expected: Vec<(&str, &str)> = expected.iter().map(|(r, v)| (r.as_str(), *v)).collect();
    assert_eq!(seen, expected);
    assert_eq!(r.decisions[7].policy_ids, ["not-7"]);
}
