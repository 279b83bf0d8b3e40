//! Erasure requests, legal holds.

use cordon_records::HoldError;

use crate::support::{ids, query, spec, store};

#[test]
fn an_erased_subject_disappears_at_once() {
    let f = store();
    let report = f.store.erase_subject("ada").unwrap();
    assert_eq!(report.erased, 2);
    assert!(report.refused.is_empty());
    let r = query(&f, "clinician", "treatment", "eu-west", &spec(&["name"])).unwrap();
    assert_eq!(ids(&r), ["p2", "p3"]);
    assert_eq!(r.records_withheld, 1, "erased records are not even counted");
    assert!(f.store.records("patients", Some("p1")).unwrap().is_empty());
}

#[test]
fn a_legal_hold_refuses_erasure_with_a_reason_and_keeps_the_record_unserved() {
    let f = store();
    f.store.hold("patients", "p1", "litigation-7").unwrap();
    let report = f.store.erase_subject("ada").unwrap();
    assert_eq!(report.erased, 1);
    assert_eq!(report.refused.len(), 1);
    assert_eq!(report.refused[0].id, "p1");
    assert_eq!(report.refused[0].reason, "under legal hold `litigation-7`");
    // Kept for the hold...
    let kept = f.store.records("patients", Some("p1")).unwrap();
    assert_eq!(kept.len(), 1);
    assert!(kept[0].erasure_pending);
    // ...but never served.
    let r = query(&f, "clinician", "treatment", "eu-west", &spec(&["name"])).unwrap();
    assert!(!ids(&r).contains(&"p1"));
}

#[test]
fn lifting_the_last_hold_makes_a_pending_erasure_effective() {
    let f = store();
    f.store.hold("patients", "p1", "a").unwrap();
    f.store.hold("patients", "p1", "b").unwrap();
    f.store.erase_subject("ada").unwrap();
    let first = f.store.release("patients", "p1", "a").unwrap();
    assert!(!first.erased);
    assert_eq!(first.remaining_holds, ["b"]);
    assert_eq!(f.store.records("patients", Some("p1")).unwrap().len(), 1);
    let last = f.store.release("patients", "p1", "b").unwrap();
    assert!(last.erased);
    assert!(f.store.records("patients", Some("p1")).unwrap().is_empty());
}

#[test]
fn an_erased_subject_cannot_be_imported_again() {
    let f = store();
    f.store.erase_subject("ada").unwrap();
    let err = f
        .store
        .import(
            "patients",
            r#"{"id": "p9", "subject": "ada", "classification": "public"}"#.as_bytes(),
        )
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("line 1: the subject of record `p9` asked to be erased"),
        "{err}"
    );
}

#[test]
fn a_subject_written_differently_is_still_the_erased_subject() {
    let f = store();
    f.store.erase_subject(" ADA\t").unwrap();
    assert!(f.store.records("patients", Some("p1")).unwrap().is_empty());
    for spelling in ["ada ", "Ada", "\u{a0}ada"] {
        let line = serde_json::json!({"id": "p9", "subject": spelling, "classification": "public"});
        let err = f
            .store
            .import("patients", line.to_string().as_bytes())
            .unwrap_err();
        assert!(
            err.to_string().contains("asked to be erased"),
            "{spelling:?}: {err}"
        );
    }
}

#[test]
fn a_composed_and_a_decomposed_subject_are_one_subject() {
    let f = store();
    let line = |id: &str, subject: &str| {
        serde_json::json!({"id": id, "subject": subject, "classification": "public"}).to_string()
    };
    f.store
        .import("patients", line("j1", "Jos\u{e9}").as_bytes())
        .unwrap();
    let report = f.store.erase_subject("jose\u{301}").unwrap();
    assert_eq!(report.erased, 1);
    assert!(f.store.records("patients", Some("j1")).unwrap().is_empty());
}

