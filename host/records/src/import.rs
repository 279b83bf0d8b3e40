//! JSONL import: streamed, all or nothing, every bad line reported by number.
//!
//! Two threads share the work. The caller's thread reads each line, parses, normalises and
//! encodes it; a writer thread checks it against the store and writes it into one write
//! transaction. A bounded channel between them keeps memory flat however long the input is,
//! and the writer commits only when the reader says the input ended cleanly.

use std::collections::{BTreeMap, HashSet};
use std::io::BufRead;
use std::sync::mpsc;

use redb::{ReadableTable, ReadableTableMetadata};
use serde::{Deserialize, Serialize};

use crate::codec::encode_record;
use crate::ident::{normalise_record_id, normalise_subject};
use crate::index::{self, INDEX};
use crate::model::{Collection, Record, Value};
use crate::store::{
    ERASED_RECORDS, ERASURES, RECORDS, RecordStore, SUBJECTS, StorageError, decode_record,
    log_action, quoted, record_key, st, subject_key,
};

/// Most bad lines an import error lists; the rest are counted.
pub const MAX_REPORTED_LINES: usize = 1_000;

/// Lines sent to the writer at once: one hand-over (and one wake-up of the other thread) per
/// batch, not per line.
const BATCH: usize = 256;
/// Batches queued between the reader and the writer (one more is being read, one written).
const BATCHES_IN_FLIGHT: usize = 4;

/// One bad line of an import.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineError {
    /// 1-based line number.
    pub line: usize,
    /// What is wrong with it.
    pub message: String,
}

impl std::fmt::Display for LineError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

fn render_lines(errors: &[LineError], more: usize) -> String {
    let mut out = errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ");
    if more > 0 {
        out.push_str(&format!("; and {more} more"));
    }
    out
}

/// An import was refused; nothing of it was written.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The collection is not defined.
    #[error("collection `{0}` is not defined")]
    UnknownCollection(String),
    /// Lines are bad: the first [`MAX_REPORTED_LINES`] are listed, the rest counted.
    #[error("{} bad line(s), nothing imported: {}", .errors.len() + .more, render_lines(.errors, *.more))]
    BadLines {
        /// The first bad lines, in order.
        errors: Vec<LineError>,
        /// How many more bad lines there were.
        more: usize,
    },
    /// The input could not be read.
    #[error("cannot read the import")]
    Io(#[from] std::io::Error),
    /// The store failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// What an import wrote.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ImportReport {
    /// The collection.
    pub collection: String,
    /// Records new to the collection.
    pub inserted: usize,
    /// Records that replaced an earlier version (their holds are kept).
    pub updated: usize,
}

/// One line of a JSONL import.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ImportLine {
    id: String,
    subject: String,
    classification: String,
    #[serde(default)]
    jurisdiction: String,
    #[serde(default)]
    consent: Vec<String>,
    #[serde(default)]
    holds: Vec<String>,
    #[serde(default)]
    retain_until: Option<u64>,
    #[serde(default)]
    fields: BTreeMap<String, Value>,
}

/// A line made ready for the writer: parsed, normalised, encoded.
struct Prepared {
    line: usize,
    record: Record,
    key: String,
    encoded: Vec<u8>,
}

/// What the reader sends the writer, in input order.
enum Line {
    Ready(Box<Prepared>),
    Bad(LineError),
    /// The input ended cleanly: the writer may commit.
    End,
}

/// The bad lines met so far.
#[derive(Default)]
struct BadLines {
    listed: Vec<LineError>,
    more: usize,
}

impl BadLines {
    fn push(&mut self, e: LineError) {
        if self.listed.len() < MAX_REPORTED_LINES {
            self.listed.push(e);
        } else {
            self.more += 1;
        }
    }

    fn refuse(&mut self, line: usize, message: String) {
        self.push(LineError { line, message });
    }

    fn is_empty(&self) -> bool {
        self.listed.is_empty()
    }
}

