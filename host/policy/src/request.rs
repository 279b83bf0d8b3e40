//! The typed requests the host makes: who (principal), what (action), on what (resource), and
//! the run's context. All of it deserializes from JSON, which is how `policies/tests/*.json`
//! describe decision cases.

use serde::{Deserialize, Serialize};

use crate::records::{FieldResource, RecordResource};

/// The agent making calls: a component of a tenant, acting for a human or for nobody.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Principal {
    /// The tenant that owns the component.
    pub tenant: String,
    /// The component's blake3 digest (hex).
    pub digest: String,
    /// The verified human the run acts for; `None` for unattended runs.
    #[serde(default)]
    pub human: Option<Human>,
}

impl Principal {
    /// A principal acting for nobody.
    ///
    /// ```
    /// let p = cordon_policy::Principal::unattended("acme", "ab12");
    /// assert!(p.human.is_none());
    /// ```
    pub fn unattended(tenant: impl Into<String>, digest: impl Into<String>) -> Self {
        Principal {
            tenant: tenant.into(),
            digest: digest.into(),
            human: None,
        }
    }

    /// A principal acting for `human`.
    ///
    /// ```
    /// use cordon_policy::{Human, Principal};
    /// let p = Principal::for_human("acme", "ab12", Human::new("alice", ["analyst"]));
    /// assert_eq!(p.human.unwrap().id, "alice");
    /// ```
    pub fn for_human(tenant: impl Into<String>, digest: impl Into<String>, human: Human) -> Self {
        Principal {
            tenant: tenant.into(),
            digest: digest.into(),
            human: Some(human),
        }
    }
}

/// A verified human and the roles they hold.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Human {
    /// The human's id, as the identity provider names them.
    pub id: String,
    /// Roles or groups (`Cordon::Role` entities the human is `in`).
    #[serde(default)]
    pub roles: Vec<String>,
}

impl Human {
    /// A human with roles.
    ///
    /// ```
    /// let h = cordon_policy::Human::new("alice", ["clinician"]);
    /// assert_eq!(h.roles, ["clinician"]);
    /// ```
    pub fn new<R: Into<String>>(id: impl Into<String>, roles: impl IntoIterator<Item = R>) -> Self {
        Human {
            id: id.into(),
            roles: roles.into_iter().map(Into::into).collect(),
        }
    }
}

/// What every decision of a run is bound to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunContext {
    /// Why the run reads data (e.g. `billing`).
    pub purpose: String,
    /// The engagement (case, ticket, contract) the run belongs to.
    pub engagement: String,
    /// For a source run (agent-written source executed by a runner component): the source's
    /// language and digest, seen by policies as `context.code`. `None` for a component run,
    /// where `context has code` is false.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<SourceCode>,
}

/// The source a source run executes, as policies see it in `context.code`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceCode {
    /// The source's language: `python` or `javascript`.
    pub language: String,
    /// BLAKE3 of the source text, hex (as component digests are written).
    pub digest: String,
}

impl RunContext {
    /// A context.
    ///
    /// ```
    /// let c = cordon_policy::RunContext::new("billing", "INV-7");
    /// assert_eq!(c.purpose, "billing");
    /// ```
    pub fn new(purpose: impl Into<String>, engagement: impl Into<String>) -> Self {
        RunContext {
            purpose: purpose.into(),
            engagement: engagement.into(),
            code: None,
        }
    }

    /// The same context for a source run of `code`.
    ///
    /// ```
    /// use cordon_policy::{RunContext, SourceCode};
    /// let code = SourceCode { language: "python".into(), digest: "ab".repeat(32) };
    /// let c = RunContext::new("billing", "INV-7").with_code(code);
    /// assert_eq!(c.code.map(|c| c.language).as_deref(), Some("python"));
    /// ```
    #[must_use]
    pub fn with_code(self, code: SourceCode) -> Self {
        RunContext {
            code: Some(code),
            ..self
        }
    }
}

/// Every action of the schema that a host call can ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Action {
    /// `fs:read`
    #[serde(rename = "fs:read")]
    FsRead,
    /// `fs:write`
    #[serde(rename = "fs:write")]
    FsWrite,
    /// `fs:append`
    #[serde(rename = "fs:append")]
    FsAppend,
    /// `fs:list`
    #[serde(rename = "fs:list")]
    FsList,
    /// `fs:stat`
    #[serde(rename = "fs:stat")]
    FsStat,
    /// `fs:create-dir`
    #[serde(rename = "fs:create-dir")]
    FsCreateDir,
    /// `fs:remove`
    #[serde(rename = "fs:remove")]
    FsRemove,
    /// `fs:rename`
    #[serde(rename = "fs:rename")]
    FsRename,
    /// `http:send`
    #[serde(rename = "http:send")]
    HttpSend,
    /// `records:read`: one record, decided per record.
    #[serde(rename = "records:read")]
    RecordsRead,
    /// `records:read-field`: one field of a collection.
    #[serde(rename = "records:read-field")]
    RecordsReadField,
}

