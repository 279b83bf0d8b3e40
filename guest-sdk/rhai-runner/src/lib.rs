//! Cordon's Rhai runner: runs a Rhai script sent as text (the language of AWS's Rex), with
//! Rex's script functions mapped onto Cordon's gated imports.
//!
//! The host calls `run` with `{"language": "rhai", "code": "...", "input": ...}` (the
//! source-run protocol, `host/runtime/src/source.rs`) and gets one envelope back:
//!
//! - `{"result": value, "log": "..."}`: the script ran; `value` is the value of its last
//!   statement (or of `return`), as JSON; `log` holds the lines `info`, `warn` and `error`
//!   wrote (the host appends them to the report's `stdout`);
//! - `{"invalid": {message, line, column}}`: the script does not parse, or its value is not
//!   JSON (a function pointer, a custom type);
//! - `{"exception": {type, message, traceback}}`: the script threw, or hit one of the engine's
//!   limits, and did not catch it; the traceback is the script's own position.
//!
//! A refusal by policy is a Rhai error the script may `catch`: the caught value is a map
//! `#{kind: "access-denied", message, action, resource, policy_ids}` (other Cordon errors:
//! `kind` and `message`). One the script lets escape ends the run with the same typed error a
//! component's would, `access-denied` naming the policies.
//!
//! The script sees the run's input as the constant `input`. Functions (Rex's safe-io names):
//!
//! | function | Cordon call |
//! |---|---|
//! | `cat(path)` | `fs.read`, as UTF-8 text |
//! | `write(path, text)` | `fs.write` |
//! | `ls(path)` | `fs.list`: a map of name to `#{type: "file" \| "directory" \| ...}` |
//! | `touch(path)` | `fs.append` of nothing: creates the file if missing |
//! | `mkdir(path)`, `rm(path)`, `mv(from, to)` | `fs.create-dir`, `fs.remove`, `fs.rename` |
//! | `cp(from, to)` | `fs.read`, then `fs.write` |
//! | `wc(path)` | `fs.read`: `#{lines, words, bytes}` |
//! | `tail(path)` | `fs.read`: its last 10 lines, an array |
//! | `seq(start, end)` | no call: `start..=end` by 1 (empty when `start > end`) |
//! | `curl(url)` | `http.send` of a GET: `#{status, text}` |
//! | `info(msg)`, `warn(msg)`, `error(msg)`, `print(msg)` | a line of the run's log |
//!
//! Rex's functions that need authority Cordon does not grant ([`UNSUPPORTED`]: processes,
//! system and disk information, host network state) exist and fail with an `unsupported`
//! error naming the function.
//!
//! The engine's own limits apply on top of Cordon's fuel, memory and time: see [`LIMITS`].

mod commands;

use std::cell::RefCell;

use cordon_guest::Error;
use rhai::{Dynamic, Engine, EvalAltResult, Map, Position, Scope};

pub use commands::UNSUPPORTED;
use serde_json::{Value, json};

/// The engine limits of a script, as Rex sets them: operations (each expression step), call
/// depth, and the sizes of strings, arrays and maps it can build.
pub struct Limits {
    /// Most operations a script may run.
    pub operations: u64,
    /// Deepest function-call nesting.
    pub call_depth: usize,
    /// Longest string, in bytes.
    pub string_size: usize,
    /// Most elements of an array.
    pub array_size: usize,
    /// Most entries of a map.
    pub map_size: usize,
}

/// The limits every script runs under.
pub const LIMITS: Limits = Limits {
    operations: 50_000_000,
    call_depth: 64,
    string_size: 16 << 20,
    array_size: 1 << 20,
    map_size: 1 << 20,
};

thread_local! {
    /// The Cordon error behind the Rhai error a host function last raised, so that one the
    /// script lets escape reaches the host as itself.
    static RAISED: RefCell<Option<Error>> = const { RefCell::new(None) };
    /// The lines `info`, `warn` and `error` wrote.
    static LOG: RefCell<String> = const { RefCell::new(String::new()) };
}

/// What the host sends.
#[derive(serde::Deserialize)]
struct Request {
    language: String,
    code: String,
    #[serde(default)]
    input: Value,
}

/// Runs one request: the `run` export.
pub fn run(request: Value) -> Result<Value, Error> {
    let request: Request = serde_json::from_value(request)
        .map_err(|e| Error::Invalid(format!("not a source-run request: {e}")))?;
    if request.language != "rhai" {
        return Err(Error::Invalid(format!(
            "this runner runs rhai, not `{}`",
            request.language
        )));
    }
    RAISED.with(|r| r.borrow_mut().take());
    LOG.with(|l| l.borrow_mut().clear());
    let engine = engine();
    let ast = match engine.compile(&request.code) {
        Ok(ast) => ast,
        Err(e) => return Ok(invalid(&e.err_type().to_string(), e.position())),
    };
    let input = rhai::serde::to_dynamic(&request.input)
        .map_err(|e| Error::Invalid(format!("the input cannot be a Rhai value: {e}")))?;
    let mut scope = Scope::new();
    scope.push_constant("input", input);
    let outcome = engine.eval_ast_with_scope::<Dynamic>(&mut scope, &ast);
    let log = LOG.with(|l| std::mem::take(&mut *l.borrow_mut()));
    let value = match outcome {
        Ok(value) => value,
        Err(e) => {
            if let Some(raised) = escaped(&e) {
                return Err(raised);
            }
            return Ok(exception(&e));
        }
    };
    match rhai::serde::from_dynamic::<Value>(&value) {
        Ok(result) => Ok(json!({ "result": result, "log": log })),
        Err(e) => Ok(invalid(
            &format!("the script's value is not JSON: {e}"),
            Position::NONE,
        )),
    }
}

