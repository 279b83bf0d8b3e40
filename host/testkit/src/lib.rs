//! Hermetic guests for Cordon's tests and benches.
//!
//! Each guest is a core module written in WAT against the canonical ABI of the `cordon:agent`
//! world, embedded with the world's metadata and turned into a component by `wit-component` —
//! in-process, with no wasm toolchain. The guests are deliberately tiny and adversarial: they
//! call one host function with the run's input as the path, loop, grow memory, or flood.
//!
//! Return-area trick: `fs.read` returns `result<list<u8>, error>` and `run` returns
//! `result<string, error>`, which have the same layout, so a guest can hand the host's answer
//! straight back as its own. Unit results are turned into the string `ok`.
#![deny(missing_docs)]

mod idp;

use std::path::Path;

use anyhow::Context;
use wit_component::{ComponentEncoder, StringEncoding};
use wit_parser::Resolve;

pub use idp::Idp;

/// The `wit/` directory of the repository.
pub const WIT_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../wit");

/// The fs interface's import module name.
const FS: &str = "cordon:agent/fs@0.1.0";

/// Shared by every guest: memory, a bump `cabi_realloc`, the strings `ok` (at 32) and a run of
/// 4096 `x` (at 4096, for returning counts as string lengths), and the second path `moved.txt`
/// (at 48) for rename.
const PRELUDE: &str = r#"
  (memory (export "memory") 2)
  (global $bump (mut i32) (i32.const 16384))
  (data (i32.const 32) "ok")
  (data (i32.const 48) "moved.txt")
  (func (export "cabi_realloc") (param i32 i32 i32 i32) (result i32)
    (local $p i32) (local $end i32) (local $have i32)
    (local.set $p (i32.and
      (i32.add (global.get $bump) (i32.sub (local.get 2) (i32.const 1)))
      (i32.xor (i32.sub (local.get 2) (i32.const 1)) (i32.const -1))))
    (local.set $end (i32.add (local.get $p) (local.get 3)))
    (local.set $have (i32.mul (memory.size) (i32.const 65536)))
    (if (i32.gt_u (local.get $end) (local.get $have))
      (then (drop (memory.grow
        (i32.add (i32.div_u (i32.sub (local.get $end) (local.get $have)) (i32.const 65536)) (i32.const 1))))))
    (global.set $bump (local.get $end))
    (local.get $p))
"#;

/// Turn a core module in WAT (imports of the cordon world, an export `run`) into a component
/// of world `cordon:agent/agent`.
pub fn component(core_wat: &str) -> anyhow::Result<Vec<u8>> {
    component_of_world(core_wat, Path::new(WIT_DIR), "agent")
}

/// Like [`component`], for a world of another WIT directory.
pub fn component_of_world(core_wat: &str, wit_dir: &Path, world: &str) -> anyhow::Result<Vec<u8>> {
    let mut resolve = Resolve::default();
    let (pkg, _) = resolve
        .push_dir(wit_dir)
        .with_context(|| format!("parsing {}", wit_dir.display()))?;
    encode(resolve, pkg, core_wat, world)
}

/// The cordon world and `packages` (file name, WIT text), each using those before it; the last
/// package's id (the test world's).
fn with_wit(packages: &[(&str, &str)]) -> anyhow::Result<(Resolve, wit_parser::PackageId)> {
    let mut resolve = Resolve::default();
    let mut pkg = resolve.push_dir(Path::new(WIT_DIR))?.0;
    for (name, text) in packages {
        pkg = resolve.push_str(name, text)?;
    }
    Ok((resolve, pkg))
}

fn encode(
    resolve: Resolve,
    pkg: wit_parser::PackageId,
    core_wat: &str,
    world: &str,
) -> anyhow::Result<Vec<u8>> {
    let world = resolve.select_world(&[pkg], Some(world))?;
    let mut module = wat::parse_str(core_wat)?;
    wit_component::embed_component_metadata(&mut module, &resolve, world, StringEncoding::UTF8)?;
    ComponentEncoder::default()
        .module(&module)?
        .validate(true)
        .encode()
}

