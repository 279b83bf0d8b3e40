//! Source runs: agent-written source executed by a runner component.
//!
//! A runner is an ordinary component of the `cordon:agent/agent` world, built from the guest
//! SDK (`scripts/build-guests.sh` writes `build/runners/<language>.wasm`). It has no authority
//! a component lacks: every call its source makes passes the same gate. What a source run adds
//! is evidence: the policy sees `context.code` (language and digest), every decision of the run
//! names the source, and the report carries it.
//!
//! The host and the runner speak a small protocol through the world's `run(input) -> output`:
//! the host hands the runner `{"language", "code", "input"}` (and, for a Rhai script run as Rex
//! runs it, `"rex": {"root"}`: see [`Source::with_rex_root`]), and the runner answers with one
//! envelope — `{"result": value}` (with `"log": "..."`, lines for the report's stdout, from a
//! runner without a console), `{"invalid": {message, line?, column?}}` (a syntax error, no
//! `main`, a result that is not JSON) or `{"exception": {type, message, traceback}}` (an
//! uncaught exception, with the frames of the agent's source only). A Cordon error the source
//! lets escape (an unhandled `AccessDenied`) comes back as the world's typed error, as from a
//! component. [`CordonEngine::run_source`] unwraps the envelope into the [`RunReport`].

use std::path::Path;

use cordon_policy::SourceCode;
use serde::{Deserialize, Serialize};

use crate::component::{LoadedComponent, digest};
use crate::engine::CordonEngine;
use crate::run::{GuestError, Invocation, RunError, RunReport, RunStatus};
use crate::uncaught::Uncaught;

/// The languages Cordon runs as source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Language {
    /// Python 3 (the componentize-py runner).
    Python,
    /// JavaScript (the componentize-js runner).
    Javascript,
    /// Rhai, the scripting language of AWS's Rex (a Rust runner embedding the `rhai` crate).
    Rhai,
}

impl Language {
    /// Every language, in a fixed order.
    pub const ALL: [Language; 3] = [Language::Python, Language::Javascript, Language::Rhai];

    /// The language's name as policies, reports and the API spell it: `python`,
    /// `javascript`, `rhai`.
    pub fn name(self) -> &'static str {
        match self {
            Language::Python => "python",
            Language::Javascript => "javascript",
            Language::Rhai => "rhai",
        }
    }

    /// Every language's name, for messages: `python, javascript, rhai`.
    pub fn names() -> String {
        Language::ALL.map(Language::name).join(", ")
    }

    /// The language called `name` (also `py` and `js`).
    ///
    /// ```
    /// use cordon_runtime::Language;
    /// assert_eq!(Language::from_name("js"), Some(Language::Javascript));
    /// assert_eq!(Language::from_name("rust"), None);
    /// ```
    pub fn from_name(name: &str) -> Option<Language> {
        match name.to_ascii_lowercase().as_str() {
            "python" | "py" => Some(Language::Python),
            "javascript" | "js" => Some(Language::Javascript),
            "rhai" => Some(Language::Rhai),
            _ => None,
        }
    }

    /// The language a file's extension names: `.py`, `.js`, `.mjs` or `.rhai`.
    pub fn from_path(path: &Path) -> Option<Language> {
        match path.extension()?.to_str()? {
            "py" => Some(Language::Python),
            "js" | "mjs" => Some(Language::Javascript),
            "rhai" => Some(Language::Rhai),
            _ => None,
        }
    }

    /// The runner's file name: `python.wasm`, `javascript.wasm`.
    pub fn runner_file(self) -> String {
        format!("{}.wasm", self.name())
    }
}

/// Agent-written source, checked: not empty, not larger than [`Source::MAX_BYTES`].
#[derive(Debug, Clone)]
pub struct Source {
    language: Language,
    code: String,
    digest: String,
    rex_root: Option<String>,
}

/// Why source was refused before running.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// Nothing to run.
    #[error("the source is empty")]
    Empty,
    /// Larger than the host takes.
    #[error("the source is {size} bytes; at most {max} are accepted")]
    TooLarge {
        /// The source's size.
        size: usize,
        /// [`Source::MAX_BYTES`].
        max: usize,
    },
    /// A Rex root for a language other than Rhai.
    #[error("a rex root applies to rhai scripts, not to {0}")]
    RexRootLanguage(&'static str),
    /// A Rex root that is not an absolute, normalised path.
    #[error("the rex root `{0}` is not an absolute, normalised path (such as `/tmp/rex_example`)")]
    RexRootPath(String),
}

impl Source {
    /// The largest source accepted, in bytes (1 MiB): agents send scripts, not programs, and
    /// every byte is kept as evidence — so it is the most the decision log keeps.
    pub const MAX_BYTES: usize = cordon_audit::MAX_SOURCE_LEN;

