//! http and records are declared but not yet provided: a typed error, never a trap.

use cordon_runtime::RunStatus;

use crate::support::{ALLOW_ALL, Sandbox, load};

#[test]
fn http_calls_get_a_typed_unsupported_error_not_a_trap() {
    let sb = Sandbox::new();
    let r = sb.run(&load(cordon_testkit::http_guest()), ALLOW_ALL, "");
    assert_eq!(r.status, RunStatus::Error, "{r:?}");
    let e = r.error.unwrap();
    assert_eq!(e.kind, "unsupported");
    assert!(e.message.contains("http"), "{}", e.message);
    assert_eq!(r.host_calls, 1);
}
