//! The server's state in one embedded redb file: tenants, hashed API tokens, components,
//! policy bundle versions, identity keys, shadow differences and async runs. Every value is
//! JSON except component bytes; keys are `<tenant>/<id>` so one tenant's things are one key
//! range.

use std::path::Path;

use redb::{Database, ReadableDatabase, TableDefinition};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// The file inside the data directory.
pub const STATE_FILE: &str = "server.redb";

pub(crate) const TENANTS: TableDefinition<&str, &[u8]> = TableDefinition::new("tenants");
pub(crate) const TOKENS: TableDefinition<&str, &[u8]> = TableDefinition::new("tokens");
pub(crate) const COMPONENTS: TableDefinition<&str, &[u8]> = TableDefinition::new("components");
pub(crate) const COMPONENT_BYTES: TableDefinition<&str, &[u8]> =
    TableDefinition::new("component_bytes");
pub(crate) const BUNDLES: TableDefinition<&str, &[u8]> = TableDefinition::new("bundles");
pub(crate) const KEYS: TableDefinition<&str, &[u8]> = TableDefinition::new("identity_keys");
pub(crate) const SHADOW: TableDefinition<&str, &[u8]> = TableDefinition::new("shadow_differences");
pub(crate) const RUNS: TableDefinition<&str, &[u8]> = TableDefinition::new("runs");
/// Finished runs by `<tenant>/<finished at, ns, 20 digits>-<run id>`, oldest first: retention.
pub(crate) const RUN_INDEX: TableDefinition<&str, &[u8]> = TableDefinition::new("run_index");
/// How many entries each tenant has in [`RUN_INDEX`] (kept in the same transactions), so that
/// retention needs no scan: tenant → count.
pub(crate) const RUN_COUNTS: TableDefinition<&str, u64> = TableDefinition::new("run_counts");
/// How long each digest's first (cold) compile took, microseconds: not per tenant.
pub(crate) const COMPILE_TIMES: TableDefinition<&str, &[u8]> =
    TableDefinition::new("compile_times");

const ALL: [TableDefinition<&str, &[u8]>; 10] = [
    TENANTS,
    TOKENS,
    COMPONENTS,
    COMPONENT_BYTES,
    BUNDLES,
    KEYS,
    SHADOW,
    RUNS,
    RUN_INDEX,
    COMPILE_TIMES,
];

/// The state store failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// redb failed (I/O, a corrupt file, a transaction error).
    #[error("state store: {0}")]
    Db(String),
    /// A stored value does not decode.
    #[error("state store: value `{key}` does not decode: {message}")]
    Decode {
        /// The key.
        key: String,
        /// What is wrong.
        message: String,
    },
}

pub(crate) fn db<E: std::fmt::Display>(e: E) -> StoreError {
    StoreError::Db(e.to_string())
}

/// The redb-backed state.
#[derive(Debug)]
pub struct Store {
    db: Database,
}

/// `<tenant>/<id>`.
pub(crate) fn key(tenant: &str, id: &str) -> String {
    format!("{tenant}/{id}")
}