    /// Check `code` and name it by its digest.
    ///
    /// ```
    /// use cordon_runtime::{Language, Source};
    /// let s = Source::new(Language::Python, "def main(input):\n    return 1\n")?;
    /// assert_eq!(s.digest().len(), 64);
    /// assert!(Source::new(Language::Python, "  \n").is_err());
    /// # Ok::<(), cordon_runtime::SourceError>(())
    /// ```
    pub fn new(language: Language, code: impl Into<String>) -> Result<Source, SourceError> {
        let code = code.into();
        if code.trim().is_empty() {
            return Err(SourceError::Empty);
        }
        if code.len() > Self::MAX_BYTES {
            return Err(SourceError::TooLarge {
                size: code.len(),
                max: Self::MAX_BYTES,
            });
        }
        let digest = digest(code.as_bytes());
        Ok(Source {
            language,
            code,
            digest,
            rex_root: None,
        })
    }

    /// Run a Rhai script as Rex runs it: its paths are Rex's absolute host paths, `root` the
    /// host directory that is the run's root (`root/a` is the run's `/a`; nothing outside it
    /// exists), and each check Rex makes (open the directory, open the file, read it) is one
    /// decision. Not part of the source's digest: the same script runs either way.
    ///
    /// ```
    /// use cordon_runtime::{Language, Source};
    /// let s = Source::new(Language::Rhai, "cat(\"/tmp/rex_example/a.txt\")")?;
    /// assert!(s.clone().with_rex_root("/tmp/rex_example").is_ok());
    /// assert!(s.clone().with_rex_root("tmp/../etc").is_err());
    /// # Ok::<(), cordon_runtime::SourceError>(())
    /// ```
    pub fn with_rex_root(mut self, root: impl Into<String>) -> Result<Source, SourceError> {
        if self.language != Language::Rhai {
            return Err(SourceError::RexRootLanguage(self.language.name()));
        }
        let root = root.into();
        if !cordon_policy::is_rex_root(&root) {
            return Err(SourceError::RexRootPath(root));
        }
        self.rex_root = Some(root);
        Ok(self)
    }

    /// The Rex root, when the script runs as Rex runs it.
    pub fn rex_root(&self) -> Option<&str> {
        self.rex_root.as_deref()
    }

    /// The language.
    pub fn language(&self) -> Language {
        self.language
    }

    /// The source text.
    pub fn code(&self) -> &str {
        &self.code
    }

    /// BLAKE3 of the source text, hex (as components are named).
    pub fn digest(&self) -> &str {
        &self.digest
    }

    /// What policies see as `context.code`, and reports and the log name.
    pub fn code_ref(&self) -> SourceCode {
        SourceCode {
            language: self.language.name().to_owned(),
            digest: self.digest.clone(),
        }
    }
}

/// Where in the agent's source something went wrong (1-based).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceLocation {
    /// The agent's file, relative to its folder (`agent.py`, `src/lib.rs`), for a component;
    /// absent for a source run, whose source is one text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// Line.
    pub line: u32,
    /// Column, when the language says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub column: Option<u32>,
}

/// One frame of an uncaught exception's traceback, in the agent's source.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TraceFrame {
    /// The agent's file, as in [`SourceLocation::file`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// Line (1-based).
    pub line: u32,
    /// The function, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub function: Option<String>,
    /// The source line, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
}

/// What a runner answers (see the module docs).
#[derive(Deserialize)]
#[serde(rename_all = "lowercase")]
enum Envelope {
    Result(serde_json::Value),
    Invalid {
        message: String,
        #[serde(default)]
        line: Option<u32>,
        #[serde(default)]
        column: Option<u32>,
    },
    Exception(Uncaught),
}

impl CordonEngine {
    /// Run `source` with `runner`, the runner component for its language: as
    /// [`CordonEngine::run`], with `inv.context` carrying `code` for every decision and the
    /// runner's answer unwrapped into the report (`output` is what the source's `main`
    /// returned). `inv.input` is the JSON handed to `main` (empty: `null`).
    pub fn run_source(
        &self,
        runner: &LoadedComponent,
        source: &Source,
        mut inv: Invocation,
    ) -> Result<RunReport, RunError> {
        let input = if inv.input.trim().is_empty() {
            serde_json::Value::Null
        } else {
            serde_json::from_str(&inv.input).map_err(|e| RunError::Input(e.to_string()))?
        };
        let mut request = serde_json::json!({
            "language": source.language().name(),
            "code": source.code(),
            "input": input,
        });
        if let Some(root) = source.rex_root() {
            request["rex"] = serde_json::json!({ "root": root });
        }
        inv.input = request.to_string();
        inv.context = inv.context.with_code(source.code_ref());
        // The source is kept in the log before any decision can name it.
        inv.log
            .put_source(source.language().name(), source.code())
            .map_err(|e| RunError::Log(e.to_string()))?;
        let mut report = self.run(runner, inv)?;
        unwrap_envelope(&mut report);
        Ok(report)
    }
}

