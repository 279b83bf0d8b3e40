//! Deciding the calls of one run: principal and context are built into Cedar once per run; each
//! call adds only its resource.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use cedar_policy::{Authorizer, Context, Entities, Entity, EntityUid, RestrictedExpression};
use serde::Serialize;

use crate::bounds;
use crate::bundle::PolicyBundle;
use crate::entities::{
    EntityError, agent_uid, parent, principal_entities, resource_entities, resource_uid,
    split_name, uid,
};
use crate::request::{Action, Principal, Request, Resource, RunContext};
use crate::taint::{Taint, carries_taint};

/// A remembered decision's key.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum MemoKey {
    /// The action's index, whether the path is a directory, the path.
    Path(usize, bool, String),
    /// For a bundle whose policies decide the files of one directory with one extension
    /// alike (see `PolicyBundle::files_alike`): the action's index, the file's directory and
    /// its extension.
    FileClass(usize, Option<String>, String),
}

/// Most decisions a session remembers before it starts over.
const MEMO_CAPACITY: usize = 4096;

/// The answer to one request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Decision {
    /// Whether the request may go ahead.
    pub allowed: bool,
    /// The policies that decided it: the permits that allowed it, or the forbids that denied
    /// it. Empty for a denial where no policy permitted the request.
    pub policy_ids: Vec<String>,
    /// Evaluation errors (a policy that errors is skipped; the request fails closed).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<String>,
}

impl Decision {
    /// Whether the request may go ahead.
    pub fn is_allowed(&self) -> bool {
        self.allowed
    }

    pub(crate) fn deny_with_error(message: String) -> Self {
        Decision {
            allowed: false,
            policy_ids: Vec::new(),
            errors: vec![message],
        }
    }
}

/// A bundle bound to one run's principal and context.
#[derive(Debug, Clone)]
pub struct Session {
    pub(crate) bundle: PolicyBundle,
    pub(crate) principal: EntityUid,
    actions: Vec<EntityUid>,
    pub(crate) base: Entities,
    /// The agent and its human, for the per-call entity store.
    principal_entities: Vec<Entity>,
    /// Per action (indexed like `actions`): the action entity and the groups it is in.
    action_chains: Vec<Vec<Entity>>,
    /// Decisions already made in this run for calls whose context cannot change (no taint,
    /// no method): principal, context and entities are all fixed, so Cedar would answer the
    /// same again. Under a bundle whose policies cannot tell apart the files of one
    /// directory with one extension, a file never seen before is answered from any such file
    /// decided already (see [`MemoKey::FileClass`]). Every call is still logged; only the
    /// evaluation is reused.
    memo: Arc<Mutex<HashMap<MemoKey, Decision>>>,
    pub(crate) context: RunContext,
    run_context: Context,
    authorizer: Authorizer,
}

impl Session {
    pub(crate) fn new(
        bundle: PolicyBundle,
        principal: &Principal,
        context: &RunContext,
    ) -> Result<Self, EntityError> {
        let schema = bundle.schema();
        let principal_entities = principal_entities(schema, principal)?;
        let base = bundle
            .action_entities()
            .clone()
            .add_entities(principal_entities.clone(), None)
            .map_err(|e| {
                EntityError::new(agent_uid(schema, principal).to_string(), e.to_string())
            })?;
        let actions: Vec<EntityUid> = Action::ALL
            .iter()
            .map(|a| uid(&schema.action, a.as_str()))
            .collect();
        let action_chains = actions
            .iter()
            .map(|a| action_chain(bundle.action_entities(), a))
            .collect();
        let run_context = context_of(context, None, None)?;
        Ok(Session {
            principal: agent_uid(schema, principal),
            actions,
            base,
            principal_entities,
            action_chains,
            memo: Arc::default(),
            context: context.clone(),
            run_context,
            authorizer: Authorizer::new(),
            bundle,
        })
    }

    /// The bundle this session decides with.
    pub fn bundle(&self) -> &PolicyBundle {
        &self.bundle
    }

    /// Decide one request of a run that has read nothing. Anything that keeps Cedar from
    /// answering is a denial.
    pub fn authorize(&self, request: &Request) -> Decision {
        self.authorize_with_taint(request, &Taint::default())
    }

