//! Finding entries by user, record, purpose, tenant, time and the source a run executed.
//!
//! Users and records are found through their commitments (see [`crate::subject`]): the query
//! looks the subject's key up and recomputes the commitment, so an erased subject is found
//! nowhere. Whoever holds the store holds every live key, so a query also says who: each
//! entry's user is revealed while that user's key lives (never after their erasure). An
//! exported bundle stays pseudonymous (it opens only the subjects its query names) unless the
//! exporter asks to disclose the users too ([`Store::export_bundle_disclosing_users`]). Time bounds use the log's time order (entries never go back in time) to read only
//! the range they select.

use std::collections::HashSet;

use redb::ReadableTable;
use serde::{Deserialize, Serialize};

use crate::Hash;
use crate::encoding::{self, LoggedEntry, LoggedRecords};
use crate::store::{self, ReadError, Store};
use crate::subject::{Disclosure, Subject};

/// Which entries to select; every filter given must match.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Query {
    /// Entries made on behalf of this user.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// Entries that read this record, `(collection, record id)`: the reads that returned it
    /// and the reads whose policy withheld it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub record: Option<(String, String)>,
    /// Entries with this purpose.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub purpose: Option<String>,
    /// Entries of this tenant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
    /// Entries at or after this Unix time (ms).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since_ms: Option<u64>,
    /// Entries before this Unix time (ms).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until_ms: Option<u64>,
    /// Entries of source runs of the source with this digest (see [`crate::source`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code_digest: Option<String>,
}

/// An entry with the identifiers its reader may see.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RevealedEntry {
    /// The entry as stored.
    #[serde(flatten)]
    pub entry: LoggedEntry,
    /// The user, if a disclosure matched the user commitment.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// The ids of the records returned whose commitments a disclosure matched.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub record_ids: Vec<String>,
    /// The ids of the records withheld (met the read's filter, but the policy did not let the
    /// caller see them) whose commitments a disclosure matched.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub withheld_record_ids: Vec<String>,
}

/// Why a query failed.
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    /// The log could not be read.
    #[error("cannot query the log")]
    Read(#[from] ReadError),
}

impl From<redb::StorageError> for QueryError {
    fn from(e: redb::StorageError) -> QueryError {
        QueryError::Read(ReadError::Storage(e.into()))
    }
}

impl Query {
    /// The subjects this query names.
    pub fn subjects(&self) -> Vec<Subject> {
        let mut out = Vec::new();
        if let Some(user) = &self.user {
            out.push(Subject::User(user.clone()));
        }
        if let Some((collection, id)) = &self.record {
            out.push(Subject::Record {
                collection: collection.clone(),
                id: id.clone(),
            });
        }
        out
    }

    /// Whether `entry` matches, given the commitments of the query's user and record.
    pub(crate) fn matches(
        &self,
        entry: &LoggedEntry,
        user: Option<&Hash>,
        record: Option<&Hash>,
    ) -> bool {
        if self.purpose.as_ref().is_some_and(|p| p != &entry.purpose)
            || self.tenant.as_ref().is_some_and(|t| t != &entry.tenant)
            || self.since_ms.is_some_and(|t| entry.time_ms < t)
            || self.until_ms.is_some_and(|t| entry.time_ms >= t)
            || self
                .code_digest
                .as_ref()
                .is_some_and(|d| entry.code.as_ref().is_none_or(|c| &c.digest != d))
        {
            return false;
        }
        if self.user.is_some() && (user.is_none() || entry.user_commitment.as_ref() != user) {
            return false;
        }
        if let Some((collection, _)) = &self.record {
            let Some(records) = &entry.records else {
                return false;
            };
            let Some(record) = record else {
                return false;
            };
            if &records.collection != collection
                || !(records.record_commitments.contains(record)
                    || records.withheld_commitments.contains(record))
            {
                return false;
            }
        }
        true
    }
}

/// Shows the identifiers of `entry` that `disclosures` open.
pub fn reveal(entry: LoggedEntry, disclosures: &[Disclosure]) -> RevealedEntry {
    let opened: Vec<(Hash, &Subject)> = disclosures
        .iter()
        .map(|d| (d.commitment(), &d.subject))
        .collect();
    let user = entry.user_commitment.as_ref().and_then(|c| {
        opened.iter().find_map(|(h, s)| match s {
            Subject::User(id) if h == c => Some(id.clone()),
            _ => None,
        })
    });
    let open_records = |pick: fn(&LoggedRecords) -> &[Hash]| -> Vec<String> {
        let Some(r) = entry.records.as_ref() else {
            return Vec::new();
        };
        pick(r)
            .iter()
            .filter_map(|c| {
                opened.iter().find_map(|(h, s)| match s {
                    Subject::Record { collection, id } if h == c && collection == &r.collection => {
                        Some(id.clone())
                    }
                    _ => None,
                })
            })
            .collect()
    };
    let record_ids = open_records(|r| &r.record_commitments);
    let withheld_record_ids = open_records(|r| &r.withheld_commitments);
    RevealedEntry {
        entry,
        user,
        record_ids,
        withheld_record_ids,
    }
}

