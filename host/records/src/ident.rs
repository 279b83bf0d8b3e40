//! Identifiers: how data subjects and record ids are normalised and validated, and the keyed
//! commitments the store keeps in their place wherever they must outlive an erasure.
//!
//! **Normalisation.** An identifier is trimmed of surrounding white space and put in Unicode
//! NFC, so that `"ada "` and `"ada"`, or a precomposed and a decomposed `é`, name the same
//! thing. A *subject* is also lower-cased (Unicode simple lower case): subjects are people's
//! handles and e-mail addresses, and erasing `Ada@Example.org` must erase `ada@example.org`
//! too — over-matching a subject errs towards erasing, never towards keeping. A *record id*
//! keeps its case: ids are opaque keys, and folding them could merge two records.
//!
//! **Validation.** After normalisation an identifier is non-empty, at most
//! [`MAX_IDENTIFIER_BYTES`] bytes, and has no control characters (so no NUL, which the store
//! uses as a key separator).
//!
//! **Commitments.** The erasure tombstones and the operator log name subjects, records and
//! holds only by `blake3_keyed(store key, "cordon.records.commitment.v1" || kind || parts)`
//! (each part length-prefixed), in hex. The store key is 32 random bytes made when the store
//! is created. Without it a commitment cannot be linked to an identifier; with it (that is,
//! with the store file) one can test a guessed identifier, which is what lets a re-import of
//! an erased subject be refused.

use unicode_normalization::UnicodeNormalization;

/// Longest identifier accepted, in bytes after normalisation.
pub const MAX_IDENTIFIER_BYTES: usize = 256;

const DOMAIN: &[u8] = b"cordon.records.commitment.v1";

/// Why an identifier was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdentifierError {
    /// It is empty (or only white space).
    #[error("is empty")]
    Empty,
    /// It is longer than [`MAX_IDENTIFIER_BYTES`].
    #[error("is longer than {MAX_IDENTIFIER_BYTES} bytes")]
    TooLong,
    /// It contains a control character.
    #[error("contains a control character")]
    Control,
}

fn normalise(raw: &str, fold_case: bool) -> Result<String, IdentifierError> {
    let trimmed = raw.trim();
    let out = if trimmed.is_ascii() {
        // ASCII text is already in NFC, and its simple lower case is its ASCII lower case: the
        // common case skips the Unicode tables.
        if fold_case {
            trimmed.to_ascii_lowercase()
        } else {
            trimmed.to_owned()
        }
    } else {
        normalise_unicode(trimmed, fold_case)
    };
    check(out)
}

fn normalise_unicode(trimmed: &str, fold_case: bool) -> String {
    let nfc: String = trimmed.nfc().collect();
    if fold_case {
        // Lower-casing can produce decomposed sequences: normalise again.
        nfc.to_lowercase().nfc().collect()
    } else {
        nfc
    }
}

fn check(out: String) -> Result<String, IdentifierError> {
    if out.is_empty() {
        return Err(IdentifierError::Empty);
    }
    if out.len() > MAX_IDENTIFIER_BYTES {
        return Err(IdentifierError::TooLong);
    }
    if out.chars().any(char::is_control) {
        return Err(IdentifierError::Control);
    }
    Ok(out)
}

/// A data subject as the store compares it: trimmed, NFC, lower case.
///
/// ```
/// assert_eq!(cordon_records::normalise_subject(" Ada@Example.ORG\t").unwrap(), "ada@example.org");
/// assert_eq!(
///     cordon_records::normalise_subject("Jose\u{301}").unwrap(),
///     cordon_records::normalise_subject("jos\u{e9}").unwrap(),
/// );
/// assert!(cordon_records::normalise_subject("  ").is_err());
/// ```
pub fn normalise_subject(raw: &str) -> Result<String, IdentifierError> {
    normalise(raw, true)
}

/// A record id as the store compares it: trimmed, NFC, case kept.
pub fn normalise_record_id(raw: &str) -> Result<String, IdentifierError> {
    normalise(raw, false)
}

/// The store's commitment to `kind` named by `parts` (see the module docs).
pub(crate) fn commitment(key: &[u8; 32], kind: &str, parts: &[&str]) -> String {
    let mut h = blake3::Hasher::new_keyed(key);
    h.update(DOMAIN);
    for part in std::iter::once(&kind).chain(parts) {
        h.update(&(part.len() as u64).to_be_bytes());
        h.update(part.as_bytes());
    }
    h.finalize().to_hex().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn the_ascii_shortcut_normalises_exactly_as_the_unicode_tables_do(
            s in "[\\x00-\\x7f]{0,40}",
        ) {
            for fold in [false, true] {
                prop_assert_eq!(
                    normalise(&s, fold),
                    check(normalise_unicode(s.trim(), fold)),
                );
            }
        }
    }
}
