//! Erased is gone: after an erasure, a release that completes one, or a retention sweep, no
//! byte of any file in the data directory holds an erased identifier or erased content.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use cordon_audit::AuditLog;
use cordon_records::{Collection, Operator, RecordStore, Select};
use proptest::prelude::*;

use crate::support::PATIENTS;

/// Every needle found in any file under `dir`, with the file it is in.
fn scan(dir: &Path, needles: &[String]) -> Vec<(String, String)> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            let bytes = std::fs::read(&path).unwrap();
            for n in needles {
                if bytes.windows(n.len()).any(|w| w == n.as_bytes()) {
                    found.push((n.clone(), path.display().to_string()));
                }
            }
        }
    }
    found
}

fn define(store: &RecordStore) {
    store
        .define_collection(&serde_json::from_str::<Collection>(PATIENTS).unwrap())
        .unwrap();
}

const ZEB: &str = r#"{"id": "zq-record-0001", "subject": " Zebulon.Quux@Example.org", "classification": "internal", "jurisdiction": "EU", "consent": ["treatment"], "fields": {"name": "Zebulon Quux", "email": "zebulon.quux@example.org", "diagnosis": "xylophonitis-zq"}}
{"id": "zq-record-0002", "subject": "zebulon.quux@example.org", "classification": "internal", "consent": ["treatment"], "fields": {"name": "Zebulon Quux", "diagnosis": "quasarosis-zq"}}
{"id": "other-1", "subject": "someone", "classification": "internal", "fields": {"name": "Other Person"}}
"#;

fn zeb_needles() -> Vec<String> {
    [
        "Zebulon",
        "zebulon",
        "zq-record-0001",
        "zq-record-0002",
        "xylophonitis-zq",
        "quasarosis-zq",
        "litigation-zq-77",
    ]
    .map(String::from)
    .to_vec()
}

#[test]
fn an_erased_subject_leaves_no_byte_in_the_store_file() {
    let dir = tempfile::tempdir().unwrap();
    let store = RecordStore::open_in(dir.path()).unwrap();
    define(&store);
    store.import("patients", ZEB.as_bytes()).unwrap();
    store
        .hold("patients", "zq-record-0002", "litigation-zq-77")
        .unwrap();
    // Rewrite the records a few times so that old versions sit in free pages.
    for _ in 0..3 {
        store
            .import("patients", ZEB.lines().nth(2).unwrap().as_bytes())
            .unwrap();
    }
    let before = scan(dir.path(), &zeb_needles());
    assert!(
        before.len() >= 6,
        "the scan finds what is there: {before:?}"
    );

    let report = store.erase_subject("ZEBULON.QUUX@example.org").unwrap();
    assert_eq!(report.erased, 1);
    assert_eq!(report.refused.len(), 1);
    // The held record is kept for the hold (its subject and content are still there, by
    // design); the other is gone.
    assert!(!scan(dir.path(), &["quasarosis-zq".to_owned()]).is_empty());
    let gone = ["xylophonitis-zq", "zq-record-0001"].map(String::from);
    assert_eq!(scan(dir.path(), &gone), []);

    store
        .release("patients", "zq-record-0002", "litigation-zq-77")
        .unwrap();
    assert_eq!(scan(dir.path(), &zeb_needles()), []);
    // What was not erased is still there and readable.
    assert_eq!(store.records("patients", Some("other-1")).unwrap().len(), 1);
    drop(store);
    let reopened = RecordStore::open_in(dir.path()).unwrap();
    assert_eq!(reopened.records("patients", None).unwrap().len(), 1);
}

#[test]
fn an_erasure_through_the_operator_leaves_no_byte_in_the_data_directory() {
    let dir = tempfile::tempdir().unwrap();
    let store = RecordStore::open_in(dir.path()).unwrap();
    let log = AuditLog::open_in(dir.path()).unwrap();
    let op = Operator::new(&store, &log, "clinic");
    op.define(&serde_json::from_str::<Collection>(PATIENTS).unwrap())
        .unwrap();
    op.import("patients", ZEB.as_bytes()).unwrap();
    op.hold("patients", "zq-record-0002", "litigation-zq-77")
        .unwrap();
    // An operator's read names the records in the log (as commitments).
    op.inspect("patients", Select::One("zq-record-0001"))
        .unwrap();
    op.erase(" Zebulon.Quux@Example.org").unwrap();
    op.release("patients", "zq-record-0002", "litigation-zq-77")
        .unwrap();
    log.close().unwrap();
    assert_eq!(scan(dir.path(), &zeb_needles()), []);
}

/// One step of a generated sequence.
#[derive(Debug, Clone)]
enum Step {
    Erase(usize),
    Hold(usize, usize),
    Release(usize, usize),
    ReImport,
    Sweep,
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        (0usize..4).prop_map(Step::Erase),
        (0usize..8, 0usize..2).prop_map(|(r, h)| Step::Hold(r, h)),
        (0usize..8, 0usize..2).prop_map(|(r, h)| Step::Release(r, h)),
        Just(Step::ReImport),
        Just(Step::Sweep),
    ]
}

