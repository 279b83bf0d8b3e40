//! Policies that validate against the schema but can never match what their author wrote:
//! found at load and reported as warnings (`cordon policy check` prints them), since Cedar's
//! validator cannot know the shape of Cordon's ids, and accepts some tests that are always
//! false. Each warning names its policy; each is given only when it is sure.
//!
//! - a `File` or `Dir` id that is not an absolute, normalised path (`Cordon::Dir::"docs"`,
//!   `Cordon::File::"docs/a.txt"`: the host names `/docs`), except ids a Rex translation wrote
//!   for paths outside the run's root ([`crate::OUTSIDE_ROOT`]), which are meant to match
//!   nothing;
//! - a `path` compared (`==`, `!=`) with a string that does not start with `/`, or matched
//!   (`like`) with a pattern that starts with neither `/` nor `*`: every path the host passes
//!   starts with `/`;
//! - `context.method` compared with, or looked up in a set of, strings that are not upper
//!   case (`"post"`: the host passes `POST`);
//! - `has` on an attribute the schema declares for none of the types the tested value can be
//!   where the policy applies (`resource has owner`: no resource has one, so it is always
//!   false). Reading such an attribute (`resource.owner`) is already an error of Cedar's
//!   validator, and the bundle is refused; `has` is not, since it is merely false;
//! - a `permit` that a `forbid` with no `when`/`unless` conditions and the same or a wider
//!   scope always overrides: the permit can never allow anything. Wider means: every action
//!   of the permit is one of the forbid's (groups expanded); for principal and resource, the
//!   forbid's scope is unconstrained, the same, or an `in` whose entity holds the permit's
//!   (a directory holds what lies below it).

use std::collections::BTreeSet;
use std::sync::OnceLock;

use cedar_policy::{
    ActionConstraint, Effect, Entities, EntityTypeName, EntityUid, Policy, PolicySet,
    PrincipalConstraint, ResourceConstraint,
};
use serde_json::{Map, Value};

use crate::schema::{CordonSchema, SCHEMA_JSON};

/// The warnings of every policy of `policies`, each naming its policy id. `actions` are the
/// schema's action entities (their groups).
pub(crate) fn warnings(
    policies: &PolicySet,
    schema: &CordonSchema,
    actions: &Entities,
) -> Vec<String> {
    let forbids = unconditional_forbids(policies, schema, actions);
    let mut out = Vec::new();
    for p in policies.policies() {
        let Ok(json) = p.to_json() else { continue };
        let types = Types::of(p, schema);
        let mut found = Vec::new();
        walk(&json, &mut |node| {
            check(node, &mut found);
            if let Some(types) = &types {
                check_has(node, types, &mut found);
            }
        });
        found.extend(shadowed(p, &forbids, schema, actions));
        found.sort();
        found.dedup();
        out.extend(
            found
                .into_iter()
                .map(|w| format!("policy `{}`: {w}", p.id())),
        );
    }
    out
}

fn walk(v: &Value, visit: &mut impl FnMut(&Map<String, Value>)) {
    match v {
        Value::Object(map) => {
            visit(map);
            map.values().for_each(|v| walk(v, visit));
        }
        Value::Array(items) => items.iter().for_each(|v| walk(v, visit)),
        _ => {}
    }
}

/// `{".": {"left": {"Var": var}, "attr": attr}}`: whether `e` reads `var.attr`.
fn is_attr_of(e: &Value, var: &str, attr: &str) -> bool {
    e["."]["attr"] == attr && e["."]["left"]["Var"] == var
}

