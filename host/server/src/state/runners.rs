//! The runner components of source runs, compiled once when the server opens.

use std::collections::HashMap;
use std::path::Path;

use cordon_runtime::{CordonEngine, Language, LoadedComponent};

use super::StartError;

/// Compile every runner `dir` holds (`<language>.wasm`); a language without one is not
/// offered. Compiled through the engine's cache, so a restart reads them back.
pub(super) fn load(
    engine: &CordonEngine,
    dir: Option<&Path>,
) -> Result<HashMap<Language, LoadedComponent>, StartError> {
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
        let runner = engine
            .load(&bytes)
            .map_err(|e| StartError::Runner(path.clone(), e.into()))?;
        tracing::info!(target: "cordon.server", language = language.name(), digest = runner.digest(), "runner loaded");
        runners.insert(language, runner);
    }
    Ok(runners)
}
