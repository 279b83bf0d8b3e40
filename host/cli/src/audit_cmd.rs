//! `cordon audit`: verify, query and export the decision log.
//!
//! Every command but `source` prints JSON to stdout; `source` prints the exact source text
//! of a source run (or, with `--json`, its language, digest and text as JSON). `verify` and `verify-bundle` exit with 1 and a JSON
//! report naming the first bad place (table and key, and the first bad sequence number when
//! one can be named) when the evidence does not hold, however damaged the file is; other
//! failures (a missing file, a log held by a running host, a malformed argument) are errors
//! with their causes.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use cordon_audit::{Bundle, Checkpoint, PublicKey, Query, Store};

/// Exit code when the log or a bundle fails verification.
const EXIT_INVALID: u8 = 1;

/// `cordon audit ...`
#[derive(clap::Subcommand)]
pub enum AuditCommand {
    /// Verify the whole decision log in the data directory: every entry's chain hash, the
    /// Merkle tree, and every checkpoint's signature. Needs the log not to be held by a
    /// running host (unless the host opened it with shared readers).
    Verify {
        /// The checkpoint public key (default: `<data>/audit-signing.pub`).
        #[arg(long)]
        public_key: Option<PathBuf>,
        /// A checkpoint kept elsewhere (JSON from `cordon audit checkpoint`) that the log must
        /// still match: rules out truncation back to an older checkpoint.
        #[arg(long)]
        trusted_checkpoint: Option<PathBuf>,
    },
    /// Verify an evidence bundle offline, with nothing but the bundle and the public key.
    VerifyBundle {
        /// The bundle file (from `cordon audit export`).
        bundle: PathBuf,
        /// The public key of the log that signed it.
        #[arg(long)]
        public_key: PathBuf,
    },
    /// Print the entries that match the filters, oldest first, each with the user it was made
    /// for (while that user is not erased).
    Query(Filters),
    /// Export the entries that match the filters, with inclusion proofs and the latest signed
    /// checkpoint, as one evidence bundle file.
    Export {
        #[command(flatten)]
        filters: Filters,
        /// Where to write the bundle.
        #[arg(short, long)]
        output: PathBuf,
        /// Also disclose who: the keys of the users the exported entries were made for, so
        /// the bundle's reader sees their names. Without it the bundle opens only the subjects
        /// the filters name.
        #[arg(long)]
        disclose_users: bool,
    },
    /// Print the latest signed checkpoint (keep it elsewhere to check the log against later).
    Checkpoint,
    /// Print the exact source text a source run executed, by its digest (the `code.digest`
    /// of the run's decisions). Exits with 1 if the log holds no such source.
    Source {
        /// The source's digest: BLAKE3 of its text, 64 lower-case hex digits.
        digest: String,
        /// Print `{"language", "digest", "code"}` as JSON instead of the bare text.
        #[arg(long)]
        json: bool,
    },
}

/// Which entries to select; every filter given must match.
#[derive(clap::Args)]
pub struct Filters {
    /// Entries made on behalf of this user.
    #[arg(long)]
    user: Option<String>,
    /// Entries that read this record, as `COLLECTION/ID`.
    #[arg(long, value_name = "COLLECTION/ID")]
    record: Option<String>,
    /// Entries with this purpose.
    #[arg(long)]
    purpose: Option<String>,
    /// Entries of this tenant.
    #[arg(long)]
    tenant: Option<String>,
    /// Entries at or after this time: Unix milliseconds, `YYYY-MM-DD` or
    /// `YYYY-MM-DDTHH:MM:SSZ` (UTC).
    #[arg(long)]
    since: Option<String>,
    /// Entries before this time (same forms as `--since`).
    #[arg(long)]
    until: Option<String>,
    /// Entries of source runs of the source with this digest (64 lower-case hex digits).
    #[arg(long, value_name = "DIGEST")]
    code_digest: Option<String>,
}