/// A module with the prelude and `body` (imports must come first in WAT, so they are given
/// separately).
fn module(imports: &str, body: &str) -> String {
    let xs = "x".repeat(4096);
    format!(r#"(module {imports} {PRELUDE} (data (i32.const 4096) "{xs}") {body})"#)
}

/// `run(path)` = `fs.read(path)`: returns the file's contents, or the host's error.
pub fn read_guest() -> anyhow::Result<Vec<u8>> {
    component(&module(
        &format!(r#"(import "{FS}" "read" (func $read (param i32 i32 i32)))"#),
        r#"(func (export "run") (param i32 i32) (result i32)
             (call $read (local.get 0) (local.get 1) (i32.const 64))
             (i32.const 64))"#,
    ))
}

/// `run(path)` = `fs.read(path)` `n` times (n fixed at build time); returns the last answer.
pub fn read_n_guest(n: u32) -> anyhow::Result<Vec<u8>> {
    component(&module(
        &format!(r#"(import "{FS}" "read" (func $read (param i32 i32 i32)))"#),
        &format!(
            r#"(func (export "run") (param i32 i32) (result i32)
                 (local $i i32) (local $mark i32)
                 ;; free each answer before the next read, keeping the input
                 (local.set $mark (global.get $bump))
                 (loop $l
                   (global.set $bump (local.get $mark))
                   (call $read (local.get 0) (local.get 1) (i32.const 64))
                   (local.set $i (i32.add (local.get $i) (i32.const 1)))
                   (br_if $l (i32.lt_u (local.get $i) (i32.const {n}))))
                 (i32.const 64))"#
        ),
    ))
}

/// `run(prefix)` = `fs.read` of `n` distinct paths (n fixed at build time): `prefix` followed
/// by the call's number in five zero-padded digits (`d/f00000`, `d/f00001`, …), built in the
/// guest's memory for each call; returns the last answer. For what deciding a never-seen file
/// costs; `n` is at most 100,000 and `prefix` at most 200 bytes.
pub fn read_distinct_guest(n: u32) -> anyhow::Result<Vec<u8>> {
    anyhow::ensure!(n <= 100_000, "at most 100,000 distinct paths (five digits)");
    component(&module(
        &format!(r#"(import "{FS}" "read" (func $read (param i32 i32 i32)))"#),
        &format!(
            r#"(func (export "run") (param i32 i32) (result i32)
                 (local $i i32) (local $mark i32) (local $v i32) (local $at i32)
                 (if (i32.gt_u (local.get 1) (i32.const 200)) (then unreachable))
                 ;; the path at 256: the prefix, then five digits rewritten per call
                 (memory.copy (i32.const 256) (local.get 0) (local.get 1))
                 (local.set $mark (global.get $bump))
                 (loop $l
                   (global.set $bump (local.get $mark))
                   (local.set $v (local.get $i))
                   (local.set $at (i32.add (i32.const 260) (local.get 1)))
                   (loop $digit
                     (i32.store8 (local.get $at)
                       (i32.add (i32.const 48) (i32.rem_u (local.get $v) (i32.const 10))))
                     (local.set $v (i32.div_u (local.get $v) (i32.const 10)))
                     (local.set $at (i32.sub (local.get $at) (i32.const 1)))
                     (br_if $digit (i32.ge_u (local.get $at) (i32.add (i32.const 256) (local.get 1)))))
                   (call $read (i32.const 256) (i32.add (local.get 1) (i32.const 5)) (i32.const 64))
                   (local.set $i (i32.add (local.get $i) (i32.const 1)))
                   (br_if $l (i32.lt_u (local.get $i) (i32.const {n}))))
                 (i32.const 64))"#
        ),
    ))
}

/// The fs functions that take one path plus optional data and return `result<_, error>`.
#[derive(Debug, Clone, Copy)]
pub enum UnitCall {
    /// `write(path, "written")`
    Write,
    /// `append(path, "written")`
    Append,
    /// `create-dir(path)`
    CreateDir,
    /// `remove(path)`
    Remove,
    /// `rename(path, "moved.txt")`
    Rename,
}

/// `run(path)` = one unit-returning fs call on `path`; returns `ok` or the host's error.
pub fn unit_call_guest(call: UnitCall) -> anyhow::Result<Vec<u8>> {
    let (name, sig, args) = match call {
        UnitCall::Write | UnitCall::Append => (
            if matches!(call, UnitCall::Write) {
                "write"
            } else {
                "append"
            },
            "(param i32 i32 i32 i32 i32)",
            "(local.get 0) (local.get 1) (i32.const 16) (i32.const 7) (i32.const 64)",
        ),
        UnitCall::CreateDir | UnitCall::Remove => (
            if matches!(call, UnitCall::CreateDir) {
                "create-dir"
            } else {
                "remove"
            },
            "(param i32 i32 i32)",
            "(local.get 0) (local.get 1) (i32.const 64)",
        ),
        UnitCall::Rename => (
            "rename",
            "(param i32 i32 i32 i32 i32)",
            "(local.get 0) (local.get 1) (i32.const 48) (i32.const 9) (i32.const 64)",
        ),
    };
    component(&module(
        &format!(r#"(import "{FS}" "{name}" (func $call {sig}))"#),
        &format!(
            r#"(data (i32.const 16) "written")
               (func (export "run") (param i32 i32) (result i32)
                 (call $call {args})
                 (if (i32.eqz (i32.load8_u (i32.const 64)))
                   (then (i32.store (i32.const 72) (i32.const 32))
                         (i32.store (i32.const 76) (i32.const 2))))
                 (i32.const 64))"#
        ),
    ))
}

/// `run(path)` = `fs.list-dir(path)`; returns as many `x` as there are entries, or the error.
pub fn list_guest() -> anyhow::Result<Vec<u8>> {
    component(&module(
        &format!(r#"(import "{FS}" "list-dir" (func $list (param i32 i32 i32)))"#),
        r#"(func (export "run") (param i32 i32) (result i32)
             (call $list (local.get 0) (local.get 1) (i32.const 64))
             (if (i32.eqz (i32.load8_u (i32.const 64)))
               (then (i32.store (i32.const 72) (i32.const 4096))))
             (i32.const 64))"#,
    ))
}

/// `run(path)` = `fs.stat(path)`; returns as many `x` as the file has bytes, or the error.
pub fn stat_guest() -> anyhow::Result<Vec<u8>> {
    component(&module(
        &format!(r#"(import "{FS}" "stat" (func $stat (param i32 i32 i32)))"#),
        r#"(func (export "run") (param i32 i32) (result i32)
             (call $stat (local.get 0) (local.get 1) (i32.const 64))
             (if (i32.eqz (i32.load8_u (i32.const 64)))
               (then (i32.store (i32.const 76) (i32.wrap_i64 (i64.load (i32.const 80))))
                     (i32.store (i32.const 72) (i32.const 4096))))
             (i32.const 64))"#,
    ))
}

/// `run(path)` calls `fs.stat(path)` forever: for the host-call limit.
pub fn host_call_flood_guest() -> anyhow::Result<Vec<u8>> {
    component(&module(
        &format!(r#"(import "{FS}" "stat" (func $stat (param i32 i32 i32)))"#),
        r#"(func (export "run") (param i32 i32) (result i32)
             (loop $l (call $stat (local.get 0) (local.get 1) (i32.const 64)) (br $l))
             (unreachable))"#,
    ))
}

/// Loops forever without host calls: for fuel and the deadline.
pub fn spin_guest() -> anyhow::Result<Vec<u8>> {
    component(&module(
        "",
        r#"(func (export "run") (param i32 i32) (result i32) (loop $l (br $l)) (unreachable))"#,
    ))
}

/// Grows memory a page at a time forever: for the memory limit.
pub fn memory_hog_guest() -> anyhow::Result<Vec<u8>> {
    component(&module(
        "",
        r#"(func (export "run") (param i32 i32) (result i32)
             (loop $l (drop (memory.grow (i32.const 1))) (br $l))
             (unreachable))"#,
    ))
}

/// Returns a 100,000-byte string (of NULs, from the unused middle of its memory): for the
/// output limit.
pub fn output_flood_guest() -> anyhow::Result<Vec<u8>> {
    component(&module(
        "",
        r#"(func (export "run") (param i32 i32) (result i32)
             (i32.store8 (i32.const 64) (i32.const 0))
             (i32.store (i32.const 72) (i32.const 8192))
             (i32.store (i32.const 76) (i32.const 100000))
             (i32.const 64))"#,
    ))
}

