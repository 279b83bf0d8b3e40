//! Appending, syncing, group commit, reopening and closing.

use std::sync::Arc;

use cordon_audit::{AppendError, AuditLog, DecisionLog, Store, verify};

use crate::common;

#[test]
fn assigns_consecutive_seqs_and_chains_hashes() {
    let dir = tempfile::tempdir().unwrap();
    let log = common::open(dir.path());
    assert_eq!(log.head(), None);
    let a = log.append(&common::entry(0)).unwrap();
    let head_a = log.head().unwrap();
    let b = log.append(&common::entry(1)).unwrap();
    assert_eq!((a.seq, b.seq), (0, 1));
    // The head covers what was appended before it was asked for, hashed by the writer.
    let head_b = log.head().unwrap();
    assert_eq!((head_a.seq, head_b.seq), (0, 1));
    assert_ne!(head_a.hash, head_b.hash);
    assert_eq!(head_b.hash_hex().len(), 64);
    log.sync(1).unwrap();
    assert_eq!(log.store().len().unwrap(), 2);
    // The chain the writer stored is the one the head named.
    drop(log);
    let report = verify(
        &common::log_path(dir.path()),
        &common::public_key(dir.path()),
    )
    .unwrap();
    assert_eq!(report.head.map(|h| h.to_hex()), Some(head_b.hash_hex()));
}

#[test]
fn refuses_to_sync_an_entry_never_appended() {
    let dir = tempfile::tempdir().unwrap();
    let log = common::open(dir.path());
    assert!(matches!(
        log.sync(0),
        Err(AppendError::NotAppended { seq: 0 })
    ));
    log.append(&common::entry(0)).unwrap();
    log.sync(0).unwrap();
    assert!(matches!(
        log.sync(1),
        Err(AppendError::NotAppended { seq: 1 })
    ));
}

#[test]
fn sync_makes_entries_visible_in_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let log = common::open(dir.path());
    let receipt = log.append(&common::entry(0)).unwrap();
    log.sync(receipt.seq).unwrap();
    let stored = log.store().entry(0).unwrap().unwrap();
    assert_eq!(stored.resource, "needle-resource-000000");
}

