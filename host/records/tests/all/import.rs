//! JSONL import: every bad line by number, nothing half-imported.

use crate::support::{PATIENTS, store};
use cordon_records::{Collection, ImportError, RecordStore};

#[test]
fn every_bad_line_is_reported_by_number_and_nothing_is_imported() {
    let f = store();
    let before = f.store.records("patients", None).unwrap();
    let input = r#"{"id": "n1", "subject": "s", "classification": "public", "fields": {"name": "ok"}}
not json
{"id": "n2", "subject": "s", "classification": "secret"}

{"id": "n3", "subject": "s", "classification": "public", "fields": {"ssn": "1"}}
{"id": "n1", "subject": "s", "classification": "public"}
"#;
    let err = f.store.import("patients", input.as_bytes()).unwrap_err();
    let ImportError::BadLines { errors, .. } = &err else {
        panic!("{err}")
    };
    let lines: Vec<usize> = errors.iter().map(|e| e.line).collect();
    assert_eq!(lines, [2, 3, 5, 6], "{err}");
    let text = err.to_string();
    assert!(text.contains("unknown classification `secret`"), "{text}");
    assert!(text.contains("field `ssn` is not declared"), "{text}");
    assert!(text.contains("record `n1` appears twice"), "{text}");
    assert_eq!(f.store.records("patients", None).unwrap(), before);
}

#[test]
fn a_reimported_record_keeps_its_holds() {
    let f = store();
    f.store.hold("patients", "p2", "case-9").unwrap();
    let report = f
        .store
        .import(
            "patients",
            r#"{"id": "p2", "subject": "bob", "classification": "internal", "fields": {"name": "Robert"}}"#
                .as_bytes(),
        )
        .unwrap();
    assert_eq!((report.inserted, report.updated), (0, 1));
    let r = &f.store.records("patients", Some("p2")).unwrap()[0];
    assert_eq!(r.holds, ["case-9"]);
}

#[test]
fn import_into_an_undefined_collection_is_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let store = RecordStore::open_in(dir.path()).unwrap();
    let err = store.import("nope", "".as_bytes()).unwrap_err();
    assert_eq!(err.to_string(), "collection `nope` is not defined");
}

#[test]
fn a_collection_with_a_duplicate_level_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let store = RecordStore::open_in(dir.path()).unwrap();
    let mut c: Collection = serde_json::from_str(PATIENTS).unwrap();
    c.levels.push("public".into());
    let err = store.define_collection(&c).unwrap_err();
    assert!(
        err.to_string().contains("level `public` is listed twice"),
        "{err}"
    );
}

#[test]
fn operator_actions_are_logged() {
    let f = store();
    f.store.hold("patients", "p1", "h").unwrap();
    let actions: Vec<String> = f
        .store
        .operator_log()
        .unwrap()
        .into_iter()
        .map(|a| a.action)
        .collect();
    assert_eq!(actions, ["define", "import", "hold"]);
}

#[test]
fn field_values_decode_as_null_boolean_integer_float_or_text() {
    use cordon_records::Value;
    let got: Vec<Value> = serde_json::from_str(
        r#"[null, true, -3, 9223372036854775807, 9223372036854775808, 1.5, 2e3, "x", "a\u0000"]"#,
    )
    .unwrap();
    assert_eq!(
        got,
        [
            Value::Null,
            Value::Bool(true),
            Value::Integer(-3),
            Value::Integer(i64::MAX),
            Value::Float(9_223_372_036_854_775_808.0),
            Value::Float(1.5),
            Value::Float(2000.0),
            Value::Text("x".into()),
            Value::Text("a\0".into()),
        ]
    );
    assert!(serde_json::from_str::<Value>("[1]").is_err());
    assert!(serde_json::from_str::<Value>("{}").is_err());
}

#[test]
fn a_flood_of_bad_lines_lists_the_first_thousand_and_counts_the_rest() {
    let f = store();
    let before = f.store.records("patients", None).unwrap();
    let input = "not json\n".repeat(cordon_records::MAX_REPORTED_LINES + 250);
    let err = f.store.import("patients", input.as_bytes()).unwrap_err();
    let ImportError::BadLines { errors, more } = &err else {
        panic!("{err}")
    };
    assert_eq!(errors.len(), cordon_records::MAX_REPORTED_LINES);
    assert_eq!(*more, 250);
    assert_eq!(errors.last().unwrap().line, 1_000);
    assert!(err.to_string().starts_with("1250 bad line(s)"), "{err}");
    assert!(err.to_string().ends_with("; and 250 more"), "{err}");
    assert_eq!(f.store.records("patients", None).unwrap(), before);
}

/// Input that yields good lines, then fails to read.
struct BreaksAfter(std::io::Cursor<Vec<u8>>);

impl std::io::Read for BreaksAfter {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self.0.read(buf)? {
            0 => Err(std::io::Error::other("the disk went away")),
            n => Ok(n),
        }
    }
}

#[test]
fn an_input_that_fails_mid_way_imports_nothing() {
    let f = store();
    let before = f.store.records("patients", None).unwrap();
    let good: String = (0..5_000)
        .map(|i| {
            format!("{{\"id\": \"n{i}\", \"subject\": \"s{i}\", \"classification\": \"public\"}}\n")
        })
        .collect();
    let input = std::io::BufReader::new(BreaksAfter(std::io::Cursor::new(good.into_bytes())));
    let err = f.store.import("patients", input).unwrap_err();
    assert!(matches!(err, ImportError::Io(_)), "{err}");
    assert_eq!(f.store.records("patients", None).unwrap(), before);
}
