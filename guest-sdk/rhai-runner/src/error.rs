//! Errors as scripts see them: a Cordon error becomes a Rhai error the script may `catch`, a
//! map `#{kind, message}` (a denial adds `action`, `resource` and `policy_ids`), and one the
//! script lets escape reaches the host as the typed error itself.

use std::cell::RefCell;

use cordon_guest::Error;
use rhai::{Dynamic, EvalAltResult, Map, Position};

use crate::paths;

thread_local! {
    /// The Cordon error behind the Rhai error a host function last raised, so that one the
    /// script lets escape reaches the host as itself.
    static RAISED: RefCell<Option<Error>> = const { RefCell::new(None) };
}

/// Who a denial message says was refused: Rex names the OS user; a Cordon script runs as the
/// run's agent, whose id the runner is not told.
const PRINCIPAL: &str = "the agent";

/// A failed call, and in Rex mode the Rex check it made (`file_system::Action::"read" for
/// file_system::File::/tmp/rex_example/a.txt`), which a denial's message names as Rex would.
#[derive(Debug)]
pub(crate) struct Failure {
    pub(crate) error: Error,
    rex: Option<String>,
}

impl Failure {
    /// `error`, from the Rex check `rex` (`None` in plain mode).
    pub(crate) fn new(error: Error, rex: Option<String>) -> Failure {
        Failure { error, rex }
    }

    /// An `invalid` error the runner found itself.
    pub(crate) fn invalid(message: impl Into<String>) -> Failure {
        Failure::new(Error::Invalid(message.into()), None)
    }

    /// A `limit-exceeded` error the runner found itself.
    pub(crate) fn limit(message: impl Into<String>) -> Failure {
        Failure::new(Error::LimitExceeded(message.into()), None)
    }

    /// True when the call was refused by policy.
    pub(crate) fn is_denied(&self) -> bool {
        self.error.is_access_denied()
    }

    /// True when the call's path does not exist.
    pub(crate) fn is_not_found(&self) -> bool {
        matches!(self.error, Error::NotFound(_))
    }

    /// The message the script sees: Rex's wording for a denial.
    fn message(&self) -> String {
        let Error::AccessDenied {
            action,
            resource,
            policy_ids,
            decision_id,
        } = &self.error
        else {
            return self.error.to_string();
        };
        let check = match &self.rex {
            Some(rex) => rex.clone(),
            None => format!("Cordon::Action::\"{action}\" for {resource}"),
        };
        let by = if policy_ids.is_empty() {
            "no policy permits it".to_owned()
        } else {
            let ids: Vec<String> = policy_ids.iter().map(|id| format!("`{id}`")).collect();
            format!("denied by policy {}", ids.join(", "))
        };
        format!(
            "Permission denied: {PRINCIPAL} unauthorized to perform {check} ({by}; decision \
             {decision_id})"
        )
    }
}

impl From<Error> for Failure {
    fn from(error: Error) -> Failure {
        Failure::new(error, None)
    }
}

/// The Rhai error the script sees (and may catch); the Cordon error is remembered so that, if
/// it escapes, the host gets the error itself.
impl From<Failure> for Box<EvalAltResult> {
    fn from(failure: Failure) -> Self {
        let mut map = Map::new();
        if let Error::AccessDenied {
            action,
            resource,
            policy_ids,
            ..
        } = &failure.error
        {
            map.insert("action".into(), action.clone().into());
            map.insert("resource".into(), resource.clone().into());
            map.insert(
                "policy_ids".into(),
                Dynamic::from_array(policy_ids.iter().cloned().map(Dynamic::from).collect()),
            );
        }
        let kind = match &failure.error {
            Error::Json(_) => "invalid",
            other => other.kind(),
        };
        map.insert("kind".into(), kind.into());
        map.insert("message".into(), failure.message().into());
        RAISED.with(|r| *r.borrow_mut() = Some(failure.error));
        Box::new(EvalAltResult::ErrorRuntime(
            Dynamic::from_map(map),
            Position::NONE,
        ))
    }
}

/// Forget what an earlier run raised.
pub(crate) fn reset() {
    RAISED.with(|r| r.borrow_mut().take());
}

/// The Cordon error behind `e`, if `e` is one a host function raised that nothing caught.
pub(crate) fn escaped(e: &EvalAltResult) -> Option<Error> {
    let inner = match e {
        // A host function's error inside a script function surfaces wrapped in the call.
        EvalAltResult::ErrorInFunctionCall(_, _, inner, _) => return escaped(inner),
        EvalAltResult::ErrorRuntime(value, _) => value,
        _ => return None,
    };
    let is_cordon = inner
        .read_lock::<Map>()
        .is_some_and(|m| m.contains_key("kind") && m.contains_key("message"));
    if is_cordon {
        RAISED.with(|r| r.borrow_mut().take())
    } else {
        None
    }
}

/// In Rex mode, the Rex check `action` (`open`, `read`, ...) on `path` (a Cordon path) of
/// `entity` (`File` or `Dir`), as Rex's denial names it; `None` in plain mode.
pub(crate) fn rex_fs_check(action: &str, entity: &str, path: &str) -> Option<String> {
    paths::rex_mode().then(|| {
        format!(
            "file_system::Action::\"{action}\" for file_system::{entity}::{}",
            paths::show(path)
        )
    })
}

/// In Rex mode, Rex's network check of a GET of `url`; `None` in plain mode.
pub(crate) fn rex_get_check(url: &str) -> Option<String> {
    paths::rex_mode().then(|| format!("network::Action::\"GET\" for {url}"))
}

/// `error` from a call on the Cordon path `path`, its message naming the path as the script
/// spelled it (the Rex path in Rex mode), and from the Rex check `rex`.
pub(crate) fn on_path(error: Error, path: &str, rex: Option<String>) -> Failure {
    let shown = paths::show(path);
    let error = if shown == path {
        error
    } else {
        let fix = |m: String| m.replace(&format!("`{path}`"), &format!("`{shown}`"));
        match error {
            Error::NotFound(m) => Error::NotFound(fix(m)),
            Error::Invalid(m) => Error::Invalid(fix(m)),
            Error::LimitExceeded(m) => Error::LimitExceeded(fix(m)),
            Error::Io(m) => Error::Io(fix(m)),
            other => other,
        }
    };
    Failure::new(error, rex)
}
