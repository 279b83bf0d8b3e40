//! Tenants: creation, limits, suspension.

use std::path::Path;

use axum::http::StatusCode;

use crate::error::ApiError;
use crate::model::{Tenant, TenantSpec};
use crate::store;

use super::{AppState, lock, now, valid_tenant_id};

impl AppState {
    /// A live tenant; a deleted one is not found, as one that never was.
    pub(crate) fn tenant(&self, id: &str) -> Result<Tenant, ApiError> {
        self.inner
            .store
            .get::<Tenant>(store::TENANTS, id)?
            .filter(|t| t.deleted_at.is_none())
            .ok_or_else(|| ApiError::not_found("tenant"))
    }

    pub(crate) fn update_tenant<R>(
        &self,
        id: &str,
        f: impl FnOnce(&mut Tenant) -> Result<R, ApiError>,
    ) -> Result<(Tenant, R), ApiError> {
        let _g = lock(&self.inner.tenant_lock);
        let mut t = self.tenant(id)?;
        let r = f(&mut t)?;
        self.inner.store.put(store::TENANTS, id, &t)?;
        Ok((t, r))
    }

    pub(crate) fn put_tenant(
        &self,
        id: &str,
        spec: TenantSpec,
    ) -> Result<(Tenant, bool), ApiError> {
        if !valid_tenant_id(id) {
            return Err(ApiError::bad_request(
                "invalid-tenant",
                format!("tenant id `{id}` must be 1 to 64 of a-z, 0-9 and -"),
            ));
        }
        if let Some(l) = &spec.limits {
            l.validate()
                .map_err(|m| ApiError::bad_request("invalid-limits", m))?;
        }
        if let Some(root) = &spec.root
            && !Path::new(root).is_dir()
        {
            return Err(ApiError::bad_request(
                "invalid-root",
                format!("root `{root}` is not a directory on the server"),
            ));
        }
        let _g = lock(&self.inner.tenant_lock);
        let existing = self.inner.store.get::<Tenant>(store::TENANTS, id)?;
        let created = existing.is_none();
        let mut t = existing.unwrap_or_else(|| Tenant {
            id: id.to_owned(),
            limits: Default::default(),
            allow_unattended: false,
            source_runs: true,
            root: None,
            suspended: false,
            suspended_components: Vec::new(),
            active_bundle: None,
            shadow_bundle: None,
            bundle_versions: 0,
            previous_bundles: Vec::new(),
            deleted_at: None,
        });
        if t.deleted_at.is_some() {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "tenant-deleted",
                format!("tenant `{id}` was deleted; its id is not reused"),
            ));
        }
        if let Some(l) = spec.limits {
            t.limits = l;
        }
        if let Some(u) = spec.allow_unattended {
            t.allow_unattended = u;
        }
        if let Some(on) = spec.source_runs {
            t.source_runs = on;
        }
        if spec.root.is_some() {
            t.root = spec.root;
        }
        let action = if created {
            "admin:tenant-create"
        } else {
            "admin:tenant-update"
        };
        // The entry names what the tenant became (limits, unattended runs, root).
        let shape = serde_json::json!({
            "limits": t.limits,
            "allow_unattended": t.allow_unattended,
            "source_runs": t.source_runs,
            "root": t.root,
        });
        self.log_operator(id, action, &format!("tenant {shape}"))?;
        self.inner.store.put(store::TENANTS, id, &t)?;
        Ok((t, created))
    }

    /// Delete a tenant: a tombstone keeps its id from being reused; its tokens and identity
    /// keys are removed (refused from the next request on), its components removed and its
    /// runs cancelled. Its bundle history and records store stay: they explain decisions
    /// already in the log, and records erasure and legal holds have their own routes.
    pub(crate) fn delete_tenant(&self, id: &str) -> Result<(), ApiError> {
        self.tenant(id)?;
        self.log_operator(id, "admin:tenant-delete", "tenant")?;
        let tokens = self.token_hashes(id, |_| true)?;
        self.remove_tokens(tokens)?;
        self.remove_identity_keys(id)?;
        self.remove_components(id)?;
        self.update_tenant(id, |t| {
            t.deleted_at = Some(now());
            t.suspended = true;
            Ok(())
        })?;
        self.cancel_running(|t, _| t == id);
        Ok(())
    }

    pub(crate) fn suspend(
        &self,
        tenant: &str,
        component: Option<&str>,
        suspend: bool,
    ) -> Result<Tenant, ApiError> {
        if let Some(d) = component {
            self.component(tenant, d)?;
        }
        let (t, _) = self.update_tenant(tenant, |t| {
            match component {
                None => t.suspended = suspend,
                Some(d) => {
                    t.suspended_components.retain(|c| c != d);
                    if suspend {
                        t.suspended_components.push(d.to_owned());
                    }
                }
            }
            Ok(())
        })?;
        let (action, target) = match (suspend, component) {
            (true, _) => ("admin:suspend", component.unwrap_or("tenant")),
            (false, _) => ("admin:resume", component.unwrap_or("tenant")),
        };
        self.log_operator(tenant, action, target)?;
        if suspend {
            self.cancel_running(|t, c| t == tenant && component.is_none_or(|d| d == c));
        }
        Ok(t)
    }
}
