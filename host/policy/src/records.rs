//! Records and their fields as Cedar resources, and the per-read [`RecordAuthorizer`] with its
//! decision cache.
//!
//! A record is `Cordon::Record::"<collection>/<id>"`, `in` its `Cordon::Collection`, with the
//! attributes `collection`, `classification` (position in the tenant's ordered levels),
//! `jurisdiction`, `consent` (the purposes its subject consented to) and `held`. A field is
//! `Cordon::Field::"<collection>/<name>"` with `collection`, `name` and `category`. The context
//! of both actions is the run's purpose and engagement, the host's region and the fields the
//! read asked for.
//!
//! **The fast path.** Cedar costs microseconds per record. When no policy of the bundle names a
//! record entity (`resource == Cordon::Record::"..."`, a record literal anywhere), a record's
//! decision is a function of the attributes above — the principal, action and context are fixed
//! for one read — so [`RecordAuthorizer::record`] decides each distinct attribute combination
//! once and answers every record of that class from the cache. Otherwise it evaluates Cedar per
//! record, exactly like [`RecordAuthorizer::record_naive`].

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hash, Hasher};

use cedar_policy::{Context, Entities, Entity, EntityUid, PolicySet, RestrictedExpression};
use serde::{Deserialize, Serialize};

use crate::entities::{EntityError, uid};
use crate::request::{Action, Request};
use crate::schema::CordonSchema;
use crate::session::{Decision, Session, run_pairs};

/// A record as a policy sees it (no field values, no data subject).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecordResource {
    /// The collection the record belongs to.
    pub collection: String,
    /// The record's id within the collection.
    pub id: String,
    /// Position of the record's classification in the tenant's ordered levels (0 = lowest).
    pub classification: i64,
    /// Where the record's data is governed, e.g. `EU`.
    pub jurisdiction: String,
    /// The purposes the data subject consented to.
    #[serde(default)]
    pub consent: Vec<String>,
    /// Whether a legal hold covers the record.
    #[serde(default)]
    pub held: bool,
}

impl RecordResource {
    /// The borrowed attributes the authorizer takes.
    pub fn attrs(&self) -> RecordAttrs<'_> {
        RecordAttrs {
            id: &self.id,
            classification: self.classification,
            jurisdiction: &self.jurisdiction,
            consent: &self.consent,
            held: self.held,
        }
    }
}

/// A field of a collection as a policy sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FieldResource {
    /// The collection declaring the field.
    pub collection: String,
    /// The field's name.
    pub name: String,
    /// The field's tenant-defined category, e.g. `health`.
    pub category: String,
}

/// What a record read adds to the run's context.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecordsContext {
    /// The region the host runs in, e.g. `eu-west`.
    pub host_region: String,
    /// The fields the read asked for.
    #[serde(default)]
    pub requested_fields: Vec<String>,
}

/// One record's attributes, borrowed from wherever the record lives (the hot path builds no
/// owned resource). `S` is how the consent purposes are held: `String` in an owned record,
/// `&str` in one borrowed from the store's bytes.
#[derive(Debug)]
pub struct RecordAttrs<'a, S = String> {
    /// The record's id within the collection.
    pub id: &'a str,
    /// Position of the record's classification level.
    pub classification: i64,
    /// The record's jurisdiction.
    pub jurisdiction: &'a str,
    /// Purposes the data subject consented to.
    pub consent: &'a [S],
    /// Whether a legal hold covers the record.
    pub held: bool,
}

// Not derived: a derive would ask `S: Copy`, and only references are copied.
impl<S> Clone for RecordAttrs<'_, S> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<S> Copy for RecordAttrs<'_, S> {}

/// A fast, non-cryptographic hasher for the decision cache (FxHash's mixing step). A
/// collision only costs a key comparison: every hit compares the full class key.
#[derive(Default)]
struct FxHasher(u64);

impl FxHasher {
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

impl Hasher for FxHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            self.add(u64::from_le_bytes(w));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut w = [0u8; 8];
            w[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(w));
        }
    }

    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }

    fn write_u64(&mut self, i: u64) {
        self.add(i);
    }

    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