#[test]
fn a_re_import_of_a_record_awaiting_erasure_is_refused_whole_and_lists_every_line() {
    let f = store();
    f.store.hold("patients", "p1", "litigation-7").unwrap();
    f.store.erase_subject("ada").unwrap();
    let before = f.store.records("patients", None).unwrap();
    // p1 awaits erasure (held); p4 was erased; n1 is new and fine; p1 again under another
    // subject is still the record awaiting erasure.
    let input = r#"{"id": "n1", "subject": "nia", "classification": "public"}
{"id": "p1 ", "subject": "someone-else", "classification": "public", "fields": {"name": "Ada"}}
{"id": "p4", "subject": "zed", "classification": "public"}
{"id": "n2", "subject": "Ada", "classification": "public"}
"#;
    let err = f.store.import("patients", input.as_bytes()).unwrap_err();
    let cordon_records::ImportError::BadLines { errors, .. } = &err else {
        panic!("{err}")
    };
    let lines: Vec<usize> = errors.iter().map(|e| e.line).collect();
    assert_eq!(lines, [2, 3, 4], "{err}");
    assert!(errors[0].message.contains("awaits erasure"), "{err}");
    assert!(
        errors[1].message.contains("record `p4` was erased"),
        "{err}"
    );
    assert_eq!(
        f.store.records("patients", None).unwrap(),
        before,
        "nothing imported"
    );
    let kept = f.store.records("patients", Some("p1")).unwrap();
    assert!(
        kept[0].erasure_pending,
        "an update never clears a pending erasure"
    );
}

#[test]
fn identifiers_that_are_empty_or_carry_control_characters_are_refused_at_import() {
    let f = store();
    let input = r#"{"id": "  ", "subject": "s", "classification": "public"}
{"id": "ok", "subject": "a\u0000b", "classification": "public"}
{"id": "x\u0007", "subject": "s", "classification": "public"}
"#;
    let err = f.store.import("patients", input.as_bytes()).unwrap_err();
    let text = err.to_string();
    assert!(text.contains("line 1: `id` is empty"), "{text}");
    assert!(
        text.contains("line 2: the `subject` of record `ok` contains a control"),
        "{text}"
    );
    assert!(
        text.contains("line 3: `id` contains a control character"),
        "{text}"
    );
}

#[test]
fn the_erasure_bookkeeping_and_the_operator_log_name_no_identifier() {
    let f = store();
    f.store.hold("patients", "p1", "litigation-7").unwrap();
    f.store.erase_subject("ada").unwrap();
    f.store.release("patients", "p1", "litigation-7").unwrap();
    let log = serde_json::to_string(&f.store.operator_log().unwrap()).unwrap();
    // Compared as whole words: a hex commitment may contain `ada` by chance.
    let words: Vec<&str> = log
        .split(|c: char| !c.is_alphanumeric() && c != '-')
        .collect();
    for plain in ["ada", "p1", "p4", "litigation-7"] {
        assert!(
            !words.contains(&plain),
            "`{plain}` in the operator log: {log}"
        );
    }
    assert!(log.contains("record:"), "{log}");
    assert!(log.contains("hold:"), "{log}");
}

#[test]
fn a_sweep_purges_expired_records_and_keeps_held_ones_until_released() {
    let f = store();
    let line = |id: &str, until: u64| {
        serde_json::json!({"id": id, "subject": "old", "classification": "public",
            "retain_until": until, "fields": {"name": "Old"}})
        .to_string()
    };
    let input = [line("e1", 100), line("e2", 100), line("live", u64::MAX)].join("\n");
    f.store.import("patients", input.as_bytes()).unwrap();
    f.store.hold("patients", "e2", "case-3").unwrap();
    let report = f.store.sweep(1_000).unwrap();
    assert_eq!(report.purged, 1);
    assert_eq!(report.kept_under_hold, 1);
    assert_eq!(report.purged_records[0].id, "e1");
    assert!(f.store.records("patients", Some("e1")).unwrap().is_empty());
    assert_eq!(f.store.records("patients", Some("live")).unwrap().len(), 1);
    // Lifting the hold on an expired record purges it.
    let released = f.store.release("patients", "e2", "case-3").unwrap();
    assert!(released.erased);
    assert!(f.store.records("patients", Some("e2")).unwrap().is_empty());
    let log = f.store.operator_log().unwrap();
    assert!(log.iter().any(|a| a.action == "sweep"), "{log:?}");
}

#[test]
fn releasing_a_hold_the_record_does_not_carry_is_refused() {
    let f = store();
    let err = f.store.release("patients", "p2", "nope").unwrap_err();
    assert!(matches!(err, HoldError::NotHeld { .. }));
    assert_eq!(err.to_string(), "record `p2` is not under hold `nope`");
}
