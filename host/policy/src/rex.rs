//! Rex's Cedar policies in Cordon's schema.
//!
//! AWS's Rex decides each OS call a Rhai script makes against policies in its own namespaces:
//! `file_system::Action::"open"` on `file_system::Dir::"/tmp"`, `"read"` on
//! `file_system::File::"/tmp/a.txt"`, `network::Action::"GET"` on `network::url::"https://…"`,
//! with `User::"alice"` principals. [`translate_rex`] rewrites such a policy set into Cordon's
//! schema, policy by policy, and reports every construct it could not map.
//!
//! **Paths.** A Rex path is an absolute host path; Cordon's are paths inside the run's root.
//! The *Rex root* says which host directory is the run's root: `root` is Cordon's `/`,
//! `root/a/b` is `/a/b`. A Rex path outside the root names nothing a run can reach, so it is
//! written as an id no Cordon path can have (`rex-outside-root:/etc/passwd`), which keeps the
//! policy's meaning exact (a forbid `unless { resource in Dir::"/etc" }` still forbids
//! everything in the run). A directory above the root (`/tmp` for root `/tmp/rex`) contains
//! the whole run, so `in Dir::"/tmp"` becomes `in Cordon::Dir::"/"`.
//!
//! **Actions.** Each Rex check maps to the Cordon action that makes the same check on the same
//! resource ([`ACTIONS`]). A Rhai script run as Rex runs it (`--rex-root`) makes each of Rex's
//! checks as one Cordon call — `cat` stats the directory and the file (Rex's two `open`s) and
//! then reads the file — so the translated policy decides what the original decided, check by
//! check.
//!
//! **Never more permissive.** What cannot be mapped (an action with no Cordon call, a context
//! attribute Cordon has not, a `like` pattern whose match depends on the root) removes a
//! `permit` (it then allows less) and removes the clause of a `forbid` it sits in (it then
//! forbids more). Every such step is a [`RexNote`].
//!
//! ```
//! let rex = r#"
//! permit(principal, action in [file_system::Action::"open", file_system::Action::"read"],
//!        resource in file_system::Dir::"/tmp/rex_example");
//! "#;
//! let t = cordon_policy::translate_rex(rex, "/tmp/rex_example")?;
//! assert!(t.text.contains(r#"Cordon::Dir::"/""#));
//! assert!(t.text.contains(r#"Cordon::Action::"fs:read""#));
//! assert!(t.notes.is_empty());
//! cordon_policy::PolicyBundle::from_sources([("rex.cedar", t.text)])?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

use cedar_policy::{Policy, PolicyId, PolicySet, ValidationMode, Validator};
use serde_json::{Value, json};

use crate::schema::CordonSchema;

/// Rex's checks and the Cordon actions that make them: `(Rex action, Cordon actions)`.
/// `open` of a directory or file is a stat in Cordon; `read` of a file is `fs:read`, of a
/// directory `fs:list`; `create` of a directory is `fs:create-dir` (a file is created by the
/// write that follows, decided by `write`).
pub const ACTIONS: [(&str, &[&str]); 8] = [
    ("file_system::Action::\"open\"", &["fs:stat"]),
    ("file_system::Action::\"stat\"", &["fs:stat"]),
    ("file_system::Action::\"read\"", &["fs:read", "fs:list"]),
    ("file_system::Action::\"write\"", &["fs:write", "fs:append"]),
    ("file_system::Action::\"create\"", &["fs:create-dir"]),
    ("file_system::Action::\"delete\"", &["fs:remove"]),
    ("file_system::Action::\"move\"", &["fs:rename"]),
    ("network::Action::\"GET\"", &["http:send"]),
];

/// Rex's action groups and the actions in them.
const GROUPS: [(&str, &str); 2] = [
    ("file_system::Action::\"SafeIO\"", "file_system::Action::"),
    ("network::Action::\"NetworkAction\"", "network::Action::"),
];

