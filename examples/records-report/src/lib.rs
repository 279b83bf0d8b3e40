//! records-report: asks the host for open tickets (title, priority and the owner's e-mail, which
//! its policy withholds) and reports what came back: the rows, and how much was withheld. A host
//! without a data layer answers `unsupported`; the report says so instead of failing.

use cordon_guest::Error;
use cordon_guest::records::{self, Filter};
use serde_json::{Value, json};

const COLLECTION: &str = "tickets";
const FIELDS: [&str; 3] = ["title", "priority", "owner_email"];

fn run(_input: Value) -> Result<Value, Error> {
    let filter = Filter::new().eq("status", "open").ge("priority", 2);
    let outcome = match records::query(COLLECTION, &filter, &FIELDS, 20) {
        Ok(result) => json!({ "ok": result }),
        Err(err) => json!({ "error": err }),
    };
    Ok(json!({ "collection": COLLECTION, "fields": FIELDS, "query": outcome }))
}

cordon_guest::export!(run);
