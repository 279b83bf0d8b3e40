//! Bounds on the strings a guest chooses, checked before any entity is built.
//!
//! Building a Cedar request costs time and memory in proportion to its strings: a path becomes
//! one `Dir` entity per ancestor, each carrying its own path, and Cedar computes the transitive
//! closure of their `in` relation. A guest that names a path of 10,000 components or a 4 MiB
//! file name would make one denied call cost seconds and gigabytes, and the decision log would
//! keep the whole string. Every argument that ends up in a resource is therefore refused as
//! [`ArgumentTooLong`] when it exceeds one of these constants, before the policy is asked.
//! With them, one fs decision builds at most [`MAX_PATH_COMPONENTS`] directory entities of at
//! most [`MAX_PATH_BYTES`] each, and one log entry names at most a few KiB of resource.

/// Most bytes in a path (as the guest wrote it).
pub const MAX_PATH_BYTES: usize = 4096;
/// Most components (`/`-separated names) in a path.
pub const MAX_PATH_COMPONENTS: usize = 64;
/// Most bytes in a URL.
pub const MAX_URL_BYTES: usize = 8192;
/// Most bytes in a name that becomes part of a resource or the log: a records collection, a
/// record id, a field name.
pub const MAX_NAME_BYTES: usize = 256;
/// Most names one call may list (fields requested, conditions of a filter).
pub const MAX_NAMES: usize = 256;
/// How many bytes of a refused value are shown (in the guest's error and the host's log); the
/// rest is named by its digest.
pub const SHOWN_BYTES: usize = 64;

/// An argument over one of the bounds. Its message shows at most [`SHOWN_BYTES`] of the value
/// and the blake3 digest of the whole, never the whole value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what} is too long ({size} {unit}, at most {limit}): `{shown}…` (blake3 {digest})")]
pub struct ArgumentTooLong {
    /// What was refused, e.g. `path`.
    pub what: &'static str,
    /// Its size, in `unit`s.
    pub size: usize,
    /// The bound it exceeds.
    pub limit: usize,
    /// `bytes`, `components` or `names`.
    pub unit: &'static str,
    /// The start of the value, cut at a character boundary.
    pub shown: String,
    /// blake3 of the whole value, hex.
    pub digest: String,
}

impl ArgumentTooLong {
    fn new(what: &'static str, value: &str, size: usize, limit: usize, unit: &'static str) -> Self {
        ArgumentTooLong {
            what,
            size,
            limit,
            unit,
            shown: shown(value).to_owned(),
            digest: blake3::hash(value.as_bytes()).to_hex().to_string(),
        }
    }
}

/// At most [`SHOWN_BYTES`] of `value`, cut at a character boundary.
pub fn shown(value: &str) -> &str {
    let mut end = value.len().min(SHOWN_BYTES);
    while !value.is_char_boundary(end) {
        end -= 1;
    }
    &value[..end]
}

/// Refuse a path longer than [`MAX_PATH_BYTES`] or with more than [`MAX_PATH_COMPONENTS`]
/// non-empty components. Cheap: one pass over the bytes, stopping at the first bound crossed.
///
/// ```
/// use cordon_policy::bounds::{check_path, MAX_PATH_COMPONENTS};
/// assert!(check_path("/a/b/c.txt").is_ok());
/// let deep = "a/".repeat(MAX_PATH_COMPONENTS + 1);
/// assert_eq!(check_path(&deep).unwrap_err().unit, "components");
/// ```
pub fn check_path(path: &str) -> Result<(), ArgumentTooLong> {
    if path.len() > MAX_PATH_BYTES {
        return Err(ArgumentTooLong::new(
            "path",
            path,
            path.len(),
            MAX_PATH_BYTES,
            "bytes",
        ));
    }
    let components = path
        .split('/')
        .filter(|s| !s.is_empty() && *s != ".")
        .count();
    if components > MAX_PATH_COMPONENTS {
        return Err(ArgumentTooLong::new(
            "path",
            path,
            components,
            MAX_PATH_COMPONENTS,
            "components",
        ));
    }
    Ok(())
}

/// Refuse a URL longer than [`MAX_URL_BYTES`].
///
/// ```
/// assert!(cordon_policy::bounds::check_url("https://example.com/").is_ok());
/// ```
pub fn check_url(url: &str) -> Result<(), ArgumentTooLong> {
    if url.len() > MAX_URL_BYTES {
        return Err(ArgumentTooLong::new(
            "url",
            url,
            url.len(),
            MAX_URL_BYTES,
            "bytes",
        ));
    }
    Ok(())
}

/// Refuse a name (`what`: `collection`, `record id`, `field`) longer than [`MAX_NAME_BYTES`].
///
/// ```
/// assert!(cordon_policy::bounds::check_name("collection", "patients").is_ok());
/// assert!(cordon_policy::bounds::check_name("collection", &"p".repeat(300)).is_err());
/// ```
pub fn check_name(what: &'static str, name: &str) -> Result<(), ArgumentTooLong> {
    if name.len() > MAX_NAME_BYTES {
        return Err(ArgumentTooLong::new(
            what,
            name,
            name.len(),
            MAX_NAME_BYTES,
            "bytes",
        ));
    }
    Ok(())
}

/// Refuse a list of names (`what`: `fields`) with more than [`MAX_NAMES`] entries, or any
/// entry longer than [`MAX_NAME_BYTES`].
pub fn check_names<'a>(
    what: &'static str,
    names: impl ExactSizeIterator<Item = &'a str>,
) -> Result<(), ArgumentTooLong> {
    if names.len() > MAX_NAMES {
        return Err(ArgumentTooLong {
            what,
            size: names.len(),
            limit: MAX_NAMES,
            unit: "names",
            shown: String::new(),
            digest: String::new(),
        });
    }
    for n in names {
        check_name(what, n)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_path_at_the_bounds_passes_and_one_past_them_does_not() {
        let at = vec!["a"; MAX_PATH_COMPONENTS].join("/");
        assert!(check_path(&at).is_ok());
        assert!(check_path(&format!("{at}/b")).is_err());
        // Empty and `.` segments are not components: they normalize away.
        assert!(check_path(&format!("{at}//./")).is_ok());
        let long = "x".repeat(MAX_PATH_BYTES + 1);
        let e = check_path(&long).unwrap_err();
        assert_eq!((e.size, e.unit), (MAX_PATH_BYTES + 1, "bytes"));
    }

    #[test]
    fn a_refusal_shows_a_bounded_prefix_and_the_digest_of_the_whole() {
        let name = "é".repeat(2 * 1024 * 1024);
        let e = check_name("field", &name).unwrap_err();
        assert!(e.shown.len() <= SHOWN_BYTES);
        assert!(name.starts_with(&e.shown));
        assert_eq!(e.digest, blake3::hash(name.as_bytes()).to_hex().to_string());
        assert!(e.to_string().len() < 300, "{e}");
    }
}