type FxBuild = BuildHasherDefault<FxHasher>;

/// Class hash → the classes with that hash and their decision's index.
type ClassCache = HashMap<u64, Vec<(ClassKey, usize)>, FxBuild>;

impl<S: AsRef<str>> RecordAttrs<'_, S> {
    fn class_hash(&self) -> u64 {
        let mut h = FxHasher::default();
        self.classification.hash(&mut h);
        self.jurisdiction.hash(&mut h);
        self.consent.len().hash(&mut h);
        for c in self.consent {
            c.as_ref().hash(&mut h);
        }
        self.held.hash(&mut h);
        h.finish()
    }
}

/// Every attribute of a record that Cedar can see, except its identity.
#[derive(Debug)]
struct ClassKey {
    classification: i64,
    jurisdiction: String,
    consent: Vec<String>,
    held: bool,
}

impl ClassKey {
    fn of<S: AsRef<str>>(r: &RecordAttrs<'_, S>) -> Self {
        ClassKey {
            classification: r.classification,
            jurisdiction: r.jurisdiction.to_owned(),
            consent: r.consent.iter().map(|c| c.as_ref().to_owned()).collect(),
            held: r.held,
        }
    }

    fn matches<S: AsRef<str>>(&self, r: &RecordAttrs<'_, S>) -> bool {
        self.classification == r.classification
            && self.held == r.held
            && self.jurisdiction == r.jurisdiction
            && self.consent.len() == r.consent.len()
            && self
                .consent
                .iter()
                .zip(r.consent)
                .all(|(a, b)| a == b.as_ref())
    }
}

/// The uid of a record: `Cordon::Record::"<collection>/<id>"`.
pub(crate) fn record_uid(schema: &CordonSchema, collection: &str, id: &str) -> EntityUid {
    uid(&schema.record, &format!("{collection}/{id}"))
}

/// The uid of a field: `Cordon::Field::"<collection>/<name>"`.
pub(crate) fn field_uid(schema: &CordonSchema, collection: &str, name: &str) -> EntityUid {
    uid(&schema.field, &format!("{collection}/{name}"))
}

fn string(s: &str) -> RestrictedExpression {
    RestrictedExpression::new_string(s.to_owned())
}

fn new_entity(
    uid: EntityUid,
    attrs: HashMap<String, RestrictedExpression>,
    parents: HashSet<EntityUid>,
) -> Result<Entity, EntityError> {
    let name = uid.to_string();
    Entity::new(uid, attrs, parents).map_err(|e| EntityError::new(name, e.to_string()))
}

/// The record entity and its collection.
pub(crate) fn record_entities(
    schema: &CordonSchema,
    collection: &str,
    r: &RecordAttrs<'_, impl AsRef<str>>,
) -> Result<Vec<Entity>, EntityError> {
    let coll = uid(&schema.collection, collection);
    let attrs = HashMap::from([
        ("collection".to_owned(), string(collection)),
        (
            "classification".to_owned(),
            RestrictedExpression::new_long(r.classification),
        ),
        ("jurisdiction".to_owned(), string(r.jurisdiction)),
        (
            "consent".to_owned(),
            RestrictedExpression::new_set(r.consent.iter().map(|c| string(c.as_ref()))),
        ),
        ("held".to_owned(), RestrictedExpression::new_bool(r.held)),
    ]);
    Ok(vec![
        new_entity(coll.clone(), HashMap::new(), HashSet::new())?,
        new_entity(
            record_uid(schema, collection, r.id),
            attrs,
            HashSet::from([coll]),
        )?,
    ])
}

/// The field entity and its collection.
pub(crate) fn field_entities(
    schema: &CordonSchema,
    f: &FieldResource,
) -> Result<Vec<Entity>, EntityError> {
    let coll = uid(&schema.collection, &f.collection);
    let attrs = HashMap::from([
        ("collection".to_owned(), string(&f.collection)),
        ("name".to_owned(), string(&f.name)),
        ("category".to_owned(), string(&f.category)),
    ]);
    Ok(vec![
        new_entity(coll.clone(), HashMap::new(), HashSet::new())?,
        new_entity(
            field_uid(schema, &f.collection, &f.name),
            attrs,
            HashSet::from([coll]),
        )?,
    ])
}

