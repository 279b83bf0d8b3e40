//! Shared set-up: a state in a temporary directory, requests, an identity provider's key.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use cordon_server::{AppState, ServerConfig, app};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

pub const ADMIN: &str = "test-admin-token";

pub struct Env {
    pub dir: tempfile::TempDir,
    pub state: AppState,
}

impl Env {
    pub fn new() -> Env {
        Env::with_config(|_| {})
    }

    /// A state whose configuration `adjust` changed from the defaults.
    pub fn with_config(adjust: impl FnOnce(&mut ServerConfig)) -> Env {
        let dir = tempfile::tempdir().unwrap();
        let mut config = ServerConfig::new(dir.path(), ADMIN);
        adjust(&mut config);
        let state = AppState::open(config).unwrap();
        Env { dir, state }
    }

    /// Drop the state and open it again from its directory, as a restart does. A run that
    /// just finished may still hold the old state for a moment (its task ends after it
    /// publishes its result): wait for the files to be released.
    pub fn reopen(self) -> Env {
        let Env { dir, state } = self;
        drop(state);
        let t0 = std::time::Instant::now();
        loop {
            match AppState::open(ServerConfig::new(dir.path(), ADMIN)) {
                Ok(state) => return Env { dir, state },
                Err(e) if t0.elapsed() < std::time::Duration::from_secs(10) => {
                    assert!(format!("{e:?}").contains("already open"), "{e:?}");
                    std::thread::yield_now();
                }
                Err(e) => panic!("cannot reopen the state: {e:?}"),
            }
        }
    }

    pub async fn call(
        &self,
        method: &str,
        uri: &str,
        token: Option<&str>,
        body: Body,
    ) -> (StatusCode, Value) {
        let mut req = Request::builder().method(method).uri(uri);
        if let Some(t) = token {
            req = req.header("authorization", format!("Bearer {t}"));
        }
        req = req.header("content-type", "application/json");
        let resp = app(self.state.clone())
            .oneshot(req.body(body).unwrap())
            .await
            .unwrap();
        let status = resp.status();
        let bytes = resp.into_body().collect().await.unwrap().to_bytes();
        let v = serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into()));
        (status, v)
    }

    pub async fn json(
        &self,
        method: &str,
        uri: &str,
        token: Option<&str>,
        body: Value,
    ) -> (StatusCode, Value) {
        self.call(method, uri, token, Body::from(body.to_string()))
            .await
    }

    /// Create a tenant with `spec`, and issue it a token.
    pub async fn tenant(&self, id: &str, spec: Value) -> String {
        let (s, _) = self
            .json("PUT", &format!("/v1/admin/tenants/{id}"), Some(ADMIN), spec)
            .await;
        assert!(s.is_success(), "{s}");
        let (s, v) = self
            .call(
                "POST",
                &format!("/v1/admin/tenants/{id}/tokens"),
                Some(ADMIN),
                Body::empty(),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED);
        v["token"].as_str().unwrap().to_owned()
    }

    pub async fn upload(&self, tenant: &str, token: &str, bytes: Vec<u8>) -> (StatusCode, Value) {
        self.call(
            "POST",
            &format!("/v1/tenants/{tenant}/components"),
            Some(token),
            Body::from(bytes),
        )
        .await
    }

    pub async fn bundle(&self, tenant: &str, cedar: &str, activate: bool) -> (StatusCode, Value) {
        self.json(
            "POST",
            &format!("/v1/admin/tenants/{tenant}/bundles"),
            Some(ADMIN),
            json!({"files": {"policy.cedar": cedar}, "activate": activate}),
        )
        .await
    }

    /// A tenant allowing unattended runs, with an allow-all bundle and the echo guest.
    pub async fn echo_tenant(&self, id: &str) -> (String, String) {
        let token = self.tenant(id, json!({"allow_unattended": true})).await;
        let (s, _) = self.bundle(id, ALLOW_ALL, true).await;
        assert_eq!(s, StatusCode::CREATED);
        let (s, v) = self
            .upload(id, &token, cordon_testkit::echo_guest().unwrap())
            .await;
        assert_eq!(s, StatusCode::CREATED, "{v}");
        (token, v["digest"].as_str().unwrap().to_owned())
    }

    pub async fn run(&self, tenant: &str, token: &str, body: Value) -> (StatusCode, Value) {
        self.json(
            "POST",
            &format!("/v1/tenants/{tenant}/runs"),
            Some(token),
            body,
        )
        .await
    }
}

pub const ALLOW_ALL: &str = r#"@id("all") permit(principal, action, resource);"#;

/// An identity provider's ed25519 key: signs tokens, and exports its public key as PEM.
pub use cordon_testkit::Idp;

/// Registers `idp`'s key for `tenant` (issuer `https://idp.test`, audience `cordon`).
pub async fn register(idp: &Idp, env: &Env, tenant: &str) {
    let (s, v) = env
        .json(
            "POST",
            &format!("/v1/admin/tenants/{tenant}/identity-keys"),
            Some(ADMIN),
            json!({"issuer": "https://idp.test", "audience": "cordon",
                       "pem": idp.public_pem(), "algorithm": "EdDSA"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
}

pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// Claims for `alice`, valid for ten minutes.
pub fn claims() -> Value {
    json!({"iss": "https://idp.test", "aud": "cordon", "sub": "alice",
           "roles": ["analyst"], "exp": now() + 600})
}
