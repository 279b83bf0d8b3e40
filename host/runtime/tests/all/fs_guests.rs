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