/// Whether any policy of `policies` could tell two records with equal attributes apart: it
/// names a record entity somewhere (scope or expression). Conservative: a policy that cannot be
/// turned into JSON counts as naming one.
pub(crate) fn names_record_entities(policies: &PolicySet) -> bool {
    crate::bundle::any_policy_node(policies, |node| {
        crate::bundle::names_entity_of_type(node, "Record")
    })
}

/// Decides the records and fields of one read: principal, context and collection are built into
/// Cedar once; each record adds only itself.
#[derive(Debug)]
pub struct RecordAuthorizer<'s> {
    session: &'s Session,
    collection: String,
    context: Context,
    base: Entities,
    read: EntityUid,
    read_field: EntityUid,
    /// Attribute class → index into `decisions`; `None` when the policies name records.
    cache: Option<ClassCache>,
    decisions: Vec<Decision>,
    evaluations: u64,
}

impl<'s> RecordAuthorizer<'s> {
    pub(crate) fn new(
        session: &'s Session,
        collection: &str,
        rc: &RecordsContext,
    ) -> Result<Self, EntityError> {
        let schema = session.bundle.schema();
        let context = records_context(session, rc)?;
        let coll = uid(&schema.collection, collection);
        let base = session
            .base
            .clone()
            .add_entities(
                [new_entity(coll.clone(), HashMap::new(), HashSet::new())?],
                None,
            )
            .map_err(|e| EntityError::new(coll.to_string(), e.to_string()))?;
        let cache = (!names_record_entities(session.bundle.policies())).then(HashMap::default);
        Ok(RecordAuthorizer {
            session,
            collection: collection.to_owned(),
            context,
            base,
            read: uid(&schema.action, Action::RecordsRead.as_str()),
            read_field: uid(&schema.action, Action::RecordsReadField.as_str()),
            cache,
            decisions: Vec::new(),
            evaluations: 0,
        })
    }

    /// The collection this authorizer decides for.
    pub fn collection(&self) -> &str {
        &self.collection
    }

    /// Whether decisions are cached per attribute class (the policy set names no record).
    pub fn is_cached(&self) -> bool {
        self.cache.is_some()
    }

    /// How many times Cedar was asked about a record so far.
    pub fn evaluations(&self) -> u64 {
        self.evaluations
    }

    /// `records:read` on one record: from the cache when the policy set allows it, else Cedar.
    /// Equal to [`RecordAuthorizer::record_naive`] on every record.
    pub fn record<S: AsRef<str>>(&mut self, r: RecordAttrs<'_, S>) -> &Decision {
        let hash = self.cache.as_ref().map(|_| r.class_hash());
        let hit = match (&self.cache, hash) {
            (Some(cache), Some(h)) => cache
                .get(&h)
                .and_then(|bucket| bucket.iter().find(|(k, _)| k.matches(&r)))
                .map(|(_, i)| *i),
            _ => None,
        };
        let index = match hit {
            Some(i) => i,
            None => {
                self.evaluations += 1;
                let d = self.record_naive(r);
                if self.cache.is_none() {
                    self.decisions.clear();
                }
                self.decisions.push(d);
                let i = self.decisions.len() - 1;
                if let (Some(cache), Some(h)) = (&mut self.cache, hash) {
                    cache.entry(h).or_default().push((ClassKey::of(&r), i));
                }
                i
            }
        };
        &self.decisions[index]
    }

    /// `records:read` on one record, evaluated by Cedar with no cache.
    pub fn record_naive<S: AsRef<str>>(&self, r: RecordAttrs<'_, S>) -> Decision {
        let schema = self.session.bundle.schema();
        let entities = match record_entities(schema, &self.collection, &r) {
            Ok(es) => es,
            Err(e) => return Decision::deny_with_error(e.to_string()),
        };
        self.decide(
            self.read.clone(),
            record_uid(schema, &self.collection, r.id),
            entities,
        )
    }

