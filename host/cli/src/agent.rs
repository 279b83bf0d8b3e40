//! An agent folder and how it is built into a component, for `cordon build` and `cordon dev`.
//!
//! The building is the checkout's own scripts, as for the examples: `scripts/build-guests.sh
//! --agent` (Rust), `guest-sdk/python/componentize.sh` and `guest-sdk/js/componentize.mjs`.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, bail};

use crate::checkout;

/// The languages an agent folder can be in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Lang {
    Rust,
    Python,
    Js,
}

impl Lang {
    pub(crate) const ALL: [Lang; 3] = [Lang::Rust, Lang::Python, Lang::Js];

    /// The file that makes a folder an agent in this language.
    pub(crate) fn marker(self) -> &'static str {
        match self {
            Lang::Rust => "Cargo.toml",
            Lang::Python => "agent.py",
            Lang::Js => "agent.js",
        }
    }

    pub(crate) fn name(self) -> &'static str {
        match self {
            Lang::Rust => "Rust",
            Lang::Python => "Python",
            Lang::Js => "JavaScript",
        }
    }
}

/// The language of the agent in `dir`: `lang` if given (its file must be there), else the
/// first whose file is there.
pub(crate) fn detect(dir: &Path, lang: Option<Lang>) -> anyhow::Result<Lang> {
    if !dir.is_dir() {
        bail!("no agent folder `{}`", dir.display());
    }
    if let Some(lang) = lang {
        if !dir.join(lang.marker()).is_file() {
            bail!(
                "no {} agent in `{}`: it has no {}",
                lang.name(),
                dir.display(),
                lang.marker()
            );
        }
        return Ok(lang);
    }
    if let Some(lang) = Lang::ALL
        .into_iter()
        .find(|l| dir.join(l.marker()).is_file())
    {
        return Ok(lang);
    }
    let looked: Vec<String> = Lang::ALL
        .iter()
        .map(|l| format!("{} ({})", l.marker(), l.name()))
        .collect();
    bail!(
        "no agent in `{}`: looked for {}; `cordon new NAME --lang rust|python|js` writes one",
        dir.display(),
        looked.join(", ")
    )
}

/// Where `cordon build` writes the component of the agent in `dir` unless told.
pub(crate) fn default_output(dir: &Path) -> anyhow::Result<PathBuf> {
    let dir = dir
        .canonicalize()
        .with_context(|| format!("cannot open `{}`", dir.display()))?;
    let name = dir
        .file_name()
        .map_or_else(|| "agent".to_owned(), |n| n.to_string_lossy().into_owned());
    Ok(dir.join("build").join(format!("{name}.wasm")))
}

/// A built component.
pub(crate) struct Built {
    pub(crate) lang: Lang,
    pub(crate) path: PathBuf,
    pub(crate) bytes: Vec<u8>,
}

impl Built {
    /// The component's digest, as `cordon run` reports it.
    pub(crate) fn digest(&self) -> String {
        cordon_runtime::digest(&self.bytes)
    }
}

/// Build the agent in `dir` into `out`. The build tools' output goes to stderr.
pub(crate) fn build(dir: &Path, lang: Lang, out: &Path) -> anyhow::Result<Built> {
    let checkout = checkout::find()?;
    let tools = checkout::tools(&checkout);
    let dir = dir
        .canonicalize()
        .with_context(|| format!("cannot open `{}`", dir.display()))?;
    let out = std::path::absolute(out)?;
    let tool = match lang {
        Lang::Rust => tools.join("venv/bin/wasm-tools"),
        Lang::Python => tools.join("venv/bin/componentize-py"),
        Lang::Js => tools.join("node_modules/@bytecodealliance/componentize-js"),
    };
    if !tool.exists() {
        bail!(
            "the guest toolchain is not installed: no `{}`; run scripts/install-guest-toolchain.sh \
             in `{}`, or set {} to where it is",
            tool.display(),
            checkout.display(),
            checkout::TOOLS_VAR
        );
    }
    let mut cmd = match lang {
        Lang::Rust => {
            let mut cmd = Command::new(checkout.join("scripts/build-guests.sh"));
            cmd.arg("--agent").arg(&dir).arg("-o").arg(&out);
            cmd
        }
        Lang::Python => {
            let mut cmd = Command::new(checkout.join("guest-sdk/python/componentize.sh"));
            cmd.arg(dir.join("agent.py")).arg("-o").arg(&out);
            let requirements = dir.join("requirements.txt");
            if requirements.is_file() {
                cmd.arg("--requirements")
                    .arg(requirements)
                    .arg("--deps-dir")
                    .arg(dir.join("build").join("python-deps"));
            }
            cmd
        }
        Lang::Js => {
            let mut cmd = Command::new("node");
            cmd.arg(checkout.join("guest-sdk/js/componentize.mjs"))
                .arg(dir.join("agent.js"))
                .arg("-o")
                .arg(&out);
            cmd
        }
    };
    let status = cmd
        .env(checkout::TOOLS_VAR, &tools)
        .env("CORDON_WIT_DIR", checkout.join("wit"))
        .stdin(Stdio::null())
        // The tools' chatter is not this command's output.
        .stdout(std::io::stderr())
        .status()
        .with_context(|| {
            format!(
                "cannot start the {} build (`{}`)",
                lang.name(),
                cmd.get_program().to_string_lossy()
            )
        })?;
    if !status.success() {
        bail!(
            "the {} build of `{}` failed ({status}); its output is above",
            lang.name(),
            dir.display()
        );
    }
    let bytes = std::fs::read(&out).with_context(|| format!("cannot read `{}`", out.display()))?;
    Ok(Built {
        lang,
        path: out,
        bytes,
    })
}
