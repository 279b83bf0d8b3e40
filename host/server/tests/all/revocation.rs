//! Revocation of every credential, taking effect at once, and every operator change as exactly
//! one entry in the signed decision log.

use std::collections::BTreeMap;
use std::time::Duration;

use axum::body::Body;
use axum::http::StatusCode;
use serde_json::json;

use crate::common::{ADMIN, ALLOW_ALL, Env, Idp, claims, register};

async fn get(env: &Env, uri: &str, token: &str) -> StatusCode {
    env.call("GET", uri, Some(token), Body::empty()).await.0
}

#[tokio::test]
async fn a_revoked_tenant_token_is_refused_from_the_next_request_on() {
    let env = Env::new();
    let token = env.tenant("acme", json!({})).await;
    let other = env.tenant("acme", json!({})).await;
    assert_eq!(
        get(&env, "/v1/tenants/acme/components", &token).await,
        StatusCode::OK
    );
    let (s, list) = env
        .call(
            "GET",
            "/v1/admin/tenants/acme/tokens",
            Some(ADMIN),
            Body::empty(),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(list.as_array().unwrap().len(), 2, "{list}");
    assert!(
        !list.to_string().contains(&token),
        "a listing shows a token"
    );
    // Which id is `token`'s: revoke each in turn and see which one stops working.
    let first = list[0]["id"].as_str().unwrap().to_owned();
    let (s, _) = env
        .call(
            "DELETE",
            &format!("/v1/admin/tenants/acme/tokens/{first}"),
            Some(ADMIN),
            Body::empty(),
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let statuses = [
        get(&env, "/v1/tenants/acme/components", &token).await,
        get(&env, "/v1/tenants/acme/components", &other).await,
    ];
    assert!(
        statuses.contains(&StatusCode::UNAUTHORIZED) && statuses.contains(&StatusCode::OK),
        "exactly the revoked token is refused: {statuses:?}"
    );
    let (s, _) = env
        .call(
            "DELETE",
            &format!("/v1/admin/tenants/acme/tokens/{first}"),
            Some(ADMIN),
            Body::empty(),
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND, "revoked twice");
}

#[tokio::test]
async fn a_removed_identity_key_no_longer_vouches_for_anyone() {
    let env = Env::new();
    let (token, digest) = env.echo_tenant("acme").await;
    let idp = Idp::new(9);
    register(&idp, &env, "acme").await;
    let run = json!({"component": digest, "token": idp.sign(&claims()).unwrap(), "purpose": "p", "engagement": "e"});
    let (s, v) = env.run("acme", &token, run.clone()).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["user"], "alice");
    let (_, keys) = env
        .call(
            "GET",
            "/v1/admin/tenants/acme/identity-keys",
            Some(ADMIN),
            Body::empty(),
        )
        .await;
    let id = keys["keys"][0]["id"].as_str().unwrap().to_owned();
    let (s, _) = env
        .call(
            "DELETE",
            &format!("/v1/admin/tenants/acme/identity-keys/{id}"),
            Some(ADMIN),
            Body::empty(),
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, v) = env.run("acme", &token, run).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "{v}");
}

#[tokio::test]
async fn a_deleted_tenant_is_gone_its_token_refused_and_its_id_never_reused() {
    let env = Env::new();
    let (token, digest) = env.echo_tenant("acme").await;
    let (s, _) = env
        .call(
            "DELETE",
            "/v1/admin/tenants/acme",
            Some(ADMIN),
            Body::empty(),
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    assert_eq!(
        get(&env, "/v1/admin/tenants/acme", ADMIN).await,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        get(&env, "/v1/tenants/acme/components", &token).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        get(
            &env,
            &format!("/v1/tenants/acme/components/{digest}"),
            ADMIN
        )
        .await,
        StatusCode::NOT_FOUND
    );
    let (s, v) = env
        .json("PUT", "/v1/admin/tenants/acme", Some(ADMIN), json!({}))
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "{v}");
    assert_eq!(v["error"]["code"], "tenant-deleted");
}