    /// Decide one request of a run that has read what `taint` says. Calls that can carry data
    /// out (`http:send`, `fs:write`, `fs:append`) see it as `context.taint`; others ignore it.
    ///
    /// ```
    /// use cordon_policy::{Action, PolicyBundle, Principal, Request, Resource, RunContext, Taint};
    ///
    /// let bundle = PolicyBundle::from_sources([(
    ///     "p.cedar",
    ///     r#"@id("all") permit(principal, action, resource);
    ///        @id("no-health-out") forbid(principal, action == Cordon::Action::"fs:write", resource)
    ///        when { context.taint.categories.contains("health") };"#,
    /// )])?;
    /// let session = bundle.session(&Principal::unattended("t", "d"), &RunContext::new("p", "e"))?;
    /// let write = Request::new(Action::FsWrite, Resource::file("/out.csv")?);
    /// assert!(session.authorize_with_taint(&write, &Taint::default()).is_allowed());
    /// let mut taint = Taint::default();
    /// taint.observe("patients", 2, "EU", ["health"]);
    /// let denied = session.authorize_with_taint(&write, &taint);
    /// assert_eq!(denied.policy_ids, ["no-health-out"]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn authorize_with_taint(&self, request: &Request, taint: &Taint) -> Decision {
        let index = action_index(request.action);
        let memo_key = match &request.resource {
            _ if request.method.is_some() || carries_taint(request.action) => None,
            // Within the bounds only: a path past them is refused by the entity builder.
            Resource::File(p) if self.bundle.files_alike() && bounds::check_path(p).is_ok() => {
                let (_, extension) = split_name(p);
                Some(MemoKey::FileClass(
                    index,
                    parent(p).map(str::to_owned),
                    extension.to_owned(),
                ))
            }
            Resource::File(p) => Some(MemoKey::Path(index, false, p.clone())),
            Resource::Dir(p) => Some(MemoKey::Path(index, true, p.clone())),
            _ => None,
        };
        if let Some(key) = &memo_key
            && let Some(d) = self.memo.lock().ok().and_then(|m| m.get(key).cloned())
        {
            return d;
        }
        let decision = match self.try_authorize(request, taint) {
            Ok(d) => d,
            Err(e) => Decision::deny_with_error(e.to_string()),
        };
        // An error may name the resource: such a decision is remembered for its path only.
        let memo_key = match memo_key {
            Some(MemoKey::FileClass(..)) if !decision.errors.is_empty() => None,
            key => key,
        };
        if let Some(key) = memo_key
            && let Ok(mut memo) = self.memo.lock()
        {
            if memo.len() >= MEMO_CAPACITY {
                memo.clear();
            }
            memo.insert(key, decision.clone());
        }
        decision
    }

    /// The first fs action this run's policy allows on `to` but not on `from`, both of the same
    /// kind (`File` or `Dir`), under the run's `taint`; `None` when the move grants nothing.
    ///
    /// This is what makes a rename unable to step around a policy: `fs:rename` of `from` to
    /// `to` moves the content, so the host refuses it when any action the policy withholds
    /// from the old name would be granted under the new one. The host asks it for the renamed
    /// entry and for every entry under a renamed directory. Actions compared: for a `File`,
    /// `fs:read`, `fs:write`, `fs:append`, `fs:stat`, `fs:remove`, `fs:rename`; for a `Dir`,
    /// `fs:list`, `fs:create-dir`, `fs:stat`, `fs:remove`, `fs:rename`. A decision that errors
    /// counts as a denial, so an error can only refuse a move.
    ///
    /// ```
    /// use cordon_policy::{Action, PolicyBundle, Principal, Resource, RunContext, Taint};
    ///
    /// let bundle = PolicyBundle::from_sources([(
    ///     "p.cedar",
    ///     r#"@id("all") permit(principal, action, resource);
    ///        @id("no-secret") forbid(principal, action == Cordon::Action::"fs:read", resource)
    ///        when { resource.name == "secret.txt" };"#,
    /// )])?;
    /// let s = bundle.session(&Principal::unattended("t", "d"), &RunContext::new("p", "e"))?;
    /// let (from, to) = (Resource::file("/a/secret.txt")?, Resource::file("/a/loot.txt")?);
    /// assert_eq!(s.escalation(&from, &to, &Taint::default()), Some(Action::FsRead));
    /// assert_eq!(s.escalation(&to, &from, &Taint::default()), None);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn escalation(&self, from: &Resource, to: &Resource, taint: &Taint) -> Option<Action> {
        const FILE: [Action; 6] = [
            Action::FsRead,
            Action::FsWrite,
            Action::FsAppend,
            Action::FsStat,
            Action::FsRemove,
            Action::FsRename,
        ];
        const DIR: [Action; 5] = [
            Action::FsList,
            Action::FsCreateDir,
            Action::FsStat,
            Action::FsRemove,
            Action::FsRename,
        ];
        let actions: &[Action] = match (from, to) {
            (Resource::File(_), Resource::File(_)) => &FILE,
            (Resource::Dir(_), Resource::Dir(_)) => &DIR,
            // Different kinds, or not a path: nothing this check can compare; refuse.
            _ => return Some(Action::FsRename),
        };
        actions.iter().copied().find(|&a| {
            let allowed = |r: &Resource| {
                self.authorize_with_taint(&Request::new(a, r.clone()), taint)
                    .allowed
            };
            allowed(to) && !allowed(from)
        })
    }

    fn try_authorize(
        &self,
        request: &Request,
        taint: &Taint,
    ) -> Result<Decision, Box<dyn std::error::Error>> {
        let schema = self.bundle.schema();
        // A small store per call — the principal, the action and its groups, the resource and
        // the directories above it — rather than a clone of every action of the schema: this
        // is what keeps a decision to a few microseconds.
        let index = action_index(request.action);
        let chain = self.action_chains.get(index).ok_or("unknown action")?;
        let entities = Entities::from_entities(
            self.principal_entities
                .iter()
                .chain(chain)
                .cloned()
                .chain(resource_entities(schema, &request.resource)?),
            None,
        )?;
        let taint = carries_taint(request.action).then_some(taint);
        let context = match (&request.method, taint) {
            (None, None) => self.run_context.clone(),
            (method, taint) => context_of(&self.context, method.as_deref(), taint)?,
        };
        let action = self.actions.get(index).cloned().ok_or("unknown action")?;
        let cedar_request = cedar_policy::Request::new(
            self.principal.clone(),
            action,
            resource_uid(schema, &request.resource),
            context,
            None,
        )?;
        Ok(self.decide(&cedar_request, &entities))
    }

    /// Ask Cedar one built request.
    pub(crate) fn decide(
        &self,
        cedar_request: &cedar_policy::Request,
        entities: &Entities,
    ) -> Decision {
        let response =
            self.authorizer
                .is_authorized(cedar_request, self.bundle.policies(), entities);
        let diagnostics = response.diagnostics();
        // Cedar gives the reasons as a set; sorted, equal decisions compare and log equal.
        let mut policy_ids: Vec<String> = diagnostics.reason().map(ToString::to_string).collect();
        policy_ids.sort();
        Decision {
            allowed: response.decision() == cedar_policy::Decision::Allow,
            policy_ids,
            errors: diagnostics.errors().map(ToString::to_string).collect(),
        }
    }
}