/// The engine with Rex's functions and the limits registered.
fn engine() -> Engine {
    let mut engine = Engine::new();
    // Scripts import nothing: no module is read from anywhere.
    engine.set_module_resolver(rhai::module_resolvers::DummyModuleResolver::new());
    engine
        .set_max_operations(LIMITS.operations)
        .set_max_call_levels(LIMITS.call_depth)
        .set_max_string_size(LIMITS.string_size)
        .set_max_array_size(LIMITS.array_size)
        .set_max_map_size(LIMITS.map_size);
    // No `print`/`debug` to a console the component does not have: into the log instead.
    engine.on_print(|s| log_line("print", s));
    engine.on_debug(|s, _, _| log_line("debug", s));
    engine.register_fn("info", |msg: &str| log_line("info", msg));
    engine.register_fn("warn", |msg: &str| log_line("warn", msg));
    engine.register_fn("error", |msg: &str| log_line("error", msg));
    commands::register(&mut engine);
    engine
}

pub(crate) fn log_line(level: &str, msg: &str) {
    LOG.with(|l| {
        let mut l = l.borrow_mut();
        l.push_str(level);
        l.push_str(": ");
        l.push_str(msg);
        l.push('\n');
    });
}

/// A Cordon error as the Rhai error the script sees (and may catch); remembered so that, if it
/// escapes, the host gets the error itself.
pub(crate) fn raise(err: Error) -> Box<EvalAltResult> {
    let mut map = Map::new();
    let (kind, message) = match &err {
        Error::AccessDenied {
            action,
            resource,
            policy_ids,
            ..
        } => {
            map.insert("action".into(), action.clone().into());
            map.insert("resource".into(), resource.clone().into());
            map.insert(
                "policy_ids".into(),
                Dynamic::from_array(policy_ids.iter().cloned().map(Dynamic::from).collect()),
            );
            ("access-denied", err.to_string())
        }
        Error::NotFound(_) => ("not-found", err.to_string()),
        Error::Invalid(_) => ("invalid", err.to_string()),
        Error::LimitExceeded(_) => ("limit-exceeded", err.to_string()),
        Error::Unsupported(_) => ("unsupported", err.to_string()),
        _ => ("io", err.to_string()),
    };
    map.insert("kind".into(), kind.into());
    map.insert("message".into(), message.into());
    RAISED.with(|r| *r.borrow_mut() = Some(err));
    Box::new(EvalAltResult::ErrorRuntime(
        Dynamic::from_map(map),
        Position::NONE,
    ))
}

/// The Cordon error behind `e`, if `e` is one a host function raised that nothing caught.
fn escaped(e: &EvalAltResult) -> Option<Error> {
    let inner = match e {
        // A host function's error inside a script function surfaces wrapped in the call.
        EvalAltResult::ErrorInFunctionCall(_, _, inner, _) => return escaped(inner),
        EvalAltResult::ErrorRuntime(value, _) => value,
        _ => return None,
    };
    let is_cordon = inner
        .read_lock::<Map>()
        .is_some_and(|m| m.contains_key("kind") && m.contains_key("message"));
    if is_cordon {
        RAISED.with(|r| r.borrow_mut().take())
    } else {
        None
    }
}

fn invalid(message: &str, at: Position) -> Value {
    let mut body = json!({ "message": message });
    if let (Some(line), Some(column)) = (at.line(), at.position()) {
        body["line"] = json!(line);
        body["column"] = json!(column);
    }
    json!({ "invalid": body })
}

fn exception(e: &EvalAltResult) -> Value {
    // Frames outermost first: each call the error passed through, then where it happened.
    let mut frames = Vec::new();
    let mut function = "<script>".to_owned();
    let mut e = e;
    while let EvalAltResult::ErrorInFunctionCall(name, _, inner, at) = e {
        if let Some(line) = at.line() {
            frames.push(json!({ "line": line, "function": function }));
        }
        function.clone_from(name);
        e = inner;
    }
    if let Some(line) = e.position().line() {
        frames.push(json!({ "line": line, "function": function }));
    }
    let (kind, message) = match e {
        EvalAltResult::ErrorRuntime(value, _) => ("RuntimeError", value.to_string()),
        EvalAltResult::ErrorArithmetic(message, _) => ("ArithmeticError", message.clone()),
        EvalAltResult::ErrorTooManyOperations(_) => {
            ("LimitExceeded", "too many operations".to_owned())
        }
        EvalAltResult::ErrorStackOverflow(_) => {
            ("LimitExceeded", "calls nested too deep".to_owned())
        }
        EvalAltResult::ErrorDataTooLarge(what, _) => ("LimitExceeded", format!("{what} too large")),
        EvalAltResult::ErrorFunctionNotFound(name, _) => {
            ("FunctionNotFound", format!("no function `{name}`"))
        }
        other => ("RuntimeError", other.to_string()),
    };
    json!({ "exception": { "type": kind, "message": message, "traceback": frames } })
}

cordon_guest::export!(run);
