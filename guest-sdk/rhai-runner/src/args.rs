//! Script arguments as variables, as Rex passes them: when the input is a JSON object, each key
//! that is a Rhai identifier (other than `input`) is also a constant of that name. A value in
//! one of Rex's typed forms (`{"stringValue": "x"}`, as `--script-arguments-file` has them) is
//! unwrapped to its value, inside lists and maps too.

use rhai::Scope;
use serde_json::Value;

/// Rex's typed forms of a script argument (its runner's `ScriptArgumentValue`), each an object
/// with exactly one of these keys.
const TYPED: [&str; 7] = [
    "stringValue",
    "integerValue",
    "longValue",
    "doubleValue",
    "booleanValue",
    "listValue",
    "mapValue",
];

/// Push each argument of `input` into `scope`. A value that is not JSON Rhai can hold is
/// `Err`, naming its key.
pub(crate) fn push(scope: &mut Scope<'_>, input: &Value) -> Result<(), String> {
    let Value::Object(args) = input else {
        return Ok(());
    };
    for (key, value) in args {
        if key == "input" || !is_identifier(key) {
            continue;
        }
        let value = rhai::serde::to_dynamic(unwrap(value))
            .map_err(|e| format!("the argument `{key}` cannot be a Rhai value: {e}"))?;
        scope.push_constant_dynamic(key.clone(), value);
    }
    Ok(())
}

/// `value` with Rex's typed forms unwrapped.
fn unwrap(value: &Value) -> Value {
    let Value::Object(map) = value else {
        return value.clone();
    };
    let typed = match map.iter().next() {
        Some((key, inner)) if map.len() == 1 && TYPED.contains(&key.as_str()) => (key, inner),
        _ => return value.clone(),
    };
    match typed {
        (key, Value::Array(items)) if key == "listValue" => {
            Value::Array(items.iter().map(unwrap).collect())
        }
        (key, Value::Object(entries)) if key == "mapValue" => Value::Object(
            entries
                .iter()
                .map(|(k, v)| (k.clone(), unwrap(v)))
                .collect(),
        ),
        (_, inner) => inner.clone(),
    }
}

/// Whether `name` can name a Rhai variable: ASCII letters, digits and `_`, with a letter
/// before any digit (Rhai's rule without its `unicode-xid-ident` feature).
fn is_identifier(name: &str) -> bool {
    let first = name.trim_start_matches('_').chars().next();
    first.is_some_and(|c| c.is_ascii_alphabetic())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}