impl Action {
    /// Every action, in schema order.
    pub const ALL: [Action; 11] = [
        Action::FsRead,
        Action::FsWrite,
        Action::FsAppend,
        Action::FsList,
        Action::FsStat,
        Action::FsCreateDir,
        Action::FsRemove,
        Action::FsRename,
        Action::HttpSend,
        Action::RecordsRead,
        Action::RecordsReadField,
    ];

    /// The Cedar action id, e.g. `fs:read`.
    ///
    /// ```
    /// assert_eq!(cordon_policy::Action::FsCreateDir.as_str(), "fs:create-dir");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            Action::FsRead => "fs:read",
            Action::FsWrite => "fs:write",
            Action::FsAppend => "fs:append",
            Action::FsList => "fs:list",
            Action::FsStat => "fs:stat",
            Action::FsCreateDir => "fs:create-dir",
            Action::FsRemove => "fs:remove",
            Action::FsRename => "fs:rename",
            Action::HttpSend => "http:send",
            Action::RecordsRead => "records:read",
            Action::RecordsReadField => "records:read-field",
        }
    }
}

impl std::fmt::Display for Action {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A path the policy layer refuses to model.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    /// The path is not absolute and normalized (`/a/b`, no `.`, `..` or empty segments).
    #[error("path `{0}` is not a normalized absolute path")]
    NotNormalized(String),
    /// The path is over [`crate::bounds::MAX_PATH_BYTES`] or
    /// [`crate::bounds::MAX_PATH_COMPONENTS`].
    #[error(transparent)]
    TooLong(#[from] crate::bounds::ArgumentTooLong),
}

/// The parts of a URL a policy can look at.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UrlParts {
    /// `http` or `https`.
    pub scheme: String,
    /// Host name or address, lower case.
    pub host: String,
    /// Port (the scheme's default when the URL names none).
    pub port: u16,
    /// Path, starting with `/`.
    pub path: String,
}

/// What a call acts on. File and directory paths are absolute inside the run's root.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase", deny_unknown_fields)]
pub enum Resource {
    /// A path that is not a directory: a file, a symlink, anything else, or a path that does not
    /// exist yet (what `write` and `append` create).
    File(String),
    /// A directory: a path that exists as one (for `stat`, `remove`, `rename`), or the path
    /// named by `list-dir` and `create-dir`.
    Dir(String),
    /// A URL.
    Url(UrlParts),
    /// A record (its attributes, never its field values).
    Record(RecordResource),
    /// A field of a collection.
    Field(FieldResource),
}

impl Resource {
    /// A file resource; the path must be normalized and absolute.
    ///
    /// ```
    /// assert!(cordon_policy::Resource::file("/a/b.txt").is_ok());
    /// assert!(cordon_policy::Resource::file("a/../b").is_err());
    /// ```
    pub fn file(path: impl Into<String>) -> Result<Self, PathError> {
        let path = path.into();
        check_normalized(&path)?;
        Ok(Resource::File(path))
    }

    /// A directory resource; the path must be normalized and absolute.
    ///
    /// ```
    /// assert!(cordon_policy::Resource::dir("/").is_ok());
    /// ```
    pub fn dir(path: impl Into<String>) -> Result<Self, PathError> {
        let path = path.into();
        check_normalized(&path)?;
        Ok(Resource::Dir(path))
    }

    /// How the resource is written in Cedar, e.g. `Cordon::File::"/a.txt"`.
    ///
    /// ```
    /// let r = cordon_policy::Resource::dir("/logs").unwrap();
    /// assert_eq!(r.to_string(), r#"Cordon::Dir::"/logs""#);
    /// ```
    pub fn cedar_id(&self) -> String {
        self.to_string()
    }
}