/// Returns its input unchanged, calling nothing.
pub fn echo_guest() -> anyhow::Result<Vec<u8>> {
    component(&module(
        "",
        r#"(func (export "run") (param i32 i32) (result i32)
             (i32.store8 (i32.const 64) (i32.const 0))
             (i32.store (i32.const 72) (local.get 0))
             (i32.store (i32.const 76) (local.get 1))
             (i32.const 64))"#,
    ))
}

/// Returns `text` whatever its input, calling nothing: a stand-in for a runner component that
/// answers with a fixed envelope. `text` must be shorter than 8 KiB.
pub fn constant_guest(text: &str) -> anyhow::Result<Vec<u8>> {
    anyhow::ensure!(text.len() < 8192, "the text must be shorter than 8 KiB");
    let bytes: String = text.bytes().map(|b| format!("\\{b:02x}")).collect();
    let len = text.len();
    component(&module(
        "",
        &format!(
            r#"(data (i32.const 8192) "{bytes}")
               (func (export "run") (param i32 i32) (result i32)
                 (i32.store8 (i32.const 64) (i32.const 0))
                 (i32.store (i32.const 72) (i32.const 8192))
                 (i32.store (i32.const 76) (i32.const {len}))
                 (i32.const 64))"#
        ),
    ))
}

/// Executes `unreachable`.
pub fn trap_guest() -> anyhow::Result<Vec<u8>> {
    component(&module(
        "",
        r#"(func (export "run") (param i32 i32) (result i32) (unreachable))"#,
    ))
}

