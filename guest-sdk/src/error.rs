//! The error every Cordon call returns.

use serde::ser::{Serialize, SerializeMap, Serializer};

use crate::__bindings::Error as WitError;
use crate::__bindings::cordon::agent::types::Denial;

/// `Result` with [`Error`] as its default error.
///
/// # Example
///
/// ```no_run
/// fn first_line(path: &str) -> cordon_guest::Result<String> {
///     let text = cordon_guest::fs::read_to_string(path)?;
///     Ok(text.lines().next().unwrap_or_default().to_owned())
/// }
/// ```
pub type Result<T, E = Error> = core::result::Result<T, E>;

/// Why a Cordon call failed.
///
/// Every variant except [`Error::Json`] comes from the host. They are values to handle, not
/// crashes: a run that exhausts its fuel, memory or time is stopped without being told.
///
/// # Example
///
/// ```no_run
/// use cordon_guest::{Error, fs};
///
/// match fs::write("report.txt", "done") {
///     Ok(()) => {}
///     Err(Error::AccessDenied { action, policy_ids, .. }) => {
///         // Nothing was written. `policy_ids` names the policies that refused.
///         let _ = (action, policy_ids);
///     }
///     Err(other) => return Err(other),
/// }
/// # Ok::<(), Error>(())
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The host owner's policy refused the call; nothing was touched.
    ///
    /// ```no_run
    /// # use cordon_guest::{Error, fs};
    /// if let Err(Error::AccessDenied { decision_id, .. }) = fs::read("secret.txt") {
    ///     // `decision_id` finds the refusal in the run's decision log.
    ///     let _ = decision_id;
    /// }
    /// ```
    #[error(
        "access denied: `{action}` on `{resource}` ({}){}",
        denied_by(.policy_ids, *.decision_id),
        egress_hint(.policy_ids)
    )]
    AccessDenied {
        /// The Cedar action that was refused, e.g. `fs:write`.
        action: String,
        /// The resource it was refused on, as the policy saw it and the report shows it, e.g.
        /// `Cordon::File::"/hello.txt"` or `Cordon::Url::"https://api.example:443/upload"`
        /// (docs/guest-reference.md lists every form).
        resource: String,
        /// Ids of the policies that decided the refusal; empty when no policy permitted it; a
        /// host guard's name (`cordon:egress`, `cordon:rename`) when the host refused what the
        /// policy allowed.
        policy_ids: Vec<String>,
        /// The decision's sequence number in the run's decision log.
        decision_id: u64,
    },
    /// The named thing does not exist.
    ///
    /// ```no_run
    /// # use cordon_guest::{Error, fs};
    /// let config = match fs::read_to_string("config.json") {
    ///     Err(Error::NotFound(_)) => "{}".to_owned(),
    ///     other => other?,
    /// };
    /// # Ok::<(), Error>(())
    /// ```
    #[error("not found: {0}")]
    NotFound(String),
    /// The call's arguments are malformed (a bad path, an unknown field), or the agent's input
    /// was not the JSON it expects.
    ///
    /// ```
    /// # use cordon_guest::Error;
    /// fn check(limit: u32) -> Result<(), Error> {
    ///     if limit == 0 {
    ///         return Err(Error::Invalid("`limit` must be positive".into()));
    ///     }
    ///     Ok(())
    /// }
    /// assert!(check(0).is_err());
    /// ```
    #[error("invalid: {0}")]
    Invalid(String),
    /// A per-call limit was hit (e.g. a response larger than allowed).
    ///
    /// ```no_run
    /// # use cordon_guest::{Error, http};
    /// if let Err(Error::LimitExceeded(what)) = http::get("https://example.com/huge") {
    ///     let _ = what;
    /// }
    /// ```
    #[error("limit exceeded: {0}")]
    LimitExceeded(String),
    /// The host's operating system refused the operation.
    ///
    /// ```no_run
    /// # use cordon_guest::{Error, fs};
    /// if let Err(Error::Io(message)) = fs::create_dir("out") {
    ///     let _ = message;
    /// }
    /// ```
    #[error("i/o error: {0}")]
    Io(String),
    /// The capability is not provided by this host.
    ///
    /// ```no_run
    /// # use cordon_guest::{Error, records, records::Filter};
    /// match records::query("tickets", &Filter::new(), &["title"], 10) {
    ///     Err(Error::Unsupported(_)) => { /* this host has no records */ }
    ///     other => { other?; }
    /// }
    /// # Ok::<(), Error>(())
    /// ```
    #[error("unsupported: {0}")]
    Unsupported(String),
    /// JSON (de)serialisation failed inside the guest, e.g. [`http::Response::json`]
    /// on a body that is not the expected JSON. Reaches the host as `invalid`.
    ///
    /// [`http::Response::json`]: crate::http::Response::json
    ///
    /// ```
    /// # use cordon_guest::Error;
    /// let err: Error = serde_json::from_str::<u32>("nope").unwrap_err().into();
    /// assert!(matches!(err, Error::Json(_)));
    /// ```
    #[error("json: {0}")]
    Json(#[from] serde_json::Error),
}