    /// `records:read-field` on one field of the collection.
    pub fn field(&self, name: &str, category: &str) -> Decision {
        let schema = self.session.bundle.schema();
        let f = FieldResource {
            collection: self.collection.clone(),
            name: name.to_owned(),
            category: category.to_owned(),
        };
        let entities = match field_entities(schema, &f) {
            Ok(es) => es,
            Err(e) => return Decision::deny_with_error(e.to_string()),
        };
        self.decide(
            self.read_field.clone(),
            field_uid(schema, &self.collection, name),
            entities,
        )
    }

    fn decide(&self, action: EntityUid, resource: EntityUid, extra: Vec<Entity>) -> Decision {
        // The collection is already in `base`; add only what is new.
        let extra = extra
            .into_iter()
            .filter(|e| e.uid().type_name() != &self.session.bundle.schema().collection);
        let entities = match self.base.clone().add_entities(extra, None) {
            Ok(es) => es,
            Err(e) => return Decision::deny_with_error(e.to_string()),
        };
        let request = match cedar_policy::Request::new(
            self.session.principal.clone(),
            action,
            resource,
            self.context.clone(),
            None,
        ) {
            Ok(r) => r,
            Err(e) => return Decision::deny_with_error(e.to_string()),
        };
        self.session.decide(&request, &entities)
    }
}

fn records_context(session: &Session, rc: &RecordsContext) -> Result<Context, EntityError> {
    let mut pairs = run_pairs(&session.context)?;
    pairs.extend([
        ("host_region".to_owned(), string(&rc.host_region)),
        (
            "requested_fields".to_owned(),
            RestrictedExpression::new_set(rc.requested_fields.iter().map(|f| string(f))),
        ),
    ]);
    Context::from_pairs(pairs).map_err(|e| EntityError::new("context".to_owned(), e.to_string()))
}

impl Session {
    /// Start deciding one read of `collection` under `rc`.
    ///
    /// ```
    /// use cordon_policy::{PolicyBundle, Principal, RecordAttrs, RecordsContext, RunContext};
    ///
    /// let bundle = PolicyBundle::from_sources([(
    ///     "r.cedar",
    ///     r#"@id("consented")
    ///        permit(principal, action == Cordon::Action::"records:read", resource)
    ///        when { resource.consent.contains(context.purpose) };"#,
    /// )])?;
    /// let session = bundle.session(&Principal::unattended("acme", "c0"), &RunContext::new("billing", "e"))?;
    /// let rc = RecordsContext { host_region: "eu".into(), requested_fields: vec![] };
    /// let mut auth = session.records("patients", &rc)?;
    /// let consent = vec!["billing".to_owned()];
    /// let r = RecordAttrs { id: "p1", classification: 0, jurisdiction: "EU", consent: &consent, held: false };
    /// assert!(auth.record(r).is_allowed());
    /// assert!(auth.is_cached());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn records(
        &self,
        collection: &str,
        rc: &RecordsContext,
    ) -> Result<RecordAuthorizer<'_>, EntityError> {
        RecordAuthorizer::new(self, collection, rc)
    }

    /// Decide one `records:read` or `records:read-field` request (the JSON decision cases);
    /// other requests are decided as by [`Session::authorize`].
    pub fn authorize_records(&self, request: &Request, rc: &RecordsContext) -> Decision {
        use crate::request::Resource;
        match &request.resource {
            Resource::Record(r) => match self.records(&r.collection, rc) {
                Ok(auth) if request.action == Action::RecordsRead => auth.record_naive(r.attrs()),
                Ok(_) => Decision::deny_with_error(format!(
                    "action `{}` does not apply to a record",
                    request.action
                )),
                Err(e) => Decision::deny_with_error(e.to_string()),
            },
            Resource::Field(f) => match self.records(&f.collection, rc) {
                Ok(auth) if request.action == Action::RecordsReadField => {
                    auth.field(&f.name, &f.category)
                }
                Ok(_) => Decision::deny_with_error(format!(
                    "action `{}` does not apply to a field",
                    request.action
                )),
                Err(e) => Decision::deny_with_error(e.to_string()),
            },
            _ => self.authorize(request),
        }
    }
}