/// Turn the runner's envelope into the report's output or error. A runner that answers
/// outside the protocol is a broken runner: the run ends as a trap, its output withheld.
fn unwrap_envelope(report: &mut RunReport) {
    if !report.status.succeeded() {
        return;
    }
    let Some(raw) = report.output.take() else {
        return;
    };
    // A runner with no console of its own (the Rhai runner) hands back the lines the source
    // logged beside its answer: they belong to the report's stdout.
    let parsed = match serde_json::from_str::<serde_json::Value>(&raw) {
        Ok(serde_json::Value::Object(mut map)) => {
            if let Some(serde_json::Value::String(log)) = map.remove("log") {
                report.stdout.push_str(&log);
            }
            serde_json::from_value::<Envelope>(serde_json::Value::Object(map))
        }
        Ok(other) => serde_json::from_value::<Envelope>(other),
        Err(e) => Err(e),
    };
    match parsed {
        Ok(Envelope::Result(value)) => report.output = Some(value.to_string()),
        Ok(Envelope::Invalid {
            message,
            line,
            column,
        }) => {
            report.status = RunStatus::Error;
            report.error = Some(GuestError {
                kind: "invalid",
                message: match line {
                    Some(l) => match column {
                        Some(c) => format!("line {l}, column {c}: {message}"),
                        None => format!("line {l}: {message}"),
                    },
                    None => message,
                },
                policy_ids: None,
                location: line.map(|line| SourceLocation {
                    file: None,
                    line,
                    column,
                }),
                traceback: None,
                omitted_frames: None,
                hint: None,
            });
        }
        Ok(Envelope::Exception(uncaught)) => {
            report.status = RunStatus::Error;
            report.error = Some(uncaught.into_error());
        }
        Err(e) => {
            report.status = RunStatus::Trap;
            report.trap = Some(format!("the runner answered outside its protocol: {e}"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn languages_are_named_by_name_alias_and_extension() {
        for l in Language::ALL {
            assert_eq!(Language::from_name(l.name()), Some(l));
        }
        assert_eq!(
            Language::from_path(Path::new("a/agent.py")),
            Some(Language::Python)
        );
        assert_eq!(
            Language::from_path(Path::new("agent.mjs")),
            Some(Language::Javascript)
        );
        assert_eq!(Language::from_path(Path::new("agent.wasm")), None);
        assert_eq!(Language::from_path(Path::new("py")), None);
    }

    #[test]
    fn source_is_refused_when_empty_or_past_the_limit() {
        assert!(matches!(
            Source::new(Language::Python, ""),
            Err(SourceError::Empty)
        ));
        let big = "#".repeat(Source::MAX_BYTES + 1);
        assert!(matches!(
            Source::new(Language::Python, big),
            Err(SourceError::TooLarge { .. })
        ));
        let at_limit = "#".repeat(Source::MAX_BYTES);
        assert!(Source::new(Language::Python, at_limit).is_ok());
    }

    #[test]
    fn rex_root_must_be_absolute_and_normalised_and_only_for_rhai() {
        let rhai = || Source::new(Language::Rhai, "1").unwrap();
        for good in ["/", "/tmp/rex_example", "/a b/c"] {
            assert_eq!(rhai().with_rex_root(good).unwrap().rex_root(), Some(good));
        }
        for bad in [
            "",
            "tmp",
            "/tmp/",
            "/tmp//x",
            "/tmp/../etc",
            "/./tmp",
            "/tmp\0x",
        ] {
            assert!(
                matches!(rhai().with_rex_root(bad), Err(SourceError::RexRootPath(_))),
                "{bad:?}"
            );
        }
        assert!(matches!(
            Source::new(Language::Python, "x = 1")
                .unwrap()
                .with_rex_root("/tmp"),
            Err(SourceError::RexRootLanguage("python"))
        ));
        // Not part of the digest: the same script either way.
        assert_eq!(
            rhai().digest(),
            rhai().with_rex_root("/tmp").unwrap().digest()
        );
    }

    #[test]
    fn the_same_source_has_the_same_digest_and_another_does_not() {
        let a = Source::new(Language::Python, "x = 1").unwrap();
        let b = Source::new(Language::Javascript, "x = 1").unwrap();
        let c = Source::new(Language::Python, "x = 2").unwrap();
        assert_eq!(a.digest(), b.digest());
        assert_ne!(a.digest(), c.digest());
        assert_eq!(a.code_ref().language, "python");
    }
}