/// The policy id of a refusal by the host's egress guard: the policy allowed the request, but
/// the host's address is special-purpose and the operator has not allowed its range.
const EGRESS_GUARD: &str = "cordon:egress";

/// After a refusal by [`EGRESS_GUARD`]: what the operator can do about it.
fn egress_hint(policy_ids: &[String]) -> &'static str {
    if policy_ids == [EGRESS_GUARD] {
        ": the address is special-purpose (loopback, private, link-local, ...); the operator \
         allows its range with `cordon run --allow-egress-range CIDR` or `egress.allow_ranges` \
         of `cordon serve`"
    } else {
        ""
    }
}

fn denied_by(policy_ids: &[String], decision_id: u64) -> String {
    if policy_ids == [EGRESS_GUARD] {
        format!("by the host's egress guard {EGRESS_GUARD}, decision {decision_id}")
    } else if policy_ids.is_empty() {
        format!("no policy permits it, decision {decision_id}")
    } else {
        format!(
            "by policy {}, decision {decision_id}",
            policy_ids.join(", ")
        )
    }
}

impl Error {
    /// The WIT name of the error case: `access-denied`, `not-found`, `invalid`,
    /// `limit-exceeded`, `io`, `unsupported`, or `json` for [`Error::Json`].
    ///
    /// ```
    /// # use cordon_guest::Error;
    /// assert_eq!(Error::Unsupported("records".into()).kind(), "unsupported");
    /// ```
    pub fn kind(&self) -> &'static str {
        match self {
            Error::AccessDenied { .. } => "access-denied",
            Error::NotFound(_) => "not-found",
            Error::Invalid(_) => "invalid",
            Error::LimitExceeded(_) => "limit-exceeded",
            Error::Io(_) => "io",
            Error::Unsupported(_) => "unsupported",
            Error::Json(_) => "json",
        }
    }

    /// True when a policy refused the call.
    ///
    /// ```
    /// # use cordon_guest::Error;
    /// assert!(!Error::NotFound("a.txt".into()).is_access_denied());
    /// ```
    pub fn is_access_denied(&self) -> bool {
        matches!(self, Error::AccessDenied { .. })
    }
}

/// An error serialises as a JSON object with its `kind` (see [`Error::kind`]), a readable
/// `message`, and for a denial its `action`, `resource`, `policy_ids` and `decision_id`, so an
/// agent can put it in its output as it is.
///
/// ```
/// # use cordon_guest::Error;
/// let err = Error::Unsupported("http is not provided by this host".into());
/// let json = serde_json::to_value(&err).unwrap();
/// assert_eq!(json["kind"], "unsupported");
/// assert_eq!(json["message"], "unsupported: http is not provided by this host");
/// ```
impl Serialize for Error {
    fn serialize<S: Serializer>(&self, serializer: S) -> core::result::Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("kind", self.kind())?;
        map.serialize_entry("message", &self.to_string())?;
        if let Error::AccessDenied {
            action,
            resource,
            policy_ids,
            decision_id,
        } = self
        {
            map.serialize_entry("action", action)?;
            map.serialize_entry("resource", resource)?;
            map.serialize_entry("policy_ids", policy_ids)?;
            map.serialize_entry("decision_id", decision_id)?;
        }
        map.end()
    }
}

