//! The operator's egress settings, as `cordon run` takes them from flags and `cordon serve`
//! from its config file, checked into one [`EgressPolicy`].

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use cordon_runtime::{EgressPolicy, TrustedCa};
use serde::Deserialize;

/// What the operator said; every field is optional and defaults to [`EgressPolicy::default`].
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct EgressSettings {
    /// Special-purpose address ranges http may reach (e.g. `127.0.0.0/8`).
    #[serde(default)]
    pub(crate) allow_ranges: Vec<String>,
    /// PEM files of certificate authorities https may trust besides the web PKI.
    #[serde(default)]
    pub(crate) trusted_ca_files: Vec<PathBuf>,
    /// Most milliseconds one request may take, redirects included.
    pub(crate) request_timeout_ms: Option<u64>,
    /// Most bytes of one response body.
    pub(crate) max_response_bytes: Option<u64>,
}

impl EgressSettings {
    /// The policy, or an error naming the setting that is wrong.
    pub(crate) fn into_policy(self) -> anyhow::Result<EgressPolicy> {
        let mut egress = EgressPolicy::default();
        for range in &self.allow_ranges {
            egress
                .allow_range(range)
                .context("invalid egress address range")?;
        }
        if let Some(max) = self.max_response_bytes {
            egress.max_response_bytes = max;
        }
        if let Some(ms) = self.request_timeout_ms {
            anyhow::ensure!(ms > 0, "the http request timeout must be at least 1 ms");
            egress.request_timeout = Duration::from_millis(ms);
        }
        for path in &self.trusted_ca_files {
            let pem = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read the CA file `{}`", path.display()))?;
            let ca = TrustedCa::from_pem(&pem)
                .with_context(|| format!("the CA file `{}` is not usable", path.display()))?;
            egress.trusted_cas.push(ca);
        }
        Ok(egress)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_setting_reaches_the_policy_and_a_bad_one_is_named() {
        let settings: EgressSettings = serde_json::from_str(
            r#"{"allow_ranges": ["10.20.0.0/16"], "request_timeout_ms": 500, "max_response_bytes": 1024}"#,
        )
        .unwrap();
        let p = settings.into_policy().unwrap();
        assert!(p.check("10.20.3.4".parse().unwrap()).is_ok());
        assert!(p.check("10.21.3.4".parse().unwrap()).is_err());
        assert_eq!(p.request_timeout, Duration::from_millis(500));
        assert_eq!(p.max_response_bytes, 1024);

        let bad = EgressSettings {
            allow_ranges: vec!["10.0.0.0/99".into()],
            ..EgressSettings::default()
        };
        let err = format!("{:#}", bad.into_policy().unwrap_err());
        assert!(err.contains("10.0.0.0/99"), "{err}");
        let missing = EgressSettings {
            trusted_ca_files: vec!["/nonexistent/ca.pem".into()],
            ..EgressSettings::default()
        };
        let err = format!("{:#}", missing.into_policy().unwrap_err());
        assert!(err.contains("/nonexistent/ca.pem"), "{err}");
        assert!(serde_json::from_str::<EgressSettings>(r#"{"allow_range": []}"#).is_err());
    }
}
