//! The runner components of source runs. Their bytes are read when the server opens; each is
//! compiled off the start-up path — by a background thread started at open, or by the first
//! source run in its language, whichever comes first (through the compile cache, so a restart
//! reads them back) — so the server listens at once.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use axum::http::StatusCode;
use cordon_runtime::{Language, LoadedComponent, digest};

use super::{AppState, StartError, lock};
use crate::error::ApiError;

/// A runner's bytes and digest, compiled on first use.
pub(crate) struct RunnerFile {
    pub(crate) digest: String,
    bytes: Arc<Vec<u8>>,
}

/// Read every runner `dir` holds (`<language>.wasm`); a language without one is not offered.
pub(super) fn read(dir: Option<&Path>) -> Result<HashMap<Language, RunnerFile>, StartError> {
    let mut runners = HashMap::new();
    let Some(dir) = dir else {
        return Ok(runners);
    };
    for language in Language::ALL {
        let path = dir.join(language.runner_file());
        if !path.is_file() {
            continue;
        }
        let bytes = std::fs::read(&path).map_err(|e| StartError::Runner(path.clone(), e.into()))?;
        let digest = digest(&bytes);
        tracing::info!(target: "cordon.server", language = language.name(), digest, "runner found");
        runners.insert(
            language,
            RunnerFile {
                digest,
                bytes: Arc::new(bytes),
            },
        );
    }
    Ok(runners)
}

impl AppState {
    /// Compile every runner in a background thread, so the first source run finds it ready.
    pub(super) fn warm_runners(&self) {
        if self.inner.runners.is_empty() {
            return;
        }
        let state = self.clone();
        let spawned = std::thread::Builder::new()
            .name("cordon-runners".into())
            .spawn(move || {
                for language in Language::ALL {
                    if let Err(e) = state.compile_runner(language) {
                        tracing::error!(target: "cordon.server", language = language.name(), error = %e.message, "runner does not compile");
                    }
                }
            });
        if let Err(e) = spawned {
            tracing::warn!(target: "cordon.server", error = %e, "runners will compile on first use");
        }
    }

    /// The runner for `language`, compiled (501 `no-runner` when the host has none).
    pub(crate) async fn runner(&self, language: Language) -> Result<LoadedComponent, ApiError> {
        let state = self.clone();
        tokio::task::spawn_blocking(move || state.compile_runner(language))
            .await
            .map_err(|e| ApiError::internal(&e))?
    }

    fn compile_runner(&self, language: Language) -> Result<LoadedComponent, ApiError> {
        let file = self.inner.runners.get(&language).ok_or_else(|| {
            ApiError::new(
                StatusCode::NOT_IMPLEMENTED,
                "no-runner",
                format!("this host runs no {} source", language.name()),
            )
        })?;
        if let Some(c) = lock(&self.inner.loaded).get(&file.digest) {
            return Ok(c.clone());
        }
        let c = self
            .inner
            .engine
            .load(&file.bytes)
            .map_err(|e| ApiError::internal(&e))?;
        self.inner.metrics.component_loaded(c.compile_report());
        lock(&self.inner.loaded).insert(file.digest.clone(), c.clone());
        Ok(c)
    }
}
