//! {{name}}: lists a folder (`notes` unless the input names another: `{"dir": "docs"}`), reads
//! each file in it and returns how many lines, words and bytes each has. A file the policy does
//! not let it read is reported as skipped, with the policies that refused it.

use std::collections::BTreeMap;

use cordon_guest::{Error, fs, println};
use serde::{Deserialize, Serialize};

#[derive(Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
struct Input {
    dir: Option<String>,
}

#[derive(Serialize, Default)]
struct Counts {
    lines: usize,
    words: usize,
    bytes: usize,
}

#[derive(Serialize)]
struct Summary {
    dir: String,
    files: BTreeMap<String, Counts>,
    total: Counts,
    /// File name to the policies that refused it.
    skipped: BTreeMap<String, Vec<String>>,
}

fn run(input: Option<Input>) -> Result<Summary, Error> {
    let dir = input.unwrap_or_default().dir.unwrap_or_else(|| "notes".to_owned());
    let mut summary = Summary {
        dir: dir.clone(),
        files: BTreeMap::new(),
        total: Counts::default(),
        skipped: BTreeMap::new(),
    };
    for entry in fs::list_dir(&dir)? {
        if !entry.is_file() {
            continue;
        }
        match fs::read_to_string(format!("{dir}/{}", entry.name)) {
            Ok(text) => {
                let counts = Counts {
                    lines: text.lines().count(),
                    words: text.split_whitespace().count(),
                    bytes: text.len(),
                };
                // Lands in the report's `stdout`.
                println!("read {dir}/{}: {} lines", entry.name, counts.lines);
                summary.total.lines += counts.lines;
                summary.total.words += counts.words;
                summary.total.bytes += counts.bytes;
                summary.files.insert(entry.name, counts);
            }
            Err(Error::AccessDenied { policy_ids, .. }) => {
                summary.skipped.insert(entry.name, policy_ids);
            }
            Err(other) => return Err(other),
        }
    }
    Ok(summary)
}

cordon_guest::export!(run);
