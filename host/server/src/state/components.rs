//! Components: upload (validated and compiled once), list, bytes, delete.

use std::time::{Duration, Instant};

use axum::http::StatusCode;
use cordon_runtime::LoadedComponent;

use crate::error::ApiError;
use crate::model::ComponentInfo;
use crate::store::{self, Write, key};

use super::{AppState, lock, now, valid_digest};

impl AppState {
    pub(crate) async fn upload_component(
        &self,
        tenant: &str,
        bytes: Vec<u8>,
    ) -> Result<(ComponentInfo, bool), ApiError> {
        let t = self.tenant(tenant)?;
        if bytes.len() as u64 > t.limits.max_component_bytes {
            return Err(ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "component-too-large",
                format!(
                    "the component is {} bytes; this tenant accepts at most {}",
                    bytes.len(),
                    t.limits.max_component_bytes
                ),
            ));
        }
        let digest = cordon_runtime::digest(&bytes);
        let k = key(tenant, &digest);
        if let Some(info) = self
            .inner
            .store
            .get::<ComponentInfo>(store::COMPONENTS, &k)?
        {
            return Ok((info, false));
        }
        // Compile here, at upload, so that runs find the code ready. On a blocking thread:
        // the engine compiles one component at a time (any other upload waits its turn,
        // within the engine's compile timeout) and holds no run slot while it does, so
        // compiling never delays a run's start beyond the CPU it shares.
        let state = self.clone();
        let started = Instant::now();
        let (bytes, loaded) = tokio::task::spawn_blocking(move || {
            let r = state.inner.engine.load(&bytes);
            (bytes, r)
        })
        .await
        .map_err(|e| ApiError::internal(&e))?;
        let loaded = match loaded {
            Ok(c) => c,
            Err(e) => {
                return Err(ApiError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "invalid-component",
                    e.to_string(),
                ));
            }
        };
        self.inner.metrics.component_loaded(loaded.compile_report());
        self.as_slow_as_the_first_compile(&digest, started).await?;
        let info = ComponentInfo {
            digest: digest.clone(),
            size: bytes.len() as u64,
            uploaded_at: now(),
        };
        self.inner.store.put_all(vec![
            Write::json(store::COMPONENTS, &k, &info)?,
            Write::bytes(store::COMPONENT_BYTES, &k, bytes),
        ])?;
        // The first run takes it from here rather than asking the engine again.
        lock(&self.inner.loaded).insert(digest, loaded);
        Ok((info, true))
    }

    /// The compile cache is shared (the engine's, by digest): bytes another tenant uploaded
    /// before compile at once. So that the upload's time does not tell a tenant what others
    /// hold, every upload of a digest takes at least as long as its first, cold, compile did
    /// (recorded per digest, across restarts).
    async fn as_slow_as_the_first_compile(
        &self,
        digest: &str,
        started: Instant,
    ) -> Result<(), ApiError> {
        let took = started.elapsed();
        match self.inner.store.get::<u64>(store::COMPILE_TIMES, digest)? {
            Some(micros) => {
                let first = Duration::from_micros(micros);
                if let Some(rest) = first.checked_sub(took) {
                    tokio::time::sleep(rest).await;
                }
            }
            None => {
                let micros = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
                self.inner
                    .store
                    .put(store::COMPILE_TIMES, digest, &micros)?;
            }
        }
        Ok(())
    }

    pub(crate) fn components(&self, tenant: &str) -> Result<Vec<ComponentInfo>, ApiError> {
        Ok(self
            .inner
            .store
            .list::<ComponentInfo>(store::COMPONENTS, &key(tenant, ""))?
            .into_iter()
            .map(|(_, v)| v)
            .collect())
    }

    pub(crate) fn component(&self, tenant: &str, digest: &str) -> Result<ComponentInfo, ApiError> {
        if !valid_digest(digest) {
            return Err(ApiError::not_found("component"));
        }
        self.inner
            .store
            .get::<ComponentInfo>(store::COMPONENTS, &key(tenant, digest))?
            .ok_or_else(|| ApiError::not_found("component"))
    }

    pub(crate) fn delete_component(&self, tenant: &str, digest: &str) -> Result<(), ApiError> {
        self.component(tenant, digest)?;
        let k = key(tenant, digest);
        self.inner.store.put_all(vec![
            Write::remove(store::COMPONENTS, &k),
            Write::remove(store::COMPONENT_BYTES, &k),
        ])?;
        Ok(())
    }

    /// Remove every component of `tenant` (its deletion, logged as such).
    pub(super) fn remove_components(&self, tenant: &str) -> Result<(), ApiError> {
        let mut writes = Vec::new();
        for info in self.components(tenant)? {
            let k = key(tenant, &info.digest);
            writes.push(Write::remove(store::COMPONENTS, &k));
            writes.push(Write::remove(store::COMPONENT_BYTES, &k));
        }
        self.inner.store.put_all(writes)?;
        Ok(())
    }

    /// The bytes of one of the tenant's components, as uploaded.
    pub(crate) fn component_bytes(&self, tenant: &str, digest: &str) -> Result<Vec<u8>, ApiError> {
        if !valid_digest(digest) {
            return Err(ApiError::not_found("component"));
        }
        self.inner
            .store
            .get_bytes(store::COMPONENT_BYTES, &key(tenant, digest))?
            .ok_or_else(|| ApiError::not_found("component"))
    }

    pub(super) async fn loaded(
        &self,
        tenant: &str,
        digest: &str,
    ) -> Result<LoadedComponent, ApiError> {
        if let Some(c) = lock(&self.inner.loaded).get(digest) {
            return Ok(c.clone());
        }
        let bytes = self.component_bytes(tenant, digest)?;
        let state = self.clone();
        let c = tokio::task::spawn_blocking(move || state.inner.engine.load(&bytes))
            .await
            .map_err(|e| ApiError::internal(&e))?
            .map_err(|e| ApiError::internal(&e))?;
        self.inner.metrics.component_loaded(c.compile_report());
        lock(&self.inner.loaded).insert(digest.to_owned(), c.clone());
        Ok(c)
    }
}
