//! Queries read a collection from memory while nothing was written: every kind of write must
//! show in the very next query.

use crate::support::{ids, query, spec, store};

fn names(f: &crate::support::Fixture) -> Vec<String> {
    let r = query(f, "clinician", "treatment", "eu-west", &spec(&["name"])).unwrap();
    ids(&r).into_iter().map(str::to_owned).collect()
}

#[test]
fn an_erasure_after_a_query_shows_in_the_next_query() {
    let f = store();
    assert_eq!(names(&f), ["p1", "p2", "p3", "p4"]);
    assert_eq!(
        names(&f),
        ["p1", "p2", "p3", "p4"],
        "the second query is served from memory"
    );
    f.store.erase_subject("ada").unwrap();
    assert_eq!(names(&f), ["p2", "p3"]);
}

#[test]
fn a_hold_a_release_and_an_import_after_a_query_show_in_the_next_query() {
    let f = store();
    assert!(names(&f).contains(&"p2".to_owned()));
    f.store.hold("patients", "p2", "case-9").unwrap();
    f.store.erase_subject("bob").unwrap();
    assert!(
        !names(&f).contains(&"p2".to_owned()),
        "held for erasure: kept, never served"
    );
    f.store.release("patients", "p2", "case-9").unwrap();
    assert!(f.store.records("patients", Some("p2")).unwrap().is_empty());
    let row = r#"{"id": "p9", "subject": "eve", "classification": "public", "jurisdiction": "EU", "consent": ["treatment"], "fields": {"name": "Eve"}}"#;
    f.store.import("patients", row.as_bytes()).unwrap();
    assert!(names(&f).contains(&"p9".to_owned()));
}
