//! A rename cannot step around the policy: directories are decided as `Dir`, a forbid `in` a
//! directory covers the directory itself, and a rename that would grant under the new name
//! anything the old name is refused — for the entry and everything below it. Real files in a
//! temp root; every refusal leaves the files where and as they were.

use cordon_runtime::RunReport;
use cordon_testkit::{UnitCall, read_guest, stat_guest, unit_call_guest};

use crate::fs_guests::rename_to;
use crate::support::{ALLOW_ALL, Sandbox, load};

/// Everything is allowed except anything in or on `/private`.
fn private_forbidden() -> String {
    format!(
        "{ALLOW_ALL}\n@id(\"no-private\") forbid(principal, action, resource in Cordon::Dir::\"/private\");"
    )
}

/// Everything is allowed except reading `/docs/secret.txt`.
fn secret_unreadable() -> String {
    format!(
        "{ALLOW_ALL}\n@id(\"no-secret\") forbid(principal, action == Cordon::Action::\"fs:read\", resource == Cordon::File::\"/docs/secret.txt\");"
    )
}

fn kind(r: &RunReport) -> Option<&'static str> {
    r.error.as_ref().map(|e| e.kind)
}

fn rename(sb: &Sandbox, policy: &str, from: &str, to: &str) -> RunReport {
    sb.run(&load(Ok(rename_to(to))), policy, from)
}

