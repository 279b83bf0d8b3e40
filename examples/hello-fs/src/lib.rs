//! hello-fs: reads `hello.txt`, which its policy permits, then tries to overwrite it, which its
//! policy forbids, and reports both outcomes. The denial is a value the agent handles: the run
//! still succeeds.

use cordon_guest::{Error, fs};
use serde_json::{Value, json};

fn run(_input: Value) -> Result<Value, Error> {
    let read = fs::read_to_string("hello.txt")?;
    let write = match fs::write("hello.txt", "overwritten by hello-fs\n") {
        Ok(()) => "written".to_owned(),
        Err(Error::AccessDenied { policy_ids, .. }) => {
            format!("denied by policy [{}]", policy_ids.join(", "))
        }
        Err(other) => return Err(other),
    };
    Ok(json!({ "read": read, "write": write }))
}

cordon_guest::export!(run);
