//! One read: plan it (fields and filter checked against the schema and the policy), then
//! evaluate it over records — authorize each record, filter the visible ones, project the
//! allowed fields.
//!
//! **Withheld is invisible.** No part of what a guest gets may depend on content it may not
//! see, so the order is: authorize every servable record first; a record the policy withholds
//! takes no further part in the read — the filter, the limit, the row cap and `truncated` see
//! only the records the caller may see; the filter may test only fields the caller may see (a
//! read that filters on a withheld field is refused as a whole, before any record is looked
//! at — field decisions depend on the field's category, never on record content); and rows
//! carry only allowed fields. Withheld records are not counted for the guest at all: a count
//! would be a function of the existence of records it may not see (and, with a filter, of
//! their content). What was withheld goes to the decision log only ([`ReadResult::withheld_ids`]).
//!
//! **Bounded by the page.** Records are visited in id order, through an index when the filter
//! tests an indexed field ([`crate::index`]: candidates only, each decided as in a scan), and
//! the read stops once the page is full and one more visible record met the filter. Where it
//! stops depends only on visible records, so withheld content still changes nothing a guest
//! gets; the log names the withheld records that met the filter before that point.

use std::collections::BTreeSet;

use cordon_audit::FilterCondition;
use cordon_policy::{Decision, RecordAuthorizer};
use serde::{Deserialize, Serialize};

use crate::codec::ReadableRecord;
use crate::model::{Collection, Record, Value, ValueRef};

/// How a comparison compares a field with a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CompareOp {
    /// `==`
    Eq,
    /// `!=`
    Ne,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
}

/// One condition of a filter; a record matches a filter when it meets every condition.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Condition {
    /// `field op value`.
    Compare {
        /// The field.
        field: String,
        /// The comparison.
        op: CompareOp,
        /// The value compared with.
        value: Value,
    },
    /// `field` equals one of `values`.
    OneOf {
        /// The field.
        field: String,
        /// The allowed values.
        values: Vec<Value>,
    },
}

impl Condition {
    /// The field the condition tests.
    pub fn field(&self) -> &str {
        match self {
            Condition::Compare { field, .. } | Condition::OneOf { field, .. } => field,
        }
    }

    fn holds<R: ReadableRecord>(&self, r: &R) -> Result<bool, R::Error> {
        let got = r.value(self.field())?.unwrap_or(ValueRef::Null);
        Ok(match self {
            Condition::Compare { op, value, .. } => {
                let ord = got.compare(value.as_ref());
                match op {
                    CompareOp::Eq => ord == Some(std::cmp::Ordering::Equal),
                    CompareOp::Ne => ord != Some(std::cmp::Ordering::Equal),
                    CompareOp::Lt => ord == Some(std::cmp::Ordering::Less),
                    CompareOp::Le => ord.is_some_and(|o| o != std::cmp::Ordering::Greater),
                    CompareOp::Gt => ord == Some(std::cmp::Ordering::Greater),
                    CompareOp::Ge => ord.is_some_and(|o| o != std::cmp::Ordering::Less),
                }
            }
            Condition::OneOf { values, .. } => values
                .iter()
                .any(|v| got.compare(v.as_ref()) == Some(std::cmp::Ordering::Equal)),
        })
    }
}

impl CompareOp {
    /// The operator as the decision log names it (`eq`, `ne`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            CompareOp::Eq => "eq",
            CompareOp::Ne => "ne",
            CompareOp::Lt => "lt",
            CompareOp::Le => "le",
            CompareOp::Gt => "gt",
            CompareOp::Ge => "ge",
        }
    }
}

impl Condition {
    /// The condition as the decision log takes it: the field and operator as given, each value
    /// in canonical JSON (the log keeps values only as keyed commitments).
    pub fn logged(&self) -> FilterCondition {
        let json = |v: &Value| serde_json::to_string(v).unwrap_or_default();
        match self {
            Condition::Compare { field, op, value } => FilterCondition {
                field: field.clone(),
                op: op.as_str().to_owned(),
                values: vec![json(value)],
            },
            Condition::OneOf { field, values } => FilterCondition {
                field: field.clone(),
                op: "one-of".to_owned(),
                values: values.iter().map(json).collect(),
            },
        }
    }
}

/// Most withheld record ids one read hands to the decision log; [`ReadResult::records_withheld`]
/// always has the full count. Bounds the size of one log entry (32 bytes per id).
pub const MAX_LOGGED_WITHHELD: usize = 10_000;

/// What a guest asks of one read.
#[derive(Debug, Clone, PartialEq)]
pub struct ReadSpec {
    /// The fields it wants, by name.
    pub fields: Vec<String>,
    /// Conditions every returned record meets.
    pub filter: Vec<Condition>,
    /// Most rows to return; 0 means only the purpose's row cap limits the read.
    pub limit: u32,
}

