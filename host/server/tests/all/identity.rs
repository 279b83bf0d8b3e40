use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::common::{Env, Idp, claims, now, register};

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
    register(&idp, &env, "acme").await;
    (env, token, c["digest"].as_str().unwrap().to_owned(), idp)
}

fn body(digest: &str, jwt: Option<String>) -> Value {
    json!({"component": digest, "input": {"hi": 1}, "token": jwt, "purpose": "support", "engagement": "case-1"})
}

#[tokio::test]
async fn a_valid_on_behalf_of_token_names_the_human() {
    let (env, token, digest, idp) = attended().await;
    let (s, v) = env
        .run(
            "acme",
            &token,
            body(&digest, Some(idp.sign(&claims()).unwrap())),
        )
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
    let forged = Idp::new(9).sign(&claims()).unwrap();
    for jwt in [
        idp.sign(&expired).unwrap(),
        idp.sign(&wrong_aud).unwrap(),
        idp.sign(&wrong_iss).unwrap(),
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
        .run("acme", &token, body(&digest, Some(idp.sign(&c).unwrap())))
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{v}");
    assert_eq!(v["error"]["code"], "token-mismatch");
    let mut c = claims();
    c["purpose"] = json!("support");
    c["engagement"] = json!("case-1");
    let (s, _) = env
        .run("acme", &token, body(&digest, Some(idp.sign(&c).unwrap())))
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
    let (token, digest) = attended_echo(&env).await;
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
    let jwt = Idp::new(5).sign(&claims()).unwrap();
    let (s, v) = env.run("acme", &token, body(&digest, Some(jwt))).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["user"], "alice");
}

/// Tenant `acme` (runs need a token; allow-all) with the echo guest: its token and digest.
async fn attended_echo(env: &Env) -> (String, String) {
    let token = env.tenant("acme", json!({})).await;
    env.bundle("acme", crate::common::ALLOW_ALL, true).await;
    let (_, c) = env
        .upload("acme", &token, cordon_testkit::echo_guest().unwrap())
        .await;
    (token, c["digest"].as_str().unwrap().to_owned())
}

fn fixture(name: &str) -> String {
    std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures")
            .join(name),
    )
    .unwrap()
}

/// A tenant whose identity provider signs with `algorithm` (its public key is the fixture
/// `<kind>-public.pem`); the tenant token and the echo guest's digest.
async fn tenant_with_pem_key(algorithm: &str, kind: &str) -> (Env, String, String) {
    let env = Env::new();
    let (token, digest) = attended_echo(&env).await;
    let (s, v) = env
        .json(
            "POST",
            "/v1/admin/tenants/acme/identity-keys",
            Some(crate::common::ADMIN),
            json!({"issuer": "https://idp.test", "audience": "cordon",
                   "pem": fixture(&format!("{kind}-public.pem")), "algorithm": algorithm}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    (env, token, digest)
}

fn sign(algorithm: jsonwebtoken::Algorithm, key: &jsonwebtoken::EncodingKey) -> String {
    jsonwebtoken::encode(&jsonwebtoken::Header::new(algorithm), &claims(), key).unwrap()
}

#[tokio::test]
async fn rs256_and_es256_keys_verify_tokens_their_providers_signed() {
    use jsonwebtoken::{Algorithm, EncodingKey};
    let rsa = EncodingKey::from_rsa_pem(fixture("rsa-private.pem").as_bytes()).unwrap();
    let ec = EncodingKey::from_ec_pem(fixture("ec-private.pem").as_bytes()).unwrap();
    for (name, kind, algorithm, key) in [
        ("RS256", "rsa", Algorithm::RS256, &rsa),
        ("ES256", "ec", Algorithm::ES256, &ec),
    ] {
        let (env, token, digest) = tenant_with_pem_key(name, kind).await;
        let (s, v) = env
            .run("acme", &token, body(&digest, Some(sign(algorithm, key))))
            .await;
        assert_eq!(s, StatusCode::OK, "{name}: {v}");
        assert_eq!(v["user"], "alice", "{name}");
    }
}

#[tokio::test]
async fn a_token_in_another_algorithm_than_the_registered_key_is_refused() {
    use jsonwebtoken::{Algorithm, EncodingKey};
    let (env, token, digest) = tenant_with_pem_key("RS256", "rsa").await;
    // The classic confusion: HS256 with the provider's *public* key as the HMAC secret.
    let confused = sign(
        Algorithm::HS256,
        &EncodingKey::from_secret(fixture("rsa-public.pem").as_bytes()),
    );
    // And a token of another provider, in another algorithm.
    let ec = EncodingKey::from_ec_pem(fixture("ec-private.pem").as_bytes()).unwrap();
    let other = sign(Algorithm::ES256, &ec);
    for jwt in [confused, other] {
        let (s, v) = env.run("acme", &token, body(&digest, Some(jwt))).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "{v}");
    }
}
