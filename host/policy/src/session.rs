//! Deciding the calls of one run: principal and context are built into Cedar once per run; each
//! call adds only its resource.

use cedar_policy::{Authorizer, Context, Entities, EntityUid, RestrictedExpression};
use serde::Serialize;

use crate::bundle::PolicyBundle;
use crate::entities::{
    EntityError, agent_uid, principal_entities, resource_entities, resource_uid, uid,
};
use crate::request::{Action, Principal, Request, RunContext};

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
        let base = bundle
            .action_entities()
            .clone()
            .add_entities(principal_entities(schema, principal)?, None)
            .map_err(|e| {
                EntityError::new(agent_uid(schema, principal).to_string(), e.to_string())
            })?;
        let actions = Action::ALL
            .iter()
            .map(|a| uid(&schema.action, a.as_str()))
            .collect();
        let run_context = context_of(context, None)?;
        Ok(Session {
            principal: agent_uid(schema, principal),
            actions,
            base,
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

    /// Decide one request. Anything that keeps Cedar from answering is a denial.
    pub fn authorize(&self, request: &Request) -> Decision {
        match self.try_authorize(request) {
            Ok(d) => d,
            Err(e) => Decision::deny_with_error(e.to_string()),
        }
    }

    fn try_authorize(&self, request: &Request) -> Result<Decision, Box<dyn std::error::Error>> {
        let schema = self.bundle.schema();
        let entities = self
            .base
            .clone()
            .add_entities(resource_entities(schema, &request.resource)?, None)?;
        let context = match &request.method {
            None => self.run_context.clone(),
            Some(m) => context_of(&self.context, Some(m))?,
        };
        let action = self
            .actions
            .get(action_index(request.action))
            .cloned()
            .ok_or("unknown action")?;
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
        Decision {
            allowed: response.decision() == cedar_policy::Decision::Allow,
            policy_ids: diagnostics.reason().map(ToString::to_string).collect(),
            errors: diagnostics.errors().map(ToString::to_string).collect(),
        }
    }
}

fn action_index(a: Action) -> usize {
    Action::ALL
        .iter()
        .position(|x| *x == a)
        .unwrap_or(usize::MAX)
}

fn context_of(c: &RunContext, method: Option<&str>) -> Result<Context, EntityError> {
    let mut pairs = vec![
        (
            "purpose".to_owned(),
            RestrictedExpression::new_string(c.purpose.clone()),
        ),
        (
            "engagement".to_owned(),
            RestrictedExpression::new_string(c.engagement.clone()),
        ),
    ];
    if let Some(m) = method {
        pairs.push((
            "method".to_owned(),
            RestrictedExpression::new_string(m.to_owned()),
        ));
    }
    Context::from_pairs(pairs).map_err(|e| EntityError::new("context".to_owned(), e.to_string()))
}