/// A read the policy or the schema refuses as a whole (a guest-visible error).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    /// The read named a field the collection does not declare.
    #[error("collection `{collection}` has no field `{field}`")]
    UnknownField {
        /// The collection.
        collection: String,
        /// The field named.
        field: String,
    },
    /// The filter tests a field the policy withholds (its value would leak through matches).
    #[error("the filter tests field `{0}`, which the policy withholds")]
    FilterOnWithheldField(String),
    /// The collection is strict and the policy withholds requested fields.
    #[error("the policy withholds requested fields {0:?} and the collection is strict")]
    StrictFieldsWithheld(Vec<String>),
}

/// A checked read: which requested fields are returned, which withheld, and the row cap.
#[derive(Debug, Clone)]
pub struct Plan {
    returned: Vec<String>,
    categories: BTreeSet<String>,
    withheld: Vec<String>,
    filter: Vec<Condition>,
    cap: usize,
    field_policy_ids: BTreeSet<String>,
}

impl Plan {
    /// Check `spec` against `collection` and the policy (one `records:read-field` decision per
    /// distinct requested or filtered field).
    pub fn new(
        collection: &Collection,
        spec: &ReadSpec,
        purpose: &str,
        auth: &RecordAuthorizer<'_>,
    ) -> Result<Plan, PlanError> {
        let mut returned = Vec::new();
        let mut withheld = Vec::new();
        let mut categories = BTreeSet::new();
        let mut field_policy_ids = BTreeSet::new();
        let mut seen = BTreeSet::new();
        let mut decide = |name: &str| -> Result<bool, PlanError> {
            let def = collection
                .field(name)
                .ok_or_else(|| PlanError::UnknownField {
                    collection: collection.name.clone(),
                    field: name.to_owned(),
                })?;
            let d = auth.field(&def.name, &def.category);
            if d.allowed {
                field_policy_ids.extend(d.policy_ids.iter().cloned());
            }
            Ok(d.allowed)
        };
        for name in &spec.fields {
            if !seen.insert(name.as_str()) {
                continue;
            }
            if decide(name)? {
                returned.push(name.clone());
                if let Some(def) = collection.field(name) {
                    categories.insert(def.category.clone());
                }
            } else {
                withheld.push(name.clone());
            }
        }
        for c in &spec.filter {
            if !decide(c.field())? {
                return Err(PlanError::FilterOnWithheldField(c.field().to_owned()));
            }
        }
        if collection.strict_fields && !withheld.is_empty() {
            return Err(PlanError::StrictFieldsWithheld(withheld));
        }
        let limit = if spec.limit == 0 {
            u32::MAX
        } else {
            spec.limit
        };
        let cap = collection.row_cap(purpose).map_or(limit, |c| c.min(limit));
        Ok(Plan {
            returned,
            categories,
            withheld,
            filter: spec.filter.clone(),
            cap: usize::try_from(cap).unwrap_or(usize::MAX),
            field_policy_ids,
        })
    }

    /// The fields every returned row carries (those the policy allows).
    pub fn fields_returned(&self) -> &[String] {
        &self.returned
    }

    /// The requested fields the policy withholds.
    pub fn fields_withheld(&self) -> &[String] {
        &self.withheld
    }
}

/// One returned record: its id and the values of the allowed fields, in the order of
/// [`ReadResult::fields_returned`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Row {
    /// The record's id.
    pub id: String,
    /// One value per returned field; a field the record lacks is `null`.
    pub values: Vec<Value>,
}

/// What a read returned and withheld, and the labels of what it returned.
///
/// A guest sees `rows`, `fields_returned`, `fields_withheld` and `truncated` (and, through its
/// taint, the labels); `records_withheld`, `withheld_ids` and `filter` are for the decision log
/// only.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct ReadResult {
    /// The rows returned.
    pub rows: Vec<Row>,
    /// For the log only: how many servable records the policy withheld that met the filter,
    /// among those the read looked at before its page was full (see [`evaluate`]).
    pub records_withheld: u64,
    /// For the log only: the ids of those records, at most [`MAX_LOGGED_WITHHELD`].
    pub withheld_ids: Vec<String>,
    /// For diagnostics only: how many stored records the read looked at (decoded), which an
    /// index and the page bound keep small. Never for the guest.
    #[serde(skip)]
    pub examined: u64,
    /// For the log only: the read's filter (values to be committed, never logged in clear).
    pub filter: Vec<FilterCondition>,
    /// Fields returned in every row.
    pub fields_returned: Vec<String>,
    /// Requested fields the policy withheld.
    pub fields_withheld: Vec<String>,
    /// More visible records met the filter than the limit or row cap let through.
    pub truncated: bool,
    /// The policies that allowed the returned records and fields.
    pub policy_ids: BTreeSet<String>,
    /// Labels of the returned data: highest classification level.
    pub max_classification: Option<u32>,
    /// Labels of the returned data: jurisdictions of the returned records.
    pub jurisdictions: BTreeSet<String>,
    /// Labels of the returned data: categories of the returned fields.
    pub categories: BTreeSet<String>,
}