fn check(node: &Map<String, Value>, found: &mut Vec<String>) {
    // An entity reference: `{"type": "Cordon::Dir", "id": "docs"}`.
    if let (Some(ty), Some(id)) = (
        node.get("type").and_then(Value::as_str),
        node.get("id").and_then(Value::as_str),
    ) {
        let short = ty.rsplit("::").next().unwrap_or(ty);
        if matches!(short, "File" | "Dir")
            && !id.starts_with(crate::OUTSIDE_ROOT)
            && crate::request::check_normalized(id).is_err()
        {
            found.push(format!(
                "`{ty}::\"{id}\"` can never match: {short} ids are absolute, normalised paths \
                 inside the run's root, such as `/{}`",
                id.trim_matches('/')
            ));
        }
    }
    // `resource.path like "docs/*"`.
    if let Some(like) = node.get("like") {
        let on_path = like["left"]["."]["attr"] == "path";
        let first = like["pattern"].as_array().and_then(|p| p.first()).map(|p| {
            match p.get("Literal").and_then(Value::as_str) {
                Some(lit) => lit.starts_with('/') || lit.starts_with(crate::OUTSIDE_ROOT),
                None => true, // a wildcard
            }
        });
        if on_path && first == Some(false) {
            found.push(
                "a `like` pattern on a path that starts with neither `/` nor `*` can never \
                 match: paths are absolute inside the run's root"
                    .to_owned(),
            );
        }
    }
    for op in ["==", "!="] {
        let Some(cmp) = node.get(op) else { continue };
        for (side, other) in [("left", "right"), ("right", "left")] {
            let Some(s) = cmp[other]["Value"].as_str() else {
                continue;
            };
            // `context.method == "post"`.
            if is_attr_of(&cmp[side], "context", "method") {
                method_case(s, found);
            }
            // `resource.path == "docs/a.txt"`.
            if cmp[side]["."]["attr"] == "path"
                && !s.starts_with('/')
                && !s.starts_with(crate::OUTSIDE_ROOT)
            {
                found.push(format!(
                    "a path is compared with `\"{s}\"`, which it never is: paths start with `/` \
                     (`\"/{}\"`)",
                    s.trim_matches('/')
                ));
            }
        }
    }
    // `["GET", "post"].contains(context.method)`.
    if let Some(contains) = node.get("contains")
        && is_attr_of(&contains["right"], "context", "method")
        && let Some(set) = contains["left"]["Set"].as_array()
    {
        for s in set.iter().filter_map(|v| v["Value"].as_str()) {
            method_case(s, found);
        }
    }
}

fn method_case(s: &str, found: &mut Vec<String>) {
    if s != s.to_ascii_uppercase() {
        found.push(format!(
            "`context.method` is compared with `\"{s}\"`, which it never is: methods are upper \
             case (`\"{}\"`)",
            s.to_ascii_uppercase()
        ));
    }
}

/// The schema in its JSON form, for the attributes of entity and context types.
fn schema_json() -> &'static Value {
    static JSON: OnceLock<Value> = OnceLock::new();
    JSON.get_or_init(|| serde_json::from_str(SCHEMA_JSON).unwrap_or(Value::Null))
}

/// The types `principal`, `resource` and `context` can have where one policy applies: from
/// Cedar's request environments for it (the action, principal and resource types for which
/// the policy is not trivially false), so a type the policy rules out (`resource is File`)
/// is not among them.
struct Types {
    principal: BTreeSet<String>,
    resource: BTreeSet<String>,
    /// Context type names (`HttpContext`).
    context: BTreeSet<String>,
}

impl Types {
    fn of(p: &Policy, schema: &CordonSchema) -> Option<Types> {
        let ns = &schema_json()["Cordon"];
        let mut t = Types {
            principal: BTreeSet::new(),
            resource: BTreeSet::new(),
            context: BTreeSet::new(),
        };
        for env in p.get_valid_request_envs(&schema.schema) {
            t.principal.insert(env.principal().basename().to_owned());
            t.resource.insert(env.resource().basename().to_owned());
            let action = env.action().id().unescaped().to_owned();
            let context = ns["actions"][&action]["appliesTo"]["context"]["type"].as_str()?;
            t.context.insert(context.to_owned());
        }
        (!t.resource.is_empty()).then_some(t)
    }
}

/// The attributes an entity type declares (none, for a type without a shape).
fn entity_attributes(name: &str) -> Option<&'static Map<String, Value>> {
    static NONE: OnceLock<Map<String, Value>> = OnceLock::new();
    let def = schema_json()["Cordon"]["entityTypes"].get(name)?;
    Some(
        def["shape"]["attributes"]
            .as_object()
            .unwrap_or_else(|| NONE.get_or_init(Map::new)),
    )
}

/// The attributes a record type (a context, `Code`, `Taint`) declares.
fn record_attributes(name: &str) -> Option<&'static Map<String, Value>> {
    schema_json()["Cordon"]["commonTypes"].get(name)?["attributes"].as_object()
}