impl Store {
    /// Open (or create) the store at `path`.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        let database = Database::create(path).map_err(db)?;
        let txn = database.begin_write().map_err(db)?;
        for t in ALL {
            txn.open_table(t).map_err(db)?;
        }
        txn.open_table(RUN_COUNTS).map_err(db)?;
        txn.commit().map_err(db)?;
        Ok(Store { db: database })
    }

    /// A JSON value.
    pub(crate) fn get<T: DeserializeOwned>(
        &self,
        table: TableDefinition<&str, &[u8]>,
        k: &str,
    ) -> Result<Option<T>, StoreError> {
        let txn = self.db.begin_read().map_err(db)?;
        let t = txn.open_table(table).map_err(db)?;
        let v = t.get(k).map_err(db)?;
        v.map(|v| decode(k, v.value())).transpose()
    }

    /// Raw bytes.
    pub(crate) fn get_bytes(
        &self,
        table: TableDefinition<&str, &[u8]>,
        k: &str,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        let txn = self.db.begin_read().map_err(db)?;
        let t = txn.open_table(table).map_err(db)?;
        Ok(t.get(k).map_err(db)?.map(|v| v.value().to_vec()))
    }

    /// Write JSON values and raw bytes in one transaction, durable when it returns.
    pub(crate) fn put_all(&self, writes: Vec<Write<'_>>) -> Result<(), StoreError> {
        self.put_all_with(writes, true)
    }

    /// Write in one transaction; `durable: false` commits without an fsync (the write is on
    /// disk once a later durable commit lands, or lost in a crash before it).
    pub(crate) fn put_all_with(
        &self,
        writes: Vec<Write<'_>>,
        durable: bool,
    ) -> Result<(), StoreError> {
        let mut txn = self.db.begin_write().map_err(db)?;
        if !durable {
            txn.set_durability(redb::Durability::None).map_err(db)?;
        }
        for w in writes {
            let mut t = txn.open_table(w.table).map_err(db)?;
            match w.value {
                Some(v) => {
                    t.insert(w.key.as_str(), v.as_slice()).map_err(db)?;
                }
                None => {
                    t.remove(w.key.as_str()).map_err(db)?;
                }
            }
        }
        txn.commit().map_err(db)
    }

    /// Run `f` in one write transaction, committed (durably when `durable`) if it succeeds,
    /// aborted otherwise: for read-modify-writes that must not interleave with another's.
    pub(crate) fn transact<R>(
        &self,
        durable: bool,
        f: impl FnOnce(&redb::WriteTransaction) -> Result<R, StoreError>,
    ) -> Result<R, StoreError> {
        let mut txn = self.db.begin_write().map_err(db)?;
        if !durable {
            txn.set_durability(redb::Durability::None).map_err(db)?;
        }
        match f(&txn) {
            Ok(r) => {
                txn.commit().map_err(db)?;
                Ok(r)
            }
            Err(e) => {
                txn.abort().map_err(db)?;
                Err(e)
            }
        }
    }

    /// The first `limit` keys that start with `prefix`, in order.
    #[cfg(test)]
    pub(crate) fn first_keys(
        &self,
        table: TableDefinition<&str, &[u8]>,
        prefix: &str,
        limit: usize,
    ) -> Result<Vec<String>, StoreError> {
        let txn = self.db.begin_read().map_err(db)?;
        let t = txn.open_table(table).map_err(db)?;
        let mut out = Vec::new();
        for item in t.range(prefix..).map_err(db)?.take(limit) {
            let (k, _) = item.map_err(db)?;
            let k = k.value();
            if !k.starts_with(prefix) {
                break;
            }
            out.push(k.to_owned());
        }
        Ok(out)
    }

    /// Write one JSON value.
    pub(crate) fn put<T: Serialize>(
        &self,
        table: TableDefinition<&str, &[u8]>,
        k: &str,
        v: &T,
    ) -> Result<(), StoreError> {
        self.put_all(vec![Write::json(table, k, v)?])
    }

    /// Every value whose key starts with `prefix`, in key order, as stored.
    pub(crate) fn list_bytes(
        &self,
        table: TableDefinition<&str, &[u8]>,
        prefix: &str,
    ) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        let txn = self.db.begin_read().map_err(db)?;
        let t = txn.open_table(table).map_err(db)?;
        let mut out = Vec::new();
        for item in t.range(prefix..).map_err(db)? {
            let (k, v) = item.map_err(db)?;
            let k = k.value().to_owned();
            if !k.starts_with(prefix) {
                break;
            }
            out.push((k, v.value().to_vec()));
        }
        Ok(out)
    }

    /// Every value whose key starts with `prefix`, in key order.
    pub(crate) fn list<T: DeserializeOwned>(
        &self,
        table: TableDefinition<&str, &[u8]>,
        prefix: &str,
    ) -> Result<Vec<(String, T)>, StoreError> {
        self.list_bytes(table, prefix)?
            .into_iter()
            .map(|(k, v)| {
                let v = decode(&k, &v)?;
                Ok((k, v))
            })
            .collect()
    }
}

/// One write of [`Store::put_all`]: `None` removes the key.
pub(crate) struct Write<'a> {
    table: TableDefinition<'a, &'static str, &'static [u8]>,
    key: String,
    value: Option<Vec<u8>>,
}

impl<'a> Write<'a> {
    pub(crate) fn json<T: Serialize>(
        table: TableDefinition<'a, &'static str, &'static [u8]>,
        k: &str,
        v: &T,
    ) -> Result<Self, StoreError> {
        Ok(Write {
            table,
            key: k.to_owned(),
            value: Some(serde_json::to_vec(v).map_err(db)?),
        })
    }

    pub(crate) fn bytes(
        table: TableDefinition<'a, &'static str, &'static [u8]>,
        k: &str,
        v: Vec<u8>,
    ) -> Self {
        Write {
            table,
            key: k.to_owned(),
            value: Some(v),
        }
    }

    pub(crate) fn remove(table: TableDefinition<'a, &'static str, &'static [u8]>, k: &str) -> Self {
        Write {
            table,
            key: k.to_owned(),
            value: None,
        }
    }
}

fn decode<T: DeserializeOwned>(k: &str, bytes: &[u8]) -> Result<T, StoreError> {
    serde_json::from_slice(bytes).map_err(|e| StoreError::Decode {
        key: k.to_owned(),
        message: e.to_string(),
    })
}