/// The entries a query selected, with their raw bytes, and the disclosures for its subjects.
pub(crate) struct Selection {
    pub(crate) entries: Vec<(Vec<u8>, LoggedEntry)>,
    pub(crate) disclosures: Vec<Disclosure>,
}

impl Store {
    /// The entries matching `query`, oldest first, with the queried subjects and every
    /// entry's user (while their key lives) revealed.
    pub fn query(&self, query: &Query) -> Result<Vec<RevealedEntry>, QueryError> {
        let mut selection = self.select(query, u64::MAX)?;
        let users = self.user_disclosures(selection.entries.iter().map(|(_, e)| e))?;
        selection.disclosures.extend(users);
        Ok(selection
            .entries
            .into_iter()
            .map(|(_, entry)| reveal(entry, &selection.disclosures))
            .collect())
    }

    /// The disclosures of the users whose commitments `entries` carry and whose keys live.
    pub(crate) fn user_disclosures<'a>(
        &self,
        entries: impl Iterator<Item = &'a LoggedEntry>,
    ) -> Result<Vec<Disclosure>, ReadError> {
        let wanted: HashSet<Hash> = entries.filter_map(|e| e.user_commitment).collect();
        let mut out = Vec::new();
        if wanted.is_empty() {
            return Ok(out);
        }
        self.with_keys(|keys| {
            // User subjects' bytes start with 1, record subjects' with 2.
            for row in keys.range([1u8].as_slice()..[2u8].as_slice())? {
                let (subject, key) = row?;
                let (Some(subject), Ok(key)) = (
                    crate::subject::from_bytes(subject.value()),
                    <[u8; 32]>::try_from(key.value()),
                ) else {
                    continue;
                };
                let disclosure = Disclosure {
                    subject,
                    key: Hash(key),
                };
                if wanted.contains(&disclosure.commitment()) {
                    out.push(disclosure);
                }
            }
            Ok(out)
        })
    }

    /// The disclosures (subject keys) for the subjects `query` names that still have keys.
    pub fn disclosures(&self, query: &Query) -> Result<Vec<Disclosure>, ReadError> {
        let mut out = Vec::new();
        for subject in query.subjects() {
            if let Some(key) = self.subject_key(&subject)? {
                out.push(Disclosure {
                    subject,
                    key: Hash(key),
                });
            }
        }
        Ok(out)
    }

    /// Selects matching entries with `seq < limit`.
    pub(crate) fn select(&self, query: &Query, limit: u64) -> Result<Selection, QueryError> {
        let disclosures = self.disclosures(query)?;
        let find = |pick: fn(&Subject) -> bool| {
            disclosures
                .iter()
                .find(|d| pick(&d.subject))
                .map(Disclosure::commitment)
        };
        let user = find(|s| matches!(s, Subject::User(_)));
        let record = find(|s| matches!(s, Subject::Record { .. }));
        let empty = Selection {
            entries: Vec::new(),
            disclosures: disclosures.clone(),
        };
        // A named subject without a key never appeared, or was erased: nothing can match.
        if (query.user.is_some() && user.is_none()) || (query.record.is_some() && record.is_none())
        {
            return Ok(empty);
        }

        let txn = self.begin_read()?;
        let tree = self.tree(&txn)?;
        let len = tree
            .entries
            .last()?
            .map_or(0, |(k, _)| k.value() + 1)
            .min(limit);
        let time_of = |seq: u64| -> Result<u64, QueryError> {
            let value = tree
                .entries
                .get(seq)?
                .ok_or(ReadError::MissingEntry { seq })?;
            let (_, bytes) = store::split_value(seq, value.value())?;
            let (_, time) = encoding::decode_header(bytes)
                .map_err(|source| ReadError::Malformed { seq, source })?;
            Ok(time)
        };
        // The first seq in 0..len whose time is >= t (entries are in time order).
        let lower_bound = |t: u64| -> Result<u64, QueryError> {
            let (mut lo, mut hi) = (0u64, len);
            while lo < hi {
                let mid = lo + (hi - lo) / 2;
                if time_of(mid)? < t {
                    lo = mid + 1;
                } else {
                    hi = mid;
                }
            }
            Ok(lo)
        };
        let start = match query.since_ms {
            Some(t) => lower_bound(t)?,
            None => 0,
        };
        let end = match query.until_ms {
            Some(t) => lower_bound(t)?,
            None => len,
        };
        let mut entries = Vec::new();
        if start < end {
            for row in tree.entries.range(start..end)? {
                let (k, v) = row?;
                let seq = k.value();
                let (_, bytes) = store::split_value(seq, v.value())?;
                let entry = encoding::decode_entry(bytes)
                    .map_err(|source| ReadError::Malformed { seq, source })?;
                if query.matches(&entry, user.as_ref(), record.as_ref()) {
                    entries.push((bytes.to_vec(), entry));
                }
            }
        }
        Ok(Selection {
            entries,
            disclosures,
        })
    }
}