/// A component that imports `evil:net/raw`, which Cordon does not provide.
pub fn unknown_import_guest() -> anyhow::Result<Vec<u8>> {
    let mut resolve = Resolve::default();
    let pkg = resolve.push_str(
        "evil.wit",
        "package evil:net; interface raw { connect: func(host: string); } \
         world bad { import raw; export run: func(input: string) -> string; }",
    )?;
    let wat = module(
        r#"(import "evil:net/raw" "connect" (func $connect (param i32 i32)))"#,
        r#"(func (export "run") (param i32 i32) (result i32)
             (call $connect (local.get 0) (local.get 1))
             (i32.store (i32.const 64) (i32.const 32))
             (i32.store (i32.const 68) (i32.const 2))
             (i32.const 64))"#,
    );
    encode(resolve, pkg, &wat, "bad")
}

/// A plain core module (not a component).
pub fn core_module() -> anyhow::Result<Vec<u8>> {
    Ok(wat::parse_str(r#"(module (func (export "run")))"#)?)
}

/// `run(url)` = `http.send` of `method` to `url` with no headers and `body` (`None`: no body),
/// `n` times (n fixed at build time); returns the last response's body as the output, or the
/// host's error. The method and body must be plain ASCII without quotes or backslashes.
pub fn http_send_guest(method: &str, body: Option<&str>, n: u32) -> anyhow::Result<Vec<u8>> {
    http_guest(method, None, body, n)
}

/// `run(_)` = one `http.send` of `method` to `url` (fixed at build time, whatever the input:
/// `cordon run` hands a guest JSON), with no headers and no body; returns the response's body
/// as the output, or the host's error. The URL must be plain ASCII without quotes or
/// backslashes, at most 256 bytes.
pub fn http_send_to_guest(method: &str, url: &str) -> anyhow::Result<Vec<u8>> {
    http_guest(method, Some(url), None, 1)
}

/// [`http_send_guest`], sending to `url` instead of the input when one is given.
fn http_guest(
    method: &str,
    url: Option<&str>,
    body: Option<&str>,
    n: u32,
) -> anyhow::Result<Vec<u8>> {
    anyhow::ensure!(
        method.len() <= 16,
        "method `{method}` is longer than 16 bytes"
    );
    // The URL at 1024, past the method (128), the body (160) and the answer (256).
    let (url_data, url_arg) = match url {
        Some(u) => {
            anyhow::ensure!(u.len() <= 256, "the url is longer than 256 bytes");
            (
                format!(r#"(data (i32.const 1024) "{u}")"#),
                format!("(i32.const 1024) (i32.const {})", u.len()),
            )
        }
        None => (String::new(), "(local.get 0) (local.get 1)".to_owned()),
    };
    let body_text = body.unwrap_or("");
    anyhow::ensure!(body_text.len() <= 64, "the body is longer than 64 bytes");
    let (has_body, body_len) = (i32::from(body.is_some()), body_text.len());
    let mlen = method.len();
    component(&module(
        r#"(import "cordon:agent/http@0.1.0" "send" (func $send (param i32 i32 i32 i32 i32 i32 i32 i32 i32 i32)))"#,
        &format!(
            r#"(data (i32.const 128) "{method}")
               (data (i32.const 160) "{body_text}")
               {url_data}
               (func (export "run") (param i32 i32) (result i32)
                 (local $i i32) (local $mark i32)
                 ;; free each answer before the next call, keeping the input
                 (local.set $mark (global.get $bump))
                 (loop $l
                   (global.set $bump (local.get $mark))
                   ;; method, url (the input, or the fixed one), headers (empty), body
                   (call $send (i32.const 128) (i32.const {mlen}) {url_arg}
                               (i32.const 0) (i32.const 0)
                               (i32.const {has_body}) (i32.const 160) (i32.const {body_len})
                               (i32.const 256))
                   (local.set $i (i32.add (local.get $i) (i32.const 1)))
                   (br_if $l (i32.lt_u (local.get $i) (i32.const {n}))))
                 (if (i32.eqz (i32.load8_u (i32.const 256)))
                   (then
                     ;; ok(response): hand back the body (status at 264, headers at 268, body at 276)
                     (i32.store8 (i32.const 64) (i32.const 0))
                     (i32.store (i32.const 72) (i32.load (i32.const 276)))
                     (i32.store (i32.const 76) (i32.load (i32.const 280))))
                   (else
                     ;; err(error): hand the error area back
                     (i32.store8 (i32.const 64) (i32.const 1))
                     (i64.store (i32.const 72) (i64.load (i32.const 264)))
                     (i64.store (i32.const 80) (i64.load (i32.const 272)))
                     (i64.store (i32.const 88) (i64.load (i32.const 280)))
                     (i64.store (i32.const 96) (i64.load (i32.const 288)))
                     (i64.store (i32.const 104) (i64.load (i32.const 296)))
                     (i64.store (i32.const 112) (i64.load (i32.const 304)))))
                 (i32.const 64))"#
        ),
    ))
}

/// Which records call a [`records_guest`] makes.
#[derive(Debug, Clone, Copy)]
pub enum RecordsCall {
    /// `query(collection, [], fields, limit)`.
    Query {
        /// The limit passed.
        limit: u32,
    },
    /// `get(collection, <run input>, fields)`.
    Get,
    /// `query(collection, [compare(field eq text(value))], fields, limit)`.
    QueryWhere {
        /// The field the filter tests.
        field: &'static str,
        /// The text it must equal.
        value: &'static str,
        /// The limit passed.
        limit: u32,
    },
}

/// `run(input)` = one records call on `collection` for `fields` (both fixed at build time; a
/// `get` takes the run's input as the id). The guest prints the answer as text: each row as
/// `id:v1,v2,;` (a text value as itself, any other value as `?`), then `#` and one `x` per
/// withheld record, then `|` and each withheld field followed by `,`, then `T` if truncated.
/// An error is handed back as the run's error.
pub fn records_guest(
    call: RecordsCall,
    collection: &str,
    fields: &[&str],
) -> anyhow::Result<Vec<u8>> {
    const RECORDS: &str = "cordon:agent/records@0.1.0";
    // Strings from 1024; the list of (ptr, len) field names at 2048; output from 8192.
    let mut data = String::new();
    let mut at = 1024usize;
    let mut place = |s: &str, data: &mut String| -> usize {
        let p = at;
        data.push_str(&format!("(data (i32.const {p}) \"{s}\")\n"));
        at += s.len().max(1);
        p
    };
    let coll = place(collection, &mut data);
    let mut list = Vec::new();
    for f in fields {
        list.push((place(f, &mut data), f.len()));
    }
    for (i, (p, len)) in list.iter().enumerate() {
        let slot = 2048 + i * 8;
        data.push_str(&format!(
            "(data (i32.const {slot}) \"{}{}\")\n",
            le_hex(*p as u32),
            le_hex(*len as u32)
        ));
    }
    // One `condition` at 3072, if any: the canonical ABI lays out `compare(comparison)` as tag
    // (u8) at 0, field (ptr, len) at 8, op (u8) at 16, value tag (u8) at 24, text (ptr, len)
    // at 32; 40 bytes.
    let mut filter = (0usize, 0usize);
    if let RecordsCall::QueryWhere { field, value, .. } = call {
        let (f, v) = (place(field, &mut data), place(value, &mut data));
        let mut cond = [0u8; 40];
        cond[8..12].copy_from_slice(&(f as u32).to_le_bytes());
        cond[12..16].copy_from_slice(&(field.len() as u32).to_le_bytes());
        cond[24] = 4;
        cond[32..36].copy_from_slice(&(v as u32).to_le_bytes());
        cond[36..40].copy_from_slice(&(value.len() as u32).to_le_bytes());
        let bytes: String = cond.iter().map(|b| format!("\\{b:02x}")).collect();
        data.push_str(&format!("(data (i32.const 3072) \"{bytes}\")\n"));
        filter = (3072, 1);
    }
    let (import, call_expr) = match call {
        RecordsCall::Query { limit } | RecordsCall::QueryWhere { limit, .. } => (
            format!(
                r#"(import "{RECORDS}" "query" (func $call (param i32 i32 i32 i32 i32 i32 i32 i32)))"#
            ),
            format!(
                "(call $call (i32.const {coll}) (i32.const {}) (i32.const {}) (i32.const {}) (i32.const 2048) (i32.const {}) (i32.const {limit}) (i32.const 256))",
                collection.len(),
                filter.0,
                filter.1,
                fields.len()
            ),
        ),
        RecordsCall::Get => (
            format!(
                r#"(import "{RECORDS}" "get" (func $call (param i32 i32 i32 i32 i32 i32 i32)))"#
            ),
            format!(
                "(call $call (i32.const {coll}) (i32.const {}) (local.get 0) (local.get 1) (i32.const 2048) (i32.const {}) (i32.const 256))",
                collection.len(),
                fields.len()
            ),
        ),
    };
    component(&module(
        &import,
        &format!(
            r#"{data}
  (global $out (mut i32) (i32.const 8192))
  (func $emit (param $p i32) (param $n i32)
    (memory.copy (global.get $out) (local.get $p) (local.get $n))
    (global.set $out (i32.add (global.get $out) (local.get $n))))
  (func $byte (param $b i32)
    (i32.store8 (global.get $out) (local.get $b))
    (global.set $out (i32.add (global.get $out) (i32.const 1))))
  (func (export "run") (param i32 i32) (result i32)
    (local $rows i32) (local $n i32) (local $i i32) (local $row i32)
    (local $fs i32) (local $fn i32) (local $j i32) (local $fv i32)
    {call_expr}
    (if (i32.load8_u (i32.const 256))
      (then
        (i32.store8 (i32.const 64) (i32.const 1))
        (memory.copy (i32.const 72) (i32.const 264) (i32.const 40))
        (return (i32.const 64))))
    (local.set $rows (i32.load (i32.const 264)))
    (local.set $n (i32.load (i32.const 268)))
    (block $rows_done
      (loop $rows_loop
        (br_if $rows_done (i32.ge_u (local.get $i) (local.get $n)))
        (local.set $row (i32.add (local.get $rows) (i32.mul (local.get $i) (i32.const 16))))
        (call $emit (i32.load (local.get $row)) (i32.load offset=4 (local.get $row)))
        (call $byte (i32.const 58))
        (local.set $fs (i32.load offset=8 (local.get $row)))
        (local.set $fn (i32.load offset=12 (local.get $row)))
        (local.set $j (i32.const 0))
        (block $fields_done
          (loop $fields_loop
            (br_if $fields_done (i32.ge_u (local.get $j) (local.get $fn)))
            (local.set $fv (i32.add (local.get $fs) (i32.mul (local.get $j) (i32.const 24))))
            (if (i32.eq (i32.load8_u offset=8 (local.get $fv)) (i32.const 4))
              (then (call $emit (i32.load offset=16 (local.get $fv)) (i32.load offset=20 (local.get $fv))))
              (else (call $byte (i32.const 63))))
            (call $byte (i32.const 44))
            (local.set $j (i32.add (local.get $j) (i32.const 1)))
            (br $fields_loop)))
        (call $byte (i32.const 59))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $rows_loop)))
    (call $byte (i32.const 35))
    (call $emit (i32.const 4096) (i32.load (i32.const 272)))
    (call $byte (i32.const 124))
    (local.set $rows (i32.load (i32.const 276)))
    (local.set $n (i32.load (i32.const 280)))
    (local.set $i (i32.const 0))
    (block $w_done
      (loop $w_loop
        (br_if $w_done (i32.ge_u (local.get $i) (local.get $n)))
        (local.set $row (i32.add (local.get $rows) (i32.mul (local.get $i) (i32.const 8))))
        (call $emit (i32.load (local.get $row)) (i32.load offset=4 (local.get $row)))
        (call $byte (i32.const 44))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $w_loop)))
    (if (i32.load8_u (i32.const 284)) (then (call $byte (i32.const 84))))
    (i32.store8 (i32.const 64) (i32.const 0))
    (i32.store (i32.const 72) (i32.const 8192))
    (i32.store (i32.const 76) (i32.sub (global.get $out) (i32.const 8192)))
    (i32.const 64))"#
        ),
    ))
}

/// `n` as four little-endian bytes in WAT string escapes.
fn le_hex(n: u32) -> String {
    n.to_le_bytes()
        .iter()
        .map(|b| format!("\\{b:02x}"))
        .collect()
}

/// `run(url)` = `http.send` GET `url`, then `records.query(collection, [], [field], 0)`, then the
/// same GET again: for taint. Returns two characters, the outcome of each send (`0` ok, `1`
/// error), e.g. `01` when the read made the second send fail.
pub fn send_read_send_guest(collection: &str, field: &str) -> anyhow::Result<Vec<u8>> {
    const HTTP: &str = "cordon:agent/http@0.1.0";
    const RECORDS: &str = "cordon:agent/records@0.1.0";
    let (clen, flen) = (collection.len(), field.len());
    component(&module(
        &format!(
            r#"(import "{HTTP}" "send" (func $send (param i32 i32 i32 i32 i32 i32 i32 i32 i32 i32)))
               (import "{RECORDS}" "query" (func $query (param i32 i32 i32 i32 i32 i32 i32 i32)))"#
        ),
        &format!(
            r#"(data (i32.const 128) "GET")
               (data (i32.const 1024) "{collection}")
               (data (i32.const 1536) "{field}")
               (func $get (param $url i32) (param $len i32) (result i32)
                 (call $send (i32.const 128) (i32.const 3) (local.get $url) (local.get $len)
                             (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0)
                             (i32.const 256))
                 (i32.add (i32.const 48) (i32.load8_u (i32.const 256))))
               (func (export "run") (param i32 i32) (result i32)
                 (i32.store8 (i32.const 160) (call $get (local.get 0) (local.get 1)))
                 ;; the field list: one (ptr, len)
                 (i32.store (i32.const 2048) (i32.const 1536))
                 (i32.store (i32.const 2052) (i32.const {flen}))
                 (call $query (i32.const 1024) (i32.const {clen}) (i32.const 0) (i32.const 0)
                              (i32.const 2048) (i32.const 1) (i32.const 0) (i32.const 3072))
                 (i32.store8 (i32.const 161) (call $get (local.get 0) (local.get 1)))
                 (i32.store8 (i32.const 64) (i32.const 0))
                 (i32.store (i32.const 72) (i32.const 160))
                 (i32.store (i32.const 76) (i32.const 2))
                 (i32.const 64))"#
        ),
    ))
}

/// What a [`stderr_guest`] does once it has written its input to stderr.
#[derive(Debug, Clone, Copy)]
pub enum AfterStderr {
    /// Executes `unreachable`, as a guest SDK ends a run on a panic or an uncaught exception.
    Trap,
    /// Loops forever: for a limit that ends the run after the text.
    Spin,
    /// Grows memory a page at a time forever: for the memory limit after the text.
    GrowMemory,
    /// Returns `ok`.
    Return,
}

/// A guest importing WASI's stderr (as the guest SDKs do) that writes its input there with
/// `blocking-write-and-flush`, then does as `then` says: for what the host makes of the last
/// words an SDK writes before it ends a run (`cordon:uncaught {...}`). The input must be at
/// most 4096 bytes (one write).
pub fn stderr_guest(then: AfterStderr) -> anyhow::Result<Vec<u8>> {
    const IO: &str = "package wasi:io@0.2.0;
        interface error { resource error; }
        interface streams {
          use error.{error};
          variant stream-error { last-operation-failed(error), closed }
          resource output-stream {
            blocking-write-and-flush: func(contents: list<u8>) -> result<_, stream-error>;
          }
        }";
    const CLI: &str = "package wasi:cli@0.2.0;
        interface stderr {
          use wasi:io/streams@0.2.0.{output-stream};
          get-stderr: func() -> output-stream;
        }";
    const WORLD: &str = "package test:stderr;
        world stderr {
          include cordon:agent/agent@0.1.0;
          import wasi:cli/stderr@0.2.0;
        }";
    let (resolve, pkg) = with_wit(&[("io.wit", IO), ("cli.wit", CLI), ("stderr.wit", WORLD)])?;
    let then = match then {
        AfterStderr::Trap => "(unreachable)",
        AfterStderr::Spin => "(loop $l (br $l)) (unreachable)",
        AfterStderr::GrowMemory => {
            "(loop $l (drop (memory.grow (i32.const 1))) (br $l)) (unreachable)"
        }
        AfterStderr::Return => {
            "(i32.store8 (i32.const 64) (i32.const 0))
             (i32.store (i32.const 72) (i32.const 32))
             (i32.store (i32.const 76) (i32.const 2))
             (i32.const 64)"
        }
    };
    let streams = "wasi:io/streams@0.2.0";
    let wat = module(
        &format!(
            r#"(import "wasi:cli/stderr@0.2.0" "get-stderr" (func $stderr (result i32)))
               (import "{streams}" "[method]output-stream.blocking-write-and-flush"
                 (func $write (param i32 i32 i32 i32)))"#
        ),
        &format!(
            r#"(func (export "run") (param i32 i32) (result i32)
                 (if (i32.gt_u (local.get 1) (i32.const 4096)) (then unreachable))
                 (call $write (call $stderr) (local.get 0) (local.get 1) (i32.const 128))
                 {then})"#
        ),
    );
    encode(resolve, pkg, &wat, "stderr")
}

