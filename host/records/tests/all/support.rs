//! A patients collection under policies/examples/healthcare.cedar.

use cordon_policy::{Human, PolicyBundle, Principal, RecordsContext, RunContext, Session};
use cordon_records::{Collection, ReadResult, ReadSpec, RecordStore};

pub const PATIENTS: &str = r#"{
  "name": "patients",
  "levels": ["public", "internal", "confidential", "restricted"],
  "fields": [
    { "name": "name", "category": "identifier" },
    { "name": "email", "category": "contact" },
    { "name": "diagnosis", "category": "health" },
    { "name": "balance", "category": "financial" },
    { "name": "age", "category": "identifier" }
  ],
  "row_caps": { "billing": 2 }
}"#;

pub const ROWS: &str = r#"{"id": "p1", "subject": "ada", "classification": "confidential", "jurisdiction": "EU", "consent": ["treatment", "billing"], "fields": {"name": "Ada", "email": "ada@example.org", "diagnosis": "asthma", "balance": 120, "age": 36}}
{"id": "p2", "subject": "bob", "classification": "internal", "jurisdiction": "EU", "consent": ["treatment"], "fields": {"name": "Bob", "email": "bob@example.org", "diagnosis": "flu", "balance": 0, "age": 51}}
{"id": "p3", "subject": "cy", "classification": "restricted", "jurisdiction": "US", "consent": ["treatment", "billing"], "fields": {"name": "Cy", "diagnosis": "hiv", "balance": 75.5, "age": 29}}
{"id": "p4", "subject": "ada", "classification": "internal", "jurisdiction": "EU", "consent": ["treatment", "billing"], "fields": {"name": "Ada L.", "diagnosis": "sprain", "balance": 30, "age": 36}}
{"id": "p5", "subject": "dee", "classification": "public", "jurisdiction": "US", "consent": ["billing"], "fields": {"name": "Dee", "balance": 10, "age": 70}}
"#;

pub struct Fixture {
    pub _dir: tempfile::TempDir,
    pub store: RecordStore,
}

pub fn store() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let store = RecordStore::open_in(dir.path()).unwrap();
    store
        .define_collection(&serde_json::from_str::<Collection>(PATIENTS).unwrap())
        .unwrap();
    store.import("patients", ROWS.as_bytes()).unwrap();
    Fixture { _dir: dir, store }
}

pub fn healthcare() -> PolicyBundle {
    PolicyBundle::load(
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../policies/examples/healthcare.cedar"),
    )
    .unwrap()
}

pub fn session(role: &str, purpose: &str) -> Session {
    healthcare()
        .session(
            &Principal::for_human("clinic", "c0ffee", Human::new("u", [role])),
            &RunContext::new(purpose, "e-1"),
        )
        .unwrap()
}

pub fn spec(fields: &[&str]) -> ReadSpec {
    ReadSpec {
        fields: fields.iter().map(|f| (*f).to_owned()).collect(),
        filter: vec![],
        limit: 0,
    }
}

/// Query `patients` as `role` for `purpose` from `region`.
pub fn query(
    f: &Fixture,
    role: &str,
    purpose: &str,
    region: &str,
    spec: &ReadSpec,
) -> Result<ReadResult, cordon_records::ReadError> {
    let s = session(role, purpose);
    let rc = RecordsContext {
        host_region: region.into(),
        requested_fields: spec.fields.clone(),
    };
    let mut auth = s.records("patients", &rc).unwrap();
    f.store.read("patients", None, spec, purpose, &mut auth)
}

pub fn ids(r: &ReadResult) -> Vec<&str> {
    r.rows.iter().map(|r| r.id.as_str()).collect()
}
