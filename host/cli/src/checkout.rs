//! Where the Cordon checkout is: the guest SDK, `wit/` and the build scripts that `cordon new`
//! and `cordon build` use, and the guest toolchain `scripts/install-guest-toolchain.sh`
//! installs.
//!
//! A checkout is a folder with `wit/world.wit`. The first one found wins: `CORDON_SDK`, then a
//! folder above the `cordon` binary, then the checkout the binary was built in.

use std::path::{Path, PathBuf};

use anyhow::bail;

/// Names a Cordon checkout explicitly.
pub(crate) const SDK_VAR: &str = "CORDON_SDK";
/// Names the guest toolchain's folder explicitly.
pub(crate) const TOOLS_VAR: &str = "CORDON_GUEST_TOOLS";

/// True when `dir` is a Cordon checkout.
fn is_checkout(dir: &Path) -> bool {
    dir.join("wit").join("world.wit").is_file()
}

/// The checkouts above the running `cordon` binary, nearest first. Only a Cordon checkout
/// counts: never some `build/` folder that happens to sit above an installed binary.
pub(crate) fn above_binary() -> Vec<PathBuf> {
    let Ok(exe) = std::env::current_exe() else {
        return Vec::new();
    };
    exe.ancestors()
        .skip(1)
        .filter(|dir| is_checkout(dir))
        .map(Path::to_owned)
        .collect()
}

/// The checkout to build agents with: `CORDON_SDK`, else the first of the search path; or an
/// error that says where it looked and what to set.
pub(crate) fn find() -> anyhow::Result<PathBuf> {
    if let Some(dir) = std::env::var_os(SDK_VAR) {
        let dir = PathBuf::from(dir);
        if !is_checkout(&dir) {
            bail!(
                "{SDK_VAR}=`{}` is not a Cordon checkout (it has no wit/world.wit)",
                dir.display()
            );
        }
        return Ok(dir);
    }
    let mut looked = above_binary();
    looked.push(Path::new(env!("CARGO_MANIFEST_DIR")).join("../.."));
    if let Some(found) = looked.iter().find(|d| is_checkout(d)) {
        return Ok(found.canonicalize()?);
    }
    let exe = std::env::current_exe().unwrap_or_default();
    bail!(
        "no Cordon checkout (a folder with wit/world.wit) above `{}` or at `{}`; set {SDK_VAR} \
         to a Cordon checkout: it holds the guest SDK, wit/ and the build scripts",
        exe.display(),
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../..")
            .display()
    )
}

/// The guest toolchain's folder: `CORDON_GUEST_TOOLS`, else `build/tools` of `checkout`.
pub(crate) fn tools(checkout: &Path) -> PathBuf {
    std::env::var_os(TOOLS_VAR)
        .map(PathBuf::from)
        .unwrap_or_else(|| checkout.join("build").join("tools"))
}