impl RecordStore {
    /// Import JSONL records into `collection` in one write transaction: every bad line is
    /// reported by number (the first [`MAX_REPORTED_LINES`] listed) and, if there is any,
    /// nothing is written. Subjects and ids are normalised ([`crate::normalise_subject`],
    /// [`crate::normalise_record_id`]). A record whose id exists replaces it, keeping its holds.
    /// Erasure is final: a line is refused if its subject asked to be erased, if its record
    /// was erased, or if its record awaits erasure under a hold.
    ///
    /// The input is streamed: lines are parsed on this thread and written by a second one,
    /// handed over in batches of 256 with at most six batches (1,536 lines) in flight, so
    /// memory does not grow with the import but for 16 bytes per record (a hash of its id, to
    /// find an id given twice). redb's write buffer spills to the file beyond a bounded size;
    /// the commit makes it all visible at once, or the abort none of it.
    pub fn import(
        &self,
        collection: &str,
        input: impl BufRead,
    ) -> Result<ImportReport, ImportError> {
        let coll = self
            .collection(collection)?
            .ok_or_else(|| ImportError::UnknownCollection(collection.to_owned()))?;
        let (tx, rx) = mpsc::sync_channel(BATCHES_IN_FLIGHT);
        std::thread::scope(|scope| {
            let writer = scope.spawn(|| self.write_import(&coll, rx));
            let read = read_lines(&coll, input, &tx);
            // On a read error no `End` is sent: the writer aborts.
            drop(tx);
            let written = match writer.join() {
                Ok(written) => written,
                Err(panic) => std::panic::resume_unwind(panic),
            };
            read?;
            written
        })
    }

    /// The writer's half of [`RecordStore::import`]: check and write each line in order,
    /// commit on `End` if no line was bad, abort otherwise.
    fn write_import(
        &self,
        coll: &Collection,
        batches: mpsc::Receiver<Vec<Line>>,
    ) -> Result<ImportReport, ImportError> {
        let collection = coll.name.as_str();
        let mut bad = BadLines::default();
        let mut ids: HashSet<[u8; 16]> = HashSet::new();
        let mut report = ImportReport {
            collection: collection.to_owned(),
            inserted: 0,
            updated: 0,
        };
        let guard = self.db();
        let db = guard.as_ref().ok_or(StorageError::Closed)?;
        let txn = db.begin_write().map_err(st)?;
        let mut ended = false;
        {
            let mut records = txn.open_table(RECORDS).map_err(st)?;
            let mut subjects = txn.open_table(SUBJECTS).map_err(st)?;
            let mut idx = txn.open_table(INDEX).map_err(st)?;
            let erasures = txn.open_table(ERASURES).map_err(st)?;
            let erased = txn.open_table(ERASED_RECORDS).map_err(st)?;
            // With no erasure on record (the common case) no line can be refused for one, and
            // the commitments need not be computed.
            let tombstones = !erasures.is_empty().map_err(st)? || !erased.is_empty().map_err(st)?;
            for line in batches.into_iter().flatten() {
                let p = match line {
                    Line::Ready(p) => p,
                    Line::Bad(e) => {
                        bad.push(e);
                        continue;
                    }
                    Line::End => {
                        ended = true;
                        break;
                    }
                };
                let Prepared {
                    line,
                    mut record,
                    key,
                    encoded,
                } = *p;
                let id_hash = blake3::hash(record.id.as_bytes());
                let mut id_key = [0u8; 16];
                id_key.copy_from_slice(&id_hash.as_bytes()[..16]);
                if !ids.insert(id_key) {
                    bad.refuse(
                        line,
                        format!("record `{}` appears twice in the import", record.id),
                    );
                    continue;
                }
                if tombstones {
                    let subject_c = self.subject_commitment(&record.subject);
                    if erasures.get(subject_c.as_str()).map_err(st)?.is_some() {
                        bad.refuse(
                            line,
                            format!("the subject of record `{}` asked to be erased", record.id),
                        );
                        continue;
                    }
                    let record_c = self.record_commitment(collection, &record.id);
                    if erased.get(record_c.as_str()).map_err(st)?.is_some() {
                        bad.refuse(line, format!("record `{}` was erased", record.id));
                        continue;
                    }
                }
                let old: Option<Record> = if bad.is_empty() {
                    // Written first: a new record (the common case) then costs one descent of
                    // the tree, which also hands back the version it replaced. A refusal below
                    // aborts the whole import, this write with it.
                    records
                        .insert(key.as_str(), encoded.as_slice())
                        .map_err(st)?
                        .map(|v| decode_record(&key, v.value()))
                        .transpose()?
                } else {
                    records
                        .get(key.as_str())
                        .map_err(st)?
                        .map(|v| decode_record(&key, v.value()))
                        .transpose()?
                };
                if let Some(old) = &old {
                    if old.erasure_pending {
                        bad.refuse(
                            line,
                            format!("record `{}` awaits erasure under a legal hold", record.id),
                        );
                        continue;
                    }
                    report.updated += 1;
                } else {
                    report.inserted += 1;
                }
                if !bad.is_empty() {
                    // Nothing will be written: check the remaining lines only.
                    continue;
                }
                if let Some(old) = old {
                    if !old.holds.is_empty() {
                        // An import never lifts a hold: the new version keeps the old's.
                        record.holds.extend(old.holds.iter().cloned());
                        record.holds.sort();
                        record.holds.dedup();
                        records
                            .insert(key.as_str(), encode_record(&record).as_slice())
                            .map_err(st)?;
                    }
                    subjects
                        .remove(subject_key(&old.subject, collection, &old.id).as_str())
                        .map_err(st)?;
                    index::remove(&mut idx, coll, &old)?;
                }
                subjects
                    .insert(
                        subject_key(&record.subject, collection, &record.id).as_str(),
                        &[][..],
                    )
                    .map_err(st)?;
                index::insert(&mut idx, coll, &record)?;
            }
            if ended && bad.is_empty() {
                log_action(
                    &txn,
                    "import",
                    format!(
                        "collection `{collection}`: {} inserted, {} updated",
                        report.inserted, report.updated
                    ),
                )?;
            }
        }
        if !ended || !bad.is_empty() {
            txn.abort().map_err(st)?;
            return Err(ImportError::BadLines {
                errors: bad.listed,
                more: bad.more,
            });
        }
        self.commit(txn)?;
        Ok(report)
    }
}