/// Which authorization an evaluation uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Path {
    /// Cached per attribute class when the policies allow it ([`RecordAuthorizer::record`]).
    Fast,
    /// Cedar per record ([`RecordAuthorizer::record_naive`]).
    Naive,
}

/// Evaluate `plan` over `records` (in id order) at unix time `now`: records past retention or
/// awaiting erasure are skipped as if absent; every other record is decided first, and only the
/// ones the policy allows are filtered and projected onto the allowed fields. The read stops
/// as soon as its page is full and one more visible record meets the filter (which sets
/// `truncated`): its work and memory are bounded by the page, not the collection. The withheld
/// records met before it stopped that meet the filter are noted for the log (never for the
/// guest).
pub fn evaluate<'r>(
    plan: &Plan,
    records: impl IntoIterator<Item = &'r Record>,
    now: u64,
    auth: &mut RecordAuthorizer<'_>,
    path: Path,
) -> ReadResult {
    let mut e = Evaluation::new(plan, now, path);
    for r in records {
        match e.offer(r, auth) {
            Ok(true) => {}
            Ok(false) => break,
            Err(never) => match never {},
        }
    }
    e.finish()
}

/// One read in progress: records are offered one at a time, in id order.
pub(crate) struct Evaluation<'p> {
    plan: &'p Plan,
    now: u64,
    path: Path,
    out: ReadResult,
}

impl<'p> Evaluation<'p> {
    pub(crate) fn new(plan: &'p Plan, now: u64, path: Path) -> Self {
        Evaluation {
            plan,
            now,
            path,
            out: ReadResult {
                fields_returned: plan.returned.clone(),
                fields_withheld: plan.withheld.clone(),
                filter: plan.filter.iter().map(Condition::logged).collect(),
                ..ReadResult::default()
            },
        }
    }

    /// Take `r` into the read; false once the read is complete (the page is full and one more
    /// visible record met the filter), or an error if a value the read uses cannot be read.
    pub(crate) fn offer<R: ReadableRecord>(
        &mut self,
        r: &R,
        auth: &mut RecordAuthorizer<'_>,
    ) -> Result<bool, R::Error> {
        let (plan, out) = (self.plan, &mut self.out);
        out.examined += 1;
        if !r.servable(self.now) {
            return Ok(true);
        }
        let naive_slot: Decision;
        let d = match self.path {
            Path::Fast => auth.record(r.attrs()),
            Path::Naive => {
                naive_slot = auth.record_naive(r.attrs());
                &naive_slot
            }
        };
        // The filter tests only fields the caller may see (the plan refused any other), and
        // its outcome on a withheld record reaches the log, never the guest.
        let mut matches = true;
        for c in &plan.filter {
            if !c.holds(r)? {
                matches = false;
                break;
            }
        }
        if !d.allowed {
            if matches {
                out.records_withheld += 1;
                if out.withheld_ids.len() < MAX_LOGGED_WITHHELD {
                    out.withheld_ids.push(r.id().to_owned());
                }
            }
            return Ok(true);
        }
        if !matches {
            return Ok(true);
        }
        if out.rows.len() >= plan.cap {
            out.truncated = true;
            return Ok(false);
        }
        for id in &d.policy_ids {
            if !out.policy_ids.contains(id) {
                out.policy_ids.insert(id.clone());
            }
        }
        out.max_classification = out.max_classification.max(Some(r.classification()));
        if !out.jurisdictions.contains(r.jurisdiction()) {
            out.jurisdictions.insert(r.jurisdiction().to_owned());
        }
        out.rows.push(project(plan, r)?);
        Ok(true)
    }

    pub(crate) fn finish(mut self) -> ReadResult {
        if !self.out.rows.is_empty() {
            self.out
                .policy_ids
                .extend(self.plan.field_policy_ids.iter().cloned());
            self.out.categories = self.plan.categories.clone();
        }
        self.out
    }
}

fn project<R: ReadableRecord>(plan: &Plan, r: &R) -> Result<Row, R::Error> {
    Ok(Row {
        id: r.id().to_owned(),
        values: plan
            .returned
            .iter()
            .map(|f| Ok(r.value(f)?.map_or(Value::Null, ValueRef::to_value)))
            .collect::<Result<_, R::Error>>()?,
    })
}
