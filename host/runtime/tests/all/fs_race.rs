//! Open exactly what was decided: every path component is resolved without following a
//! symlink at the moment of use, so an in-root symlink swapped in while a run reads cannot make
//! it read what the policy forbids, and a symlink at any component is refused.

#![cfg(unix)]

use std::os::unix::fs::symlink;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use cordon_testkit::{UnitCall, list_guest, read_guest, stat_guest, unit_call_guest};
use rustix::fs::{FlockOperation, Mode, OFlags};

use cordon_runtime::{LimitExceeded, RunLimits};

use crate::fs_guests::{read_each, rename_read_back, rename_to, shuttle};
use crate::support::{ALLOW_ALL, Sandbox, load};

/// Reads in `/public` are allowed, anything in `/private` forbidden.
const PUBLIC_ONLY: &str = r#"@id("read-public") permit(principal, action == Cordon::Action::"fs:read", resource in Cordon::Dir::"/public");
@id("no-private") forbid(principal, action, resource in Cordon::Dir::"/private");"#;

/// One round of swaps by "another run on the same root": the directory `public` and then the
/// file `public/data.txt` are replaced for a moment by in-root symlinks to their `private`
/// counterparts, then put back.
fn swap_round(root: &Path) -> std::io::Result<()> {
    let p = |s: &str| root.join(s);
    std::fs::rename(p("public"), p("public.real"))?;
    std::fs::rename(p("dir-link"), p("public"))?;
    std::fs::rename(p("public"), p("dir-link"))?;
    std::fs::rename(p("public.real"), p("public"))?;
    std::fs::rename(p("public/data.txt"), p("public/data.real"))?;
    std::fs::rename(p("file-link"), p("public/data.txt"))?;
    std::fs::rename(p("public/data.txt"), p("file-link"))?;
    std::fs::rename(p("public/data.real"), p("public/data.txt"))
}

#[test]
fn concurrent_symlink_swaps_never_let_a_permitted_read_return_forbidden_content() {
    const READS: u32 = 3000;
    let sb = Sandbox::new();
    sb.write("public/data.txt", "public");
    sb.write("private/data.txt", "SECRET");
    let root = sb.dir.path().join("root");
    symlink("private", root.join("dir-link")).unwrap();
    symlink("../private/data.txt", root.join("file-link")).unwrap();

    let stop = Arc::new(AtomicBool::new(false));
    let rounds = Arc::new(AtomicU64::new(0));
    let (started, running) = std::sync::mpsc::channel();
    let swapper = {
        let (stop, rounds, root) = (stop.clone(), rounds.clone(), root.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                swap_round(&root).unwrap();
                if rounds.fetch_add(1, Ordering::Relaxed) == 0 {
                    started.send(()).unwrap();
                }
            }
        })
    };
    // The reads start once the swapper is swapping.
    running.recv().unwrap();
    let r = sb.run(&load(Ok(read_each(READS))), PUBLIC_ONLY, "public/data.txt");
    stop.store(true, Ordering::Relaxed);
    swapper.join().unwrap();

    let out = r.output.clone().unwrap_or_default();
    assert_eq!(out.len(), READS as usize, "{r:?}");
    let forbidden = out.bytes().filter(|&b| b == b'S').count();
    let public = out.bytes().filter(|&b| b == b'p').count();
    assert_eq!(forbidden, 0, "reads that returned forbidden content");
    assert!(public > 0, "no read succeeded: the test proves nothing");
    assert!(rounds.load(Ordering::Relaxed) > 0, "the swapper never ran");
    // Every read was decided on the permitted path, and that is all that was opened.
    assert!(
        r.decisions
            .iter()
            .all(|d| d.resource == r#"Cordon::File::"/public/data.txt""# && d.decision == "allow")
    );
    assert_eq!(sb.read("private/data.txt").as_deref(), Some("SECRET"));
}

#[test]
fn an_in_root_symlink_at_any_component_is_refused_for_every_operation() {
    let sb = Sandbox::new();
    sb.write("a/real/b.txt", "b");
    sb.write("a/real/c/d.txt", "d");
    let root = sb.dir.path().join("root");
    symlink("real", root.join("a/link")).unwrap();
    symlink("a", root.join("top-link")).unwrap();
    symlink("real/b.txt", root.join("a/file-link")).unwrap();
    let paths = [
        "top-link/real/b.txt",
        "a/link/b.txt",
        "a/link/c/d.txt",
        "a/link/c",
        "a/file-link",
    ];
    let guests = [
        ("read", load(read_guest())),
        ("write", load(unit_call_guest(UnitCall::Write))),
        ("append", load(unit_call_guest(UnitCall::Append))),
        ("list", load(list_guest())),
        ("stat", load(stat_guest())),
        ("create-dir", load(unit_call_guest(UnitCall::CreateDir))),
        ("remove", load(unit_call_guest(UnitCall::Remove))),
        ("rename", load(Ok(rename_to("moved")))),
    ];
    for (name, guest) in &guests {
        for path in paths {
            let r = sb.run(guest, ALLOW_ALL, path);
            let e = r.error.as_ref();
            assert_eq!(e.map(|e| e.kind), Some("invalid"), "{name} {path}: {r:?}");
            assert!(
                e.unwrap().message.contains("symlink"),
                "{name} {path}: {r:?}"
            );
        }
    }
    // Nothing was changed, created or moved through a link.
    assert_eq!(sb.read("a/real/b.txt").as_deref(), Some("b"));
    assert_eq!(sb.read("a/real/c/d.txt").as_deref(), Some("d"));
    assert!(!root.join("moved").exists());
    assert!(
        std::fs::symlink_metadata(root.join("a/file-link"))
            .unwrap()
            .is_symlink()
    );
}

