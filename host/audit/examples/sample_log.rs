//! Writes a sample decision log into a data directory, for trying `cordon audit`:
//!
//! ```text
//! cargo run -p cordon-audit --example sample_log -- cordon-data 1000
//! cordon audit verify --data cordon-data
//! ```

use std::path::PathBuf;

use cordon_audit::{AuditLog, Decision, DecisionLog, Entry, RecordAccess};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let dir = PathBuf::from(args.next().unwrap_or_else(|| "cordon-data".into()));
    let count: u64 = args.next().map_or(Ok(100), |n| n.parse())?;
    std::fs::create_dir_all(&dir)?;
    let log = AuditLog::open_in(&dir)?;
    let users = ["alice", "bob", "carol"];
    let purposes = ["claims-review", "fraud-check"];
    let mut last = None;
    for i in 0..count {
        let reads_records = i % 2 == 0;
        let receipt = log.append(&Entry {
            tenant: "acme".into(),
            run_id: format!("run-{}", i / 10),
            component_digest: "sha256:9f86d081884c7d65".into(),
            policy_digest: "sha256:60303ae22b998861".into(),
            agent: "claims-summariser".into(),
            user: Some(users[(i % 3) as usize].into()),
            purpose: purposes[(i % 2) as usize].into(),
            engagement: format!("case-{}", i % 7),
            action: if reads_records {
                "records:read"
            } else {
                "fs:read"
            }
            .into(),
            resource: if reads_records {
                "records/claims"
            } else {
                "fs/notes.txt"
            }
            .into(),
            decision: if i % 5 == 4 {
                Decision::Deny
            } else {
                Decision::Allow
            },
            policy_ids: vec!["claims-reviewers".into()],
            records: reads_records.then(|| RecordAccess {
                collection: "claims".into(),
                record_ids: vec![format!("c-{}", i % 11)],
                fields_returned: vec!["amount".into(), "status".into()],
                fields_withheld: vec!["diagnosis".into()],
                records_withheld: 0,
                withheld_ids: Vec::new(),
                filter: Vec::new(),
            }),
            taint: None,
            roles: vec!["claims-handler".into()],
            code: None,
        })?;
        last = Some(receipt.seq);
    }
    if let Some(last) = last {
        log.sync(last)?;
    }
    log.close()?;
    println!(
        "{count} entries appended to {}",
        dir.join(cordon_audit::LOG_FILE).display()
    );
    Ok(())
}