/// How a [`clock_guest`] waits on a `wasi:clocks/monotonic-clock` pollable.
#[derive(Debug, Clone, Copy)]
pub enum ClockWait {
    /// `subscribe-duration(d)`, then `pollable.block`.
    Block,
    /// Two `subscribe-duration(d)` pollables given to `poll` together.
    Poll,
    /// `subscribe-instant(now() + d)`, then `pollable.block`.
    Instant,
}

/// A guest importing WASI's monotonic clock and poll (as toolchains' guests do) that waits
/// `seconds` on a clock pollable as `wait` says, then returns `ok`: for deadlines and
/// cancellation of host waits.
pub fn clock_guest(wait: ClockWait, seconds: u64) -> anyhow::Result<Vec<u8>> {
    const IO: &str = "package wasi:io@0.2.0;
        interface poll {
          resource pollable { ready: func() -> bool; block: func(); }
          poll: func(in: list<borrow<pollable>>) -> list<u32>;
        }";
    const CLOCKS: &str = "package wasi:clocks@0.2.0;
        interface monotonic-clock {
          use wasi:io/poll@0.2.0.{pollable};
          type instant = u64;
          type duration = u64;
          now: func() -> instant;
          subscribe-instant: func(when: instant) -> pollable;
          subscribe-duration: func(when: duration) -> pollable;
        }";
    const WORLD: &str = "package test:clock;
        world clock {
          include cordon:agent/agent@0.1.0;
          import wasi:clocks/monotonic-clock@0.2.0;
          import wasi:io/poll@0.2.0;
        }";
    let (resolve, pkg) = with_wit(&[("io.wit", IO), ("clocks.wit", CLOCKS), ("clock.wit", WORLD)])?;
    let nanos = seconds.saturating_mul(1_000_000_000);
    let wait_body = match wait {
        ClockWait::Block => format!("(call $block (call $after (i64.const {nanos})))"),
        ClockWait::Poll => format!(
            "(i32.store (i32.const 200) (call $after (i64.const {nanos})))
             (i32.store (i32.const 204) (call $after (i64.const {nanos})))
             (call $poll (i32.const 200) (i32.const 2) (i32.const 208))"
        ),
        ClockWait::Instant => {
            format!("(call $block (call $at (i64.add (call $now) (i64.const {nanos}))))")
        }
    };
    let clock = "wasi:clocks/monotonic-clock@0.2.0";
    let poll = "wasi:io/poll@0.2.0";
    let wat = module(
        &format!(
            r#"(import "{clock}" "now" (func $now (result i64)))
               (import "{clock}" "subscribe-duration" (func $after (param i64) (result i32)))
               (import "{clock}" "subscribe-instant" (func $at (param i64) (result i32)))
               (import "{poll}" "[method]pollable.block" (func $block (param i32)))
               (import "{poll}" "poll" (func $poll (param i32 i32 i32)))"#
        ),
        &format!(
            r#"(func (export "run") (param i32 i32) (result i32)
                 {wait_body}
                 (i32.store8 (i32.const 64) (i32.const 0))
                 (i32.store (i32.const 72) (i32.const 32))
                 (i32.store (i32.const 76) (i32.const 2))
                 (i32.const 64))"#
        ),
    );
    encode(resolve, pkg, &wat, "clock")
}

