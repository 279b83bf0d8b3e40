//! Deciding the calls of one run: principal and context are built into Cedar once per run; each
//! call adds only its resource.

use cedar_policy::{Authorizer, Context, Entities, EntityUid, RestrictedExpression};
use serde::Serialize;

use crate::bundle::PolicyBundle;
use crate::entities::{
    EntityError, agent_uid, principal_entities, resource_entities, resource_uid, uid,
};
use crate::request::{Action, Principal, Request, RunContext};
use crate::taint::{Taint, carries_taint};

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
        let run_context = context_of(context, None, None)?;
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
        match self.try_authorize(request, taint) {
            Ok(d) => d,
            Err(e) => Decision::deny_with_error(e.to_string()),
        }
    }

    fn try_authorize(
        &self,
        request: &Request,
        taint: &Taint,
    ) -> Result<Decision, Box<dyn std::error::Error>> {
        let schema = self.bundle.schema();
        let entities = self
            .base
            .clone()
            .add_entities(resource_entities(schema, &request.resource)?, None)?;
        let taint = carries_taint(request.action).then_some(taint);
        let context = match (&request.method, taint) {
            (None, None) => self.run_context.clone(),
            (method, taint) => context_of(&self.context, method.as_deref(), taint)?,
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
    if let Some(t) = taint {
        let taint = t
            .to_cedar()
            .map_err(|e| EntityError::new("context.taint".to_owned(), e))?;
        pairs.push(("taint".to_owned(), taint));
    }
    Context::from_pairs(pairs).map_err(|e| EntityError::new("context".to_owned(), e.to_string()))
}
