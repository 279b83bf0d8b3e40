//! Acknowledged entries survive `kill -9` of the appending process.
//!
//! The test re-runs this test binary as a child that appends from several threads and prints
//! each sequence number once `sync` has returned for it (each after three entries it does not
//! sync, so that durable commits follow commits made without an fsync); the parent kills it with SIGKILL in
//! the middle of the load, then checks that every printed sequence number is in the log and
//! that the log verifies.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::Arc;

use cordon_audit::{AuditLog, DecisionLog, Store, verify};

use crate::common;

const CHILD_ENV: &str = "CORDON_AUDIT_CHILD_DIR";

/// Not a test of its own: the child process of `acknowledged_entries_survive_kill_9`.
#[test]
#[ignore = "run as a child process by acknowledged_entries_survive_kill_9"]
fn child_appends_until_killed() {
    let Some(dir) = std::env::var_os(CHILD_ENV) else {
        return;
    };
    let dir = std::path::PathBuf::from(dir);
    let log = Arc::new(AuditLog::open(&common::log_path(&dir), common::options(&dir)).unwrap());
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let log = log.clone();
            std::thread::spawn(move || {
                for i in 0.. {
                    // Like a run: three reads, appended without a sync (committed without an
                    // fsync until a durable commit takes them along), then an effect, synced.
                    for r in 0..3 {
                        log.append(&common::entry(t * 1_000_000 + 500_000 + i * 3 + r))
                            .unwrap();
                    }
                    let receipt = log.append(&common::entry(t * 1_000_000 + i)).unwrap();
                    log.sync(receipt.seq).unwrap();
                    // println! locks stdout and flushes the line: once the parent has read
                    // it, the entry was durable.
                    println!("ack {}", receipt.seq);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
}

#[test]
fn acknowledged_entries_survive_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "durability::child_appends_until_killed",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut acked = Vec::new();
    for line in lines.by_ref() {
        if let Some(seq) = line.unwrap().strip_prefix("ack ") {
            acked.push(seq.parse::<u64>().unwrap());
            if acked.len() == 1500 {
                break;
            }
        }
    }
    assert_eq!(acked.len(), 1500, "child stopped early");
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    // Lines already written before the kill are still in the pipe.
    for line in lines {
        let Ok(line) = line else { break };
        if let Some(seq) = line.strip_prefix("ack ") {
            acked.push(seq.parse().unwrap());
        }
    }

    // Reopening recovers the file and signs a checkpoint over whatever the crash left.
    let log = common::open(dir.path());
    let head = log.head().unwrap();
    log.close().unwrap();
    let max_acked = *acked.iter().max().unwrap();
    assert!(
        head.seq >= max_acked,
        "head {} < acknowledged {max_acked}",
        head.seq
    );

    let store = Store::open(&common::log_path(dir.path())).unwrap();
    for &seq in &acked {
        assert!(
            store.entry(seq).unwrap().is_some(),
            "acknowledged entry {seq} lost"
        );
    }
    let report = verify(
        &common::log_path(dir.path()),
        &common::public_key(dir.path()),
    )
    .unwrap();
    assert_eq!(report.entries, head.seq + 1);
    assert_eq!(report.unanchored, 0);
}

/// The writer commits what nobody waits for without an fsync: readers see it at once, but it
/// is not counted durable until a sync asks for a durable commit, which takes it along.
#[test]
fn entries_nobody_syncs_are_visible_but_durable_only_once_a_sync_asks() {
    let dir = tempfile::tempdir().unwrap();
    let log = common::open(dir.path());
    for i in 0..50 {
        log.append(&common::entry(i)).unwrap();
    }
    // Wait for the writer to commit all 50 (it does so on its own, without a sync).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while log.store().len().unwrap() < 50 {
        assert!(
            std::time::Instant::now() < deadline,
            "the writer never committed the queued entries"
        );
        std::thread::yield_now();
    }
    assert!(
        log.durable_len() < 50,
        "entries nobody synced were made durable: {}",
        log.durable_len()
    );
    // Checkpoints were signed every 16 entries, but none a crash could take back is handed
    // out: an auditor holding it would later see a log that lost entries.
    let handed_out = log.latest_checkpoint().map_or(0, |c| c.tree_size);
    assert!(
        handed_out <= log.durable_len(),
        "checkpoint at {handed_out}"
    );
    log.sync(10).unwrap();
    assert_eq!(
        log.durable_len(),
        50,
        "the durable commit takes every entry along"
    );
    log.close().unwrap();
    assert_eq!(common::open(dir.path()).head().unwrap().seq, 49);
}
