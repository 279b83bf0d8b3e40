//! Bearer tokens: the operator's and each tenant's (stored hashed).

use crate::error::ApiError;
use crate::model::TokenInfo;
use crate::store::{self, Write};

use super::{AppState, now, random_token, token_hash};

/// What a caller presented.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Caller {
    Admin,
    Tenant(String),
}

impl AppState {
    pub(crate) fn caller(&self, bearer: Option<&str>) -> Result<Caller, ApiError> {
        let token = bearer.ok_or_else(ApiError::unauthorized)?;
        let hash = token_hash(token);
        if hash == self.inner.admin_hash {
            return Ok(Caller::Admin);
        }
        match self.inner.store.get::<StoredToken>(store::TOKENS, &hash)? {
            Some(s) => Ok(Caller::Tenant(s.tenant)),
            None => Err(ApiError::unauthorized()),
        }
    }

    /// Issue a token for `tenant`: stored hashed, shown once; its id (the first 16 hex digits
    /// of its hash) names it in listings, revocation and the decision log.
    pub(crate) fn issue_token(&self, tenant: &str) -> Result<(String, String), ApiError> {
        self.tenant(tenant)?;
        let token = random_token("cdt_").map_err(|e| ApiError::internal(&e))?;
        let hash = token_hash(&token);
        let id = token_id(&hash);
        self.log_operator(tenant, "admin:token-issue", &format!("token {id}"))?;
        self.inner.store.put(
            store::TOKENS,
            &hash,
            &StoredToken {
                tenant: tenant.to_owned(),
                created: now(),
            },
        )?;
        Ok((token, id))
    }

    /// The tenant's tokens: id and creation time (never the token).
    pub(crate) fn tokens(&self, tenant: &str) -> Result<Vec<TokenInfo>, ApiError> {
        self.tenant(tenant)?;
        Ok(self
            .inner
            .store
            .list::<StoredToken>(store::TOKENS, "")?
            .into_iter()
            .filter(|(_, t)| t.tenant == tenant)
            .map(|(hash, t)| TokenInfo {
                id: token_id(&hash),
                created: t.created,
            })
            .collect())
    }

    /// Revoke one of the tenant's tokens: refused from the next request on.
    pub(crate) fn revoke_token(&self, tenant: &str, id: &str) -> Result<(), ApiError> {
        let hashes = self.token_hashes(tenant, |h| token_id(h) == id)?;
        if hashes.is_empty() {
            return Err(ApiError::not_found("token"));
        }
        self.log_operator(tenant, "admin:token-revoke", &format!("token {id}"))?;
        self.remove_tokens(hashes)
    }

    /// The hashes of `tenant`'s tokens that `which` picks.
    pub(super) fn token_hashes(
        &self,
        tenant: &str,
        which: impl Fn(&str) -> bool,
    ) -> Result<Vec<String>, ApiError> {
        Ok(self
            .inner
            .store
            .list::<StoredToken>(store::TOKENS, "")?
            .into_iter()
            .filter(|(h, t)| t.tenant == tenant && which(h))
            .map(|(h, _)| h)
            .collect())
    }

    pub(super) fn remove_tokens(&self, hashes: Vec<String>) -> Result<(), ApiError> {
        self.inner.store.put_all(
            hashes
                .iter()
                .map(|h| Write::remove(store::TOKENS, h))
                .collect(),
        )?;
        Ok(())
    }
}

/// A token as stored, under its hash.
#[derive(serde::Serialize, serde::Deserialize)]
struct StoredToken {
    tenant: String,
    #[serde(default)]
    created: u64,
}

/// A token's public name: the first 16 hex digits of its hash.
fn token_id(hash: &str) -> String {
    hash.chars().take(16).collect()
}