impl From<WitError> for Error {
    fn from(err: WitError) -> Self {
        match err {
            WitError::AccessDenied(Denial {
                action,
                resource,
                policy_ids,
                decision_id,
            }) => Error::AccessDenied {
                action,
                resource,
                policy_ids,
                decision_id,
            },
            WitError::NotFound(message) => Error::NotFound(message),
            WitError::Invalid(message) => Error::Invalid(message),
            WitError::LimitExceeded(message) => Error::LimitExceeded(message),
            WitError::Io(message) => Error::Io(message),
            WitError::Unsupported(message) => Error::Unsupported(message),
        }
    }
}

impl From<Error> for WitError {
    fn from(err: Error) -> Self {
        match err {
            Error::AccessDenied {
                action,
                resource,
                policy_ids,
                decision_id,
            } => WitError::AccessDenied(Denial {
                action,
                resource,
                policy_ids,
                decision_id,
            }),
            Error::NotFound(message) => WitError::NotFound(message),
            Error::Invalid(message) => WitError::Invalid(message),
            Error::LimitExceeded(message) => WitError::LimitExceeded(message),
            Error::Io(message) => WitError::Io(message),
            Error::Unsupported(message) => WitError::Unsupported(message),
            err @ Error::Json(_) => WitError::Invalid(err.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn denial(policy_ids: &[&str]) -> Error {
        Error::AccessDenied {
            action: "fs:write".into(),
            resource: r#"File::"/hello.txt""#.into(),
            policy_ids: policy_ids.iter().map(|id| (*id).to_owned()).collect(),
            decision_id: 3,
        }
    }

    #[test]
    fn denial_message_names_action_resource_and_policies() {
        assert_eq!(
            denial(&["no-writes"]).to_string(),
            r#"access denied: `fs:write` on `File::"/hello.txt"` (by policy no-writes, decision 3)"#
        );
    }

    #[test]
    fn denial_without_policies_says_nothing_permits_it() {
        assert!(
            denial(&[])
                .to_string()
                .ends_with("(no policy permits it, decision 3)")
        );
    }

    #[test]
    fn denial_by_the_egress_guard_names_the_flag_that_allows_the_range() {
        let message = denial(&["cordon:egress"]).to_string();
        assert!(
            message.contains("egress guard cordon:egress, decision 3"),
            "{message}"
        );
        assert!(
            message.contains("`cordon run --allow-egress-range CIDR`"),
            "{message}"
        );
        assert!(!denial(&["no-writes"]).to_string().contains("egress"));
    }

    #[test]
    fn denial_serialises_with_its_fields() {
        let json = serde_json::to_value(denial(&["no-writes"])).ok();
        let json = json.as_ref().and_then(|v| v.as_object());
        let get = |key: &str| json.and_then(|o| o.get(key)).cloned();
        assert_eq!(get("kind"), Some("access-denied".into()));
        assert_eq!(get("policy_ids"), Some(serde_json::json!(["no-writes"])));
        assert_eq!(get("decision_id"), Some(3.into()));
    }

    #[test]
    fn wit_errors_round_trip() {
        let wit = WitError::from(denial(&["a", "b"]));
        assert!(
            matches!(Error::from(wit), Error::AccessDenied { ref policy_ids, .. } if policy_ids == &["a", "b"])
        );
        let wit = WitError::from(Error::Unsupported("records".into()));
        assert!(matches!(wit, WitError::Unsupported(ref m) if m == "records"));
    }

    #[test]
    fn json_errors_reach_the_host_as_invalid() {
        let json = serde_json::from_str::<u32>("x").err().map(Error::from);
        let wit = json.map(WitError::from);
        assert!(matches!(wit, Some(WitError::Invalid(ref m)) if m.starts_with("json: ")));
    }
}
