//! Stored runs and erasure: every stored run is sealed under its tenant's report key, so no
//! run's content is in a file in plaintext; erasing a data subject turns the runs that named
//! them into tombstones, re-seals the rest under a new key and destroys the old one.

use std::path::{Path, PathBuf};

use axum::body::Body;
use axum::http::StatusCode;
use cordon_testkit::{RecordsCall, records_guest};
use serde_json::{Value, json};

use crate::common::{ADMIN, Env, Idp, claims, register};

/// Distinctive enough that a chance match in ciphertext or compiled code is out of question.
const ERASED_ID: &str = "TICKET-ZQ7-ERASED-3141";
const ERASED_SUBJECT: &str = "carol-zq7-subject";
const ERASED_CONTENT: &str = "carol.zq7.content@example.org";
const KEPT_ID: &str = "TICKET-ZQ7-KEPT-2718";
const KEPT_CONTENT: &str = "alice.zq7.content@example.org";

const TICKETS: &str = r#"{"levels": ["public", "internal"],
  "fields": [{"name": "title", "category": "free-text"}, {"name": "owner_email", "category": "contact"}]}"#;

const SUPPORT: &str = r#"
@id("consented-tickets")
permit (principal, action == Cordon::Action::"records:read", resource in Cordon::Collection::"tickets")
when { principal has human && resource.consent.contains(context.purpose) };

@id("support-fields")
permit (principal, action == Cordon::Action::"records:read-field", resource in Cordon::Collection::"tickets")
when { context.purpose == "support" && principal has human && resource.category == "contact" };
"#;

fn rows() -> String {
    let row = |id: &str, subject: &str, email: &str| {
        json!({"id": id, "subject": subject, "classification": "internal", "jurisdiction": "EU",
               "consent": ["support"], "fields": {"title": "Cannot log in", "owner_email": email}})
        .to_string()
    };
    format!(
        "{}\n{}\n",
        row(ERASED_ID, ERASED_SUBJECT, ERASED_CONTENT),
        row(KEPT_ID, "alice-zq7", KEPT_CONTENT)
    )
}

/// Every file under `dir`, recursively.
fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(files(&path));
        } else {
            out.push(path);
        }
    }
    out
}

/// The files under `dir` that hold `needle`.
fn holding(dir: &Path, needle: &[u8]) -> Vec<PathBuf> {
    files(dir)
        .into_iter()
        .filter(|f| {
            std::fs::read(f)
                .map(|b| b.windows(needle.len()).any(|w| w == needle))
                .unwrap_or(false)
        })
        .collect()
}

