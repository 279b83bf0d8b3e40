//! `cordon new`: write a ready agent (source, policy, README, a root to run it on) into a new
//! folder, from the templates in `host/cli/templates/`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::Args;

use crate::agent::Lang;
use crate::checkout;

#[derive(Args)]
#[command(after_help = "\
Writes NAME/ with the agent's source, `policy.cedar` (exactly what the agent needs: list /notes \
and read the files in it; it passes `cordon policy check`), `root/` (a folder to run it on), a \
README with the commands, and what the language needs: Cargo.toml (Rust, depending on the guest \
SDK of the Cordon checkout found: CORDON_SDK, else the checkout of this binary), \
requirements.txt (Python, the packages to bundle; empty). The folder must not exist, or be \
empty.

Examples:
  cordon new notes-summary --lang python
  cd notes-summary && cordon build
  cordon run build/notes-summary.wasm --policy policy.cedar --root root --user alice --purpose demo
  cordon new reporter --lang rust --dir ~/agents")]
pub(crate) struct NewArgs {
    /// The agent's name: its folder, and its package name. Lower-case letters, digits, `-` and
    /// `_`, starting with a letter.
    name: String,

    /// The language to write it in: `rust`, `python` or `js`.
    #[arg(long, value_enum)]
    lang: Lang,

    /// The folder to make NAME/ in (default: the current folder).
    #[arg(long, value_name = "PARENT", default_value = ".")]
    dir: PathBuf,
}

/// Why a name cannot be an agent's.
#[derive(Debug, thiserror::Error)]
#[error(
    "invalid agent name `{0}`: use lower-case letters, digits, `-` and `_`, starting with a \
     letter, at most 64 characters"
)]
pub(crate) struct InvalidName(String);

/// Checks `name` as an agent's name: a folder, a Cargo package and a file name everywhere.
fn check_name(name: &str) -> Result<(), InvalidName> {
    let mut chars = name.chars();
    let starts = chars.next().is_some_and(|c| c.is_ascii_lowercase());
    let rest = chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
    if starts && rest && name.len() <= 64 {
        Ok(())
    } else {
        Err(InvalidName(name.to_owned()))
    }
}

/// One file of a template: where it goes in the agent's folder, and its text.
struct TemplateFile {
    path: &'static str,
    text: &'static str,
}

macro_rules! template {
    ($($path:literal => $file:literal),* $(,)?) => {
        &[$(TemplateFile { path: $path, text: include_str!(concat!("../templates/", $file)) }),*]
    };
}

const COMMON: &[TemplateFile] = template![
    "policy.cedar" => "common/policy.cedar",
    ".gitignore" => "common/gitignore",
    "root/notes/hello.txt" => "common/root/notes/hello.txt",
    "root/notes/todo.txt" => "common/root/notes/todo.txt",
];
const RUST: &[TemplateFile] = template![
    "Cargo.toml" => "rust/Cargo.toml",
    "src/lib.rs" => "rust/src/lib.rs",
    "README.md" => "rust/README.md",
];
const PYTHON: &[TemplateFile] = template![
    "agent.py" => "python/agent.py",
    "requirements.txt" => "python/requirements.txt",
    "README.md" => "python/README.md",
];
const JS: &[TemplateFile] = template![
    "agent.js" => "js/agent.js",
    "README.md" => "js/README.md",
];

/// `s` as a TOML basic string, quotes included.
fn toml_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

pub(crate) fn run(args: NewArgs) -> anyhow::Result<ExitCode> {
    check_name(&args.name)?;
    let dir = args.dir.join(&args.name);
    if dir.exists() {
        let empty = dir.is_dir()
            && std::fs::read_dir(&dir)
                .with_context(|| format!("cannot read `{}`", dir.display()))?
                .next()
                .is_none();
        if !empty {
            bail!(
                "`{}` already exists and is not empty; name a new agent or another --dir",
                dir.display()
            );
        }
    }
    let mut sdk = String::new();
    // Rust: the SDK's own lock file, so that the agent builds with the versions the SDK was
    // tested with (cargo adds the agent to it on the first build).
    let mut lock = None;
    let files = match args.lang {
        Lang::Rust => {
            let checkout = checkout::find()?;
            let path = checkout.join("guest-sdk");
            sdk = toml_string(
                path.to_str()
                    .with_context(|| format!("`{}` is not UTF-8", path.display()))?,
            );
            let lock_file = path.join("Cargo.lock");
            lock = Some(
                std::fs::read_to_string(&lock_file)
                    .with_context(|| format!("cannot read `{}`", lock_file.display()))?,
            );
            RUST
        }
        Lang::Python => PYTHON,
        Lang::Js => JS,
    };
    for file in COMMON.iter().chain(files) {
        let path = dir.join(file.path);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("cannot create `{}`", parent.display()))?;
        }
        let text = file
            .text
            .replace("{{name}}", &args.name)
            .replace("{{sdk}}", &sdk);
        std::fs::write(&path, text)
            .with_context(|| format!("cannot write `{}`", path.display()))?;
    }
    if let Some(lock) = lock {
        let path = dir.join("Cargo.lock");
        std::fs::write(&path, lock)
            .with_context(|| format!("cannot write `{}`", path.display()))?;
    }
    eprintln!(
        "cordon new: wrote a {} agent to `{}`; next: cd {} && cordon build (see its README.md)",
        args.lang.name(),
        dir.display(),
        dir.display()
    );
    crate::out::line(dir.display())?;
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_package_like_names_and_refuses_the_rest() {
        for good in ["a", "notes-summary", "agent_2"] {
            assert!(check_name(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "Agent",
            "2fast",
            "-x",
            "a b",
            "a/b",
            "..",
            "é",
            &"a".repeat(65),
        ] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn quotes_paths_for_toml() {
        assert_eq!(toml_string(r#"/a "b"\c"#), r#""/a \"b\"\\c""#);
    }
}
