//! log-summarizer: lists `logs/`, reads every file in it, and counts lines per level (`INFO`,
//! `WARN`, `ERROR`, anything else as `other`) per file and in total. Files its policy does not let
//! it read are reported as skipped, with the policies that refused them: the shape of a real
//! agent task that meets the edge of its permissions and carries on.

use std::collections::BTreeMap;

use cordon_guest::{Error, fs};
use serde::{Deserialize, Serialize};

/// Optional input: `{"dir": "logs"}`.
#[derive(Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
struct Input {
    dir: Option<String>,
}

#[derive(Serialize, Default, Clone, Copy)]
struct Counts {
    lines: u64,
    info: u64,
    warn: u64,
    error: u64,
    other: u64,
}

impl Counts {
    fn add_line(&mut self, line: &str) {
        self.lines += 1;
        let level = line.split_whitespace().find_map(|word| {
            match word.trim_matches(|c: char| !c.is_ascii_alphabetic()) {
                "INFO" => Some(0),
                "WARN" | "WARNING" => Some(1),
                "ERROR" => Some(2),
                _ => None,
            }
        });
        match level {
            Some(0) => self.info += 1,
            Some(1) => self.warn += 1,
            Some(2) => self.error += 1,
            _ => self.other += 1,
        }
    }

    fn add(&mut self, other: Counts) {
        self.lines += other.lines;
        self.info += other.info;
        self.warn += other.warn;
        self.error += other.error;
        self.other += other.other;
    }
}

#[derive(Serialize)]
struct Summary {
    dir: String,
    files: BTreeMap<String, Counts>,
    total: Counts,
    /// File name to why it was not read (a denial, not UTF-8, ...).
    skipped: BTreeMap<String, Error>,
}

fn run(input: Option<Input>) -> Result<Summary, Error> {
    let dir = input
        .unwrap_or_default()
        .dir
        .unwrap_or_else(|| "logs".to_owned());
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
                let mut counts = Counts::default();
                text.lines()
                    .filter(|line| !line.trim().is_empty())
                    .for_each(|line| counts.add_line(line));
                summary.total.add(counts);
                summary.files.insert(entry.name, counts);
            }
            Err(err @ (Error::AccessDenied { .. } | Error::Invalid(_) | Error::NotFound(_))) => {
                summary.skipped.insert(entry.name, err);
            }
            Err(other) => return Err(other),
        }
    }
    Ok(summary)
}

cordon_guest::export!(run);