#[test]
fn concurrent_appenders_get_unique_seqs_and_a_valid_chain() {
    let dir = tempfile::tempdir().unwrap();
    let log = Arc::new(common::open(dir.path()));
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let log = log.clone();
            std::thread::spawn(move || {
                (0..200)
                    .map(|i| {
                        let receipt = log.append(&common::entry(t * 1000 + i)).unwrap();
                        log.sync(receipt.seq).unwrap();
                        receipt.seq
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let mut seqs: Vec<u64> = threads
        .into_iter()
        .flat_map(|t| t.join().unwrap())
        .collect();
    seqs.sort_unstable();
    assert_eq!(seqs, (0..1600).collect::<Vec<_>>());
    Arc::into_inner(log).unwrap().close().unwrap();
    let report = verify(
        &common::log_path(dir.path()),
        &common::public_key(dir.path()),
    )
    .unwrap();
    assert_eq!(report.entries, 1600);
    assert_eq!(report.unanchored, 0);
}

#[test]
fn every_syncer_of_a_commit_returns_though_no_commit_follows() {
    // The writer wakes one syncer per commit, which wakes the others: a wakeup lost on the
    // way would leave a syncer asleep until a later commit, and here none follows.
    let dir = tempfile::tempdir().unwrap();
    let log = Arc::new(common::open(dir.path()));
    for round in 0..30u64 {
        let barrier = Arc::new(std::sync::Barrier::new(32));
        let (done, finished) = std::sync::mpsc::channel();
        for t in 0..32 {
            let (log, barrier, done) = (log.clone(), barrier.clone(), done.clone());
            std::thread::spawn(move || {
                barrier.wait();
                let receipt = log.append(&common::entry(round * 100 + t)).unwrap();
                log.sync(receipt.seq).unwrap();
                drop(log);
                done.send(()).unwrap();
            });
        }
        for _ in 0..32 {
            finished
                .recv_timeout(std::time::Duration::from_secs(60))
                .unwrap_or_else(|_| panic!("a syncer of round {round} never returned"));
        }
    }
    Arc::into_inner(log).unwrap().close().unwrap();
}

#[test]
fn reopening_continues_the_chain() {
    let dir = tempfile::tempdir().unwrap();
    let log = common::open(dir.path());
    common::append_range(&log, 0, 10);
    let head = log.head().unwrap();
    log.close().unwrap();

    let log = common::open(dir.path());
    assert_eq!(log.head(), Some(head));
    common::append_range(&log, 10, 25);
    assert_eq!(log.head().unwrap().seq, 24);
    log.close().unwrap();
    let report = verify(
        &common::log_path(dir.path()),
        &common::public_key(dir.path()),
    )
    .unwrap();
    assert_eq!(report.entries, 25);
}

#[test]
fn dropping_the_log_flushes_pending_entries() {
    let dir = tempfile::tempdir().unwrap();
    {
        let log = common::open(dir.path());
        for i in 0..5 {
            log.append(&common::entry(i)).unwrap();
        }
        // No sync, no close: Drop must flush.
    }
    let store = Store::open(&common::log_path(dir.path())).unwrap();
    assert_eq!(store.len().unwrap(), 5);
    assert_eq!(store.latest_checkpoint().unwrap().unwrap().tree_size, 5);
}

#[test]
fn signs_a_checkpoint_every_n_entries() {
    let dir = tempfile::tempdir().unwrap();
    let log = common::open(dir.path());
    common::append_range(&log, 0, 40);
    let sizes: Vec<u64> = log
        .store()
        .checkpoints()
        .unwrap()
        .iter()
        .map(|c| c.tree_size)
        .collect();
    // Group commit may put more than 16 entries in one commit; a checkpoint follows every
    // commit that reaches 16 new entries.
    assert!(sizes.len() >= 2, "{sizes:?}");
    assert!(sizes.windows(2).all(|w| w[1] - w[0] >= 16), "{sizes:?}");
}

#[test]
fn signs_a_checkpoint_after_the_interval_without_more_entries() {
    let dir = tempfile::tempdir().unwrap();
    let options = cordon_audit::LogOptions {
        checkpoint_every: 1_000_000,
        checkpoint_interval: std::time::Duration::from_millis(50),
        ..cordon_audit::LogOptions::in_dir(dir.path())
    };
    let log = AuditLog::open(&common::log_path(dir.path()), options).unwrap();
    common::append_range(&log, 0, 3);
    // The writer signs by itself once the interval has passed; wait for that on the store's
    // state rather than for a fixed time.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while log.latest_checkpoint().is_none_or(|c| c.tree_size < 3) {
        assert!(
            std::time::Instant::now() < deadline,
            "no checkpoint after 10 s"
        );
        std::thread::yield_now();
    }
}

#[test]
fn checkpoint_on_demand_covers_every_appended_entry() {
    let dir = tempfile::tempdir().unwrap();
    let log = common::open(dir.path());
    assert_eq!(log.checkpoint().unwrap(), None);
    for i in 0..5 {
        log.append(&common::entry(i)).unwrap();
    }
    let checkpoint = log.checkpoint().unwrap().unwrap();
    assert_eq!(checkpoint.tree_size, 5);
    checkpoint.verify(&log.public_key()).unwrap();
    assert_eq!(log.store().root(5).unwrap(), checkpoint.root.0);
}

#[test]
fn another_process_can_read_a_log_opened_with_shared_readers() {
    let dir = tempfile::tempdir().unwrap();
    let options = cordon_audit::LogOptions {
        shared_readers: true,
        ..common::options(dir.path())
    };
    let log = AuditLog::open(&common::log_path(dir.path()), options).unwrap();
    common::append_range(&log, 0, 20);
    log.checkpoint().unwrap();
    // A second, read-only handle (as `cordon audit verify` in another process would use).
    let reader = Store::open(&common::log_path(dir.path())).unwrap();
    let report = reader.verify(&log.public_key()).unwrap();
    assert_eq!(report.entries, 20);
    common::append_range(&log, 20, 30);
    log.checkpoint().unwrap();
    assert_eq!(reader.verify(&log.public_key()).unwrap().entries, 30);
}

#[test]
fn an_exclusive_log_refuses_other_handles_while_open() {
    let dir = tempfile::tempdir().unwrap();
    let log = common::open(dir.path());
    common::append_range(&log, 0, 3);
    let err = Store::open(&common::log_path(dir.path())).err().unwrap();
    assert!(err.is_held_elsewhere(), "{err}");
    // In-process reads go through the log's own store.
    assert_eq!(log.store().len().unwrap(), 3);
}

#[test]
fn checkpoints_on_demand_while_others_append() {
    let dir = tempfile::tempdir().unwrap();
    let log = Arc::new(common::open(dir.path()));
    let appenders: Vec<_> = (0..4)
        .map(|t| {
            let log = log.clone();
            std::thread::spawn(move || {
                for i in 0..100 {
                    let receipt = log.append(&common::entry(t * 1000 + i)).unwrap();
                    if i % 10 == 9 {
                        log.sync(receipt.seq).unwrap();
                    }
                }
            })
        })
        .collect();
    let mut sizes = Vec::new();
    for _ in 0..50 {
        if let Some(c) = log.checkpoint().unwrap() {
            c.verify(&log.public_key()).unwrap();
            sizes.push(c.tree_size);
        }
    }
    for a in appenders {
        a.join().unwrap();
    }
    assert!(sizes.windows(2).all(|w| w[0] <= w[1]), "{sizes:?}");
    assert_eq!(log.checkpoint().unwrap().unwrap().tree_size, 400);
}

#[test]
fn appends_wait_for_the_writer_when_the_queue_is_full() {
    let dir = tempfile::tempdir().unwrap();
    let options = cordon_audit::LogOptions {
        max_pending: 4,
        ..common::options(dir.path())
    };
    let log = AuditLog::open(&common::log_path(dir.path()), options).unwrap();
    // Far more entries than the queue holds, never synced: every append still succeeds (it
    // waits for the writer instead of growing the queue), and every entry lands.
    for i in 0..200 {
        assert_eq!(log.append(&common::entry(i)).unwrap().seq, i);
    }
    log.close().unwrap();
    let report = verify(
        &common::log_path(dir.path()),
        &common::public_key(dir.path()),
    )
    .unwrap();
    assert_eq!(report.entries, 200);
}

#[test]
fn opening_waits_for_a_key_file_another_process_still_holds_after_releasing_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let path = common::log_path(dir.path());
    drop(common::open(dir.path()));
    // A process ending closes the log first and its key file a moment later: hold only the
    // key file, as that process would, and let it go after a while.
    let keys = path.with_file_name(format!(
        "{}-keys.redb",
        path.file_stem().unwrap().to_string_lossy()
    ));
    let (held, is_held) = std::sync::mpsc::channel();
    let holder = std::thread::spawn(move || {
        let db = redb::Database::create(&keys).unwrap();
        held.send(()).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(300));
        drop(db);
    });
    is_held.recv().unwrap();
    let options = cordon_audit::LogOptions {
        lock_wait: std::time::Duration::from_secs(30),
        ..common::options(dir.path())
    };
    let log = AuditLog::open(&path, options);
    holder.join().unwrap();
    assert!(log.is_ok(), "{:?}", log.err());
}

/// A log whose writer lingers an hour over entries nobody waits for: only a wake-up commits
/// them in a test's time.
fn lingering(dir: &std::path::Path) -> AuditLog {
    let options = cordon_audit::LogOptions {
        linger: std::time::Duration::from_secs(3600),
        ..common::options(dir)
    };
    AuditLog::open(&common::log_path(dir), options).unwrap()
}

/// Runs `f` on another thread and fails the test if it has not returned within 20 s (a
/// caller the writer was never woken for would wait the hour out).
fn returns_soon<T: Send + 'static>(what: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || tx.send(f()));
    rx.recv_timeout(std::time::Duration::from_secs(20))
        .unwrap_or_else(|_| panic!("{what} still waits for the lingering writer"))
}

