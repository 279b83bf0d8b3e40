//! Identity provider keys that verify on-behalf-of tokens.

use crate::error::ApiError;
use crate::identity::IdentityKey;
use crate::store::{self, Write, key};

use super::AppState;

impl AppState {
    pub(crate) fn add_identity_key(
        &self,
        tenant: &str,
        k: IdentityKey,
    ) -> Result<String, ApiError> {
        self.tenant(tenant)?;
        k.validate()
            .map_err(|e| ApiError::bad_request("invalid-key", e.to_string()))?;
        let id = uuid::Uuid::new_v4().to_string();
        // The entry names the key: who may mint humans for this tenant from now on.
        let material = k.pem.clone().unwrap_or_else(|| {
            k.jwks
                .as_ref()
                .map(serde_json::Value::to_string)
                .unwrap_or_default()
        });
        let fingerprint = blake3::hash(material.as_bytes()).to_hex();
        self.log_operator(
            tenant,
            "admin:identity-key-add",
            &format!(
                "identity-key {id} issuer `{}` audience `{}` blake3 {fingerprint}",
                k.issuer, k.audience
            ),
        )?;
        self.inner.store.put(store::KEYS, &key(tenant, &id), &k)?;
        Ok(id)
    }

    /// Remove one identity key: tokens it signed are refused from the next run on.
    pub(crate) fn remove_identity_key(&self, tenant: &str, id: &str) -> Result<(), ApiError> {
        self.tenant(tenant)?;
        let k = key(tenant, id);
        if self
            .inner
            .store
            .get::<IdentityKey>(store::KEYS, &k)?
            .is_none()
        {
            return Err(ApiError::not_found("identity key"));
        }
        self.log_operator(
            tenant,
            "admin:identity-key-remove",
            &format!("identity-key {id}"),
        )?;
        self.inner
            .store
            .put_all(vec![Write::remove(store::KEYS, &k)])?;
        Ok(())
    }

    /// Remove every identity key of `tenant` (its deletion, logged as such).
    pub(super) fn remove_identity_keys(&self, tenant: &str) -> Result<(), ApiError> {
        let writes = self
            .identity_keys(tenant)?
            .iter()
            .map(|(id, _)| Write::remove(store::KEYS, &key(tenant, id)))
            .collect();
        self.inner.store.put_all(writes)?;
        Ok(())
    }

    pub(crate) fn identity_keys(
        &self,
        tenant: &str,
    ) -> Result<Vec<(String, IdentityKey)>, ApiError> {
        let prefix = key(tenant, "");
        Ok(self
            .inner
            .store
            .list::<IdentityKey>(store::KEYS, &prefix)?
            .into_iter()
            .map(|(k, v)| (k[prefix.len()..].to_owned(), v))
            .collect())
    }
}
