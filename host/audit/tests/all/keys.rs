//! The checkpoint signing key file.

use std::os::unix::fs::PermissionsExt;

use cordon_audit::{AuditLog, KeyError, LogOptions, OpenError, SIGNING_KEY_FILE};

use crate::common;

#[test]
fn generates_the_signing_key_with_owner_only_permissions() {
    let dir = tempfile::tempdir().unwrap();
    common::open(dir.path()).close().unwrap();
    let mode = std::fs::metadata(dir.path().join(SIGNING_KEY_FILE))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    let log = common::open(dir.path());
    assert_eq!(log.public_key(), common::public_key(dir.path()));
}

#[test]
fn refuses_a_signing_key_readable_by_others() {
    let dir = tempfile::tempdir().unwrap();
    common::open(dir.path()).close().unwrap();
    let path = dir.path().join(SIGNING_KEY_FILE);
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let err = AuditLog::open(&common::log_path(dir.path()), common::options(dir.path()))
        .err()
        .unwrap();
    assert!(
        matches!(
            err,
            OpenError::Key(KeyError::Permissions { mode: 0o644, .. })
        ),
        "{err}"
    );
}

#[test]
fn refuses_to_continue_a_log_with_another_key() {
    let dir = tempfile::tempdir().unwrap();
    common::open(dir.path()).close().unwrap();
    let other = tempfile::tempdir().unwrap();
    let options = LogOptions::in_dir(other.path());
    let err = AuditLog::open(&common::log_path(dir.path()), options)
        .err()
        .unwrap();
    assert!(matches!(err, OpenError::KeyMismatch { .. }), "{err}");
}
