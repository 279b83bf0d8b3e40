//! WAT guests for the fs containment tests: a rename to a fixed destination and a reader that
//! reports every answer it got.

const FS: &str = "cordon:agent/fs@0.1.0";

/// Memory, a bump `cabi_realloc` from 65536, and `ok` at 32. Results are written at 64: a
/// `result<string, error>` has its tag at 64 and its string at 72 (pointer) and 76 (length).
const PRELUDE: &str = r#"
  (memory (export "memory") 2)
  (global $bump (mut i32) (i32.const 65536))
  (data (i32.const 32) "ok")
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

fn guest(imports: &str, body: &str) -> Vec<u8> {
    cordon_testkit::component(&format!("(module {imports} {PRELUDE} {body})")).unwrap()
}

/// `run(path)` = `fs.rename(path, to)`; returns `ok` or the host's error.
pub fn rename_to(to: &str) -> Vec<u8> {
    assert!(to.len() < 900 && !to.contains('"'));
    guest(
        &format!(r#"(import "{FS}" "rename" (func $rename (param i32 i32 i32 i32 i32)))"#),
        &format!(
            r#"(data (i32.const 128) "{to}")
               (func (export "run") (param i32 i32) (result i32)
                 (call $rename (local.get 0) (local.get 1) (i32.const 128) (i32.const {len}) (i32.const 64))
                 (if (i32.eqz (i32.load8_u (i32.const 64)))
                   (then (i32.store (i32.const 72) (i32.const 32))
                         (i32.store (i32.const 76) (i32.const 2))))
                 (i32.const 64))"#,
            len = to.len()
        ),
    )
}

/// `run(path)` reads `path` `n` times (n ≤ 8192) and returns one byte per read: the first byte
/// of what it read, or `e` for an error (or an empty file).
pub fn read_each(n: u32) -> Vec<u8> {
    assert!(n <= 8192);
    guest(
        &format!(r#"(import "{FS}" "read" (func $read (param i32 i32 i32)))"#),
        &format!(
            r#"(func (export "run") (param i32 i32) (result i32)
                 (local $i i32) (local $mark i32) (local $c i32)
                 (local.set $mark (global.get $bump))
                 (loop $l
                   (global.set $bump (local.get $mark))
                   (call $read (local.get 0) (local.get 1) (i32.const 64))
                   (local.set $c (i32.const 101))
                   (if (i32.eqz (i32.load8_u (i32.const 64)))
                     (then (if (i32.gt_u (i32.load (i32.const 76)) (i32.const 0))
                       (then (local.set $c (i32.load8_u (i32.load (i32.const 72))))))))
                   (i32.store8 (i32.add (i32.const 16384) (local.get $i)) (local.get $c))
                   (local.set $i (i32.add (local.get $i) (i32.const 1)))
                   (br_if $l (i32.lt_u (local.get $i) (i32.const {n}))))
                 (i32.store8 (i32.const 64) (i32.const 0))
                 (i32.store (i32.const 72) (i32.const 16384))
                 (i32.store (i32.const 76) (local.get $i))
                 (i32.const 64))"#
        ),
    )
}

/// Import of `fs.rename` and `fs.read`, for the loops below.
const RENAME_READ: &str = r#"(import "cordon:agent/fs@0.1.0" "rename" (func $rename (param i32 i32 i32 i32 i32)))
  (import "cordon:agent/fs@0.1.0" "read" (func $read (param i32 i32 i32)))"#;

/// `run(_)` renames `a` to `b` and back, `n` times, whatever each answer; returns `ok`.
pub fn shuttle(a: &str, b: &str, n: u32) -> Vec<u8> {
    assert!(a.len() < 300 && b.len() < 300 && !a.contains('"') && !b.contains('"'));
    guest(
        RENAME_READ,
        &format!(
            r#"(data (i32.const 128) "{a}")
               (data (i32.const 512) "{b}")
               (func (export "run") (param i32 i32) (result i32)
                 (local $i i32) (local $mark i32)
                 (local.set $mark (global.get $bump))
                 (loop $l
                   (global.set $bump (local.get $mark))
                   (call $rename (i32.const 128) (i32.const {al}) (i32.const 512) (i32.const {bl}) (i32.const 64))
                   (call $rename (i32.const 512) (i32.const {bl}) (i32.const 128) (i32.const {al}) (i32.const 64))
                   (local.set $i (i32.add (local.get $i) (i32.const 1)))
                   (br_if $l (i32.lt_u (local.get $i) (i32.const {n}))))
                 (i32.store8 (i32.const 64) (i32.const 0))
                 (i32.store (i32.const 72) (i32.const 32))
                 (i32.store (i32.const 76) (i32.const 2))
                 (i32.const 64))"#,
            al = a.len(),
            bl = b.len()
        ),
    )
}

/// `run(_)`, `n` times (n ≤ 8192): rename `from` to `to`; if that worked, read `to/file` and
/// rename `to` back to `from`. Returns one byte per round: `d` when the rename was refused,
/// else the first byte of what the read returned (`e` for an error or an empty file).
pub fn rename_read_back(from: &str, to: &str, file: &str, n: u32) -> Vec<u8> {
    let target = format!("{to}/{file}");
    assert!(n <= 8192);
    assert!(
        [from, to, &target]
            .iter()
            .all(|s| s.len() < 300 && !s.contains('"'))
    );
    guest(
        RENAME_READ,
        &format!(
            r#"(data (i32.const 128) "{from}")
               (data (i32.const 512) "{to}")
               (data (i32.const 1024) "{target}")
               (func (export "run") (param i32 i32) (result i32)
                 (local $i i32) (local $mark i32) (local $c i32)
                 (local.set $mark (global.get $bump))
                 (loop $l
                   (global.set $bump (local.get $mark))
                   (local.set $c (i32.const 100))
                   (call $rename (i32.const 128) (i32.const {fl}) (i32.const 512) (i32.const {tl}) (i32.const 64))
                   (if (i32.eqz (i32.load8_u (i32.const 64)))
                     (then
                       (local.set $c (i32.const 101))
                       (call $read (i32.const 1024) (i32.const {rl}) (i32.const 64))
                       (if (i32.eqz (i32.load8_u (i32.const 64)))
                         (then (if (i32.gt_u (i32.load (i32.const 76)) (i32.const 0))
                           (then (local.set $c (i32.load8_u (i32.load (i32.const 72))))))))
                       (call $rename (i32.const 512) (i32.const {tl}) (i32.const 128) (i32.const {fl}) (i32.const 64))))
                   (i32.store8 (i32.add (i32.const 16384) (local.get $i)) (local.get $c))
                   (local.set $i (i32.add (local.get $i) (i32.const 1)))
                   (br_if $l (i32.lt_u (local.get $i) (i32.const {n}))))
                 (i32.store8 (i32.const 64) (i32.const 0))
                 (i32.store (i32.const 72) (i32.const 16384))
                 (i32.store (i32.const 76) (local.get $i))
                 (i32.const 64))"#,
            fl = from.len(),
            tl = to.len(),
            rl = target.len()
        ),
    )
}