/// Record `r` belongs to subject `r % 4`; odd records expired long ago.
fn gen_line(r: usize) -> String {
    serde_json::json!({
        "id": format!("gen-rec-{r}-qz"),
        "subject": format!("gen-subject-{}-qz", r % 4),
        "classification": "internal",
        "retain_until": if r % 2 == 1 { 1_000 } else { u64::MAX },
        "fields": {"name": format!("gen-name-{r}-qz"), "diagnosis": format!("gen-content-{r}-qz")},
    })
    .to_string()
}

fn hold_name(r: usize, h: usize) -> String {
    format!("gen-hold-{r}-{h}-qz")
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

    /// Erasures, re-imports, holds, releases and sweeps in any order: after every step, every
    /// record whose content is gone has left no byte behind, in the store or the log.
    #[test]
    fn erased_and_purged_records_leave_no_byte_after_any_sequence(
        steps in prop::collection::vec(step(), 1..10),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let store = RecordStore::open_in(dir.path()).unwrap();
        let log = AuditLog::open_in(dir.path()).unwrap();
        let op = Operator::new(&store, &log, "clinic");
        op.define(&serde_json::from_str::<Collection>(PATIENTS).unwrap()).unwrap();
        let all: Vec<String> = (0..8).map(gen_line).collect();
        op.import("patients", all.join("\n").as_bytes()).unwrap();
        // Model: live records with their holds; erased subjects; records whose content is gone.
        let mut live: BTreeMap<usize, BTreeSet<usize>> = (0..8).map(|r| (r, BTreeSet::new())).collect();
        let mut pending: BTreeSet<usize> = BTreeSet::new();
        let mut erased_subjects: BTreeSet<usize> = BTreeSet::new();
        let mut gone: BTreeSet<usize> = BTreeSet::new();
        for s in &steps {
            match *s {
                Step::Erase(subject) => {
                    op.erase(&format!("GEN-subject-{subject}-qz ")).unwrap();
                    erased_subjects.insert(subject);
                    for r in (0..8).filter(|r| r % 4 == subject) {
                        match live.get(&r) {
                            Some(h) if h.is_empty() => {
                                live.remove(&r);
                                gone.insert(r);
                            }
                            Some(_) => {
                                pending.insert(r);
                            }
                            None => {}
                        }
                    }
                }
                Step::Hold(r, h) => {
                    let res = op.hold("patients", &format!("gen-rec-{r}-qz"), &hold_name(r, h));
                    prop_assert_eq!(res.is_ok(), live.contains_key(&r));
                    if let Some(holds) = live.get_mut(&r) {
                        holds.insert(h);
                    }
                }
                Step::Release(r, h) => {
                    let res = op.release("patients", &format!("gen-rec-{r}-qz"), &hold_name(r, h));
                    let held = live.get(&r).is_some_and(|hs| hs.contains(&h));
                    prop_assert_eq!(res.is_ok(), held);
                    if held {
                        let holds = live.get_mut(&r).unwrap();
                        holds.remove(&h);
                        // Lifting the last hold purges a record awaiting erasure, and one
                        // past its retention (odd records).
                        if holds.is_empty() && (pending.contains(&r) || r % 2 == 1) {
                            live.remove(&r);
                            pending.remove(&r);
                            gone.insert(r);
                        }
                        prop_assert_eq!(res.unwrap().erased, gone.contains(&r));
                    }
                }
                Step::ReImport => {
                    let res = op.import("patients", all.join("\n").as_bytes());
                    let refused = (0..8).any(|r| erased_subjects.contains(&(r % 4)) || pending.contains(&r));
                    prop_assert_eq!(res.is_err(), refused, "{:?}", res);
                    if !refused {
                        for r in 0..8 {
                            live.entry(r).or_default();
                            gone.remove(&r);
                        }
                    }
                }
                Step::Sweep => {
                    let report = op.sweep(cordon_records::now_unix()).unwrap();
                    let expired: Vec<usize> = live
                        .iter()
                        .filter(|(r, h)| *r % 2 == 1 && h.is_empty())
                        .map(|(r, _)| *r)
                        .collect();
                    prop_assert_eq!(report.purged, expired.len());
                    for r in expired {
                        live.remove(&r);
                        gone.insert(r);
                    }
                }
            }
            let mut needles = Vec::new();
            for r in &gone {
                needles.push(format!("gen-rec-{r}-qz"));
                needles.push(format!("gen-name-{r}-qz"));
                needles.push(format!("gen-content-{r}-qz"));
                needles.extend((0..2).map(|h| hold_name(*r, h)));
            }
            for s in &erased_subjects {
                let has_pending = pending.iter().any(|r| r % 4 == *s);
                let has_live = live.keys().any(|r| r % 4 == *s);
                if !has_pending && !has_live {
                    needles.push(format!("gen-subject-{s}-qz"));
                }
            }
            let found = scan(dir.path(), &needles);
            prop_assert!(found.is_empty(), "after {:?}: {:?}", s, found);
        }
        log.close().unwrap();
    }
}
