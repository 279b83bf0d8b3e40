//! Queries by user, record, purpose, tenant and time.

use cordon_audit::{DecisionLog, Query};

use crate::common;

fn seqs(log: &cordon_audit::AuditLog, query: &Query) -> Vec<u64> {
    log.store()
        .query(query)
        .unwrap()
        .iter()
        .map(|e| e.entry.seq)
        .collect()
}

#[test]
fn finds_entries_by_user_and_reveals_the_user() {
    let dir = tempfile::tempdir().unwrap();
    let log = common::open(dir.path());
    common::append_range(&log, 0, 30);
    let query = Query {
        user: Some("user-4".into()),
        ..Query::default()
    };
    let found = log.store().query(&query).unwrap();
    assert_eq!(
        found.iter().map(|e| e.entry.seq).collect::<Vec<_>>(),
        vec![4, 11, 18, 25]
    );
    assert!(found.iter().all(|e| e.user.as_deref() == Some("user-4")));
    assert!(
        seqs(
            &log,
            &Query {
                user: Some("nobody".into()),
                ..Query::default()
            }
        )
        .is_empty()
    );
}

#[test]
fn finds_entries_by_record_purpose_and_tenant() {
    let dir = tempfile::tempdir().unwrap();
    let log = common::open(dir.path());
    common::append_range(&log, 0, 30);
    // Every third entry reads p-(i%5) and p-(i+1 %5): p-3 is read by 3, 12, 18, 27.
    let record = Query {
        record: Some(("patients".into(), "p-3".into())),
        ..Query::default()
    };
    assert_eq!(seqs(&log, &record), vec![3, 12, 18, 27]);
    let wrong_collection = Query {
        record: Some(("staff".into(), "p-3".into())),
        ..Query::default()
    };
    assert!(seqs(&log, &wrong_collection).is_empty());
    let billing_globex = Query {
        purpose: Some("billing".into()),
        tenant: Some("globex".into()),
        ..Query::default()
    };
    assert_eq!(seqs(&log, &billing_globex), vec![3, 7, 11, 15, 19, 23, 27]);
}

#[test]
fn selects_a_time_range() {
    let dir = tempfile::tempdir().unwrap();
    let log = common::open(dir.path());
    common::append_range(&log, 0, 20);
    let times: Vec<u64> = (0..20)
        .map(|s| log.store().entry(s).unwrap().unwrap().time_ms)
        .collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]));
    let since = times[5];
    let until = times[15];
    let expected: Vec<u64> = (0..20)
        .filter(|&s| times[s as usize] >= since && times[s as usize] < until)
        .collect();
    let query = Query {
        since_ms: Some(since),
        until_ms: Some(until),
        ..Query::default()
    };
    assert_eq!(seqs(&log, &query), expected);
    let head = log.head().unwrap();
    assert!(
        seqs(
            &log,
            &Query {
                since_ms: Some(times[19] + 1),
                ..Query::default()
            }
        )
        .is_empty()
    );
    assert_eq!(head.seq, 19);
}

#[test]
fn says_who_each_entry_was_for_until_the_user_is_erased() {
    let dir = tempfile::tempdir().unwrap();
    let log = common::open(dir.path());
    common::append_range(&log, 0, 30);
    // Who read record p-3? Every entry names its user, found without guessing `--user`.
    let record = Query {
        record: Some(("patients".into(), "p-3".into())),
        ..Query::default()
    };
    let found = log.store().query(&record).unwrap();
    let users: Vec<Option<&str>> = found.iter().map(|e| e.user.as_deref()).collect();
    // Entries 3, 12, 18, 27 (users i % 7).
    assert_eq!(
        users,
        [
            Some("user-3"),
            Some("user-5"),
            Some("user-4"),
            Some("user-6")
        ]
    );
    log.erase_subject(&cordon_audit::Subject::User("user-5".into()))
        .unwrap();
    let found = log.store().query(&record).unwrap();
    let users: Vec<Option<&str>> = found.iter().map(|e| e.user.as_deref()).collect();
    assert_eq!(
        users,
        [Some("user-3"), None, Some("user-4"), Some("user-6")]
    );
}
