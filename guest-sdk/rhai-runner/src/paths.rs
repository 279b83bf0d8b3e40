//! Paths as scripts give them and as Cordon's `fs` takes them.
//!
//! Plain mode: a path is Cordon's, relative to the run's root (`notes/a.txt` and `/notes/a.txt`
//! are the same file); it is only tidied (`//` and `.` dropped), and the host checks the rest.
//!
//! Rex mode (the request's `"rex": {"root": "/tmp/rex_example"}`): a path is an absolute host
//! path, as in a Rex script. `root` is Cordon's `/` and `root/x/y` is `/x/y`. Nothing outside
//! the root exists in the run: any other path, a relative one, or one with `..`, is `invalid`
//! before any call is made, and is never mapped to a path inside the root. Paths in results
//! are shown the same way, the root put back in front.

use std::cell::RefCell;

use cordon_guest::Error;

use crate::error::Failure;

thread_local! {
    /// The Rex root of the run, or `None` in plain mode.
    static REX_ROOT: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Start a run in Rex mode with `root`, or in plain mode (`None`). The host validated the root;
/// it is checked again here, since the runner must never map a path outside it inside.
pub(crate) fn set_rex_root(root: Option<String>) -> Result<(), Error> {
    if let Some(root) = &root {
        let normal = root == "/"
            || (root.starts_with('/')
                && !root.ends_with('/')
                && root
                    .split('/')
                    .skip(1)
                    .all(|part| !matches!(part, "" | "." | "..")));
        if !normal {
            return Err(Error::Invalid(format!(
                "the rex root `{root}` is not an absolute, normalised path"
            )));
        }
    }
    REX_ROOT.with(|r| *r.borrow_mut() = root);
    Ok(())
}

/// True in Rex mode.
pub(crate) fn rex_mode() -> bool {
    REX_ROOT.with(|r| r.borrow().is_some())
}

/// The Cordon path (`/a/b`, or `/` for the root) that the script's `path` names.
pub(crate) fn resolve(path: &str) -> Result<String, Failure> {
    if path.is_empty() {
        return Err(Failure::invalid("empty path"));
    }
    let Some(root) = REX_ROOT.with(|r| r.borrow().clone()) else {
        return Ok(tidy(path));
    };
    let outside = || {
        Failure::invalid(format!(
            "`{path}` is outside the rex root `{root}`: nothing outside it exists in this run"
        ))
    };
    if !path.starts_with('/') {
        return Err(Failure::invalid(format!(
            "`{path}` is not an absolute path: in rex mode every path is absolute, below the \
             rex root `{root}`"
        )));
    }
    if path.split('/').any(|part| part == "..") {
        return Err(Failure::invalid(format!(
            "`{path}` contains `..`: in rex mode a path must name its place below the rex root \
             `{root}` directly"
        )));
    }
    if root == "/" {
        return Ok(tidy(path));
    }
    let below = path.strip_prefix(root.as_str()).ok_or_else(outside)?;
    if below.is_empty() || below.starts_with('/') {
        Ok(tidy(below))
    } else {
        // `/tmp/rex_example2` shares the root's spelling but is beside it, not below.
        Err(outside())
    }
}

/// How the script sees the Cordon path `path`: itself in plain mode, below the root in Rex mode.
pub(crate) fn show(path: &str) -> String {
    REX_ROOT.with(|r| match r.borrow().as_deref() {
        None | Some("/") => path.to_owned(),
        Some(root) if path == "/" => root.to_owned(),
        Some(root) => format!("{root}{path}"),
    })
}

/// The directory that holds the Cordon path `path` (`/` for a top-level entry and the root).
pub(crate) fn parent(path: &str) -> &str {
    match path.rfind('/') {
        Some(0) | None => "/",
        Some(i) => &path[..i],
    }
}

/// The Cordon path of `name` in the directory `dir`.
pub(crate) fn join(dir: &str, name: &str) -> String {
    if dir == "/" {
        format!("/{name}")
    } else {
        format!("{dir}/{name}")
    }
}

/// How many levels `path` is below `base` (0 for `base` itself); both Cordon paths.
pub(crate) fn depth(base: &str, path: &str) -> usize {
    let count = |p: &str| p.split('/').filter(|s| !s.is_empty()).count();
    count(path).saturating_sub(count(base))
}

/// `/` followed by the path's parts, without empty and `.` parts.
fn tidy(path: &str) -> String {
    let parts: Vec<&str> = path
        .split('/')
        .filter(|part| !matches!(*part, "" | "."))
        .collect();
    format!("/{}", parts.join("/"))
}
