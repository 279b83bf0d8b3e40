//! Where the runner components for source runs are found.
//!
//! `scripts/build-guests.sh` builds them from the guest SDK into `build/runners/<language>.wasm`.
//! The first folder that has the runner wins: `--runners` (or `CORDON_RUNNERS`), then
//! `<data>/runners`, then `build/runners` in the Cordon checkout the `cordon` binary was built
//! in (a folder above the binary that has `wit/world.wit`).

use std::path::{Path, PathBuf};

use anyhow::bail;
use cordon_runtime::Language;

/// The folders searched for runners, in order.
pub(crate) fn search_path(explicit: Option<&Path>, data: &Path) -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    if let Some(d) = explicit {
        // An operator who names a folder means that folder only.
        dirs.push(d.to_owned());
        return dirs;
    }
    dirs.push(data.join("runners"));
    dirs.extend(
        crate::checkout::above_binary()
            .into_iter()
            .map(|dir| dir.join("build").join("runners")),
    );
    dirs
}

/// The runner for `language`: the first file of the search path, or an error that says where
/// it looked and how to build one.
pub(crate) fn find(
    language: Language,
    explicit: Option<&Path>,
    data: &Path,
) -> anyhow::Result<PathBuf> {
    let dirs = search_path(explicit, data);
    let file = language.runner_file();
    if let Some(found) = dirs.iter().map(|d| d.join(&file)).find(|p| p.is_file()) {
        return Ok(found);
    }
    let looked: Vec<String> = dirs.iter().map(|d| format!("`{}`", d.display())).collect();
    bail!(
        "no {} runner (`{file}`) in {}; build the runners with scripts/build-guests.sh or name a \
         folder with --runners",
        language.name(),
        looked.join(", ")
    )
}

/// The first folder of the search path that holds any runner (for `cordon serve`, which
/// offers the languages it finds there).
pub(crate) fn folder(explicit: Option<&Path>, data: &Path) -> Option<PathBuf> {
    search_path(explicit, data).into_iter().find(|d| {
        Language::ALL
            .iter()
            .any(|l| d.join(l.runner_file()).is_file())
    })
}
