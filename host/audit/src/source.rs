//! The source text of source runs, stored content-addressed in the log file.
//!
//! An agent may send source text (Python, JavaScript) that a runner component executes. Each
//! decision of such a run names the source in [`crate::Entry::code`]: its language and its
//! digest, the BLAKE3 hash of the source's UTF-8 bytes in lower-case hex (the same form as a
//! component digest). The source itself is kept in the log file's `sources` table under that
//! digest ([`crate::AuditLog::put_source`]), so that the exact text that ran can be read back
//! ([`crate::Store::source`]) and checked against the digest by [`crate::verify`].
//!
//! A source is stored by its text alone: the same text may run as more than one language (a
//! polyglot, or an empty file), and each run's entries name the language it ran as. A stored
//! row's value is `language-len:u8 ‖ language ‖ code` (UTF-8); writers store an empty
//! language (a zero byte), and rows of logs written before that hold the language their text
//! was first stored with, which is read over and never trusted. The table is created by the
//! first source put, so a log that never ran source has none (and opening it writes nothing).
//!
//! A source is stored before any entry can name it: [`crate::AuditLog::append`] refuses an
//! entry whose source the log does not hold, so a missing source in a log file is tampering,
//! not a gap.

use serde::{Deserialize, Serialize};

/// The largest source text the log stores, in bytes.
pub const MAX_SOURCE_LEN: usize = 1 << 20;

/// The longest language name, in bytes.
pub const MAX_LANGUAGE_LEN: usize = 32;

/// The source a run executed, as a decision names it: what [`crate::Entry::code`] holds.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct CodeRef {
    /// The source's language, e.g. `python` or `javascript`.
    pub language: String,
    /// BLAKE3 of the source's UTF-8 bytes, 64 lower-case hex digits.
    pub digest: String,
}

impl CodeRef {
    /// The reference to `code` in `language` (not checked: see [`CodeRef::check`]).
    pub fn of(language: &str, code: &str) -> CodeRef {
        CodeRef {
            language: language.to_owned(),
            digest: digest(code),
        }
    }

    /// Checks that the digest is 64 lower-case hex digits and the language a short name.
    pub fn check(&self) -> Result<(), CodeRefError> {
        check_language(&self.language)?;
        if !is_digest(&self.digest) {
            return Err(CodeRefError::BadDigest {
                digest: self.digest.clone(),
            });
        }
        Ok(())
    }
}

/// Why a [`CodeRef`] is not well formed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodeRefError {
    /// The digest is not 64 lower-case hex digits.
    #[error("code digest `{digest}` is not 64 lower-case hex digits")]
    BadDigest {
        /// The digest given.
        digest: String,
    },
    /// The language is empty, too long, or not a plain name.
    #[error(
        "code language `{language}` is not a name of 1 to {MAX_LANGUAGE_LEN} lower-case letters, digits, `-`, `_` or `+`"
    )]
    BadLanguage {
        /// The language given.
        language: String,
    },
}

/// BLAKE3 of `code`'s UTF-8 bytes in lower-case hex.
pub fn digest(code: &str) -> String {
    blake3::hash(code.as_bytes()).to_hex().to_string()
}

/// Whether `text` is 64 lower-case hex digits.
pub fn is_digest(text: &str) -> bool {
    text.len() == 64 && text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

pub(crate) fn check_language(language: &str) -> Result<(), CodeRefError> {
    let plain = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-_+".contains(&b);
    if language.is_empty() || language.len() > MAX_LANGUAGE_LEN || !language.bytes().all(plain) {
        return Err(CodeRefError::BadLanguage {
            language: language.to_owned(),
        });
    }
    Ok(())
}

/// The stored value of a source row: no language (see the module docs), then the text.
pub(crate) fn to_stored(code: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(1 + code.len());
    out.push(0);
    out.extend_from_slice(code.as_bytes());
    out
}

/// A stored row's text, if the row parses: its language, if any, is a plain name and its
/// text is UTF-8.
pub(crate) fn from_stored(value: &[u8]) -> Option<String> {
    let (&len, rest) = value.split_first()?;
    let (language, code) = rest.split_at_checked(usize::from(len))?;
    if !language.is_empty() {
        check_language(std::str::from_utf8(language).ok()?).ok()?;
    }
    Some(std::str::from_utf8(code).ok()?.to_owned())
}