/// Polls `cond` for up to 20 s.
fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !cond() {
        assert!(std::time::Instant::now() < deadline, "{what}");
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}

#[test]
fn entries_nobody_waits_for_are_committed_in_batches_not_one_by_one() {
    let dir = tempfile::tempdir().unwrap();
    let log = lingering(dir.path());
    for i in 0..10 {
        log.append(&common::entry(i)).unwrap();
    }
    // The writer was woken for the first entry only to arm its linger: none is committed.
    std::thread::sleep(std::time::Duration::from_millis(100));
    assert_eq!(log.store().len().unwrap(), 0);
    // A full batch wakes it without any sync.
    let n = cordon_audit::LINGER_ENTRIES as u64;
    for i in 10..n {
        log.append(&common::entry(i)).unwrap();
    }
    eventually("a full batch was not committed", || {
        log.store().len().unwrap() >= n
    });
}

#[test]
fn a_sync_a_checkpoint_a_source_a_head_and_closing_do_not_wait_for_the_linger() {
    let dir = tempfile::tempdir().unwrap();
    let log = Arc::new(lingering(dir.path()));
    let seq = log.append(&common::entry(0)).unwrap().seq;
    let l = log.clone();
    returns_soon("sync", move || l.sync(seq)).unwrap();
    assert_eq!(log.store().len().unwrap(), 1);

    log.append(&common::entry(1)).unwrap();
    let l = log.clone();
    let checkpoint = returns_soon("checkpoint", move || l.checkpoint()).unwrap();
    assert_eq!(checkpoint.unwrap().tree_size, 2);

    log.append(&common::entry(2)).unwrap();
    let l = log.clone();
    returns_soon("put_source", move || l.put_source("python", "print(1)")).unwrap();
    let digest = cordon_audit::CodeRef::of("python", "print(1)").digest;
    assert!(log.source(&digest).unwrap().is_some());

    let seq = log.append(&common::entry(3)).unwrap().seq;
    let l = log.clone();
    let head = returns_soon("head", move || l.head());
    assert_eq!(head.map(|h| h.seq), Some(seq));

    log.append(&common::entry(4)).unwrap();
    let log = Arc::into_inner(log).unwrap();
    returns_soon("close", move || log.close()).unwrap();
    let report = verify(
        &common::log_path(dir.path()),
        &common::public_key(dir.path()),
    )
    .unwrap();
    assert_eq!(report.entries, 5);
}