/// The declared attributes of the value `e` evaluates to, for each type it can have; `None`
/// when that is not known for sure (anything but `principal`, `resource`, `context` and
/// attributes read from them).
fn attributes(e: &Value, types: &Types) -> Option<Vec<(String, &'static Map<String, Value>)>> {
    if let Some(var) = e["Var"].as_str() {
        let (names, lookup): (_, fn(&str) -> _) = match var {
            "principal" => (&types.principal, entity_attributes),
            "resource" => (&types.resource, entity_attributes),
            "context" => (&types.context, record_attributes),
            _ => return None,
        };
        return names
            .iter()
            .map(|n| Some((n.clone(), lookup(n)?)))
            .collect();
    }
    // `x.attr`: the type each of x's types declares for `attr`.
    let dot = e.get(".")?;
    let attr = dot["attr"].as_str()?;
    attributes(&dot["left"], types)?
        .into_iter()
        .filter_map(|(_, attrs)| attrs.get(attr))
        .map(|ty| {
            let name = ty["name"].as_str()?;
            let attrs = record_attributes(name).or_else(|| entity_attributes(name))?;
            Some((name.to_owned(), attrs))
        })
        .collect()
}

/// `resource has owner`, where no type the resource can be declares `owner`.
fn check_has(node: &Map<String, Value>, types: &Types, found: &mut Vec<String>) {
    let Some(has) = node.get("has") else { return };
    let Some(attr) = has["attr"].as_str() else {
        return;
    };
    let Some(candidates) = attributes(&has["left"], types) else {
        return;
    };
    if candidates.is_empty() || candidates.iter().any(|(_, attrs)| attrs.contains_key(attr)) {
        return;
    }
    let names: Vec<String> = candidates.iter().map(|(n, _)| format!("`{n}`")).collect();
    found.push(format!(
        "`{} has {attr}` is always false: the schema declares `{attr}` for none of {} \
         (an unknown attribute)",
        written(&has["left"]),
        names.join(", ")
    ));
}

/// `context.code` from its JSON form.
fn written(e: &Value) -> String {
    match (e["Var"].as_str(), e.get(".")) {
        (Some(var), _) => var.to_owned(),
        (None, Some(dot)) => format!(
            "{}.{}",
            written(&dot["left"]),
            dot["attr"].as_str().unwrap_or("?")
        ),
        _ => "?".to_owned(),
    }
}

/// A principal or resource scope.
enum Scope {
    Any,
    Eq(EntityUid),
    In(EntityUid),
    Is(EntityTypeName),
    IsIn(EntityTypeName, EntityUid),
}

impl From<PrincipalConstraint> for Scope {
    fn from(c: PrincipalConstraint) -> Self {
        match c {
            PrincipalConstraint::Any => Scope::Any,
            PrincipalConstraint::Eq(e) => Scope::Eq(e),
            PrincipalConstraint::In(e) => Scope::In(e),
            PrincipalConstraint::Is(t) => Scope::Is(t),
            PrincipalConstraint::IsIn(t, e) => Scope::IsIn(t, e),
        }
    }
}

impl From<ResourceConstraint> for Scope {
    fn from(c: ResourceConstraint) -> Self {
        match c {
            ResourceConstraint::Any => Scope::Any,
            ResourceConstraint::Eq(e) => Scope::Eq(e),
            ResourceConstraint::In(e) => Scope::In(e),
            ResourceConstraint::Is(t) => Scope::Is(t),
            ResourceConstraint::IsIn(t, e) => Scope::IsIn(t, e),
        }
    }
}

/// Whether every entity `inner` admits, `outer` admits too. Sure answers only: `false` when
/// in doubt.
fn covers(outer: &Scope, inner: &Scope) -> bool {
    use Scope::{Any, Eq, In, Is, IsIn};
    match (outer, inner) {
        (Any, _) => true,
        (Eq(e), Eq(x)) => e == x,
        (In(e), Eq(x) | In(x) | IsIn(_, x)) => within(x, e),
        (Is(t), Is(u) | IsIn(u, _)) => t == u,
        (Is(t), Eq(x)) => x.type_name() == t,
        (IsIn(t, e), IsIn(u, x)) => t == u && within(x, e),
        (IsIn(t, e), Eq(x)) => x.type_name() == t && within(x, e),
        _ => false,
    }
}

/// Whether `x` is `in` `e`: the same entity, or (how the host builds files and directories)
/// a file or directory below the directory `e`.
fn within(x: &EntityUid, e: &EntityUid) -> bool {
    if x == e {
        return true;
    }
    let is = |u: &EntityUid, ty: &str| u.type_name().to_string() == format!("Cordon::{ty}");
    let (xp, ep) = (x.id().unescaped(), e.id().unescaped());
    is(e, "Dir")
        && (is(x, "Dir") || is(x, "File"))
        && crate::request::check_normalized(xp).is_ok()
        && crate::request::check_normalized(ep).is_ok()
        && (ep == "/"
            || xp
                .strip_prefix(ep)
                .is_some_and(|rest| rest.starts_with('/')))
}