#[test]
fn denies_rename_of_a_forbidden_dir_to_a_new_name() {
    let sb = Sandbox::new();
    sb.write("private/inner.txt", "inner secret");
    let policy = private_forbidden();
    let r = rename(&sb, &policy, "private", "loot");
    assert_eq!(kind(&r), Some("access-denied"), "{r:?}");
    assert_eq!(r.decisions[0].resource, r#"Cordon::Dir::"/private""#);
    assert_eq!(r.decisions[0].policy_ids, ["no-private"]);
    assert_eq!(
        sb.read("private/inner.txt").as_deref(),
        Some("inner secret")
    );
    assert!(!sb.dir.path().join("root/loot").exists());
    // And reading through the new name finds nothing.
    let r = sb.run(&load(read_guest()), &policy, "loot/inner.txt");
    assert_eq!(kind(&r), Some("not-found"), "{r:?}");
}

#[test]
fn denies_rename_of_a_dir_whose_files_are_forbidden_to_read() {
    let sb = Sandbox::new();
    sb.write("private/inner.txt", "inner secret");
    // Only reads are forbidden below /private: renaming the directory itself is allowed by
    // the policy, but would make its files readable under the new name.
    let policy = format!(
        "{ALLOW_ALL}\n@id(\"no-private-reads\") forbid(principal, action == Cordon::Action::\"fs:read\", resource in Cordon::Dir::\"/private\");"
    );
    let r = rename(&sb, &policy, "private", "loot");
    assert_eq!(kind(&r), Some("access-denied"), "{r:?}");
    let last = r.decisions.last().unwrap();
    assert_eq!(
        (last.action.as_str(), last.resource.as_str(), last.decision),
        ("fs:rename", r#"Cordon::Dir::"/private""#, "deny")
    );
    assert_eq!(last.policy_ids, ["cordon:rename"]);
    assert_eq!(
        sb.read("private/inner.txt").as_deref(),
        Some("inner secret")
    );
    let r = sb.run(&load(read_guest()), &policy, "loot/inner.txt");
    assert_eq!(kind(&r), Some("not-found"), "{r:?}");
}

#[test]
fn denies_rename_of_the_parent_of_a_forbidden_file() {
    let sb = Sandbox::new();
    sb.write("docs/secret.txt", "the secret");
    sb.write("docs/deeper/ok.txt", "fine");
    let policy = secret_unreadable();
    let r = rename(&sb, &policy, "docs", "moved");
    assert_eq!(kind(&r), Some("access-denied"), "{r:?}");
    assert_eq!(r.error.unwrap().policy_ids.unwrap(), ["cordon:rename"]);
    assert_eq!(sb.read("docs/secret.txt").as_deref(), Some("the secret"));
    let r = sb.run(&load(read_guest()), &policy, "moved/secret.txt");
    assert_eq!(kind(&r), Some("not-found"), "{r:?}");
}

#[test]
fn denies_rename_of_a_forbidden_file_itself() {
    let sb = Sandbox::new();
    sb.write("docs/secret.txt", "the secret");
    let r = rename(
        &sb,
        &secret_unreadable(),
        "docs/secret.txt",
        "docs/public.txt",
    );
    assert_eq!(kind(&r), Some("access-denied"), "{r:?}");
    assert_eq!(sb.read("docs/secret.txt").as_deref(), Some("the secret"));
    assert_eq!(sb.read("docs/public.txt"), None);
}

#[test]
fn allows_a_rename_that_grants_nothing_new() {
    let sb = Sandbox::new();
    sb.write("docs/secret.txt", "the secret");
    sb.write("work/a/b.txt", "b");
    let policy = secret_unreadable();
    // Moving the forbidden file's directory's sibling, and moving a file to a name that is
    // no more readable than its old one, are both fine.
    let r = rename(&sb, &policy, "work", "done");
    assert_eq!(r.output.as_deref(), Some("ok"), "{r:?}");
    assert_eq!(sb.read("done/a/b.txt").as_deref(), Some("b"));
    let r = rename(&sb, &policy, "done/a/b.txt", "docs/secret.txt");
    assert_eq!(r.output.as_deref(), Some("ok"), "{r:?}");
    assert_eq!(sb.read("docs/secret.txt").as_deref(), Some("b"));
}

#[test]
fn denies_rename_into_a_forbidden_dir() {
    let sb = Sandbox::new();
    sb.write("a.txt", "a");
    sb.write("private/keep.txt", "keep");
    let policy = private_forbidden();
    let r = rename(&sb, &policy, "a.txt", "private/keep.txt");
    assert_eq!(kind(&r), Some("access-denied"), "{r:?}");
    assert_eq!(
        r.decisions[1].resource,
        r#"Cordon::File::"/private/keep.txt""#
    );
    assert_eq!(sb.read("a.txt").as_deref(), Some("a"));
    assert_eq!(sb.read("private/keep.txt").as_deref(), Some("keep"));
    // A directory moved into it is decided as a directory there.
    std::fs::create_dir(sb.dir.path().join("root/d")).unwrap();
    let r = rename(&sb, &policy, "d", "private/d");
    assert_eq!(kind(&r), Some("access-denied"), "{r:?}");
    assert_eq!(
        (
            r.decisions[1].action.as_str(),
            r.decisions[1].resource.as_str()
        ),
        ("fs:create-dir", r#"Cordon::Dir::"/private/d""#)
    );
    assert!(sb.dir.path().join("root/d").is_dir());
}

#[test]
fn stat_and_remove_of_a_forbidden_dir_are_decided_on_the_dir() {
    let sb = Sandbox::new();
    std::fs::create_dir(sb.dir.path().join("root/private")).unwrap();
    let policy = private_forbidden();
    let r = sb.run(&load(stat_guest()), &policy, "private");
    assert_eq!(kind(&r), Some("access-denied"), "{r:?}");
    assert_eq!(r.decisions[0].resource, r#"Cordon::Dir::"/private""#);
    let r = sb.run(&load(unit_call_guest(UnitCall::Remove)), &policy, "private");
    assert_eq!(kind(&r), Some("access-denied"), "{r:?}");
    assert_eq!(r.decisions[0].resource, r#"Cordon::Dir::"/private""#);
    assert!(sb.dir.path().join("root/private").is_dir());
}

#[test]
fn a_rename_moving_more_entries_than_the_bound_is_refused_and_moves_nothing() {
    let sb = Sandbox::new();
    for i in 0..cordon_runtime::MAX_RENAME_ENTRIES {
        sb.write(&format!("big/f{i}"), "");
    }
    let r = rename(&sb, ALLOW_ALL, "big", "moved");
    assert_eq!(kind(&r), Some("limit-exceeded"), "{r:?}");
    assert!(sb.dir.path().join("root/big/f0").exists());
    assert!(!sb.dir.path().join("root/moved").exists());
}

/// Moving a directory creates, in effect, every entry below it at its new path: a rename may
/// not plant a file where writing it is forbidden.
#[test]
fn denies_rename_of_a_dir_that_would_plant_a_file_where_writing_it_is_forbidden() {
    let sb = Sandbox::new();
    sb.write("scratch/notes.txt", "fine");
    sb.write("scratch/tool.exe", "payload");
    let policy = format!(
        "{ALLOW_ALL}\n@id(\"no-exe-in-out\") forbid(principal, action == Cordon::Action::\"fs:write\", resource) when {{ resource.path like \"/out/*.exe\" }};"
    );
    let r = rename(&sb, &policy, "scratch", "out");
    assert_eq!(kind(&r), Some("access-denied"), "{r:?}");
    assert_eq!(r.decisions.last().unwrap().policy_ids, ["cordon:rename"]);
    assert!(!sb.dir.path().join("root/out").exists());
    assert_eq!(sb.read("scratch/tool.exe").as_deref(), Some("payload"));
    // Without the forbidden file the same move is allowed.
    std::fs::remove_file(sb.dir.path().join("root/scratch/tool.exe")).unwrap();
    let r = rename(&sb, &policy, "scratch", "out");
    assert_eq!(kind(&r), None, "{r:?}");
    assert_eq!(sb.read("out/notes.txt").as_deref(), Some("fine"));
}
