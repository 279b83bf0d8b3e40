//! Policy bundles: Cedar policies parsed once and validated against the Cordon schema at load.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;

use cedar_policy::{Entities, PolicyId, PolicySet, ValidationMode, ValidationWarning, Validator};
use miette::Diagnostic;

use crate::entities::EntityError;
use crate::request::{Principal, RunContext};
use crate::schema::{CordonSchema, SchemaError};
use crate::session::Session;

/// Why a bundle was refused. Nothing of a refused bundle is used.
#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    /// A policy file or directory could not be read.
    #[error("cannot read policies at `{path}`")]
    Io {
        /// The path.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The bundle has no policies: it would deny everything, which is never what was meant.
    #[error("no policies found at `{0}` (expected a `.cedar` file or a directory of them)")]
    Empty(String),
    /// A file is not valid Cedar.
    #[error("`{file}` does not parse: {message}")]
    Parse {
        /// The file.
        file: String,
        /// What is wrong, with line and column.
        message: String,
    },
    /// A file holds a template; bundles take static policies only.
    #[error("`{file}` holds template `{id}`: bundles take static policies only")]
    Template {
        /// The file.
        file: String,
        /// The template's id.
        id: String,
    },
    /// Two policies carry the same `@id`.
    #[error("policy id `{0}` is used twice")]
    DuplicateId(String),
    /// A policy does not match the schema (a misspelt action, type or attribute).
    #[error("the bundle does not validate against the cordon schema:\n{}", .0.join("\n"))]
    Invalid(Vec<String>),
    /// The schema itself is broken.
    #[error(transparent)]
    Schema(#[from] SchemaError),
}

/// A validated set of Cedar policies with a digest. Cheap to clone.
#[derive(Debug, Clone)]
pub struct PolicyBundle {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    policies: PolicySet,
    digest: String,
    ids: Vec<String>,
    actions: Entities,
    schema: &'static CordonSchema,
    /// See [`files_alike`].
    files_alike: bool,
    /// See [`PolicyBundle::warnings`].
    warnings: Vec<String>,
}

/// Whether no policy of `policies` can tell apart two files of one directory with one
/// extension: none names a file entity or reads an attribute `path` or `name` (a file's
/// directory and name make its path). Found once, at load, by walking every policy's JSON
/// form; anything the walk cannot rule out counts as telling files apart, so a doubt only
/// makes decisions less shared.
fn files_alike(policies: &PolicySet) -> bool {
    !any_policy_node(policies, |node| {
        // `.` is `e.x` and `e["x"]`; `has` is `e has x`.
        let reads_identity = [".", "has"].iter().any(|op| {
            node.get(*op)
                .and_then(|o| o.get("attr"))
                .and_then(|a| a.as_str())
                .is_some_and(|a| a == "path" || a == "name")
        });
        names_entity_of_type(node, "File") || reads_identity
    })
}

/// Whether `node` holds for some object anywhere in the JSON form of a policy or template of
/// `policies`. Conservative: a policy that cannot be turned into JSON counts as holding it.
pub(crate) fn any_policy_node(
    policies: &PolicySet,
    node: impl Fn(&serde_json::Map<String, serde_json::Value>) -> bool,
) -> bool {
    fn walk(
        v: &serde_json::Value,
        node: &impl Fn(&serde_json::Map<String, serde_json::Value>) -> bool,
    ) -> bool {
        match v {
            serde_json::Value::Object(map) => node(map) || map.values().any(|v| walk(v, node)),
            serde_json::Value::Array(items) => items.iter().any(|v| walk(v, node)),
            _ => false,
        }
    }
    policies
        .policies()
        .map(|p| p.to_json().ok())
        .chain(policies.templates().map(|t| t.to_json().ok()))
        .any(|json| json.is_none_or(|j| walk(&j, &node)))
}

/// Whether a JSON policy node names an entity of type `ty` (in any namespace) by id.
pub(crate) fn names_entity_of_type(
    node: &serde_json::Map<String, serde_json::Value>,
    ty: &str,
) -> bool {
    node.get("type")
        .and_then(|t| t.as_str())
        .is_some_and(|t| t == ty || t.strip_suffix(ty).is_some_and(|ns| ns.ends_with("::")))
        && node.contains_key("id")
}

impl PolicyBundle {
    /// Load a `.cedar` file, or every `.cedar` file of a directory (in name order).
    ///
    /// ```no_run
    /// let bundle = cordon_policy::PolicyBundle::load("policies/examples/hello-fs.cedar".as_ref())?;
    /// println!("{}", bundle.digest());
    /// # Ok::<(), cordon_policy::BundleError>(())
    /// ```
    pub fn load(path: &Path) -> Result<Self, BundleError> {
        let io = |source| BundleError::Io {
            path: path.to_owned(),
            source,
        };
        let meta = std::fs::metadata(path).map_err(io)?;
        let files: Vec<PathBuf> = if meta.is_dir() {
            let mut files = Vec::new();
            for entry in std::fs::read_dir(path).map_err(io)? {
                let p = entry.map_err(io)?.path();
                if p.extension().is_some_and(|e| e == "cedar") && p.is_file() {
                    files.push(p);
                }
            }
            files.sort();
            files
        } else {
            vec![path.to_owned()]
        };
        let mut sources = Vec::with_capacity(files.len());
        for f in files {
            let text = std::fs::read_to_string(&f).map_err(|source| BundleError::Io {
                path: f.clone(),
                source,
            })?;
            let name = f.file_name().map_or_else(
                || f.display().to_string(),
                |n| n.to_string_lossy().into_owned(),
            );
            sources.push((name, text));
        }
        if sources.is_empty() {
            return Err(BundleError::Empty(path.display().to_string()));
        }
        Self::from_sources(sources)
    }

    /// Build a bundle from `(file name, Cedar text)` pairs. A policy's id is its `@id("...")`
    /// annotation, or `<file>/policy<N>` without one.
    ///
    /// ```
    /// let err = cordon_policy::PolicyBundle::from_sources([(
    ///     "typo.cedar",
    ///     r#"permit(principal, action == Cordon::Action::"fs:raed", resource);"#,
    /// )])
    /// .unwrap_err();
    /// assert!(err.to_string().contains("fs:raed"));
    /// ```
    pub fn from_sources<I, N, T>(sources: I) -> Result<Self, BundleError>
    where
        I: IntoIterator<Item = (N, T)>,
        N: Into<String>,
        T: Into<String>,
    {
        let schema = CordonSchema::get()?;
        let mut sources: Vec<(String, String)> = sources
            .into_iter()
            .map(|(n, t)| (n.into(), t.into()))
            .collect();
        sources.sort();
        let mut policies = PolicySet::new();
        let mut ids = Vec::new();
        for (file, text) in &sources {
            let parsed = PolicySet::from_str(text).map_err(|e| BundleError::Parse {
                file: file.clone(),
                message: render(&e, text),
            })?;
            if let Some(t) = parsed.templates().next() {
                return Err(BundleError::Template {
                    file: file.clone(),
                    id: t.id().to_string(),
                });
            }
            let mut in_file: Vec<_> = parsed.policies().collect();
            in_file.sort_by_key(|p| policy_index(p.id()));
            for p in in_file {
                let id = match p.annotation("id") {
                    Some(id) => id.to_owned(),
                    None => format!("{file}/{}", p.id()),
                };
                policies
                    .add(p.new_id(PolicyId::new(&id)))
                    .map_err(|_| BundleError::DuplicateId(id.clone()))?;
                ids.push(id);
            }
        }
        if ids.is_empty() {
            return Err(BundleError::Empty(
                sources
                    .iter()
                    .map(|(f, _)| f.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            ));
        }
        let result =
            Validator::new(schema.schema.clone()).validate(&policies, ValidationMode::Strict);
        // Besides errors, refuse the warnings that mean a policy cannot do what its author
        // meant (it can never apply) or hides what it says (bidi or confusable characters).
        let fatal_warnings = result.validation_warnings().filter(|w| {
            !matches!(
                w,
                ValidationWarning::MixedScriptString(_)
                    | ValidationWarning::MixedScriptIdentifier(_)
            )
        });
        let messages: Vec<String> = result
            .validation_errors()
            .map(|e| with_help(e.to_string(), e.help()))
            .chain(fatal_warnings.map(|w| with_help(w.to_string(), w.help())))
            .collect();
        if !messages.is_empty() {
            return Err(BundleError::Invalid(messages));
        }
        let actions = schema
            .schema
            .action_entities()
            .map_err(|e| SchemaError::from_message(e.to_string()))?;
        let digest = digest_of(&sources);
        Ok(PolicyBundle {
            inner: Arc::new(Inner {
                files_alike: files_alike(&policies),
                warnings: crate::lints::warnings(&policies, schema, &actions),
                policies,
                digest,
                ids,
                actions,
                schema,
            }),
        })
    }

    /// blake3 over the bundle's files (names and contents, in name order), hex.
    pub fn digest(&self) -> &str {
        &self.inner.digest
    }

    /// What in the bundle validates but can never match as its author meant (a `Dir` id
    /// without its leading `/`, `context.method == "post"`, `resource has owner` where no
    /// resource has one, a permit that an unconditional forbid always overrides), one message
    /// per finding, naming the policy. The bundle loads all the same: the rest of it may be
    /// right.
    ///
    /// ```
    /// let b = cordon_policy::PolicyBundle::from_sources([(
    ///     "docs.cedar",
    ///     r#"@id("docs") permit(principal, action, resource in Cordon::Dir::"docs");"#,
    /// )])?;
    /// assert!(b.warnings()[0].contains("policy `docs`"));
    /// # Ok::<(), cordon_policy::BundleError>(())
    /// ```
    pub fn warnings(&self) -> &[String] {
        &self.inner.warnings
    }

    /// The ids of the bundle's policies, in file and source order.
    pub fn policy_ids(&self) -> &[String] {
        &self.inner.ids
    }

    /// Start deciding for one run: the principal and context are built into Cedar once.
    ///
    /// ```
    /// use cordon_policy::{PolicyBundle, Principal, RunContext};
    /// let bundle = PolicyBundle::from_sources([("p.cedar", "permit(principal, action, resource);")])?;
    /// let session = bundle.session(&Principal::unattended("t", "d"), &RunContext::new("p", "e"))?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn session(
        &self,
        principal: &Principal,
        context: &RunContext,
    ) -> Result<Session, EntityError> {
        Session::new(self.clone(), principal, context)
    }

    pub(crate) fn policies(&self) -> &PolicySet {
        &self.inner.policies
    }

    /// Whether the policies decide every file of one directory with one extension alike
    /// (see [`files_alike`]).
    pub(crate) fn files_alike(&self) -> bool {
        self.inner.files_alike
    }

    pub(crate) fn action_entities(&self) -> &Entities {
        &self.inner.actions
    }

    pub(crate) fn schema(&self) -> &'static CordonSchema {
        self.inner.schema
    }
}