impl Filters {
    fn to_query(&self) -> anyhow::Result<Query> {
        let record = match &self.record {
            None => None,
            Some(text) => {
                let (collection, id) = text
                    .split_once('/')
                    .filter(|(c, i)| !c.is_empty() && !i.is_empty())
                    .with_context(|| format!("`--record {text}` is not `COLLECTION/ID`"))?;
                Some((collection.to_owned(), id.to_owned()))
            }
        };
        let time = |flag: &str, value: &Option<String>| -> anyhow::Result<Option<u64>> {
            value
                .as_deref()
                .map(|text| {
                    parse_time(text).with_context(|| {
                        format!("`--{flag} {text}` is not Unix milliseconds, YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ")
                    })
                })
                .transpose()
        };
        if let Some(digest) = &self.code_digest
            && !cordon_audit::source::is_digest(digest)
        {
            anyhow::bail!("`--code-digest {digest}` is not 64 lower-case hex digits");
        }
        Ok(Query {
            code_digest: self.code_digest.clone(),
            user: self.user.clone(),
            record,
            purpose: self.purpose.clone(),
            tenant: self.tenant.clone(),
            since_ms: time("since", &self.since)?,
            until_ms: time("until", &self.until)?,
        })
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's `days_from_civil`).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Unix milliseconds from `1700000000000`, `2026-11-26` or `2026-11-26T08:30:00Z`.
fn parse_time(text: &str) -> Option<u64> {
    if text.bytes().all(|b| b.is_ascii_digit()) {
        return text.parse().ok();
    }
    let (date, time) = match text.split_once('T') {
        Some((date, time)) => (date, Some(time.strip_suffix('Z')?)),
        None => (text, None),
    };
    let mut parts = date.splitn(3, '-').map(|p| p.parse::<i64>().ok());
    let (year, month, day) = (parts.next()??, parts.next()??, parts.next()??);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return None;
    }
    let mut seconds = days_from_civil(year, month, day) * 86_400;
    if let Some(time) = time {
        let mut parts = time.splitn(3, ':').map(|p| p.parse::<i64>().ok());
        let (h, m, s) = (parts.next()??, parts.next()??, parts.next()??);
        if !(0..24).contains(&h) || !(0..60).contains(&m) || !(0..61).contains(&s) {
            return None;
        }
        seconds += h * 3600 + m * 60 + s;
    }
    u64::try_from(seconds).ok()?.checked_mul(1000)
}

/// The causes of an error, outermost first.
fn causes(e: &(dyn std::error::Error + 'static)) -> Vec<String> {
    std::iter::successors(Some(e), |e| e.source())
        .map(ToString::to_string)
        .collect()
}

fn open_store(data_dir: &Path) -> anyhow::Result<Store> {
    let path = data_dir.join(cordon_audit::LOG_FILE);
    if !path.exists() {
        anyhow::bail!("no decision log at `{}`", path.display());
    }
    match Store::open(&path) {
        Ok(store) => Ok(store),
        Err(e) if e.is_held_elsewhere() => Err(anyhow::Error::new(e).context(format!(
            "the decision log `{}` is held by another process (a running host?); stop it, \
             or run the host with shared readers",
            path.display()
        ))),
        Err(e) => Err(anyhow::Error::new(e)
            .context(format!("cannot open the decision log `{}`", path.display()))),
    }
}

fn read_key(path: &Path) -> anyhow::Result<PublicKey> {
    PublicKey::read(path)
        .with_context(|| format!("cannot read the public key `{}`", path.display()))
}

/// Runs one `cordon audit` command against the log in `data_dir`.
pub fn run(cmd: AuditCommand, data_dir: &Path) -> anyhow::Result<ExitCode> {
    match cmd {
        AuditCommand::Verify {
            public_key,
            trusted_checkpoint,
        } => {
            let key_path =
                public_key.unwrap_or_else(|| data_dir.join(cordon_audit::PUBLIC_KEY_FILE));
            let key = read_key(&key_path)?;
            let trusted: Option<Checkpoint> = match &trusted_checkpoint {
                None => None,
                Some(path) => {
                    let text = std::fs::read_to_string(path)
                        .with_context(|| format!("cannot read `{}`", path.display()))?;
                    let value: serde_json::Value = serde_json::from_str(&text)
                        .with_context(|| format!("`{}` is not JSON", path.display()))?;
                    // Accept both a bare checkpoint and the output of `cordon audit checkpoint`.
                    let checkpoint = value.get("checkpoint").cloned().unwrap_or(value);
                    Some(serde_json::from_value(checkpoint).with_context(|| {
                        format!("`{}` does not hold a checkpoint", path.display())
                    })?)
                }
            };
            let path = data_dir.join(cordon_audit::LOG_FILE);
            if !path.exists() {
                anyhow::bail!("no decision log at `{}`", path.display());
            }
            // Verification reports a storage-engine panic on a damaged page as a finding; keep
            // the default hook from printing it as a crash meanwhile.
            let hook = std::panic::take_hook();
            std::panic::set_hook(Box::new(|_| {}));
            let outcome = cordon_audit::verify_file(&path, &key, trusted.as_ref());
            std::panic::set_hook(hook);
            match outcome {
                Ok(report) => {
                    crate::out::json(&serde_json::json!({ "valid": true, "report": report }))?;
                    Ok(ExitCode::SUCCESS)
                }
                Err(cordon_audit::VerifyError::Read(e)) if e.is_held_elsewhere() => {
                    Err(anyhow::Error::new(e).context(format!(
                        "the decision log `{}` is held by another process (a running host?); \
                         stop it, or run the host with shared readers",
                        path.display()
                    )))
                }
                Err(e) => {
                    crate::out::json(&serde_json::json!({
                        "valid": false,
                        "first_bad_seq": e.first_bad_seq(),
                        "place": e.place(),
                        "error": causes(&e),
                    }))?;
                    Ok(ExitCode::from(EXIT_INVALID))
                }
            }
        }
        AuditCommand::VerifyBundle { bundle, public_key } => {
            let key = read_key(&public_key)?;
            let parsed = Bundle::read(&bundle)
                .with_context(|| format!("cannot load the bundle `{}`", bundle.display()))?;
            match cordon_audit::verify_bundle(&parsed, &key) {
                Ok(report) => {
                    crate::out::json(&serde_json::json!({ "valid": true, "report": report }))?;
                    Ok(ExitCode::SUCCESS)
                }
                Err(e) => {
                    crate::out::json(&serde_json::json!({
                        "valid": false,
                        "seq": e.seq(),
                        "error": causes(&e),
                    }))?;
                    Ok(ExitCode::from(EXIT_INVALID))
                }
            }
        }
        AuditCommand::Query(filters) => {
            let query = filters.to_query()?;
            let entries = open_store(data_dir)?
                .query(&query)
                .context("cannot query the decision log")?;
            crate::out::json(&entries)?;
            Ok(ExitCode::SUCCESS)
        }
        AuditCommand::Export {
            filters,
            output,
            disclose_users,
        } => {
            let query = filters.to_query()?;
            let store = open_store(data_dir)?;
            let bundle = if disclose_users {
                store.export_bundle_disclosing_users(&query)
            } else {
                store.export_bundle(&query)
            }
            .context("cannot export an evidence bundle")?;
            bundle.write(&output)?;
            crate::out::json(&serde_json::json!({
                "bundle": output,
                "entries": bundle.entries.len(),
                "checkpoint": bundle.checkpoint,
                "public_key": bundle.public_key,
            }))?;
            Ok(ExitCode::SUCCESS)
        }
        AuditCommand::Checkpoint => {
            let store = open_store(data_dir)?;
            let checkpoint = store
                .latest_checkpoint()
                .context("cannot read the decision log")?
                .context("the decision log has no signed checkpoint yet")?;
            let public_key = store
                .recorded_public_key()
                .context("cannot read the decision log")?
                .map(|k| k.to_hex());
            crate::out::json(&serde_json::json!({
                "checkpoint": checkpoint,
                "public_key": public_key,
            }))?;
            Ok(ExitCode::SUCCESS)
        }
        AuditCommand::Source { digest, json } => {
            if !cordon_audit::source::is_digest(&digest) {
                anyhow::bail!("`{digest}` is not a source digest (64 lower-case hex digits)");
            }
            let found = open_store(data_dir)?
                .source(&digest)
                .context("cannot read the decision log")?;
            let code = match found {
                Some(cordon_audit::StoredSource::Text(code)) => code,
                Some(cordon_audit::StoredSource::Erased) => {
                    eprintln!(
                        "error: source `{digest}` was erased: it named a data subject since erased \
                         (the decisions naming its digest still verify)"
                    );
                    return Ok(ExitCode::from(EXIT_INVALID));
                }
                None => {
                    eprintln!("error: the decision log holds no source `{digest}`");
                    return Ok(ExitCode::from(EXIT_INVALID));
                }
            };
            if json {
                crate::out::json(&serde_json::json!({
                    "digest": digest,
                    "code": code,
                }))?;
            } else {
                // Exactly the text that ran: no newline added.
                use std::io::Write;
                let mut out = std::io::stdout().lock();
                out.write_all(code.as_bytes())?;
                out.flush()?;
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cordon_audit::{AuditLog, Decision, DecisionLog, Entry};

    fn filters(user: &str) -> Filters {
        Filters {
            user: Some(user.into()),
            record: None,
            purpose: None,
            tenant: None,
            since: Some("2020-01-01".into()),
            until: None,
            code_digest: None,
        }
    }

    #[test]
    fn exports_a_bundle_that_verifies_and_fails_once_tampered() {
        let data = tempfile::tempdir().unwrap();
        let log = AuditLog::open_in(data.path()).unwrap();
        for user in ["alice", "bob", "alice"] {
            log.append(&Entry {
                tenant: "acme".into(),
                run_id: "run-1".into(),
                component_digest: "sha256:c0ffee".into(),
                policy_digest: "sha256:feed".into(),
                agent: "summariser".into(),
                user: Some(user.into()),
                purpose: "support".into(),
                engagement: "case-42".into(),
                action: "fs:read".into(),
                resource: "fs/notes.txt".into(),
                decision: Decision::Allow,
                policy_ids: vec!["allow-notes".into()],
                records: None,
                taint: None,
                roles: Vec::new(),
                code: None,
            })
            .unwrap();
        }
        log.close().unwrap();

        let ok = |code: ExitCode| code == ExitCode::SUCCESS;
        assert!(ok(run(
            AuditCommand::Verify {
                public_key: None,
                trusted_checkpoint: None
            },
            data.path()
        )
        .unwrap()));
        let bundle = data.path().join("alice.json");
        let export = AuditCommand::Export {
            filters: filters("alice"),
            output: bundle.clone(),
            disclose_users: false,
        };
        assert!(ok(run(export, data.path()).unwrap()));
        let public_key = data.path().join(cordon_audit::PUBLIC_KEY_FILE);
        let verify = |bundle: &Path| AuditCommand::VerifyBundle {
            bundle: bundle.to_owned(),
            public_key: public_key.clone(),
        };
        assert!(ok(run(verify(&bundle), data.path()).unwrap()));

        let mut parsed = Bundle::read(&bundle).unwrap();
        assert_eq!(parsed.entries.len(), 2);
        parsed.entries[1].entry[20] ^= 1;
        parsed.write(&bundle).unwrap();
        assert_eq!(
            run(verify(&bundle), data.path()).unwrap(),
            ExitCode::from(EXIT_INVALID)
        );
        assert!(run(AuditCommand::Query(filters("carol")), data.path()).is_ok());
        assert!(run(AuditCommand::Checkpoint, data.path()).is_ok());
    }

    #[test]
    fn parses_times_as_unix_milliseconds() {
        assert_eq!(parse_time("1700000000000"), Some(1_700_000_000_000));
        assert_eq!(parse_time("1970-01-01"), Some(0));
        assert_eq!(parse_time("2000-03-01"), Some(951_868_800_000));
        assert_eq!(parse_time("2026-11-26T08:30:05Z"), Some(1_795_681_805_000));
        assert_eq!(parse_time("2026-13-01"), None);
        assert_eq!(parse_time("2026-11-26T08:30:05"), None);
        assert_eq!(parse_time("yesterday"), None);
    }
}