/// `run(path)` = `fs.append(path, "line\n")` `n` times (n fixed at build time), stopping at
/// the first error, which it hands back; `ok` when all `n` were appended. For write quotas and
/// for crashing a run in the middle of its effects.
pub fn append_loop_guest(n: u32) -> anyhow::Result<Vec<u8>> {
    component(&module(
        &format!(r#"(import "{FS}" "append" (func $append (param i32 i32 i32 i32 i32)))"#),
        &format!(
            r#"(data (i32.const 16) "line\0a")
               (func (export "run") (param i32 i32) (result i32)
                 (local $i i32) (local $mark i32)
                 (local.set $mark (global.get $bump))
                 (loop $l
                   (global.set $bump (local.get $mark))
                   (call $append (local.get 0) (local.get 1) (i32.const 16) (i32.const 5) (i32.const 64))
                   (if (i32.load8_u (i32.const 64)) (then (return (i32.const 64))))
                   (local.set $i (i32.add (local.get $i) (i32.const 1)))
                   (br_if $l (i32.lt_u (local.get $i) (i32.const {n}))))
                 (i32.store (i32.const 72) (i32.const 32))
                 (i32.store (i32.const 76) (i32.const 2))
                 (i32.const 64))"#
        ),
    ))
}

/// `run(_)` calls `fs.stat` `calls` times on a path it builds in its own memory (at 1 MiB):
/// `repeat` copies of `unit`, e.g. 10,000 × `a/` or 4 Mi × `n`. Returns `ok` or the last error:
/// for argument-bound tests, where the path never reaches the host as input.
pub fn stat_generated_path_guest(unit: &str, repeat: u32, calls: u32) -> anyhow::Result<Vec<u8>> {
    anyhow::ensure!(
        !unit.is_empty() && unit.len() < 64 && !unit.contains('"'),
        "`unit` must be 1 to 63 bytes without a quote"
    );
    let len = unit.len() as u32 * repeat;
    let pages = (1 << 20) / 65536 + len / 65536 + 2;
    component(&module(
        &format!(r#"(import "{FS}" "stat" (func $stat (param i32 i32 i32)))"#),
        &format!(
            r#"(data (i32.const 128) "{unit}")
               (func (export "run") (param i32 i32) (result i32)
                 (local $i i32)
                 (drop (memory.grow (i32.const {pages})))
                 ;; the path at 1 MiB: `unit` repeated
                 (loop $fill
                   (memory.copy
                     (i32.add (i32.const 1048576) (i32.mul (local.get $i) (i32.const {ulen})))
                     (i32.const 128) (i32.const {ulen}))
                   (local.set $i (i32.add (local.get $i) (i32.const 1)))
                   (br_if $fill (i32.lt_u (local.get $i) (i32.const {repeat}))))
                 (local.set $i (i32.const 0))
                 (loop $l
                   (call $stat (i32.const 1048576) (i32.const {len}) (i32.const 512))
                   (local.set $i (i32.add (local.get $i) (i32.const 1)))
                   (br_if $l (i32.lt_u (local.get $i) (i32.const {calls}))))
                 ;; a stat result: tag at 512; an error's payload from 520 (variant tag, string)
                 (if (i32.eqz (i32.load8_u (i32.const 512)))
                   (then (i32.store8 (i32.const 64) (i32.const 0))
                         (i32.store (i32.const 72) (i32.const 32))
                         (i32.store (i32.const 76) (i32.const 2)))
                   (else (memory.copy (i32.const 64) (i32.const 512) (i32.const 48))))
                 (i32.const 64))"#,
            ulen = unit.len(),
        ),
    ))
}
