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

#[test]
fn finds_the_reads_that_withheld_a_record_and_marks_them_withheld_until_its_erasure() {
    let dir = tempfile::tempdir().unwrap();
    let log = common::open(dir.path());
    let read = |returned: &[&str], withheld: &[&str]| cordon_audit::Entry {
        records: Some(cordon_audit::RecordAccess {
            collection: "patients".into(),
            record_ids: returned.iter().map(|s| s.to_string()).collect(),
            fields_returned: vec!["name".into()],
            fields_withheld: vec![],
            records_withheld: withheld.len() as u64,
            withheld_ids: withheld.iter().map(|s| s.to_string()).collect(),
            filter: vec![],
        }),
        ..common::entry(0)
    };
    log.append(&read(&["r-1"], &[])).unwrap();
    log.append(&read(&["r-2"], &["r-1"])).unwrap();
    log.append(&read(&[], &["r-9"])).unwrap();
    let last = log.append(&read(&["r-2"], &[])).unwrap();
    log.sync(last.seq).unwrap();
    let query = Query {
        record: Some(("patients".into(), "r-1".into())),
        ..Query::default()
    };
    let found = log.store().query(&query).unwrap();
    assert_eq!(
        found.iter().map(|e| e.entry.seq).collect::<Vec<_>>(),
        [0, 1]
    );
    assert_eq!(found[0].record_ids, ["r-1"]);
    assert!(found[0].withheld_record_ids.is_empty());
    assert!(found[1].record_ids.is_empty(), "r-2 was not asked for");
    assert_eq!(found[1].withheld_record_ids, ["r-1"]);
    let json = serde_json::to_value(&found[1]).unwrap();
    assert_eq!(json["withheld_record_ids"], serde_json::json!(["r-1"]));

    // An exported bundle proves the same, with the record's key only.
    log.checkpoint().unwrap();
    let bundle = log.store().export_bundle(&query).unwrap();
    let report = cordon_audit::verify_bundle(&bundle, &log.public_key()).unwrap();
    assert_eq!(report.entries.len(), 2);
    assert_eq!(report.entries[1].withheld_record_ids, ["r-1"]);

    log.erase_subject(&cordon_audit::Subject::Record {
        collection: "patients".into(),
        id: "r-1".into(),
    })
    .unwrap();
    assert!(seqs(&log, &query).is_empty());
}
