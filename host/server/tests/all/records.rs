//! Records through the service: the operator's routes over each tenant's own store, and runs
//! that read records under the tenant's bundle for the verified human's purpose.

use axum::body::Body;
use axum::http::StatusCode;
use cordon_testkit::{RecordsCall, records_guest};
use serde_json::{Value, json};

use crate::common::{ADMIN, Env, Idp, claims, register};

const TICKETS: &str = r#"{"levels": ["public", "internal"],
  "fields": [{"name": "title", "category": "free-text"}, {"name": "owner_email", "category": "contact"}]}"#;

const ROWS: &str = r#"{"id": "T-1", "subject": "alice", "classification": "internal", "jurisdiction": "EU", "consent": ["support", "triage"], "fields": {"title": "Cannot log in", "owner_email": "alice@example.org"}}
{"id": "T-2", "subject": "bob", "classification": "internal", "jurisdiction": "EU", "consent": ["support", "triage"], "fields": {"title": "Invoice twice", "owner_email": "bob@example.org"}}
{"id": "T-3", "subject": "carol", "classification": "internal", "jurisdiction": "US", "consent": ["support"], "fields": {"title": "Export fails", "owner_email": "carol@example.org"}}
"#;

/// Tickets are read for a purpose their customer consented to, by a verified human; triage
/// sees what a ticket is about, support (an analyst) may contact the customer.
const PURPOSES: &str = r#"
@id("consented-tickets")
permit (principal, action == Cordon::Action::"records:read", resource in Cordon::Collection::"tickets")
when { principal has human && resource.consent.contains(context.purpose) };

@id("triage-fields")
permit (principal, action == Cordon::Action::"records:read-field", resource in Cordon::Collection::"tickets")
when { context.purpose == "triage" && resource.category == "free-text" };

@id("support-fields")
permit (principal, action == Cordon::Action::"records:read-field", resource in Cordon::Collection::"tickets")
when { context.purpose == "support" && principal has human
       && principal.human in Cordon::Role::"analyst" && resource.category == "contact" };
"#;

fn uri(tenant: &str, rest: &str) -> String {
    format!("/v1/admin/tenants/{tenant}/{rest}")
}

impl Env {
    async fn text(
        &self,
        method: &str,
        uri: &str,
        token: Option<&str>,
        body: &str,
    ) -> (StatusCode, Value) {
        self.call(method, uri, token, Body::from(body.to_owned()))
            .await
    }

    async fn get(&self, uri: &str) -> (StatusCode, Value) {
        self.call("GET", uri, Some(ADMIN), Body::empty()).await
    }