/// Reading `*.secret` files in `/box` and `/safe` is forbidden; everything else is allowed.
/// So `/box` may be renamed only while it holds no `.secret` file, and moving `x.secret`
/// between `/safe` and `/box` grants nothing.
const NO_SECRETS: &str = r#"@id("allow-all") permit(principal, action, resource);
@id("no-secrets") forbid(principal, action == Cordon::Action::"fs:read", resource)
  when { resource.path like "/box/*.secret" || resource.path like "/safe/*.secret" };"#;

/// Two runs on one root, as two tenants' agents or two `cordon run`s would be: one shuttles a
/// forbidden file in and out of `/box`, the other renames `/box` away and reads the file
/// under the new name. A rename's escalation check and the rename itself exclude the other
/// run's rename, so the check that found `/box` empty is still true when it moves.
#[test]
fn a_concurrent_run_cannot_move_a_forbidden_file_into_a_dir_between_its_rename_check_and_the_rename()
 {
    const ROUNDS: u32 = 100;
    let sb = Sandbox::new();
    sb.write("safe/x.secret", "SECRET");
    // Permitted files make each rename check of /box take a while: the window the other run
    // would need.
    for i in 0..100 {
        sb.write(&format!("box/f{i}"), "");
    }
    let limits = RunLimits {
        timeout_ms: 120_000,
        max_host_calls: 100_000,
        ..RunLimits::default()
    };
    let shuttler = load(Ok(shuttle("safe/x.secret", "box/x.secret", 4 * ROUNDS)));
    let raider = load(Ok(rename_read_back("box", "loot", "x.secret", ROUNDS)));
    let (moves, raid) = std::thread::scope(|s| {
        let moves = s.spawn(|| sb.run_with(&shuttler, NO_SECRETS, "", limits));
        let raid = sb.run_with(&raider, NO_SECRETS, "", limits);
        (moves.join().unwrap(), raid)
    });
    assert_eq!(moves.output.as_deref(), Some("ok"), "{:?}", moves.limit);
    let rounds = raid.output.clone().unwrap_or_default();
    assert_eq!(
        rounds.len(),
        ROUNDS as usize,
        "{:?} {:?}",
        raid.status,
        raid.limit
    );
    let leaked = rounds.bytes().filter(|&b| b == b'S').count();
    assert_eq!(
        leaked, 0,
        "rounds that read the forbidden file under the new name"
    );
    // The test proves something only if both runs really interleaved: some renames of /box
    // went through (it was empty) and some were refused (the file was in it).
    let moved = rounds.bytes().filter(|&b| b == b'e').count();
    let refused = rounds.bytes().filter(|&b| b == b'd').count();
    assert!(moved > 0 && refused > 0, "moved {moved}, refused {refused}");
    assert_eq!(
        sb.read("safe/x.secret")
            .or(sb.read("box/x.secret"))
            .as_deref(),
        Some("SECRET")
    );
}

/// While another Cordon process renames on the same root (it holds the root's lock), a run
/// that would add an entry waits for it — but never past its own deadline, and it adds
/// nothing once its time is up.
#[test]
fn a_run_waiting_for_another_runs_rename_still_ends_at_its_deadline() {
    let sb = Sandbox::new();
    let root = sb.dir.path().join("root");
    let held = rustix::fs::open(&root, OFlags::RDONLY | OFlags::DIRECTORY, Mode::empty()).unwrap();
    rustix::fs::flock(&held, FlockOperation::LockExclusive).unwrap();
    let writer = load(unit_call_guest(UnitCall::Write));
    let limits = RunLimits {
        timeout_ms: 300,
        ..RunLimits::default()
    };
    let r = sb.run_with(&writer, ALLOW_ALL, "new.txt", limits);
    assert_eq!(r.limit, Some(LimitExceeded::Timeout), "{:?}", r.status);
    assert!(!root.join("new.txt").exists(), "written after its deadline");
    drop(held);
    let r = sb.run_with(&writer, ALLOW_ALL, "new.txt", limits);
    assert_eq!(r.error, None, "{:?}", r.status);
    assert!(root.join("new.txt").exists());
}
