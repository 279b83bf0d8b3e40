//! The stored record format: a store written before the binary format reads the same.

use cordon_records::{CompareOp, Condition, RECORDS_FILE, ReadSpec, RecordStore, Value};
use redb::{Database, ReadableTable, TableDefinition};

use crate::support::{Fixture, query, store};

const RECORDS: TableDefinition<&str, &[u8]> = TableDefinition::new("records");

#[test]
fn records_stored_as_json_before_the_binary_format_read_exactly_as_before() {
    let wide = ReadSpec {
        fields: ["name", "email", "diagnosis", "balance", "age"]
            .map(str::to_owned)
            .to_vec(),
        filter: vec![Condition::Compare {
            field: "age".into(),
            op: CompareOp::Ge,
            value: Value::Integer(30),
        }],
        limit: 0,
    };
    let f = store();
    let before = query(&f, "clinician", "treatment", "eu-west", &wide).unwrap();
    assert!(!before.rows.is_empty());
    let records = f.store.records("patients", None).unwrap();
    let Fixture { _dir: dir, store } = f;
    drop(store);
    {
        let db = Database::open(dir.path().join(RECORDS_FILE)).unwrap();
        let txn = db.begin_write().unwrap();
        {
            let mut t = txn.open_table(RECORDS).unwrap();
            for r in &records {
                let key = format!("patients\0{}", r.id);
                let was = t.get(key.as_str()).unwrap().unwrap().value().to_vec();
                assert_ne!(was.first(), Some(&b'{'), "stored as JSON already");
                t.insert(key.as_str(), serde_json::to_vec(r).unwrap().as_slice())
                    .unwrap();
            }
        }
        txn.commit().unwrap();
    }
    let f = Fixture {
        store: RecordStore::open_in(dir.path()).unwrap(),
        _dir: dir,
    };
    assert_eq!(f.store.records("patients", None).unwrap(), records);
    let after = query(&f, "clinician", "treatment", "eu-west", &wide).unwrap();
    assert_eq!(after, before);
}