/// The prefix of an id that stands for a Rex path outside the run's root: no Cordon path starts
/// with anything but `/`, so nothing the run reaches has it.
pub const OUTSIDE_ROOT: &str = "rex-outside-root:";

/// A Rex policy set translated into Cordon's schema.
#[derive(Debug, Clone)]
pub struct RexTranslation {
    /// The Cordon policies, as Cedar text; each keeps its Rex id (`@id`).
    pub text: String,
    /// Ids of the policies kept.
    pub kept: Vec<String>,
    /// Every construct not mapped as it was written, and what was done instead.
    pub notes: Vec<RexNote>,
}

/// One construct of a Rex policy that could not be mapped as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RexNote {
    /// The Rex policy (its `@id`, or `policy<N>` by position).
    pub policy: String,
    /// What was found and what the translation did.
    pub note: String,
}

impl fmt::Display for RexNote {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.policy, self.note)
    }
}

/// Why a Rex policy set could not be translated at all.
#[derive(Debug, thiserror::Error)]
pub enum RexError {
    /// Not Cedar.
    #[error("the rex policy does not parse: {0}")]
    Parse(String),
    /// Templates (`?principal`) are filled in by Rex's tooling before a run.
    #[error("policy `{0}` is a template: fill in its slots before translating it")]
    Template(String),
    /// The Rex root is not an absolute, normalised path.
    #[error("the rex root `{0}` is not an absolute, normalised path (such as `/tmp/rex_example`)")]
    Root(String),
    /// Cedar refused a policy this translation wrote (a bug in the translation).
    #[error("policy `{id}` could not be rebuilt: {message}")]
    Rebuild {
        /// The Rex policy.
        id: String,
        /// Cedar's message.
        message: String,
    },
    /// The schema did not load.
    #[error(transparent)]
    Schema(#[from] crate::SchemaError),
}

/// Whether `text` is written for Rex: it names one of Rex's namespaces or its `User` principal.
///
/// ```
/// assert!(cordon_policy::is_rex_policy(r#"permit(principal, action == file_system::Action::"read", resource);"#));
/// assert!(!cordon_policy::is_rex_policy(r#"permit(principal, action == Cordon::Action::"fs:read", resource);"#));
/// ```
pub fn is_rex_policy(text: &str) -> bool {
    let Ok(set) = PolicySet::from_str(text) else {
        return false;
    };
    let rex_type = |t: &str| {
        t == "User"
            || [
                "file_system::",
                "network::",
                "sysinfo::",
                "process_system::",
                "systemd::",
                "sysctl::",
            ]
            .iter()
            .any(|ns| t.starts_with(ns))
    };
    set.policies().any(|p| {
        p.to_json()
            .is_ok_and(|est| any_entity_type(&est, &rex_type))
    })
}

fn any_entity_type(v: &Value, pred: &dyn Fn(&str) -> bool) -> bool {
    match v {
        Value::Object(m) => {
            m.get("type").and_then(Value::as_str).is_some_and(pred)
                || m.get("entity_type")
                    .and_then(Value::as_str)
                    .is_some_and(pred)
                || m.values().any(|v| any_entity_type(v, pred))
        }
        Value::Array(a) => a.iter().any(|v| any_entity_type(v, pred)),
        _ => false,
    }
}

/// Translate the Rex policies in `text` for a run whose root is the host directory `root`.
pub fn translate_rex(text: &str, root: &str) -> Result<RexTranslation, RexError> {
    if !is_rex_root(root) {
        return Err(RexError::Root(root.to_owned()));
    }
    let set = PolicySet::from_str(text).map_err(|e| RexError::Parse(e.to_string()))?;
    if let Some(t) = set.templates().next() {
        return Err(RexError::Template(t.id().to_string()));
    }
    let schema = CordonSchema::get()?;
    let validator = Validator::new(schema.cedar().clone());
    let mut policies: Vec<&Policy> = set.policies().collect();
    policies.sort_by_key(|p| position(p.id()));
    let mut out = RexTranslation {
        text: format!(
            "// Translated from Rex for the rex root `{root}` (`{root}/a` is the run's `/a`).\n\
             // Each policy decides one of Rex's checks: run Rhai scripts with --rex-root so that\n\
             // every check Rex makes is made.\n"
        ),
        kept: Vec::new(),
        notes: Vec::new(),
    };
    for policy in policies {
        let id = policy
            .annotation("id")
            .map_or_else(|| policy.id().to_string(), str::to_owned);
        let est = policy.to_json().map_err(|e| RexError::Rebuild {
            id: id.clone(),
            message: e.to_string(),
        })?;
        let mut t = Translator {
            root,
            notes: Vec::new(),
        };
        let Some(est) = t.policy(est) else {
            out.notes.extend(t.notes.into_iter().map(|note| RexNote {
                policy: id.clone(),
                note,
            }));
            continue;
        };
        // Keep the actions the rest of the policy can apply to (`fs:list` is for directories:
        // a policy on one file keeps only `fs:read`).
        let actions: Vec<String> = candidate_actions(&est)
            .into_iter()
            .map(str::to_owned)
            .collect();
        let mut valid = Vec::new();
        for action in &actions {
            let mut one = est.clone();
            one["action"] = json!({"op": "==", "entity": cordon_action(action)});
            let rebuilt = rebuild(&id, one)?;
            let mut single = PolicySet::new();
            single.add(rebuilt).map_err(|e| RexError::Rebuild {
                id: id.clone(),
                message: e.to_string(),
            })?;
            let result = validator.validate(&single, ValidationMode::Strict);
            if result.validation_passed() && result.validation_warnings().next().is_none() {
                valid.push(action.as_str());
            }
        }
        if valid.is_empty() {
            t.notes.push(format!(
                "dropped: no Cordon action ({}) applies to its resources",
                actions.join(", ")
            ));
            out.notes.extend(t.notes.into_iter().map(|note| RexNote {
                policy: id.clone(),
                note,
            }));
            continue;
        }
        let mut est = est;
        est["action"] = if let [one] = valid.as_slice() {
            json!({"op": "==", "entity": cordon_action(one)})
        } else {
            json!({"op": "in", "entities": valid.iter().map(|a| cordon_action(a)).collect::<Vec<_>>()})
        };
        let rebuilt = rebuild(&id, est)?;
        out.text
            .push_str(&format!("\n// rex policy `{id}`\n{rebuilt}\n"));
        out.kept.push(id.clone());
        out.notes.extend(t.notes.into_iter().map(|note| RexNote {
            policy: id.clone(),
            note,
        }));
    }
    Ok(out)
}

fn rebuild(id: &str, mut est: Value) -> Result<Policy, RexError> {
    est["annotations"] = json!({ "id": id });
    Policy::from_json(Some(PolicyId::new(id)), est).map_err(|e| RexError::Rebuild {
        id: id.to_owned(),
        message: e.to_string(),
    })
}

fn cordon_action(name: &str) -> Value {
    json!({"type": "Cordon::Action", "id": name})
}

/// The Cordon actions a translated policy's scope named (kept in `est["action"]` as a list
/// while translating).
fn candidate_actions(est: &Value) -> Vec<&str> {
    est["action"]["entities"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|e| e["id"].as_str())
                .collect::<Vec<_>>()
        })
        .unwrap_or_default()
}