/// `action` and every action group it is in, as entities.
fn action_chain(actions: &Entities, action: &EntityUid) -> Vec<Entity> {
    let mut chain: Vec<Entity> = actions.get(action).cloned().into_iter().collect();
    if let Some(ancestors) = actions.ancestors(action) {
        chain.extend(ancestors.filter_map(|a| actions.get(a).cloned()));
    }
    chain
}

fn action_index(a: Action) -> usize {
    Action::ALL
        .iter()
        .position(|x| *x == a)
        .unwrap_or(usize::MAX)
}

fn context_of(
    c: &RunContext,
    method: Option<&str>,
    taint: Option<&Taint>,
) -> Result<Context, EntityError> {
    let mut pairs = run_pairs(c)?;
    if let Some(m) = method {
        pairs.push((
            "method".to_owned(),
            RestrictedExpression::new_string(m.to_owned()),
        ));
    }
    if let Some(t) = taint {
        let taint = t
            .to_cedar()
            .map_err(|e| EntityError::new("context.taint".to_owned(), e))?;
        pairs.push(("taint".to_owned(), taint));
    }
    Context::from_pairs(pairs).map_err(|e| EntityError::new("context".to_owned(), e.to_string()))
}

/// What every context of a run has: `purpose`, `engagement` and, for a source run, `code`.
pub(crate) fn run_pairs(
    c: &RunContext,
) -> Result<Vec<(String, RestrictedExpression)>, EntityError> {
    let string = |s: &str| RestrictedExpression::new_string(s.to_owned());
    let mut pairs = vec![
        ("purpose".to_owned(), string(&c.purpose)),
        ("engagement".to_owned(), string(&c.engagement)),
    ];
    if let Some(code) = &c.code {
        let record = RestrictedExpression::new_record([
            ("language".to_owned(), string(&code.language)),
            ("digest".to_owned(), string(&code.digest)),
        ])
        .map_err(|e| EntityError::new("context.code".to_owned(), e.to_string()))?;
        pairs.push(("code".to_owned(), record));
    }
    Ok(pairs)
}
