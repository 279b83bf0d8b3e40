//! Policies that validate against the schema but can never match what their author wrote:
//! found at load and reported as warnings (`cordon policy check` prints them), since Cedar's
//! validator cannot know the shape of Cordon's ids.
//!
//! - a `File` or `Dir` id that is not an absolute, normalised path (`Cordon::Dir::"docs"`: the
//!   host names `/docs`), except ids a Rex translation wrote for paths outside the run's root
//!   ([`crate::OUTSIDE_ROOT`]), which are meant to match nothing;
//! - a `like` pattern on a `path` that starts with neither `/` nor `*`;
//! - `context.method` compared with a string that is not an upper-case method (`"post"`: the
//!   host passes `POST`).

use cedar_policy::PolicySet;
use serde_json::{Map, Value};

/// The warnings of every policy of `policies`, each naming its policy id.
pub(crate) fn warnings(policies: &PolicySet) -> Vec<String> {
    let mut out = Vec::new();
    for p in policies.policies() {
        let Ok(json) = p.to_json() else { continue };
        let mut found = Vec::new();
        walk(&json, &mut found);
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

fn walk(v: &Value, found: &mut Vec<String>) {
    match v {
        Value::Object(map) => {
            check(map, found);
            map.values().for_each(|v| walk(v, found));
        }
        Value::Array(items) => items.iter().for_each(|v| walk(v, found)),
        _ => {}
    }
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
    // `context.method == "post"`.
    for op in ["==", "!="] {
        let Some(cmp) = node.get(op) else { continue };
        for (side, other) in [("left", "right"), ("right", "left")] {
            let is_method =
                cmp[side]["."]["attr"] == "method" && cmp[side]["."]["left"]["Var"] == "context";
            if let (true, Some(s)) = (is_method, cmp[other]["Value"].as_str())
                && s != s.to_ascii_uppercase()
            {
                found.push(format!(
                    "`context.method` is compared with `\"{s}\"`, which it never is: methods \
                     are upper case (`\"{}\"`)",
                    s.to_ascii_uppercase()
                ));
            }
        }
    }
}
