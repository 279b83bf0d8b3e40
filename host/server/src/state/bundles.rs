//! Policy bundle versions: upload, activate, roll back, shadow.

use axum::http::StatusCode;
use cordon_policy::PolicyBundle;

use crate::error::ApiError;
use crate::model::{BundleVersion, Tenant};
use crate::store::{self, key};

use super::{AppState, lock, now};

impl AppState {
    pub(crate) fn upload_bundle(
        &self,
        tenant: &str,
        files: Vec<(String, String)>,
        activate: bool,
    ) -> Result<BundleVersion, ApiError> {
        self.tenant(tenant)?;
        if files.is_empty() {
            return Err(ApiError::bad_request(
                "invalid-bundle",
                "the bundle has no files",
            ));
        }
        let bundle = PolicyBundle::from_sources(files.clone())
            .map_err(|e| ApiError::bad_request("invalid-bundle", e.to_string()))?;
        let (_, v) = self.update_tenant(tenant, |t| {
            t.bundle_versions += 1;
            let v = BundleVersion {
                version: t.bundle_versions,
                digest: bundle.digest().to_owned(),
                policy_ids: bundle.policy_ids().to_vec(),
                warnings: bundle.warnings().to_vec(),
                uploaded_at: now(),
                sources: files,
            };
            self.inner.store.put(
                store::BUNDLES,
                &key(tenant, &format!("{:020}", v.version)),
                &v,
            )?;
            if activate {
                if let Some(prev) = t.active_bundle {
                    t.previous_bundles.push(prev);
                }
                t.active_bundle = Some(v.version);
            }
            Ok(v)
        })?;
        lock(&self.inner.bundles).insert(key(tenant, &format!("{:020}", v.version)), bundle);
        let activated = if activate { " activated" } else { "" };
        self.log_operator(
            tenant,
            "admin:bundle-upload",
            &format!("version {} digest {}{activated}", v.version, v.digest),
        )?;
        Ok(v)
    }

    pub(crate) fn bundle_versions(&self, tenant: &str) -> Result<Vec<BundleVersion>, ApiError> {
        self.tenant(tenant)?;
        Ok(self
            .inner
            .store
            .list::<BundleVersion>(store::BUNDLES, &key(tenant, ""))?
            .into_iter()
            .map(|(_, v)| v)
            .collect())
    }

    fn bundle_version(&self, tenant: &str, version: u64) -> Result<BundleVersion, ApiError> {
        self.inner
            .store
            .get::<BundleVersion>(store::BUNDLES, &key(tenant, &format!("{version:020}")))?
            .ok_or_else(|| ApiError::not_found("bundle version"))
    }

    /// A version, parsed once per process (versions never change once stored).
    pub(super) fn bundle(&self, tenant: &str, version: u64) -> Result<PolicyBundle, ApiError> {
        let k = key(tenant, &format!("{version:020}"));
        if let Some(b) = lock(&self.inner.bundles).get(&k) {
            return Ok(b.clone());
        }
        let v = self.bundle_version(tenant, version)?;
        let b = PolicyBundle::from_sources(v.sources).map_err(|e| ApiError::internal(&e))?;
        lock(&self.inner.bundles).insert(k, b.clone());
        Ok(b)
    }

    pub(crate) fn activate(&self, tenant: &str, version: u64) -> Result<Tenant, ApiError> {
        self.bundle_version(tenant, version)?;
        let (t, _) = self.update_tenant(tenant, |t| {
            if t.active_bundle != Some(version) {
                if let Some(prev) = t.active_bundle {
                    t.previous_bundles.push(prev);
                }
                t.active_bundle = Some(version);
            }
            Ok(())
        })?;
        self.log_operator(
            tenant,
            "admin:activate-bundle",
            &format!("version {version}"),
        )?;
        Ok(t)
    }

    pub(crate) fn rollback(&self, tenant: &str) -> Result<Tenant, ApiError> {
        let (t, v) = self.update_tenant(tenant, |t| {
            let prev = t.previous_bundles.pop().ok_or_else(|| {
                ApiError::new(
                    StatusCode::CONFLICT,
                    "no-previous-bundle",
                    "no earlier active version to roll back to",
                )
            })?;
            t.active_bundle = Some(prev);
            Ok(prev)
        })?;
        self.log_operator(tenant, "admin:rollback-bundle", &format!("version {v}"))?;
        Ok(t)
    }

    pub(crate) fn set_shadow(
        &self,
        tenant: &str,
        version: Option<u64>,
    ) -> Result<Tenant, ApiError> {
        if let Some(v) = version {
            self.bundle_version(tenant, v)?;
        }
        let (t, _) = self.update_tenant(tenant, |t| {
            t.shadow_bundle = version;
            Ok(())
        })?;
        let target = version.map_or_else(|| "none".to_owned(), |v| format!("version {v}"));
        self.log_operator(tenant, "admin:shadow-bundle", &target)?;
        Ok(t)
    }

    pub(crate) fn shadow_differences(
        &self,
        tenant: &str,
    ) -> Result<Vec<serde_json::Value>, ApiError> {
        self.tenant(tenant)?;
        // Sealed under the tenant's report key; one sealed under a destroyed key is gone.
        Ok(self
            .inner
            .store
            .list_bytes(store::SHADOW, &key(tenant, ""))?
            .into_iter()
            .filter_map(
                |(_, v)| match crate::run_seal::open(&self.inner.run_keys, tenant, &v) {
                    crate::run_seal::Opened::Plain(p) => serde_json::from_slice(&p).ok(),
                    crate::run_seal::Opened::Erased => None,
                },
            )
            .collect())
    }
}