#[tokio::test]
async fn a_suspended_tenant_may_read_but_change_nothing() {
    let env = Env::new();
    let (token, digest) = env.echo_tenant("acme").await;
    let (s, _) = env
        .json(
            "POST",
            "/v1/admin/tenants/acme/suspend",
            Some(ADMIN),
            json!({}),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let (s, v) = env
        .upload("acme", &token, cordon_testkit::spin_guest().unwrap())
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{v}");
    assert_eq!(v["error"]["code"], "suspended");
    let uri = format!("/v1/tenants/acme/components/{digest}");
    let (s, _) = env.call("DELETE", &uri, Some(&token), Body::empty()).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    assert_eq!(get(&env, &uri, &token).await, StatusCode::OK, "reads stay");
    assert_eq!(
        get(&env, "/v1/tenants/acme/components", &token).await,
        StatusCode::OK
    );
    let (s, _) = env
        .run(
            "acme",
            &token,
            json!({"component": digest, "purpose": "p", "engagement": "e"}),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    // The operator still may.
    let (s, _) = env.call("DELETE", &uri, Some(ADMIN), Body::empty()).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_operator_change_is_exactly_one_log_entry_and_a_finished_runs_cancel_none() {
    let env = Env::new();
    let admin = |m: &'static str, uri: &'static str, body: serde_json::Value| {
        let env = &env;
        async move {
            let (s, v) = env.json(m, uri, Some(ADMIN), body).await;
            assert!(s.is_success(), "{m} {uri}: {s} {v}");
            v
        }
    };
    admin("PUT", "/v1/admin/tenants/acme", json!({})).await;
    admin(
        "PUT",
        "/v1/admin/tenants/acme",
        json!({"allow_unattended": true}),
    )
    .await;
    let token = admin("POST", "/v1/admin/tenants/acme/tokens", json!({})).await["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let spare = admin("POST", "/v1/admin/tenants/acme/tokens", json!({})).await;
    let uri = format!(
        "/v1/admin/tenants/acme/tokens/{}",
        spare["id"].as_str().unwrap()
    );
    let (s, _) = env.call("DELETE", &uri, Some(ADMIN), Body::empty()).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    register(&Idp::new(3), &env, "acme").await;
    let keys = admin("GET", "/v1/admin/tenants/acme/identity-keys", json!(null)).await;
    let uri = format!(
        "/v1/admin/tenants/acme/identity-keys/{}",
        keys["keys"][0]["id"].as_str().unwrap()
    );
    let (s, _) = env.call("DELETE", &uri, Some(ADMIN), Body::empty()).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    env.bundle("acme", ALLOW_ALL, false).await;
    admin(
        "PUT",
        "/v1/admin/tenants/acme/bundles/active",
        json!({"version": 1}),
    )
    .await;
    env.bundle("acme", ALLOW_ALL, false).await;
    admin(
        "PUT",
        "/v1/admin/tenants/acme/bundles/active",
        json!({"version": 2}),
    )
    .await;
    admin("POST", "/v1/admin/tenants/acme/bundles/rollback", json!({})).await;
    admin(
        "PUT",
        "/v1/admin/tenants/acme/bundles/shadow",
        json!({"version": 2}),
    )
    .await;
    let (_, c) = env
        .upload("acme", &token, cordon_testkit::echo_guest().unwrap())
        .await;
    let (s, run) = env
        .run(
            "acme",
            &token,
            json!({"component": c["digest"], "purpose": "p", "engagement": "e"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{run}");
    let cancel = format!(
        "/v1/tenants/acme/runs/{}/cancel",
        run["run_id"].as_str().unwrap()
    );
    for _ in 0..3 {
        let (s, v) = env.call("POST", &cancel, Some(&token), Body::empty()).await;
        assert_eq!(s, StatusCode::OK, "{v}");
        assert_eq!(v["status"], "ok", "the run had finished: {v}");
    }
    admin("POST", "/v1/admin/tenants/acme/suspend", json!({})).await;
    admin("POST", "/v1/admin/tenants/acme/resume", json!({})).await;
    let (s, _) = env
        .call(
            "DELETE",
            "/v1/admin/tenants/acme",
            Some(ADMIN),
            Body::empty(),
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);

    env.state.shutdown(Duration::from_secs(1)).await.unwrap();
    let store = cordon_audit::Store::open(&env.dir.path().join(cordon_audit::LOG_FILE)).unwrap();
    let mut counts = BTreeMap::<String, usize>::new();
    for seq in 0..store.len().unwrap() {
        let e = store.entry(seq).unwrap().unwrap();
        if e.action.starts_with("admin:") {
            assert_eq!(e.tenant, "acme");
            *counts.entry(e.action).or_default() += 1;
        }
    }
    let expected: BTreeMap<String, usize> = [
        ("admin:tenant-create", 1),
        ("admin:tenant-update", 1),
        ("admin:token-issue", 2),
        ("admin:token-revoke", 1),
        ("admin:identity-key-add", 1),
        ("admin:identity-key-remove", 1),
        ("admin:bundle-upload", 2),
        ("admin:activate-bundle", 2),
        ("admin:rollback-bundle", 1),
        ("admin:shadow-bundle", 1),
        ("admin:suspend", 1),
        ("admin:resume", 1),
        ("admin:tenant-delete", 1),
    ]
    .into_iter()
    .map(|(a, n)| (a.to_owned(), n))
    .collect();
    assert_eq!(counts, expected);
}