fn position(id: &PolicyId) -> usize {
    id.to_string()
        .strip_prefix("policy")
        .and_then(|n| n.parse().ok())
        .unwrap_or(usize::MAX)
}

/// Whether `root` can be a Rex root: an absolute, normalised host path (as a run's paths are,
/// so the same check), with no NUL.
///
/// ```
/// assert!(cordon_policy::is_rex_root("/tmp/rex_example"));
/// assert!(!cordon_policy::is_rex_root("/tmp/../etc"));
/// ```
pub fn is_rex_root(root: &str) -> bool {
    !root.contains('\0') && crate::request::check_normalized(root).is_ok()
}

/// How an entity id or path string is used, which decides how a path above the root maps.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Use {
    /// Compared for equality: only a path inside the root names something the run has.
    Equal,
    /// The right of `in`: a directory above the root contains the whole run.
    Ancestor,
}

struct Translator<'a> {
    root: &'a str,
    notes: Vec<String>,
}

/// Something in a policy with no Cordon counterpart.
struct Unmapped(String);

impl Translator<'_> {
    /// The policy in Cordon's schema, with its Cordon actions as a list in `action.entities`;
    /// `None` when it is dropped (the reason is in `notes`).
    fn policy(&mut self, mut est: Value) -> Option<Value> {
        let forbid = est["effect"] == "forbid";
        // Actions.
        let rex_actions = match self.action_scope(&est["action"]) {
            Ok(a) => a,
            Err(Unmapped(why)) if forbid => {
                self.notes
                    .push(format!("{why}: the forbid now applies to every action"));
                ACTIONS.iter().map(|(a, _)| (*a).to_owned()).collect()
            }
            Err(Unmapped(why)) => {
                self.notes.push(format!("dropped: {why}"));
                return None;
            }
        };
        let mut cordon: BTreeSet<&str> = BTreeSet::new();
        for a in &rex_actions {
            match ACTIONS.iter().find(|(rex, _)| rex == a) {
                Some((_, ours)) => cordon.extend(ours.iter()),
                None => self.notes.push(format!(
                    "`{a}` has no Cordon call: nothing in Cordon is decided by it"
                )),
            }
        }
        if cordon.is_empty() {
            self.notes
                .push("dropped: none of its actions is a check Cordon makes".to_owned());
            return None;
        }
        let get = rex_actions.iter().any(|a| a == "network::Action::\"GET\"");
        let mut extra = Vec::new();
        if get && cordon.len() > 1 {
            if forbid {
                // The method condition cannot sit beside file actions: forbid every method.
                self.notes.push(
                    "it names network and file actions together: it forbids every http method, \
                     not only GET"
                        .to_owned(),
                );
            } else {
                cordon.remove("http:send");
                self.notes.push(
                    "it names network and file actions together: its `GET` is left out; \
                     write a policy of its own for it"
                        .to_owned(),
                );
            }
        } else if get {
            extra.push(json!({"==": {
                "left": {".": {"left": {"Var": "context"}, "attr": "method"}},
                "right": {"Value": "GET"},
            }}));
        }
        est["action"] = json!({
            "op": "in",
            "entities": cordon.iter().map(|a| cordon_action(a)).collect::<Vec<_>>(),
        });
        // Principal: Rex's `User` is the human Cordon's run acts for.
        match self.principal_scope(&est["principal"]) {
            Ok(Some(condition)) => extra.push(condition),
            Ok(None) => {}
            Err(Unmapped(why)) if forbid => self
                .notes
                .push(format!("{why}: the forbid now applies to every principal")),
            Err(Unmapped(why)) => {
                self.notes.push(format!("dropped: {why}"));
                return None;
            }
        }
        est["principal"] = json!({"op": "All"});
        // Resource.
        match self.resource_scope(est["resource"].clone()) {
            Ok(scope) => est["resource"] = scope,
            Err(Unmapped(why)) if forbid => {
                self.notes
                    .push(format!("{why}: the forbid now applies to every resource"));
                est["resource"] = json!({"op": "All"});
            }
            Err(Unmapped(why)) => {
                self.notes.push(format!("dropped: {why}"));
                return None;
            }
        }
        // Conditions.
        let mut conditions = Vec::new();
        for clause in est["conditions"].as_array().cloned().unwrap_or_default() {
            let kind = clause["kind"].as_str().unwrap_or("when").to_owned();
            match self.expr(clause["body"].clone(), Use::Equal) {
                Ok(body) => conditions.push(json!({"kind": kind, "body": body})),
                Err(Unmapped(why)) if forbid => self.notes.push(format!(
                    "{why}: its `{kind}` clause is left out, so the forbid applies more widely"
                )),
                Err(Unmapped(why)) => {
                    self.notes.push(format!("dropped: {why}"));
                    return None;
                }
            }
        }
        for body in extra {
            conditions.push(json!({"kind": "when", "body": body}));
        }
        est["conditions"] = Value::Array(conditions);
        Some(est)
    }

    /// The Rex actions the scope names, group members expanded.
    fn action_scope(&self, scope: &Value) -> Result<Vec<String>, Unmapped> {
        let named: Vec<String> = match scope["op"].as_str() {
            Some("All") => return Ok(ACTIONS.iter().map(|(a, _)| (*a).to_owned()).collect()),
            Some("==") => vec![entity_text(&scope["entity"])?],
            Some("in") => match (&scope["entity"], &scope["entities"]) {
                (e @ Value::Object(_), _) => vec![entity_text(e)?],
                (_, Value::Array(list)) => {
                    list.iter().map(entity_text).collect::<Result<_, _>>()?
                }
                _ => return Err(Unmapped("an action scope Cordon cannot read".to_owned())),
            },
            _ => return Err(Unmapped("an action scope Cordon cannot read".to_owned())),
        };
        let mut out = Vec::new();
        for a in named {
            match GROUPS.iter().find(|(group, _)| *group == a) {
                Some((_, prefix)) => out.extend(
                    ACTIONS
                        .iter()
                        .filter(|(rex, _)| rex.starts_with(prefix))
                        .map(|(rex, _)| (*rex).to_owned()),
                ),
                None => out.push(a),
            }
        }
        Ok(out)
    }

    /// `principal == User::"alice"` becomes a condition on the run's human.
    fn principal_scope(&self, scope: &Value) -> Result<Option<Value>, Unmapped> {
        match scope["op"].as_str() {
            Some("All") => Ok(None),
            Some("==") if scope["entity"]["type"] == "User" => {
                let id = scope["entity"]["id"].as_str().unwrap_or_default();
                if id.contains("{{") {
                    return Err(Unmapped(format!(
                        "`User::\"{id}\"` is an unfilled placeholder of Rex's default policy"
                    )));
                }
                Ok(Some(json!({"&&": {
                    "left": {"has": {"left": {"Var": "principal"}, "attr": "human"}},
                    "right": {"==": {
                        "left": {".": {"left": {"Var": "principal"}, "attr": "human"}},
                        "right": {"Value": {"__entity": {"type": "Cordon::Human", "id": id}}},
                    }},
                }})))
            }
            _ => Err(Unmapped(
                "a principal scope other than `principal == User::\"...\"`".to_owned(),
            )),
        }
    }

    fn resource_scope(&mut self, mut scope: Value) -> Result<Value, Unmapped> {
        match scope["op"].as_str() {
            Some("All") => {}
            Some("==") => scope["entity"] = self.entity(&scope["entity"], Use::Equal)?,
            Some("in") => scope["entity"] = self.entity(&scope["entity"], Use::Ancestor)?,
            Some("is") => {
                scope["entity_type"] = Value::String(entity_type(
                    scope["entity_type"].as_str().unwrap_or_default(),
                )?);
                if let Some(e) = scope.get("in").cloned() {
                    scope["in"]["entity"] = self.entity(&e["entity"], Use::Ancestor)?;
                }
            }
            _ => return Err(Unmapped("a resource scope Cordon cannot read".to_owned())),
        }
        Ok(scope)
    }

    /// An entity reference in Cordon's schema.
    fn entity(&mut self, e: &Value, usage: Use) -> Result<Value, Unmapped> {
        let ty = e["type"].as_str().unwrap_or_default();
        let id = e["id"].as_str().unwrap_or_default();
        let cordon_type = entity_type(ty)?;
        let cordon_id = match ty {
            "file_system::File" | "file_system::Dir" => {
                let mapped = self.path(id, usage);
                if mapped.starts_with(OUTSIDE_ROOT) {
                    self.notes.push(format!(
                        "`{ty}::\"{id}\"` is outside the rex root `{}`: no run reaches it",
                        self.root
                    ));
                }
                mapped
            }
            "network::url" => url_id(id)?,
            _ => id.to_owned(),
        };
        Ok(json!({"type": cordon_type, "id": cordon_id}))
    }

    /// A Rex host path as the run's path.
    fn path(&self, p: &str, usage: Use) -> String {
        if self.root == "/" {
            return p.to_owned();
        }
        if p == self.root {
            return "/".to_owned();
        }
        if let Some(rest) = p.strip_prefix(self.root).filter(|r| r.starts_with('/')) {
            return rest.to_owned();
        }
        let above = p == "/"
            || self
                .root
                .strip_prefix(p)
                .is_some_and(|r| r.starts_with('/'));
        if above && usage == Use::Ancestor {
            return "/".to_owned();
        }
        format!("{OUTSIDE_ROOT}{p}")
    }

    /// An expression of a condition in Cordon's schema.
    fn expr(&mut self, e: Value, usage: Use) -> Result<Value, Unmapped> {
        let Value::Object(map) = e else {
            return Ok(e);
        };
        let Some((op, body)) = map.into_iter().next() else {
            return Ok(Value::Object(Default::default()));
        };
        let out = match op.as_str() {
            "Value" => json!({"Value": self.value(body, usage)?}),
            "Var" => match body.as_str() {
                Some("resource") => json!({"Var": "resource"}),
                Some(v) => {
                    return Err(Unmapped(format!(
                        "a condition on `{v}`, which Rex and Cordon describe differently"
                    )));
                }
                None => return Err(Unmapped("a variable Cordon cannot read".to_owned())),
            },
            "." | "has" => {
                let attr = body["attr"].as_str().unwrap_or_default().to_owned();
                if attr != "path" {
                    return Err(Unmapped(format!(
                        "the attribute `{attr}`, which Cordon's entities do not have"
                    )));
                }
                json!({op.clone(): {"left": self.expr(body["left"].clone(), usage)?, "attr": attr}})
            }
            "like" if is_resource_path(&body["left"]) => {
                let pattern = self.pattern(&body["pattern"])?;
                json!({"like": {"left": body["left"].clone(), "pattern": pattern}})
            }
            "==" | "!=" if is_resource_path(&body["left"]) || is_resource_path(&body["right"]) => {
                let side = |t: &mut Self, v: &Value| -> Result<Value, Unmapped> {
                    match v.get("Value").and_then(Value::as_str) {
                        Some(s) => Ok(json!({"Value": t.path(s, Use::Equal)})),
                        None => t.expr(v.clone(), Use::Equal),
                    }
                };
                let left = side(self, &body["left"])?;
                let right = side(self, &body["right"])?;
                json!({op.clone(): {"left": left, "right": right}})
            }
            "in" => {
                let left = self.expr(body["left"].clone(), Use::Equal)?;
                let right = self.expr(body["right"].clone(), Use::Ancestor)?;
                json!({"in": {"left": left, "right": right}})
            }
            "is" => {
                let mut body = body;
                body["entity_type"] = Value::String(entity_type(
                    body["entity_type"].as_str().unwrap_or_default(),
                )?);
                body["left"] = self.expr(body["left"].clone(), Use::Equal)?;
                if let Some(inside) = body.get("in").cloned() {
                    body["in"] = self.expr(inside, Use::Ancestor)?;
                }
                json!({"is": body})
            }
            "like" => {
                return Err(Unmapped(
                    "a `like` on something other than `resource.path`".to_owned(),
                ));
            }
            _ => {
                // Every other operator: translate its operands as they are.
                json!({op: self.children(body, usage)?})
            }
        };
        Ok(out)
    }

    fn children(&mut self, v: Value, usage: Use) -> Result<Value, Unmapped> {
        match v {
            Value::Object(map) => {
                let mut out = serde_json::Map::new();
                for (k, v) in map {
                    let v = if v.is_object() {
                        self.expr(v, usage)?
                    } else if let Value::Array(list) = v {
                        Value::Array(
                            list.into_iter()
                                .map(|x| self.expr(x, usage))
                                .collect::<Result<_, _>>()?,
                        )
                    } else {
                        v
                    };
                    out.insert(k, v);
                }
                Ok(Value::Object(out))
            }
            Value::Array(list) => Ok(Value::Array(
                list.into_iter()
                    .map(|x| self.expr(x, usage))
                    .collect::<Result<_, _>>()?,
            )),
            other => Ok(other),
        }
    }

    /// A literal value: entity references inside it are mapped.
    fn value(&mut self, v: Value, usage: Use) -> Result<Value, Unmapped> {
        match v {
            Value::Object(map) if map.contains_key("__entity") => {
                let e = map.get("__entity").cloned().unwrap_or_default();
                Ok(json!({"__entity": self.entity(&e, usage)?}))
            }
            Value::Array(list) => Ok(Value::Array(
                list.into_iter()
                    .map(|x| self.value(x, usage))
                    .collect::<Result<_, _>>()?,
            )),
            other => Ok(other),
        }
    }

    /// A `like` pattern on `resource.path`: exact only when its literal start places it inside
    /// the root (strip the root) or away from it (it matches nothing the run has).
    fn pattern(&self, pattern: &Value) -> Result<Value, Unmapped> {
        // Cedar writes a pattern one character at a time: join the literal runs.
        let mut parts: Vec<Value> = Vec::new();
        for part in pattern.as_array().cloned().unwrap_or_default() {
            match (
                part.get("Literal").and_then(Value::as_str),
                parts.last_mut(),
            ) {
                (Some(more), Some(Value::Object(last))) if last.contains_key("Literal") => {
                    let joined = format!(
                        "{}{more}",
                        last.get("Literal")
                            .and_then(Value::as_str)
                            .unwrap_or_default()
                    );
                    last.insert("Literal".to_owned(), Value::String(joined));
                }
                _ => parts.push(part),
            }
        }
        if self.root == "/" {
            return Ok(Value::Array(parts));
        }
        let lead = parts
            .first()
            .and_then(|p| p.get("Literal"))
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let inside = format!("{}/", self.root);
        if let Some(rest) = lead.strip_prefix(self.root).filter(|r| r.starts_with('/')) {
            parts[0] = json!({"Literal": rest});
            return Ok(Value::Array(parts));
        }
        if !lead.is_empty() && !inside.starts_with(&lead) {
            parts[0] = json!({"Literal": format!("{OUTSIDE_ROOT}{lead}")});
            return Ok(Value::Array(parts));
        }
        Err(Unmapped(format!(
            "a `like` pattern on the path that starts `{lead}`: whether it matches depends on the \
             rex root `{}`",
            self.root
        )))
    }
}

fn is_resource_path(e: &Value) -> bool {
    e["."]["attr"] == "path" && e["."]["left"]["Var"] == "resource"
}

fn entity_text(e: &Value) -> Result<String, Unmapped> {
    match (e["type"].as_str(), e["id"].as_str()) {
        (Some(t), Some(id)) => Ok(format!("{t}::\"{id}\"")),
        _ => Err(Unmapped("an entity Cordon cannot read".to_owned())),
    }
}

fn entity_type(rex: &str) -> Result<String, Unmapped> {
    match rex {
        "file_system::File" => Ok("Cordon::File".to_owned()),
        "file_system::Dir" => Ok("Cordon::Dir".to_owned()),
        "network::url" => Ok("Cordon::Url".to_owned()),
        other => Err(Unmapped(format!(
            "the entity type `{other}`, which Cordon has not"
        ))),
    }
}

/// A Rex URL as Cordon names it: `scheme://host:port/path`.
fn url_id(raw: &str) -> Result<String, Unmapped> {
    crate::request::check_url(raw)
        .map(|u| crate::request::url_id(&crate::request::UrlParts::of(&u)))
        .map_err(|e| Unmapped(e.to_string()))
}
