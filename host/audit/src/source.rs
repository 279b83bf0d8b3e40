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
//! polyglot, or an empty file), and each run's entries name the language it ran as. The table
//! is created by the first source put, so a log that never ran source has none (and opening it
//! writes nothing).
//!
//! **Sealed, so that it can be erased.** Agent-written source often names the people and
//! records it works on (`records.get("patients", "p-1042")`), and an erased subject's
//! identifier must not survive in any file the log writes; but the log file is append-only
//! and never rewritten, and redb keeps a replaced row's bytes in its free pages. So each
//! source is stored encrypted (ChaCha20) under a key of its own, kept with the subject keys in
//! the key file ([`crate::keyfile`], subject bytes `0x05 str(digest)`), which *is* rewritten
//! when a key is destroyed. Erasing a subject ([`crate::AuditLog::erase_subjects`]) destroys
//! the key of every stored source whose text names the subject's identifier (as a whole word:
//! not inside a longer name), and records the erasure of each in the subject-key log (kind 3,
//! [`crate::keylog`]), which the checkpoints sign. The sealed text stays, unreadable; the
//! entries naming its digest still verify; [`crate::Store::source`] answers
//! [`StoredSource::Erased`]. A source that spells an identifier only in pieces
//! (`"p-" + "1042"`) is not found.
//!
//! ```text
//! row value = 0xE5 ‖ ChaCha20(key = derive_key(SEAL_CONTEXT, source key), nonce = 0, code)
//!           | language-len:u8 ‖ language ‖ code      (rows written before sealing: plain)
//! ```
//!
//! Each source key encrypts one text once, so the fixed nonce never repeats under a key; the
//! text's integrity is the digest it is stored under, which [`crate::verify`] checks.
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

/// The first byte of a sealed row (plain rows start with a language length, at most 32).
pub(crate) const SEALED: u8 = 0xE5;

/// The context of the BLAKE3 key derivation from a source's key to its cipher key.
const SEAL_CONTEXT: &str = "cordon.audit.source-seal.v1";

/// A source as the log holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoredSource {
    /// The exact text (whether it still hashes to its digest is for verification to say).
    Text(String),
    /// The text named an erased subject: its key is destroyed and it cannot be read.
    Erased,
}

impl StoredSource {
    /// The text, unless it was erased.
    pub fn text(self) -> Option<String> {
        match self {
            StoredSource::Text(text) => Some(text),
            StoredSource::Erased => None,
        }
    }
}

fn keystream(key: &[u8; 32], bytes: &mut [u8]) {
    use chacha20::cipher::{KeyIvInit, StreamCipher};
    let cipher_key = blake3::derive_key(SEAL_CONTEXT, key);
    let mut cipher = chacha20::ChaCha20::new(&cipher_key.into(), &[0u8; 12].into());
    cipher.apply_keystream(bytes);
}

/// The stored value of a source row: `code` sealed under its source key.
pub(crate) fn seal(key: &[u8; 32], code: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(1 + code.len());
    out.push(SEALED);
    out.extend_from_slice(code.as_bytes());
    keystream(key, &mut out[1..]);
    out
}

/// Whether a stored row is sealed (needs its source key to be read).
pub(crate) fn is_sealed(value: &[u8]) -> bool {
    value.first() == Some(&SEALED)
}

/// A stored row's text, if the row parses: a sealed row opened with `key` (`None`: the key is
/// destroyed, the source erased), or a plain row of an older log whose language, if any, is a
/// plain name. `None` if the row does not parse or its text is not UTF-8.
pub(crate) fn open_stored(value: &[u8], key: Option<&[u8; 32]>) -> Option<StoredSource> {
    if let Some(sealed) = value.strip_prefix(&[SEALED]) {
        let Some(key) = key else {
            return Some(StoredSource::Erased);
        };
        let mut text = sealed.to_vec();
        keystream(key, &mut text);
        return String::from_utf8(text).ok().map(StoredSource::Text);
    }
    let (&len, rest) = value.split_first()?;
    let (language, code) = rest.split_at_checked(usize::from(len))?;
    if !language.is_empty() {
        check_language(std::str::from_utf8(language).ok()?).ok()?;
    }
    Some(StoredSource::Text(
        std::str::from_utf8(code).ok()?.to_owned(),
    ))
}

/// Whether `code` names `id` as a whole word: an occurrence not inside a longer run of
/// letters, digits or `_` (so erasing `ann` does not erase a source that says `annual`). An
/// empty id names nothing. What erasure uses to find text that names a subject.
///
/// ```
/// assert!(cordon_audit::source::names("get('p-1042')", "p-1042"));
/// assert!(!cordon_audit::source::names("p-10420", "p-1042"));
/// ```
pub fn names(code: &str, id: &str) -> bool {
    if id.is_empty() {
        return false;
    }
    let word = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || c == '_');
    let first = id.chars().next();
    let last = id.chars().next_back();
    code.match_indices(id).any(|(at, _)| {
        let before = code[..at].chars().next_back();
        let after = code[at + id.len()..].chars().next();
        let joined_before = word(first) && word(before);
        let joined_after = word(last) && word(after);
        !joined_before && !joined_after
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_an_id_only_as_a_whole_word() {
        assert!(names(r#"records.get("patients", "p-1042")"#, "p-1042"));
        assert!(names("ann", "ann"));
        assert!(names("user=ann;", "ann"));
        assert!(!names("annual = 1", "ann"));
        assert!(!names("joann", "ann"));
        assert!(!names("ann_2", "ann"));
        assert!(!names(r#""p-10420""#, "p-1042"));
        // An id whose edges are not word characters matches wherever it occurs.
        assert!(names("x@bob.example.org)", "@bob.example.org"));
        assert!(names("Zoë", "Zoë"));
        assert!(!names("Zoëy", "Zoë"));
        assert!(!names("anything", ""));
    }

    #[test]
    fn a_sealed_row_opens_only_with_its_key() {
        let key = [7u8; 32];
        let row = seal(&key, "def main(input):\n    return 'Zoë'\n");
        assert!(is_sealed(&row));
        assert!(!row.windows(4).any(|w| w == b"main"));
        assert_eq!(
            open_stored(&row, Some(&key)),
            Some(StoredSource::Text(
                "def main(input):\n    return 'Zoë'\n".into()
            ))
        );
        assert_eq!(open_stored(&row, None), Some(StoredSource::Erased));
        assert_ne!(
            open_stored(&row, Some(&[8u8; 32])),
            Some(StoredSource::Text(
                "def main(input):\n    return 'Zoë'\n".into()
            ))
        );
    }
}