/// The actions a request may name that a constraint admits, groups expanded through
/// `actions` (the schema's action entities).
fn admitted(c: &ActionConstraint, schema: &CordonSchema, actions: &Entities) -> BTreeSet<String> {
    schema
        .schema
        .actions()
        // Requests name actions that apply to something, never a group.
        .filter(|a| {
            schema
                .schema
                .resources_for_action(a)
                .is_some_and(|mut r| r.next().is_some())
        })
        .filter(|a| match c {
            ActionConstraint::Any => true,
            ActionConstraint::Eq(e) => *a == e,
            ActionConstraint::In(groups) => groups
                .iter()
                .any(|g| g == *a || actions.is_ancestor_of(g, a)),
        })
        .map(ToString::to_string)
        .collect()
}

/// A forbid with no conditions: it denies every request in its scope.
struct Unconditional<'a> {
    policy: &'a Policy,
    principal: Scope,
    resource: Scope,
    actions: BTreeSet<String>,
}

/// The forbids of `policies` that have no conditions.
fn unconditional_forbids<'a>(
    policies: &'a PolicySet,
    schema: &CordonSchema,
    actions: &Entities,
) -> Vec<Unconditional<'a>> {
    policies
        .policies()
        .filter(|f| f.effect() == Effect::Forbid && !f.has_non_scope_constraint())
        .map(|f| Unconditional {
            policy: f,
            principal: f.principal_constraint().into(),
            resource: f.resource_constraint().into(),
            actions: admitted(&f.action_constraint(), schema, actions),
        })
        .collect()
}

