//! `cordon records`: define collections, import records, erase subjects, hold and release
//! records, sweep expired ones in `<data>/records.redb`. Every action is kept in the store's operator log and
//! appended to the decision log (record ids and subjects only as keyed commitments).

use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::Subcommand;
use cordon_audit::AuditLog;
use cordon_records::{ActionError, Collection, ImportError, Operator, RecordStore};

#[derive(Subcommand)]
#[command(after_help = "\
A collection file is JSON: {\"name\": \"patients\", \"levels\": [\"public\", \"internal\", \
\"restricted\"], \"fields\": [{\"name\": \"diagnosis\", \"category\": \"health\", \
\"index\": true}], \"row_caps\": {\"billing\": 100}, \"strict_fields\": false}. A field with \
\"index\": true is indexed: filters testing it for equality, a range or membership read only \
the matching records (each still decided by the policy).

An import file has one JSON record per line: {\"id\": \"p1\", \"subject\": \"ada\", \
\"classification\": \"internal\", \"jurisdiction\": \"EU\", \"consent\": [\"treatment\"], \
\"holds\": [], \"retain_until\": 1893456000, \"fields\": {\"diagnosis\": \"asthma\"}}.

Examples:
  cordon records define patients.json
  cordon records import patients patients.jsonl
  cordon records hold patients p1 litigation-7
  cordon records erase ada
  cordon records release patients p1 litigation-7
  cordon records sweep")]
pub(crate) enum RecordsCommand {
    /// Define (or redefine) a collection from a JSON file.
    Define {
        /// The collection file.
        file: PathBuf,
    },
    /// Import JSONL records into a collection: all of them, or none if any line is bad. The
    /// file is streamed, so memory does not grow with its size.
    Import {
        /// The collection.
        collection: String,
        /// The JSONL file.
        file: PathBuf,
    },
    /// Erase every record of a data subject; records under a legal hold are kept (never served)
    /// until the hold is lifted.
    Erase {
        /// The data subject.
        subject: String,
    },
    /// Put a record under a legal hold.
    Hold {
        /// The collection.
        collection: String,
        /// The record id.
        id: String,
        /// The hold's name (e.g. a case number).
        hold: String,
    },
    /// Lift a legal hold; a pending erasure takes effect when the last hold is lifted.
    Release {
        /// The collection.
        collection: String,
        /// The record id.
        id: String,
        /// The hold's name.
        hold: String,
    },
    /// Purge every record past its `retain_until`; records under a legal hold stay (never
    /// served) until the hold is lifted. `cordon serve` also sweeps periodically.
    Sweep,
    /// Print the operator log (every define, import, hold, release, erasure and sweep).
    Log,
}

fn open(data: &Path) -> anyhow::Result<RecordStore> {
    std::fs::create_dir_all(data)
        .with_context(|| format!("cannot create data directory `{}`", data.display()))?;
    Ok(RecordStore::open_in(data)?)
}

pub(crate) fn run(cmd: RecordsCommand, data: &Path) -> anyhow::Result<ExitCode> {
    let store = open(data)?;
    if let RecordsCommand::Log = cmd {
        crate::out::json(&store.operator_log()?)?;
        return Ok(ExitCode::SUCCESS);
    }
    let log = AuditLog::open_in(data).with_context(|| {
        format!(
            "cannot open the decision log in `{}` to record the operator action",
            data.display()
        )
    })?;
    let code = act(&Operator::new(&store, &log, "local"), cmd);
    log.close()?;
    code
}

/// Do one action; the operator appends it to the decision log (record ids and subjects only as
/// keyed commitments) and waits until it is durable.
fn act(op: &Operator<'_>, cmd: RecordsCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        RecordsCommand::Define { file } => {
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("cannot read collection file `{}`", file.display()))?;
            let c: Collection = serde_json::from_str(&text)
                .with_context(|| format!("`{}` is not a collection definition", file.display()))?;
            op.define(&c)?;
            crate::out::json(&serde_json::json!({ "defined": c.name, "fields": c.fields.len() }))?;
        }
        RecordsCommand::Import { collection, file } => {
            let f = std::fs::File::open(&file)
                .with_context(|| format!("cannot read import file `{}`", file.display()))?;
            match op.import(&collection, BufReader::new(f)) {
                Ok(report) => crate::out::json(&report)?,
                Err(ActionError::Refused(ImportError::BadLines { errors, more })) => {
                    eprintln!(
                        "error: {} bad line(s) in `{}`; nothing was imported",
                        errors.len() + more,
                        file.display()
                    );
                    for e in errors {
                        eprintln!("  {e}");
                    }
                    if more > 0 {
                        eprintln!("  and {more} more");
                    }
                    return Ok(ExitCode::from(crate::EXIT_BAD_INPUT));
                }
                Err(e) => return Err(e.into()),
            }
        }
        RecordsCommand::Erase { subject } => crate::out::json(&op.erase(&subject)?)?,
        RecordsCommand::Hold {
            collection,
            id,
            hold,
        } => {
            op.hold(&collection, &id, &hold)?;
            crate::out::json(
                &serde_json::json!({ "held": format!("{collection}/{id}"), "hold": hold }),
            )?;
        }
        RecordsCommand::Release {
            collection,
            id,
            hold,
        } => crate::out::json(&op.release(&collection, &id, &hold)?)?,
        RecordsCommand::Sweep => crate::out::json(&op.sweep(cordon_records::now_unix())?)?,
        RecordsCommand::Log => {}
    }
    Ok(ExitCode::SUCCESS)
}