/// The reader's half of [`RecordStore::import`]: send every line, prepared or bad, then `End`.
/// Stops early, without `End`, if the input cannot be read or the writer has stopped.
fn read_lines(
    coll: &Collection,
    mut input: impl BufRead,
    tx: &mpsc::SyncSender<Vec<Line>>,
) -> Result<(), std::io::Error> {
    let mut batch = Vec::with_capacity(BATCH);
    let mut buf = Vec::new();
    let mut line_no = 0;
    loop {
        buf.clear();
        if input.read_until(b'\n', &mut buf)? == 0 {
            break;
        }
        line_no += 1;
        let mut line = buf.as_slice();
        if let Some(l) = line.strip_suffix(b"\n") {
            line = l;
        }
        if let Some(l) = line.strip_suffix(b"\r") {
            line = l;
        }
        let bad = |message: String| {
            Line::Bad(LineError {
                line: line_no,
                message,
            })
        };
        let item = match std::str::from_utf8(line) {
            Err(_) => bad("not UTF-8 text".into()),
            Ok(text) if text.trim().is_empty() => continue,
            Ok(text) => match parse_line(coll, text) {
                Ok(record) => Line::Ready(Box::new(Prepared {
                    line: line_no,
                    key: record_key(&coll.name, &record.id),
                    encoded: encode_record(&record),
                    record,
                })),
                Err(message) => bad(message),
            },
        };
        batch.push(item);
        if batch.len() == BATCH
            && tx
                .send(std::mem::replace(&mut batch, Vec::with_capacity(BATCH)))
                .is_err()
        {
            // The writer stopped (a store error): it reports why.
            return Ok(());
        }
    }
    batch.push(Line::End);
    // If the writer stopped, it reports why.
    let _ = tx.send(batch);
    Ok(())
}

fn parse_line(coll: &Collection, line: &str) -> Result<Record, String> {
    let l: ImportLine = serde_json::from_str(line).map_err(|e| e.to_string())?;
    let id = normalise_record_id(&l.id).map_err(|e| format!("`id` {e}"))?;
    let subject =
        normalise_subject(&l.subject).map_err(|e| format!("the `subject` of record `{id}` {e}"))?;
    let classification = coll.level(&l.classification).ok_or_else(|| {
        format!(
            "unknown classification `{}` (levels: {})",
            l.classification,
            quoted(&coll.levels)
        )
    })?;
    if let Some(unknown) = l.fields.keys().find(|k| coll.field(k).is_none()) {
        return Err(format!(
            "field `{unknown}` is not declared by collection `{}`",
            coll.name
        ));
    }
    let mut consent = l.consent;
    consent.sort();
    consent.dedup();
    let mut holds = l.holds;
    holds.sort();
    holds.dedup();
    Ok(Record {
        id,
        subject,
        classification,
        jurisdiction: l.jurisdiction,
        consent,
        holds,
        retain_until: l.retain_until,
        erasure_pending: false,
        fields: l.fields,
    })
}