impl std::fmt::Display for Resource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Resource::File(p) => write!(f, "Cordon::File::{p:?}"),
            Resource::Dir(p) => write!(f, "Cordon::Dir::{p:?}"),
            Resource::Url(u) => write!(f, "Cordon::Url::{:?}", url_id(u)),
            Resource::Record(r) => write!(
                f,
                "Cordon::Record::{:?}",
                format!("{}/{}", r.collection, r.id)
            ),
            Resource::Field(x) => write!(
                f,
                "Cordon::Field::{:?}",
                format!("{}/{}", x.collection, x.name)
            ),
        }
    }
}

/// The entity id of a URL: `scheme://host:port/path`.
/// Why a URL cannot be sent to (or named in a policy).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UrlError {
    /// Not a URL.
    #[error("`{raw}` is not a url: {message}")]
    NotUrl {
        /// What was given.
        raw: String,
        /// The parser's reason.
        message: String,
    },
    /// Not http or https.
    #[error("scheme `{0}` is not allowed: only http and https")]
    Scheme(String),
    /// No host to send to.
    #[error("`{0}` names no host")]
    NoHost(String),
    /// A host the URL parser refuses once its trailing dot is removed.
    #[error("`{raw}` has an invalid host: {message}")]
    Host {
        /// What was given.
        raw: String,
        /// The parser's reason.
        message: String,
    },
}

/// An absolute http or https URL with a host; a trailing dot of the host name is removed, so
/// `example.com.` and `example.com` are one host to the policy.
///
/// ```
/// let url = cordon_policy::check_url("HTTPS://Example.COM./a")?;
/// assert_eq!(url.host_str(), Some("example.com"));
/// assert!(cordon_policy::check_url("ftp://example.com/").is_err());
/// # Ok::<(), cordon_policy::UrlError>(())
/// ```
pub fn check_url(raw: &str) -> Result<url::Url, UrlError> {
    let mut url = url::Url::parse(raw).map_err(|e| UrlError::NotUrl {
        raw: raw.to_owned(),
        message: e.to_string(),
    })?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(UrlError::Scheme(url.scheme().to_owned()));
    }
    let Some(host) = url.host_str().map(str::to_owned) else {
        return Err(UrlError::NoHost(raw.to_owned()));
    };
    if let Some(trimmed) = host.strip_suffix('.') {
        url.set_host(Some(trimmed)).map_err(|e| UrlError::Host {
            raw: raw.to_owned(),
            message: e.to_string(),
        })?;
    }
    Ok(url)
}

impl UrlParts {
    /// What the policy sees of a URL checked by [`check_url`].
    pub fn of(url: &url::Url) -> UrlParts {
        UrlParts {
            scheme: url.scheme().to_owned(),
            host: url.host_str().unwrap_or_default().to_ascii_lowercase(),
            port: url.port_or_known_default().unwrap_or(0),
            path: url.path().to_owned(),
        }
    }
}

pub(crate) fn url_id(u: &UrlParts) -> String {
    format!("{}://{}:{}{}", u.scheme, u.host, u.port, u.path)
}

pub(crate) fn check_normalized(path: &str) -> Result<(), PathError> {
    crate::bounds::check_path(path)?;
    let bad = || PathError::NotNormalized(path.to_owned());
    let rest = path.strip_prefix('/').ok_or_else(bad)?;
    if rest.is_empty() {
        return Ok(());
    }
    if rest
        .split('/')
        .any(|seg| seg.is_empty() || seg == "." || seg == "..")
    {
        return Err(bad());
    }
    Ok(())
}

/// One authorization question: an action on a resource.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Request {
    /// The action.
    pub action: Action,
    /// The resource.
    pub resource: Resource,
    /// For `http:send`: the method (`GET`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
}

impl Request {
    /// A request with no extra context.
    ///
    /// ```
    /// use cordon_policy::{Action, Request, Resource};
    /// let r = Request::new(Action::FsList, Resource::dir("/logs").unwrap());
    /// assert_eq!(r.action.as_str(), "fs:list");
    /// ```
    pub fn new(action: Action, resource: Resource) -> Self {
        Request {
            action,
            resource,
            method: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalized_paths_are_accepted_and_others_rejected() {
        for ok in ["/", "/a", "/a/b.txt", "/a b/c"] {
            assert!(check_normalized(ok).is_ok(), "{ok}");
        }
        for bad in ["", "a", "/a/", "//a", "/a/./b", "/a/../b", "/.."] {
            assert!(check_normalized(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn every_action_name_round_trips_through_serde() {
        for a in Action::ALL {
            let json = serde_json::to_string(&a).unwrap();
            assert_eq!(json, format!("\"{}\"", a.as_str()));
            assert_eq!(serde_json::from_str::<Action>(&json).unwrap(), a);
        }
    }
}
