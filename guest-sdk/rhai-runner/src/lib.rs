//! Cordon's Rhai runner: runs a Rhai script sent as text (the language of AWS's Rex), with
//! Rex's script functions mapped onto Cordon's gated imports.
//!
//! The host calls `run` with `{"language": "rhai", "code": "...", "input": ...}` (the
//! source-run protocol, `host/runtime/src/source.rs`), and `"rex": {"root": "/tmp/x"}` to run
//! the script as Rex runs it (below), and gets one envelope back:
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
//! `#{kind: "access-denied", message, action, resource, policy_ids}` whose `message` reads as
//! Rex's (`Permission denied: the agent unauthorized to perform file_system::Action::"read"
//! for file_system::File::/tmp/x/a.txt (denied by policy `p`; decision 3)`; in plain mode
//! Cordon's action and resource), `action` and `resource` Cordon's, as the log has them. Other
//! Cordon errors: `kind` (`not-found`, `invalid`, `limit-exceeded`, `io`, `unsupported`) and
//! `message`. One the script lets escape ends the run with the same typed error a component's
//! would, `access-denied` naming the policies.
//!
//! The script sees the run's input as the constant `input`; when it is a JSON object, each key
//! that is a Rhai identifier is also a constant, Rex's typed forms unwrapped
//! (`{"file_name": {"stringValue": "a.txt"}}` makes `file_name == "a.txt"`).
//!
//! # Functions
//!
//! Rex's names, argument forms and results. Each command also takes Rex's flags as an array
//! before its arguments (`cat([cat::number], path)`): values of the command's own type, from
//! a module named after it; any other element is `invalid`.
//!
//! | function | flags | result | Cordon calls (plain mode) |
//! |---|---|---|---|
//! | `cat(path)` | `cat::number`/`n`: lines as `{:>6}\t{line}` | string | `fs.read` |
//! | `tail(path)` | `tail::n(c)` first `c` lines (last `-c` if negative), `tail::from(s)`, `tail::range(s, e)`; none: last 10 | array of lines | `fs.read` |
//! | `wc(path)` | `wc::lines`/`l`, `wc::words`/`w`, `wc::bytes`/`c`: only those | `#{lines, words, bytes}` | `fs.read` |
//! | `grep(pattern, path)` | `grep::ignore_case`/`i`, `count`/`c`, `invert`/`v`, `line_number`/`n`, `max_count(n)`/`m(n)` | array of lines (`count`: `["n"]`; `line_number`: `"n:line"`) | `fs.read` |
//! | `sed(pattern, replacement, path)` | `sed::regex`, `sed::all`/`g`, `sed::in_place`/`i` | the new text | `fs.read` (`in_place`: then `fs.write`) |
//! | `awk_field(n, delim, path)`, `awk_filter(pattern, path)`, `awk_filter_field(n, delim, pattern, path)`, `awk_sum(n, delim, path)`, `awk_count_unique(n, delim, path)`, `awk_filter_range(start, end, path)` | | array of strings; `awk_sum` a float; `awk_count_unique` a map of value to count | `fs.read` |
//! | `awk_split(text, delim)` | | array of strings | none |
//! | `write(path, text)` | `write::replace`/`r`, `write::append`/`a` | | `fs.write` (plain mode's default) or `fs.append` (Rex mode's default) |
//! | `replace(path, text)` | | | `fs.write` |
//! | `touch(path)` | | | `fs.append` of nothing |
//! | `cp(from, to)` | `cp::force`/`f` (Rex mode: needed to overwrite a file that is not empty), `cp::preserve`/`p` (no effect) | | `fs.read`, `fs.write` |
//! | `mv(from, to)` | `mv::verbose`/`v` (logs the move), `mv::backup`/`b` (no effect, as Rex's on one filesystem) | | `fs.rename` |
//! | `rm(path)` | `rm::recursive`/`r`, `rm::force`/`f` (no effect on a missing path, as Rex's) | | `fs.remove`; recursive: that first, then `fs.list` of each directory and `fs.remove` of each entry, deepest first, then the directory |
//! | `mkdir(path)` | `mkdir::parents`/`p` | | `fs.create-dir` (`parents`: `fs.stat` up to a directory that exists, then `fs.create-dir` of each missing one); an existing directory is no error |
//! | `ls(path)` | `ls::all`/`a` (names starting with `.`), `ls::long`/`l` and `ls::recursive`/`R` (no effect, as Rex's) | map of name to `#{name, type, path}` | `fs.list` |
//! | `find_files(pattern, path)`, `glob(pattern, path)` | `glob::recursive`/`r` | array of the matching entries' names | `fs.list` of each directory walked |
//! | `du(path)` | `du::summarize`/`s`, `du::all_files`/`a`, `du::max_depth(n)`/`d(n)`, `du::apparent_size` (sizes are always apparent) | `#{entries: [#{path, size_bytes, inode_count}], total_size_bytes, total_inode_count}` | `fs.list` of each directory, `fs.stat` of each file |
//! | `seq(start, end)` | `seq::step(n)` | array of integers | none |
//! | `curl(url)` | | `#{status, text}` | `http.send` of a GET |
//! | `info(msg)`, `warn(msg)`, `error(msg)`, `print(msg)` | | | none: a line of the run's log |
//!
//! A walk (`find_files`, `du`, `rm::recursive`) lists at most [`Limits::walk_entries`]
//! entries and then stops with `limit-exceeded`; `seq` refuses, before any work, more numbers
//! than an array may hold.
//!
//! # Rex mode
//!
//! With `"rex": {"root": "/tmp/x"}`, paths are Rex's absolute host paths: `/tmp/x` is the
//! run's `/`, `/tmp/x/a/b` its `/a/b`; any other path is `invalid`, naming it and the root,
//! before any call (`src/paths.rs`). Paths in results are shown the same way. Each command makes
//! the checks Rex's makes, in Rex's order, each one Cordon call (`src/checks.rs`): Rex's `open`
//! of a directory or file is an `fs.stat` of it (which finding nothing does not end where Rex
//! goes on to create the file); `read` of a file `fs.read`, of a directory `fs.list`; `write`
//! `fs.write` or `fs.append`; `create` of a directory `fs.create-dir`, of a file the write that
//! creates it; `delete` `fs.remove`; `move` `fs.rename`; `stat` `fs.stat`. So `cat(p)` is
//! `fs.stat` of its directory, `fs.stat` of `p`, `fs.read` of `p`. Rex mode also follows Rex
//! where plain mode keeps Cordon's forms: `write(path, text)` appends (after Rex's read of the
//! file), and `cp` needs `cp::force` to overwrite a file that is not empty. Where Rex looks
//! without a check, Cordon cannot: `rm` stats the path first (Rex's `open` of it, then of its
//! directory), `mkdir::parents` stats from the new directory up to one that exists, and
//! `rm::recursive` decides each entry it removes (Rex decides only the directory).
//!
//! Rex's functions that need authority Cordon does not grant ([`UNSUPPORTED`]: processes,
//! system and disk information, host network state) exist and fail with an `unsupported`
//! error naming the function.
//!
//! The engine's own limits apply on top of Cordon's fuel, memory and time: see [`LIMITS`].

