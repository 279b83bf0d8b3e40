//! Builds a 500,000-entry log like benches/benches/audit.rs and times `verify` on it, for
//! profiling (`perf record`). Not a bench: see benches/ for figures.
use std::time::Instant;

use cordon_audit::{AuditLog, Decision, DecisionLog, Entry, LogOptions, RecordAccess};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let n: u64 = std::env::args().nth(1).map_or(Ok(500_000), |s| s.parse())?;
    let runs: u32 = std::env::args().nth(2).map_or(Ok(5), |s| s.parse())?;
    // A third argument keeps the log in that directory, built once: later runs only verify.
    let temp = tempfile::tempdir()?;
    let dir = std::env::args()
        .nth(3)
        .map_or_else(|| temp.path().to_owned(), Into::into);
    let path = dir.join(cordon_audit::LOG_FILE);
    if path.exists() {
        let store = cordon_audit::Store::open(&path)?;
        let key = cordon_audit::PublicKey::read(&dir.join(cordon_audit::PUBLIC_KEY_FILE))?;
        for _ in 0..runs {
            let start = Instant::now();
            let report = store.verify(&key)?;
            eprintln!(
                "verify {} entries: {:.3} s",
                report.entries,
                start.elapsed().as_secs_f64()
            );
        }
        return Ok(());
    }
    std::fs::create_dir_all(&dir)?;
    let log = AuditLog::open(&path, LogOptions::in_dir(&dir))?;
    let mut last = 0;
    for i in 0..n {
        last = log
            .append(&Entry {
                tenant: "acme".into(),
                run_id: format!("run-{}", i / 16),
                component_digest: "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08".into(),
                policy_digest: "sha256:60303ae22b998861bce3b28f33eec1be758a213c86c93c076dbe9f558c11c752".into(),
                agent: "claims-summariser".into(),
                user: Some(format!("user-{}", i % 1000)),
                purpose: "claims-review".into(),
                engagement: format!("case-{}", i % 97),
                action: "records:read".into(),
                resource: "records/claims".into(),
                decision: Decision::Allow,
                policy_ids: vec!["claims-reviewers-read".into()],
                records: Some(RecordAccess {
                    collection: "claims".into(),
                    record_ids: vec![format!("c-{}", i % 5000)],
                    fields_returned: vec!["amount".into(), "status".into()],
                    fields_withheld: vec!["diagnosis".into()],
                    records_withheld: 0,
                    withheld_ids: Vec::new(),
                    filter: Vec::new(),
                }),
                taint: None,
                roles: Vec::new(),
                code: None,
            })?
            .seq;
    }
    log.sync(last)?;
    let store = log.store();
    let key = log.public_key();
    for _ in 0..runs {
        let start = Instant::now();
        let report = store.verify(&key)?;
        eprintln!(
            "verify {} entries: {:.3} s",
            report.entries,
            start.elapsed().as_secs_f64()
        );
    }
    Ok(())
}
