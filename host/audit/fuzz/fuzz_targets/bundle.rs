//! Offline bundle verification: `verify_bundle` takes a file from anyone. Whatever it holds,
//! verification returns a report or an error, never panics. Each input is verified as given,
//! and again with its checkpoint re-signed by the seed corpus's key, so that mutations of the
//! checkpoint (tree size, root) reach the proof and query checks behind the signature.
#![no_main]

use cordon_audit::{Bundle, Checkpoint, PublicKey, verify_bundle};
use ed25519_dalek::{Signer, SigningKey};
use libfuzzer_sys::fuzz_target;

/// The key the seed corpus was signed with (`tests/all/fuzz_seeds.rs`).
fn signing_key() -> SigningKey {
    SigningKey::from_bytes(&[7u8; 32])
}

fn public_key(key: &SigningKey) -> PublicKey {
    let hex: String = key
        .verifying_key()
        .as_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    PublicKey::from_hex(&hex).expect("a valid key")
}

/// Signs `checkpoint` as the log does (the message layout of `src/checkpoint.rs`).
fn resign(checkpoint: &mut Checkpoint, key: &SigningKey) {
    let mut msg = Vec::new();
    msg.extend_from_slice(match checkpoint.subject_keys {
        None => b"cordon.audit.checkpoint.v1\0",
        Some(_) => b"cordon.audit.checkpoint.v2\0",
    });
    msg.extend_from_slice(&checkpoint.tree_size.to_be_bytes());
    msg.extend_from_slice(&checkpoint.root.0);
    msg.extend_from_slice(&checkpoint.chain_head.0);
    msg.extend_from_slice(&checkpoint.time_ms.to_be_bytes());
    if let Some(keys) = &checkpoint.subject_keys {
        msg.extend_from_slice(&keys.events.to_be_bytes());
        msg.extend_from_slice(&keys.head.0);
    }
    checkpoint.signature = key.sign(&msg).to_bytes().to_vec();
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(mut bundle) = Bundle::from_json(text) else {
        return;
    };
    let key = signing_key();
    let public = public_key(&key);
    let as_given = verify_bundle(&bundle, &public);
    resign(&mut bundle.checkpoint, &key);
    let resigned = verify_bundle(&bundle, &public);
    // A bundle that verified as given still does: re-signing changes no signed field.
    if as_given.is_ok() {
        assert!(resigned.is_ok());
    }
});