#[test]
fn with_the_default_linger_entries_reach_the_store_without_a_sync() {
    let dir = tempfile::tempdir().unwrap();
    let log = AuditLog::open(
        &common::log_path(dir.path()),
        cordon_audit::LogOptions::in_dir(dir.path()),
    )
    .unwrap();
    for i in 0..3 {
        log.append(&common::entry(i)).unwrap();
    }
    eventually("lingering entries were never committed", || {
        log.store().len().unwrap() == 3
    });
}

#[test]
fn a_head_through_an_entry_does_not_wait_for_entries_appended_after_it() {
    let dir = tempfile::tempdir().unwrap();
    let log = Arc::new(lingering(dir.path()));
    let first = log.append(&common::entry(0)).unwrap().seq;
    log.sync(first).unwrap();
    // Appended after: queued behind the hour-long linger, not hashed yet.
    let second = log.append(&common::entry(1)).unwrap().seq;
    let through_first = log.head_through(first).unwrap();
    assert_eq!(through_first.seq, first);
    assert_eq!(
        log.store().len().unwrap(),
        1,
        "the later entry was not committed for it"
    );
    // The whole head does take the later entry, asking the writer for it.
    let l = log.clone();
    let head = returns_soon("head", move || l.head()).unwrap();
    assert_eq!(head.seq, second);
    assert_ne!(head.hash, through_first.hash);
    // Past the last entry: the last entry's head.
    assert_eq!(log.head_through(second + 10), Some(head));
}
