//! Taint: labels of what a run has read so far. The labels only grow during a run. They are in
//! the Cedar context (`context.taint`) of every call that can carry data out — `http:send`,
//! `fs:write`, `fs:append` — so a policy can say "after reading health data, no egress except
//! to the EHR host" or "EU data never to a non-EU host".
//!
//! ```
//! use cordon_policy::Taint;
//!
//! let mut taint = Taint::default();
//! assert!(!taint.is_tainted());
//! taint.observe("patients", 3, "EU", ["health", "contact"]);
//! taint.observe("invoices", 1, "US", ["billing"]);
//! assert_eq!(taint.classification(), Some(3));
//! assert!(taint.jurisdictions().contains("EU"));
//! assert_eq!(taint.categories().len(), 3);
//! ```

use std::collections::BTreeSet;

use cedar_policy::RestrictedExpression;
use serde::{Deserialize, Serialize};

use crate::request::Action;

/// What a run has read: the highest classification level, and every jurisdiction, record
/// collection and field category seen. Built by the data layer through [`Taint::observe`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Taint {
    /// Highest classification level read (0 = the tenant's lowest); `None`: nothing read yet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    classification: Option<u32>,
    /// Jurisdictions of the records read.
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    jurisdictions: BTreeSet<String>,
    /// Collections read from.
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    collections: BTreeSet<String>,
    /// Categories of the fields returned to the guest (`health`, `contact`, ...).
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    categories: BTreeSet<String>,
}

impl Taint {
    /// Record that the run was shown data of `collection`, at `classification` (the level's
    /// position in the tenant's ordered levels), from `jurisdiction`, with fields of
    /// `categories`. Call it once per read with what the read actually returned to the guest:
    /// data withheld by policy does not taint. An empty `jurisdiction` is not recorded.
    pub fn observe<C: Into<String>>(
        &mut self,
        collection: &str,
        classification: u32,
        jurisdiction: &str,
        categories: impl IntoIterator<Item = C>,
    ) {
        self.classification = Some(
            self.classification
                .map_or(classification, |c| c.max(classification)),
        );
        self.collections.insert(collection.to_owned());
        if !jurisdiction.is_empty() {
            self.jurisdictions.insert(jurisdiction.to_owned());
        }
        self.categories.extend(
            categories
                .into_iter()
                .map(Into::into)
                .filter(|c: &String| !c.is_empty()),
        );
    }

    /// Everything `other` has seen, added to this taint.
    pub fn merge(&mut self, other: &Taint) {
        if let Some(level) = other.classification {
            self.classification = Some(self.classification.map_or(level, |c| c.max(level)));
        }
        self.jurisdictions
            .extend(other.jurisdictions.iter().cloned());
        self.collections.extend(other.collections.iter().cloned());
        self.categories.extend(other.categories.iter().cloned());
    }

    /// Whether the run has read any labelled data.
    pub fn is_tainted(&self) -> bool {
        self.classification.is_some()
    }

    /// The highest classification level read, if anything was read.
    pub fn classification(&self) -> Option<u32> {
        self.classification
    }

    /// Jurisdictions read from.
    pub fn jurisdictions(&self) -> &BTreeSet<String> {
        &self.jurisdictions
    }

    /// Collections read from.
    pub fn collections(&self) -> &BTreeSet<String> {
        &self.collections
    }

    /// Categories of the fields returned.
    pub fn categories(&self) -> &BTreeSet<String> {
        &self.categories
    }

    /// `context.taint` as Cedar sees it (schema type `Cordon::Taint`): `tainted`,
    /// `classification` (-1 when nothing was read, so `>= 0` means "read something"),
    /// `jurisdictions`, `collections`, `categories`.
    pub(crate) fn to_cedar(&self) -> Result<RestrictedExpression, String> {
        let set = |s: &BTreeSet<String>| {
            RestrictedExpression::new_set(s.iter().cloned().map(RestrictedExpression::new_string))
        };
        RestrictedExpression::new_record([
            (
                "tainted".to_owned(),
                RestrictedExpression::new_bool(self.is_tainted()),
            ),
            (
                "classification".to_owned(),
                RestrictedExpression::new_long(self.classification.map_or(-1, i64::from)),
            ),
            ("jurisdictions".to_owned(), set(&self.jurisdictions)),
            ("collections".to_owned(), set(&self.collections)),
            ("categories".to_owned(), set(&self.categories)),
        ])
        .map_err(|e| e.to_string())
    }
}

/// Whether `action` can carry data out of the run, and so is decided with `context.taint`.
pub(crate) fn carries_taint(action: Action) -> bool {
    matches!(
        action,
        Action::HttpSend | Action::FsWrite | Action::FsAppend
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn observing_keeps_the_highest_classification_and_every_label() {
        let mut t = Taint::default();
        t.observe("a", 2, "EU", ["health"]);
        t.observe("b", 1, "", ["", "contact"]);
        assert_eq!(t.classification(), Some(2));
        assert_eq!(t.jurisdictions().iter().collect::<Vec<_>>(), ["EU"]);
        assert_eq!(t.collections().iter().collect::<Vec<_>>(), ["a", "b"]);
        assert_eq!(
            t.categories().iter().collect::<Vec<_>>(),
            ["contact", "health"]
        );
    }

    #[test]
    fn merging_never_lowers_a_label() {
        let mut a = Taint::default();
        a.observe("x", 3, "US", ["pii"]);
        let mut b = Taint::default();
        b.observe("y", 1, "EU", ["billing"]);
        a.merge(&b);
        assert_eq!(a.classification(), Some(3));
        assert_eq!(a.jurisdictions().len(), 2);
        a.merge(&Taint::default());
        assert_eq!(a.classification(), Some(3));
    }

    #[test]
    fn a_clean_taint_serializes_to_an_empty_object() {
        assert_eq!(serde_json::to_string(&Taint::default()).unwrap(), "{}");
    }

    #[test]
    fn only_calls_that_carry_data_out_are_tainted() {
        let tainted: Vec<_> = Action::ALL
            .into_iter()
            .filter(|a| carries_taint(*a))
            .collect();
        assert_eq!(
            tainted,
            [Action::FsWrite, Action::FsAppend, Action::HttpSend]
        );
    }
}