/// For a permit: the unconditional forbid that always overrides it, if there is one.
fn shadowed(
    p: &Policy,
    forbids: &[Unconditional<'_>],
    schema: &CordonSchema,
    actions: &Entities,
) -> Option<String> {
    if p.effect() != Effect::Permit || forbids.is_empty() {
        return None;
    }
    let (principal, resource) = (
        p.principal_constraint().into(),
        p.resource_constraint().into(),
    );
    let permit_actions = admitted(&p.action_constraint(), schema, actions);
    let forbid = forbids.iter().find(|f| {
        covers(&f.principal, &principal)
            && covers(&f.resource, &resource)
            && permit_actions.is_subset(&f.actions)
    })?;
    Some(format!(
        "this permit can never allow anything: forbid `{}` has no conditions and covers its \
         whole scope",
        forbid.policy.id()
    ))
}

#[cfg(test)]
mod tests {
    use crate::PolicyBundle;

    fn warnings(text: &str) -> Vec<String> {
        PolicyBundle::from_sources([("t.cedar", text)])
            .unwrap_or_else(|e| panic!("{e}"))
            .warnings()
            .to_vec()
    }

    fn warns(text: &str, needle: &str) {
        let w = warnings(text);
        assert!(
            w.iter().any(|w| w.contains(needle)),
            "{needle} not in {w:?}"
        );
    }

    fn clean(text: &str) {
        assert_eq!(warnings(text), Vec::<String>::new(), "{text}");
    }

    const READ: &str = r#"Cordon::Action::"fs:read""#;

    #[test]
    fn a_relative_file_id_is_a_warning_like_a_relative_dir() {
        warns(
            &format!(
                r#"@id("f") permit(principal, action == {READ}, resource == Cordon::File::"docs/a.txt");"#
            ),
            r#"policy `f`: `Cordon::File::"docs/a.txt"` can never match"#,
        );
        warns(
            r#"@id("d") permit(principal, action, resource) when { resource in [Cordon::Dir::"/a/../b"] };"#,
            r#"`Cordon::Dir::"/a/../b"` can never match"#,
        );
    }

    #[test]
    fn a_path_compared_with_a_relative_string_is_a_warning() {
        warns(
            &format!(
                r#"@id("p") permit(principal, action == {READ}, resource) when {{ resource.path == "docs/a.txt" }};"#
            ),
            "policy `p`: a path is compared with `\"docs/a.txt\"`",
        );
        clean(&format!(
            r#"permit(principal, action == {READ}, resource) when {{ resource.path != "/docs/a.txt" }};"#
        ));
    }

    #[test]
    fn a_lower_case_method_in_a_set_is_a_warning() {
        warns(
            r#"@id("m") permit(principal, action == Cordon::Action::"http:send", resource)
               when { ["GET", "post"].contains(context.method) };"#,
            "policy `m`: `context.method` is compared with `\"post\"`",
        );
        clean(
            r#"permit(principal, action == Cordon::Action::"http:send", resource)
               when { ["GET", "POST"].contains(context.method) };"#,
        );
    }

    #[test]
    fn reading_an_undeclared_attribute_is_refused_by_cedar_already() {
        for text in [
            format!(
                "permit(principal, action == {READ}, resource) when {{ resource.owner == \"x\" }};"
            ),
            format!(
                "permit(principal, action == {READ}, resource) when {{ context.user == \"x\" }};"
            ),
            format!(
                "permit(principal, action == {READ}, resource) when {{ principal.name == \"x\" }};"
            ),
        ] {
            let err = PolicyBundle::from_sources([("t.cedar", text.as_str())]).unwrap_err();
            assert!(
                err.to_string().contains("does not validate"),
                "{text}: {err}"
            );
        }
    }

    #[test]
    fn has_on_an_undeclared_attribute_is_a_warning_naming_the_types() {
        warns(
            &format!(
                r#"@id("o") forbid(principal, action == {READ}, resource) unless {{ resource has owner }};"#
            ),
            "policy `o`: `resource has owner` is always false: the schema declares `owner` for \
             none of `File`",
        );
        warns(
            r#"@id("c") permit(principal, action, resource)
               when { context has user || resource has name };"#,
            "`context has user` is always false",
        );
        warns(
            r#"@id("n") permit(principal, action == Cordon::Action::"http:send", resource)
               when { context has code && context.code has lang || context.method == "GET" };"#,
            "`context.code has lang` is always false: the schema declares `lang` for none of \
             `Code`",
        );
        warns(
            r#"@id("h") permit(principal, action, resource)
               when { principal has human && principal.human has email || resource has path };"#,
            "`principal.human has email` is always false",
        );
    }

    #[test]
    fn has_on_an_attribute_some_possible_type_declares_is_not_a_warning() {
        // `extension` is a File's; the scope allows files and directories.
        clean(
            r#"permit(principal, action == Cordon::Action::"fs:stat", resource)
               when { resource has extension && resource.extension == "md" };"#,
        );
        clean(
            r#"permit(principal, action, resource)
               when { principal has human && context has code };"#,
        );
        // `taint` is in the context of writes and http only: still declared for some.
        clean(
            r#"permit(principal, action, resource)
               when { context has taint && context.taint.tainted };"#,
        );
    }

    #[test]
    fn a_permit_under_an_unconditional_forbid_of_wider_scope_is_a_warning() {
        warns(
            &format!(
                r#"@id("read-secrets") permit(principal, action == {READ}, resource in Cordon::Dir::"/secrets/db");
                   @id("no-secrets") forbid(principal, action in Cordon::Action::"fs", resource in Cordon::Dir::"/secrets");"#
            ),
            "policy `read-secrets`: this permit can never allow anything: forbid `no-secrets`",
        );
        warns(
            &format!(
                r#"@id("one") permit(principal, action == {READ}, resource == Cordon::File::"/a/b.txt") when {{ context.purpose == "x" }};
                   @id("all") forbid(principal, action, resource);"#
            ),
            "policy `one`: this permit can never allow anything: forbid `all`",
        );
    }

    #[test]
    fn a_forbid_with_conditions_or_a_narrower_scope_shadows_nothing() {
        // Conditions: the forbid may not apply.
        clean(&format!(
            r#"permit(principal, action == {READ}, resource in Cordon::Dir::"/secrets");
               forbid(principal, action == {READ}, resource in Cordon::Dir::"/secrets")
               when {{ context.purpose == "x" }};"#
        ));
        // A narrower resource, a sibling whose name starts the same, fewer actions, one
        // principal type: each leaves part of the permit standing.
        for forbid in [
            format!(
                r#"forbid(principal, action == {READ}, resource in Cordon::Dir::"/docs/private");"#
            ),
            format!(r#"forbid(principal, action == {READ}, resource in Cordon::Dir::"/doc");"#),
            r#"forbid(principal, action == Cordon::Action::"fs:write", resource);"#.to_owned(),
            format!(r#"forbid(principal == Cordon::Agent::"x", action == {READ}, resource);"#),
        ] {
            clean(&format!(
                r#"permit(principal, action in Cordon::Action::"fs:read-only", resource in Cordon::Dir::"/docs");
                   {forbid}"#
            ));
        }
    }
}
