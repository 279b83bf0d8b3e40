use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::common::{Env, Idp, claims, now};

async fn attended() -> (Env, String, String, Idp) {
    let env = Env::new();
    let token = env.tenant("acme", json!({})).await;
    env.bundle(
        "acme",
        r#"@id("analysts") permit(principal, action, resource) when { principal has human && principal.human in Cordon::Role::"analyst" };"#,
        true,
    )
    .await;
    let (_, c) = env
        .upload("acme", &token, cordon_testkit::echo_guest().unwrap())
        .await;
    let idp = Idp::new(7);
    idp.register(&env, "acme").await;
    (env, token, c["digest"].as_str().unwrap().to_owned(), idp)
}

fn body(digest: &str, jwt: Option<String>) -> Value {
    json!({"component": digest, "input": {"hi": 1}, "token": jwt, "purpose": "support", "engagement": "case-1"})
}

#[tokio::test]
async fn a_valid_on_behalf_of_token_names_the_human() {
    let (env, token, digest, idp) = attended().await;
    let (s, v) = env
        .run("acme", &token, body(&digest, Some(idp.sign(claims()))))
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["user"], "alice");
    assert_eq!(v["status"], "ok");
    assert_eq!(v["report"]["output"], json!({"hi": 1}));
}

#[tokio::test]
async fn expired_wrong_audience_and_forged_tokens_are_refused_with_401() {
    let (env, token, digest, idp) = attended().await;
    let mut expired = claims();
    expired["exp"] = json!(now() - 3600);
    let mut wrong_aud = claims();
    wrong_aud["aud"] = json!("someone-else");
    let mut wrong_iss = claims();
    wrong_iss["iss"] = json!("https://evil.test");
    let forged = Idp::new(9).sign(claims());
    for jwt in [
        idp.sign(expired),
        idp.sign(wrong_aud),
        idp.sign(wrong_iss),
        forged,
        "not.a.jwt".to_owned(),
    ] {
        let (s, v) = env.run("acme", &token, body(&digest, Some(jwt))).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "{v}");
        assert_eq!(v["error"]["code"], "invalid-token");
    }
}

#[tokio::test]
async fn runs_without_a_token_are_refused_unless_the_tenant_allows_unattended_runs() {
    let (env, token, digest, _) = attended().await;
    let (s, v) = env.run("acme", &token, body(&digest, None)).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    assert_eq!(v["error"]["code"], "token-required");
    env.json(
        "PUT",
        "/v1/admin/tenants/acme",
        Some(crate::common::ADMIN),
        json!({"allow_unattended": true}),
    )
    .await;
    let (s, v) = env.run("acme", &token, body(&digest, None)).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["user"], Value::Null);
}

#[tokio::test]
async fn a_token_granted_for_another_purpose_is_refused_with_403() {
    let (env, token, digest, idp) = attended().await;
    let mut c = claims();
    c["purpose"] = json!("marketing");
    let (s, v) = env
        .run("acme", &token, body(&digest, Some(idp.sign(c))))
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{v}");
    assert_eq!(v["error"]["code"], "token-mismatch");
    let mut c = claims();
    c["purpose"] = json!("support");
    c["engagement"] = json!("case-1");
    let (s, _) = env
        .run("acme", &token, body(&digest, Some(idp.sign(c))))
        .await;
    assert_eq!(s, StatusCode::OK);
}

#[tokio::test]
async fn unusable_identity_keys_are_refused_at_registration() {
    let env = Env::new();
    env.tenant("acme", json!({})).await;
    let (s, v) = env
        .json(
            "POST",
            "/v1/admin/tenants/acme/identity-keys",
            Some(crate::common::ADMIN),
            json!({"issuer": "i", "audience": "a", "pem": "garbage", "algorithm": "EdDSA"}),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(v["error"]["code"], "invalid-key");
}

#[tokio::test]
async fn a_jwks_key_verifies_tokens_by_kid() {
    use base64::Engine as _;
    let env = Env::new();
    let token = env.tenant("acme", json!({})).await;
    env.bundle("acme", crate::common::ALLOW_ALL, true).await;
    let (_, c) = env
        .upload("acme", &token, cordon_testkit::echo_guest().unwrap())
        .await;
    let digest = c["digest"].as_str().unwrap().to_owned();
    let key = ed25519_dalek::SigningKey::from_bytes(&[5; 32]);
    let x = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(key.verifying_key().as_bytes());
    let (s, v) = env
        .json(
            "POST",
            "/v1/admin/tenants/acme/identity-keys",
            Some(crate::common::ADMIN),
            json!({"issuer": "https://idp.test", "audience": "cordon",
                   "jwks": {"keys": [{"kty": "OKP", "crv": "Ed25519", "x": x, "kid": "k1", "alg": "EdDSA"}]}}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let jwt = Idp::new(5).sign(claims());
    let (s, v) = env.run("acme", &token, body(&digest, Some(jwt))).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["user"], "alice");
}