    /// Define `tickets` in `tenant` and import the three rows.
    async fn tickets(&self, tenant: &str) {
        let (s, v) = self
            .text(
                "PUT",
                &uri(tenant, "collections/tickets"),
                Some(ADMIN),
                TICKETS,
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{v}");
        let (s, v) = self
            .text(
                "POST",
                &uri(tenant, "collections/tickets/records"),
                Some(ADMIN),
                ROWS,
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{v}");
        assert_eq!(v["inserted"], 3, "{v}");
    }
}

fn ids(page: &Value) -> Vec<String> {
    page["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn an_import_with_bad_lines_lists_every_one_by_number_and_imports_nothing() {
    let env = Env::new();
    env.tenant("acme", json!({})).await;
    let (s, _) = env
        .text(
            "PUT",
            &uri("acme", "collections/tickets"),
            Some(ADMIN),
            TICKETS,
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);
    let body = format!(
        "{}\nnot json\n{}\n{}",
        ROWS.lines().next().unwrap(),
        r#"{"id": "T-9", "subject": "x", "classification": "secret"}"#,
        r#"{"id": "T-8", "subject": "x", "classification": "public", "fields": {"ssn": "1"}}"#,
    );
    let (s, v) = env
        .text(
            "POST",
            &uri("acme", "collections/tickets/records"),
            Some(ADMIN),
            &body,
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    assert_eq!(v["error"]["code"], "bad-lines");
    let lines: Vec<u64> = v["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["line"].as_u64().unwrap())
        .collect();
    assert_eq!(lines, [2, 3, 4], "{v}");
    assert!(
        v["lines"][1]["message"]
            .as_str()
            .unwrap()
            .contains("unknown classification `secret`"),
        "{v}"
    );
    assert!(
        v["lines"][2]["message"]
            .as_str()
            .unwrap()
            .contains("field `ssn` is not declared"),
        "{v}"
    );
    let (s, page) = env.get(&uri("acme", "collections/tickets/records")).await;
    assert_eq!(s, StatusCode::OK);
    assert!(
        ids(&page).is_empty(),
        "the good first line was not imported either: {page}"
    );

    let (s, v) = env
        .text(
            "POST",
            &uri("acme", "collections/tickets/records"),
            Some(ADMIN),
            ROWS,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(
        v,
        json!({"collection": "tickets", "inserted": 3, "updated": 0})
    );
    let (_, page) = env
        .get(&uri("acme", "collections/tickets/records?limit=2"))
        .await;
    assert_eq!(ids(&page), ["T-1", "T-2"]);
    assert_eq!(page["next"], "T-2");
    let (_, page) = env
        .get(&uri("acme", "collections/tickets/records?after=T-2"))
        .await;
    assert_eq!(ids(&page), ["T-3"]);
    assert_eq!(page["records"][0]["classification"], "internal");
    assert_eq!(page["records"][0]["fields"]["title"], "Export fails");
    assert!(page["next"].is_null());
}

#[tokio::test]
async fn a_run_reads_only_the_records_and_fields_its_purpose_allows() {
    let env = Env::new();
    let token = env.tenant("acme", json!({})).await;
    let idp = Idp::new(7);
    register(&idp, &env, "acme").await;
    let (s, _) = env.bundle("acme", PURPOSES, true).await;
    assert_eq!(s, StatusCode::CREATED);
    env.tickets("acme").await;
    let guest = records_guest(
        RecordsCall::Query { limit: 0 },
        "tickets",
        &["title", "owner_email"],
    )
    .unwrap();
    let (_, c) = env.upload("acme", &token, guest).await;
    let run = |purpose: &str| json!({"component": c["digest"], "token": idp.sign(&claims()).unwrap(), "purpose": purpose, "engagement": "e-1"});

    let (s, v) = env.run("acme", &token, run("triage")).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["status"], "ok", "{v}");
    assert_eq!(v["user"], "alice");
    // Titles only; T-3's customer consented to support only: invisible, not even counted.
    assert_eq!(
        v["report"]["output"],
        "T-1:Cannot log in,;T-2:Invoice twice,;#|owner_email,"
    );

    let (_, v) = env.run("acme", &token, run("support")).await;
    assert_eq!(v["status"], "ok", "{v}");
    assert_eq!(
        v["report"]["output"],
        "T-1:alice@example.org,;T-2:bob@example.org,;T-3:carol@example.org,;#|title,"
    );
    let read = v["report"]["decisions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["action"] == "records:read")
        .cloned()
        .unwrap_or_default();
    assert_eq!(read["decision"], "allow", "{v}");
}

#[tokio::test]
async fn a_run_without_a_verified_human_sees_no_records() {
    let env = Env::new();
    let token = env.tenant("acme", json!({"allow_unattended": true})).await;
    env.bundle("acme", PURPOSES, true).await;
    env.tickets("acme").await;
    let guest = records_guest(RecordsCall::Query { limit: 0 }, "tickets", &["title"]).unwrap();
    let (_, c) = env.upload("acme", &token, guest).await;
    let (s, v) = env
        .run(
            "acme",
            &token,
            json!({"component": c["digest"], "purpose": "triage", "engagement": "e-1"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(
        v["report"]["output"], "#|",
        "all three withheld, none counted: {v}"
    );
}

#[tokio::test]
async fn erasure_removes_a_subject_and_a_held_record_survives_with_the_reason() {
    let env = Env::new();
    env.tenant("acme", json!({})).await;
    env.tickets("acme").await;
    let hold = uri("acme", "collections/tickets/records/T-2/holds/litigation-7");
    let (s, v) = env.call("PUT", &hold, Some(ADMIN), Body::empty()).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["holds"], json!(["litigation-7"]));

    let erase = |subject: &str| json!({ "subject": subject });
    let (s, v) = env
        .json(
            "POST",
            &uri("acme", "erasures"),
            Some(ADMIN),
            erase("carol"),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["erased"], 1);
    assert_eq!(
        v["erased_records"],
        json!([{"collection": "tickets", "id": "T-3"}])
    );
    assert_eq!(v["refused"], json!([]));
    let (s, _) = env
        .get(&uri("acme", "collections/tickets/records/T-3"))
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND, "carol's record is gone");

    let (_, v) = env
        .json("POST", &uri("acme", "erasures"), Some(ADMIN), erase("bob"))
        .await;
    assert_eq!(v["erased"], 0, "{v}");
    assert_eq!(
        v["refused"],
        json!([{"collection": "tickets", "id": "T-2", "reason": "under legal hold `litigation-7`"}])
    );
    let (s, kept) = env
        .get(&uri("acme", "collections/tickets/records/T-2"))
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(kept["erasure_pending"], true);
    assert_eq!(kept["fields"]["title"], "Invoice twice");

    let (s, v) = env.call("DELETE", &hold, Some(ADMIN), Body::empty()).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v, json!({"remaining_holds": [], "erased": true}));
    let (s, _) = env
        .get(&uri("acme", "collections/tickets/records/T-2"))
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND, "erased once the hold was lifted");
    let (s, v) = env.call("DELETE", &hold, Some(ADMIN), Body::empty()).await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{v}");

    let (s, log) = env.get(&uri("acme", "records-log")).await;
    assert_eq!(s, StatusCode::OK);
    let actions: Vec<&str> = log["actions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        ["define", "import", "hold", "erase", "erase", "release"]
    );

    // Every action also went to the decision log, as the tenant's operator.
    let data = env.dir.path().to_owned();
    env.state
        .shutdown(std::time::Duration::from_secs(1))
        .await
        .unwrap();
    drop(env.state);
    let store = cordon_audit::Store::open(&data.join(cordon_audit::LOG_FILE)).unwrap();
    let mut logged = Vec::new();
    for seq in 0..store.len().unwrap() {
        let e = store.entry(seq).unwrap().unwrap();
        if e.action.starts_with("records:") {
            assert_eq!(e.tenant, "acme");
            assert_eq!(e.agent, "operator");
            logged.push(e.action);
        }
    }
    assert_eq!(
        logged,
        [
            "records:define",
            "records:import",
            "records:hold",
            "records:erase",
            "records:erase",
            "records:inspect",
            "records:release",
        ]
    );
    drop(env.dir);
}

#[tokio::test]
async fn records_routes_of_another_tenant_are_404_and_stores_are_separate() {
    let env = Env::new();
    let acme = env.tenant("acme", json!({})).await;
    let beta = env.tenant("beta", json!({"allow_unattended": true})).await;
    env.tickets("acme").await;
    let routes = [
        ("GET", "collections"),
        ("PUT", "collections/tickets"),
        ("GET", "collections/tickets/records"),
        ("POST", "collections/tickets/records"),
        ("GET", "collections/tickets/records/T-1"),
        ("PUT", "collections/tickets/records/T-1/holds/h"),
        ("DELETE", "collections/tickets/records/T-1/holds/h"),
        ("POST", "erasures"),
        ("GET", "records-log"),
    ];
    for (method, rest) in routes {
        for token in [&beta, &acme] {
            let (s, v) = env
                .text(
                    method,
                    &uri("acme", rest),
                    Some(token),
                    r#"{"subject": "alice"}"#,
                )
                .await;
            assert_eq!(s, StatusCode::NOT_FOUND, "{method} {rest}: {v}");
        }
        let (s, _) = env.text(method, &uri("acme", rest), None, "").await;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "{method} {rest}");
    }
    let (s, _) = env
        .get(&uri("acme", "collections/tickets/records/T-1"))
        .await;
    assert_eq!(s, StatusCode::OK, "nothing above changed acme's records");

    // beta's store is its own: acme's collection is not in it.
    let (s, v) = env.get(&uri("beta", "collections")).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v, json!([]));
    let (s, _) = env.get(&uri("beta", "collections/tickets/records")).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = env.get(&uri("ghost", "collections")).await;
    assert_eq!(s, StatusCode::NOT_FOUND, "an unknown tenant");
    assert!(!env.dir.path().join("records").join("ghost").exists());

    // ...and a run of beta's reading `tickets` finds no such collection.
    env.bundle("beta", crate::common::ALLOW_ALL, true).await;
    let guest = records_guest(RecordsCall::Query { limit: 0 }, "tickets", &["title"]).unwrap();
    let (_, c) = env.upload("beta", &beta, guest).await;
    let (s, v) = env
        .run(
            "beta",
            &beta,
            json!({"component": c["digest"], "purpose": "triage", "engagement": "e"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_ne!(v["status"], "ok", "{v}");
    assert!(!v.to_string().contains("Cannot log in"), "{v}");
}

#[tokio::test]
async fn a_restart_keeps_each_tenants_records_holds_and_log() {
    let env = Env::new();
    env.tenant("acme", json!({})).await;
    env.tickets("acme").await;
    env.call(
        "PUT",
        &uri("acme", "collections/tickets/records/T-1/holds/audit-3"),
        Some(ADMIN),
        Body::empty(),
    )
    .await;
    env.state
        .shutdown(std::time::Duration::from_secs(1))
        .await
        .unwrap();

    let env = env.reopen();
    let (s, page) = env.get(&uri("acme", "collections/tickets/records")).await;
    assert_eq!(s, StatusCode::OK, "{page}");
    assert_eq!(ids(&page), ["T-1", "T-2", "T-3"]);
    assert_eq!(page["records"][0]["holds"], json!(["audit-3"]));
    assert_eq!(
        page["records"][0]["fields"]["owner_email"],
        "alice@example.org"
    );
    let (_, log) = env.get(&uri("acme", "records-log")).await;
    assert_eq!(log["actions"].as_array().unwrap().len(), 3, "{log}");
    let (_, c) = env.get(&uri("acme", "collections/tickets")).await;
    assert_eq!(c["fields"][1]["category"], "contact");
}

#[tokio::test]
async fn bad_records_requests_are_4xx_naming_the_problem() {
    let env = Env::new();
    env.tenant("acme", json!({})).await;
    async fn define(env: &Env, body: &str) -> (StatusCode, Value) {
        env.text(
            "PUT",
            &uri("acme", "collections/tickets"),
            Some(ADMIN),
            body,
        )
        .await
    }
    let (s, v) = define(&env, "{not json").await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid-collection"))
    );
    let (s, v) = define(&env, r#"{"name": "other", "levels": ["a"], "fields": []}"#).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("`tickets`"),
        "{v}"
    );
    let (s, v) = define(&env, r#"{"levels": [], "fields": []}"#).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("classification level"),
        "{v}"
    );
    let (s, v) = define(&env, r#"{"levels": ["a"], "fields": [], "colour": "red"}"#).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(
        v["error"]["message"].as_str().unwrap().contains("colour"),
        "{v}"
    );

    let (s, v) = env
        .text(
            "POST",
            &uri("acme", "collections/nope/records"),
            Some(ADMIN),
            ROWS,
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert!(
        v["error"]["message"].as_str().unwrap().contains("`nope`"),
        "{v}"
    );
    env.tickets("acme").await;
    let (s, v) = env
        .get(&uri("acme", "collections/tickets/records?limit=0"))
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(
        v["error"]["message"].as_str().unwrap().contains("`limit`"),
        "{v}"
    );
    let (s, v) = env
        .get(&uri("acme", "collections/tickets/records?limit=many"))
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(v["error"]["code"], "invalid-request", "{v}");
    assert!(
        v["error"]["message"].as_str().unwrap().contains("limit"),
        "{v}"
    );
    let (s, v) = env
        .json(
            "POST",
            &uri("acme", "erasures"),
            Some(ADMIN),
            json!({"subject": ""}),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    let (s, v) = env
        .json("POST", &uri("acme", "erasures"), Some(ADMIN), json!({}))
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    assert!(
        v["error"]["message"].as_str().unwrap().contains("subject"),
        "{v}"
    );
    let (s, _) = env
        .call(
            "PUT",
            &uri("acme", "collections/tickets/records/T-404/holds/h"),
            Some(ADMIN),
            Body::empty(),
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, v) = env
        .call(
            "DELETE",
            &uri("acme", "collections/tickets/records/T-1/holds/h"),
            Some(ADMIN),
            Body::empty(),
        )
        .await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("not-held"))
    );

    let (_, doc) = env.call("GET", "/openapi.json", None, Body::empty()).await;
    let paths = &doc["paths"];
    assert!(
        paths["/v1/admin/tenants/{tenant}/collections/{collection}/records"]["post"].is_object()
    );
    assert!(paths["/v1/admin/tenants/{tenant}/erasures"]["post"].is_object());
    assert!(paths["/v1/admin/tenants/{tenant}/collections/{collection}/records/{id}/holds/{hold}"]["delete"].is_object());
    assert!(paths["/v1/admin/tenants/{tenant}/records-log"]["get"].is_object());
}
