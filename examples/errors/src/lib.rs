//! errors: one call per kind of refusal and error, each handled and described by what the SDK
//! shows the agent (variant, text, fields, JSON); python-errors and js-errors make the same
//! calls and must describe them identically. With `{"uncaught": true}` the denied write is
//! returned as the run's error.

use cordon_guest::http::{self, Request};
use cordon_guest::{Error, fs};
use serde_json::{Map, Value, json};

const URL: &str = "https://api.example/upload?draft=1";

/// One call of the agent's, by name.
type Case = (&'static str, Box<dyn Fn() -> Result<(), Error>>);

/// The variant's name: the class of the same error in Python and JavaScript.
fn class(err: &Error) -> &'static str {
    match err {
        Error::AccessDenied { .. } => "AccessDenied",
        Error::NotFound(_) => "NotFound",
        Error::Invalid(_) => "Invalid",
        Error::LimitExceeded(_) => "LimitExceeded",
        Error::Io(_) => "IoError",
        Error::Unsupported(_) => "Unsupported",
        _ => "Error",
    }
}

fn describe(err: &Error) -> Value {
    let mut out = json!({
        "class": class(err),
        "kind": err.kind(),
        "text": err.to_string(),
        "json": serde_json::to_value(err).unwrap_or(Value::Null),
    });
    if let Error::AccessDenied {
        action,
        resource,
        policy_ids,
        decision_id,
    } = err
    {
        out["fields"] = json!([action, resource, policy_ids, decision_id]);
    }
    out
}

fn run(input: Value) -> Result<Value, Error> {
    if input["uncaught"] == true {
        fs::write("hello.txt", "overwritten by errors\n")?;
    }
    let cases: [Case; 6] = [
        (
            "write-forbidden",
            Box::new(|| fs::write("hello.txt", "overwritten by errors\n")),
        ),
        (
            "read-not-permitted",
            Box::new(|| fs::read_to_string("secret.txt").map(drop)),
        ),
        (
            "post-positional",
            Box::new(|| {
                http::send(
                    Request::new("POST", URL)
                        .header("content-type", "text/plain")
                        .body("hi"),
                )
                .map(drop)
            }),
        ),
        (
            "post-request",
            Box::new(|| http::send(Request::post(URL, "hi")).map(drop)),
        ),
        (
            "read-missing",
            Box::new(|| fs::read_to_string("public/missing.txt").map(drop)),
        ),
        (
            "path-escapes",
            Box::new(|| fs::read("../outside.txt").map(drop)),
        ),
    ];
    let mut results = Map::new();
    for (name, call) in cases {
        let described = match call() {
            Ok(()) => json!("allowed"),
            Err(err) => describe(&err),
        };
        results.insert(name.to_owned(), described);
    }
    Ok(Value::Object(results))
}

cordon_guest::export!(run);
