//! The log reader: the decoders of stored entries and checkpoints take any bytes a damaged or
//! forged log file can hold. They must reject what is not canonical with an error, never
//! panic, and what they accept must be consistent (a checkpoint survives the JSON a bundle
//! carries it in; no proper prefix of an accepted entry is an entry).
#![no_main]

use cordon_audit::{Checkpoint, PublicKey, encoding};
use libfuzzer_sys::fuzz_target;

/// The key the seed corpus was signed with (`tests/all/fuzz_seeds.rs`).
fn public_key() -> PublicKey {
    let key = ed25519_dalek::SigningKey::from_bytes(&[7u8; 32]);
    let hex: String = key
        .verifying_key()
        .as_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    PublicKey::from_hex(&hex).expect("a valid key")
}

fuzz_target!(|data: &[u8]| {
    if let Ok(entry) = encoding::decode_entry(data) {
        assert!(encoding::decode_entry(&data[..data.len() - 1]).is_err());
        serde_json::to_string(&entry).expect("an entry serialises");
    }
    if let Some(checkpoint) = Checkpoint::from_stored(data) {
        let verified = checkpoint.verify(&public_key()).is_ok();
        let json = serde_json::to_string(&checkpoint).expect("a checkpoint serialises");
        let back: Checkpoint = serde_json::from_str(&json).expect("and parses back");
        assert_eq!(back, checkpoint);
        assert_eq!(back.verify(&public_key()).is_ok(), verified);
    }
});