mod args;
mod checks;
mod commands;
mod error;
mod flags;
mod paths;

use std::cell::RefCell;

use cordon_guest::Error;
use rhai::{Dynamic, Engine, EvalAltResult, Position, Scope};
use serde_json::{Value, json};

pub use commands::UNSUPPORTED;

/// The engine limits of a script, as Rex sets them: operations (each expression step), call
/// depth, and the sizes of strings, arrays and maps it can build; and how far a walk goes.
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
    /// Most entries one walk (`find_files`, `du`, `rm::recursive`) lists, all its directories
    /// together. Under the run's default host-call limit (10,000) even with a stat per entry.
    pub walk_entries: usize,
}

/// The limits every script runs under.
pub const LIMITS: Limits = Limits {
    operations: 50_000_000,
    call_depth: 64,
    string_size: 16 << 20,
    array_size: 1 << 20,
    map_size: 1 << 20,
    walk_entries: 5_000,
};

thread_local! {
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
    /// Run as Rex runs it, paths below this root.
    #[serde(default)]
    rex: Option<Rex>,
}

/// The `rex` field of a request.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Rex {
    root: String,
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
    paths::set_rex_root(request.rex.map(|r| r.root))?;
    error::reset();
    LOG.with(|l| l.borrow_mut().clear());
    let engine = engine();
    let ast = match engine.compile(&request.code) {
        Ok(ast) => ast,
        Err(e) => return Ok(invalid(&e.err_type().to_string(), e.position())),
    };
    let input = rhai::serde::to_dynamic(&request.input)
        .map_err(|e| Error::Invalid(format!("the input cannot be a Rhai value: {e}")))?;
    let mut scope = Scope::new();
    args::push(&mut scope, &request.input).map_err(Error::Invalid)?;
    scope.push_constant("input", input);
    let outcome = engine.eval_ast_with_scope::<Dynamic>(&mut scope, &ast);
    let log = LOG.with(|l| std::mem::take(&mut *l.borrow_mut()));
    let value = match outcome {
        Ok(value) => value,
        Err(e) => {
            if let Some(raised) = error::escaped(&e) {
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