fn with_help(mut message: String, help: Option<Box<dyn std::fmt::Display + '_>>) -> String {
    if let Some(help) = help {
        let _ = write!(message, " ({help})");
    }
    message
}

/// `policyN` → N, so policies keep their source order.
fn policy_index(id: &PolicyId) -> usize {
    id.to_string()
        .strip_prefix("policy")
        .and_then(|n| n.parse().ok())
        .unwrap_or(usize::MAX)
}

fn digest_of(sources: &[(String, String)]) -> String {
    let mut h = blake3::Hasher::new();
    h.update(b"cordon-policy-bundle-v1");
    for (name, text) in sources {
        h.update(&(name.len() as u64).to_le_bytes());
        h.update(name.as_bytes());
        h.update(&(text.len() as u64).to_le_bytes());
        h.update(text.as_bytes());
    }
    h.finalize().to_hex().to_string()
}

/// A Cedar diagnostic with the line and column of each label.
fn render(err: &(dyn Diagnostic + 'static), text: &str) -> String {
    let mut out = err.to_string();
    let mut causes = err.related().into_iter().flatten().peekable();
    if causes.peek().is_some() {
        out.clear();
        for (i, c) in causes.enumerate() {
            if i > 0 {
                out.push_str("; ");
            }
            out.push_str(&render_one(c, text));
        }
        return out;
    }
    render_one(err, text)
}

fn render_one(err: &dyn Diagnostic, text: &str) -> String {
    let mut out = err.to_string();
    if let Some(label) = err.labels().and_then(|mut l| l.next()) {
        let (line, col) = line_col(text, label.offset());
        let _ = write!(out, " at line {line}, column {col}");
    }
    if let Some(help) = err.help() {
        let _ = write!(out, " ({help})");
    }
    out
}

fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alike(text: &str) -> bool {
        PolicyBundle::from_sources([("t.cedar", text)])
            .unwrap()
            .files_alike()
    }

    #[test]
    fn files_are_alike_only_to_policies_that_cannot_tell_them_apart() {
        let p = r#"permit(principal, action == Cordon::Action::"fs:read", resource in Cordon::Dir::"/d")"#;
        assert!(alike(&format!("{p};")));
        assert!(alike(&format!(
            r#"{p} when {{ resource is Cordon::File && resource.extension == "csv" }};"#
        )));
        for tells in [
            r#"when { resource.name == "a" }"#,
            r#"when { resource["path"] like "/d/*" }"#,
            r#"when { resource has name }"#,
            r#"when { resource == Cordon::File::"/d/a" }"#,
            r#"when { resource in [Cordon::File::"/d/a"] }"#,
        ] {
            assert!(!alike(&format!("{p} {tells};")), "{tells}");
        }
        assert!(!alike(&format!(
            "{p};\npermit(principal, action, resource == Cordon::File::\"/x\");"
        )));
    }
}
