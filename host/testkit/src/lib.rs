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

use std::path::Path;

use anyhow::Context;
use wit_component::{ComponentEncoder, StringEncoding};
use wit_parser::Resolve;

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
    anyhow::ensure!(
        method.len() <= 16,
        "method `{method}` is longer than 16 bytes"
    );
    let body_text = body.unwrap_or("");
    anyhow::ensure!(body_text.len() <= 64, "the body is longer than 64 bytes");
    let (has_body, body_len) = (i32::from(body.is_some()), body_text.len());
    let mlen = method.len();
    component(&module(
        r#"(import "cordon:agent/http@0.1.0" "send" (func $send (param i32 i32 i32 i32 i32 i32 i32 i32 i32 i32)))"#,
        &format!(
            r#"(data (i32.const 128) "{method}")
               (data (i32.const 160) "{body_text}")
               (func (export "run") (param i32 i32) (result i32)
                 (local $i i32) (local $mark i32)
                 ;; free each answer before the next call, keeping the input
                 (local.set $mark (global.get $bump))
                 (loop $l
                   (global.set $bump (local.get $mark))
                   ;; method, url (the input), headers (empty), body
                   (call $send (i32.const 128) (i32.const {mlen}) (local.get 0) (local.get 1)
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