/// A tenant with the tickets collection, the records guest (`get` of the run's input) and a
/// verified human: returns the tenant token, the component digest and the identity provider.
async fn tickets_tenant(env: &Env) -> (String, String, Idp) {
    let token = env.tenant("acme", json!({})).await;
    let idp = Idp::new(11);
    register(&idp, env, "acme").await;
    let (s, v) = env.bundle("acme", SUPPORT, true).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let coll = "/v1/admin/tenants/acme/collections/tickets";
    let (s, v) = env
        .call("PUT", coll, Some(ADMIN), Body::from(TICKETS))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let (s, v) = env
        .call(
            "POST",
            &format!("{coll}/records"),
            Some(ADMIN),
            Body::from(rows()),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let guest = records_guest(RecordsCall::Get, "tickets", &["owner_email"]).unwrap();
    let (s, c) = env.upload("acme", &token, guest).await;
    assert_eq!(s, StatusCode::CREATED, "{c}");
    (token, c["digest"].as_str().unwrap().to_owned(), idp)
}

/// Run the records guest reading ticket `id`, async (so its view is committed durably and is
/// in the file when the test scans it); returns the run id and its finished view.
async fn read_ticket(env: &Env, token: &str, digest: &str, idp: &Idp, id: &str) -> (String, Value) {
    let (s, v) = env
        .run(
            "acme",
            token,
            json!({"component": digest, "input_text": id, "token": idp.sign(&claims()).unwrap(),
                   "purpose": "support", "engagement": "case-1", "async": true}),
        )
        .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{v}");
    let run_id = v["run_id"].as_str().unwrap().to_owned();
    let (_, v) = crate::kill::until_finished(env, token, &run_id).await;
    assert_eq!(v["status"], "ok", "{v}");
    (run_id, v)
}

async fn get_run(env: &Env, tenant: &str, token: &str, id: &str) -> (StatusCode, Value) {
    env.call(
        "GET",
        &format!("/v1/tenants/{tenant}/runs/{id}"),
        Some(token),
        Body::empty(),
    )
    .await
}

async fn erase(env: &Env, tenant: &str, subject: &str) -> Value {
    let (s, v) = env
        .json(
            "POST",
            &format!("/v1/admin/tenants/{tenant}/erasures"),
            Some(ADMIN),
            json!({ "subject": subject }),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    v
}

/// The tenant's live report keys, as hex, from the key file.
fn report_keys(data: &Path, tenant: &str) -> Vec<String> {
    let file: Value =
        serde_json::from_slice(&std::fs::read(data.join("run-keys.json")).unwrap()).unwrap();
    file["tenants"][tenant]
        .as_array()
        .map(|gens| {
            gens.iter()
                .map(|g| g["key"].as_str().unwrap().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

fn unhex(hex: &str) -> Vec<u8> {
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn erasing_a_subject_erases_the_stored_run_reports_that_named_them() {
    // Small inline limit: the reports go to files, the views to the store; both are checked.
    for inline in [16 << 10, 64] {
        let env = Env::with_config(|c| c.run_retention.inline_report_bytes = inline);
        let (token, digest, idp) = tickets_tenant(&env).await;
        let (named, v) = read_ticket(&env, &token, &digest, &idp, ERASED_ID).await;
        assert!(v.to_string().contains(ERASED_CONTENT), "{v}");
        let (kept, v) = read_ticket(&env, &token, &digest, &idp, KEPT_ID).await;
        assert!(v.to_string().contains(KEPT_CONTENT), "{v}");
        let before = get_run(&env, "acme", &token, &kept).await.1;

        let v = erase(&env, "acme", ERASED_SUBJECT).await;
        assert_eq!(v["erased_records"][0]["id"], ERASED_ID, "{v}");
        // No file the service wrote keeps the erased id or content in plaintext.
        for needle in [ERASED_ID, ERASED_CONTENT, ERASED_SUBJECT] {
            let found = holding(env.dir.path(), needle.as_bytes());
            assert!(
                found.is_empty(),
                "`{needle}` in plaintext in {found:?} (inline {inline})"
            );
        }

        let (s, gone) = get_run(&env, "acme", &token, &named).await;
        assert_eq!(s, StatusCode::OK, "{gone}");
        assert_eq!(
            gone,
            json!({"run_id": named, "status": "ok", "component": digest, "user": null,
                   "report": null, "summary": null, "report_erased": true}),
            "inline {inline}"
        );
        let (s, after) = get_run(&env, "acme", &token, &kept).await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(
            after, before,
            "the other run reads in full after re-sealing"
        );
        assert!(after.to_string().contains(KEPT_CONTENT));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_naming_a_held_record_are_erased_when_its_last_hold_is_released() {
    let env = Env::new();
    let (token, digest, idp) = tickets_tenant(&env).await;
    let (named, _) = read_ticket(&env, &token, &digest, &idp, ERASED_ID).await;
    let hold =
        format!("/v1/admin/tenants/acme/collections/tickets/records/{ERASED_ID}/holds/lit-1");
    let (s, v) = env.call("PUT", &hold, Some(ADMIN), Body::empty()).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let v = erase(&env, "acme", ERASED_SUBJECT).await;
    assert_eq!(v["erased"], 0, "{v}");
    let (_, v) = get_run(&env, "acme", &token, &named).await;
    assert!(
        v.to_string().contains(ERASED_CONTENT),
        "kept while the hold lasts: {v}"
    );
    let (s, v) = env.call("DELETE", &hold, Some(ADMIN), Body::empty()).await;
    assert_eq!(v["erased"], true, "{s} {v}");
    let (_, v) = get_run(&env, "acme", &token, &named).await;
    assert_eq!(v["report_erased"], true, "{v}");
    for needle in [ERASED_ID, ERASED_CONTENT] {
        let found = holding(env.dir.path(), needle.as_bytes());
        assert!(found.is_empty(), "`{needle}` in plaintext in {found:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_finished_runs_output_is_in_no_file_in_plaintext() {
    const MARKER: &str = "zq7-distinctive-output-marker-5772";
    for inline in [16 << 10, 64] {
        let env = Env::with_config(|c| c.run_retention.inline_report_bytes = inline);
        let (token, digest) = env.echo_tenant("acme").await;
        for is_async in [false, true] {
            let (s, v) = env
                .run(
                    "acme",
                    &token,
                    json!({"component": digest, "input": {"note": MARKER}, "purpose": "p",
                           "engagement": "e", "async": is_async}),
                )
                .await;
            assert!(s.is_success(), "{v}");
            let id = v["run_id"].as_str().unwrap().to_owned();
            let (_, v) = crate::kill::until_finished(&env, &token, &id).await;
            assert_eq!(v["report"]["output"]["note"], MARKER, "{v}");
        }
        let found = holding(env.dir.path(), MARKER.as_bytes());
        assert!(
            found.is_empty(),
            "in plaintext in {found:?} (inline {inline})"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn erasure_rewrites_the_key_file_without_the_old_key() {
    let env = Env::new();
    let (token, digest, idp) = tickets_tenant(&env).await;
    let (kept, _) = read_ticket(&env, &token, &digest, &idp, KEPT_ID).await;
    let data = env.dir.path().to_owned();
    let old = report_keys(&data, "acme");
    assert_eq!(old.len(), 1, "one key, made with the tenant's first run");
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(data.join("run-keys.json"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    // More runs write no new key.
    read_ticket(&env, &token, &digest, &idp, KEPT_ID).await;
    assert_eq!(report_keys(&data, "acme"), old);

    erase(&env, "acme", ERASED_SUBJECT).await;
    let new = report_keys(&data, "acme");
    assert_eq!(new.len(), 1, "{new:?}");
    assert_ne!(new, old);
    for needle in [old[0].as_bytes().to_vec(), unhex(&old[0])] {
        let found = holding(&data, &needle);
        assert!(found.is_empty(), "the old key survives in {found:?}");
    }
    let (s, v) = get_run(&env, "acme", &token, &kept).await;
    assert_eq!(s, StatusCode::OK);
    assert!(v.to_string().contains(KEPT_CONTENT), "{v}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sealed_runs_still_read_after_a_restart_and_an_erasure() {
    let env = Env::with_config(|c| c.run_retention.inline_report_bytes = 64);
    let (token, digest) = env.echo_tenant("acme").await;
    let mut ids = Vec::new();
    for n in 0..2 {
        let (_, v) = env
            .run(
                "acme",
                &token,
                json!({"component": digest, "input": {"n": n}, "purpose": "p", "engagement": "e"}),
            )
            .await;
        ids.push(v["run_id"].as_str().unwrap().to_owned());
    }
    env.state
        .shutdown(std::time::Duration::from_secs(1))
        .await
        .unwrap();
    let env = env.reopen();
    for (n, id) in ids.iter().enumerate() {
        let (s, v) = get_run(&env, "acme", &token, id).await;
        assert_eq!(s, StatusCode::OK, "{v}");
        assert_eq!(v["report"]["output"], json!({"n": n}), "{v}");
    }
    erase(&env, "acme", "nobody-named").await;
    let env = env.reopen();
    for (n, id) in ids.iter().enumerate() {
        let (_, v) = get_run(&env, "acme", &token, id).await;
        assert_eq!(v["report"]["output"], json!({"n": n}), "{v}");
        assert!(v.get("report_erased").is_none(), "{v}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_under_a_destroyed_key_or_damaged_reads_as_erased_and_breaks_nothing() {
    let env = Env::new();
    let (acme, acme_c) = env.echo_tenant("acme").await;
    let (globex, globex_c) = env.echo_tenant("globex").await;
    let run =
        |c: &str| json!({"component": c, "input": {"x": 1}, "purpose": "p", "engagement": "e"});
    let (_, v) = env.run("acme", &acme, run(&acme_c)).await;
    let lost = v["run_id"].as_str().unwrap().to_owned();
    let (_, v) = env.run("globex", &globex, run(&globex_c)).await;
    let damaged = v["run_id"].as_str().unwrap().to_owned();
    let (_, v) = env.run("globex", &globex, run(&globex_c)).await;
    let whole = v["run_id"].as_str().unwrap().to_owned();
    env.state
        .shutdown(std::time::Duration::from_secs(1))
        .await
        .unwrap();
    let data = env.dir.path().to_owned();
    let Env { dir, state } = env;
    drop(state);
    // acme's key is lost; globex's `damaged` row is cut short.
    let keys_path = data.join("run-keys.json");
    let mut keys: Value = serde_json::from_slice(&std::fs::read(&keys_path).unwrap()).unwrap();
    keys["tenants"].as_object_mut().unwrap().remove("acme");
    std::fs::write(&keys_path, keys.to_string()).unwrap();
    {
        use redb::ReadableTable;
        const RUNS: redb::TableDefinition<&str, &[u8]> = redb::TableDefinition::new("runs");
        let db = loop {
            match redb::Database::create(data.join(cordon_server::STATE_FILE)) {
                Ok(db) => break db,
                Err(_) => std::thread::yield_now(),
            }
        };
        let txn = db.begin_write().unwrap();
        {
            let mut t = txn.open_table(RUNS).unwrap();
            let k = format!("globex/{damaged}");
            let row = t.get(k.as_str()).unwrap().unwrap().value().to_vec();
            t.insert(k.as_str(), &row[..row.len() / 2]).unwrap();
        }
        txn.commit().unwrap();
    }
    let env = Env {
        dir,
        state: cordon_server::AppState::open(cordon_server::ServerConfig::new(&data, ADMIN))
            .unwrap(),
    };

    let (s, v) = get_run(&env, "acme", &acme, &lost).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(
        (&v["status"], &v["report_erased"]),
        (&json!("erased"), &json!(true)),
        "{v}"
    );
    let (s, v) = get_run(&env, "globex", &globex, &damaged).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(
        (&v["status"], &v["report_erased"]),
        (&json!("unreadable"), &json!(true)),
        "{v}"
    );
    let (_, v) = get_run(&env, "globex", &globex, &whole).await;
    assert_eq!(v["report"]["output"], json!({"x": 1}), "{v}");
    // An erasure goes over the unreadable rows, and new runs are stored and read as before.
    erase(&env, "globex", "nobody-named").await;
    erase(&env, "acme", "nobody-named").await;
    let (_, v) = get_run(&env, "globex", &globex, &whole).await;
    assert_eq!(v["report"]["output"], json!({"x": 1}), "{v}");
    let (_, v) = env.run("acme", &acme, run(&acme_c)).await;
    let (_, v) = get_run(&env, "acme", &acme, v["run_id"].as_str().unwrap()).await;
    assert_eq!(v["report"]["output"], json!({"x": 1}), "{v}");
}
