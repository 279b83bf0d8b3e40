//! A stand-in identity provider: an Ed25519 key that signs on-behalf-of tokens (JWT, EdDSA)
//! as an operator's would, and gives the PEM to register for a tenant.

use base64::Engine as _;
use ed25519_dalek::SigningKey;

/// An identity provider's signing key.
pub struct Idp {
    key: SigningKey,
}

impl Idp {
    /// The provider whose key is derived from `seed` (a different seed, a different key).
    pub fn new(seed: u8) -> Idp {
        Idp {
            key: SigningKey::from_bytes(&[seed; 32]),
        }
    }

    /// The public key as an SPKI PEM, as `POST /v1/admin/tenants/{t}/identity-keys` takes it.
    pub fn public_pem(&self) -> String {
        let mut der = hex("302a300506032b6570032100");
        der.extend_from_slice(self.key.verifying_key().as_bytes());
        let b64 = base64::engine::general_purpose::STANDARD.encode(der);
        format!("-----BEGIN PUBLIC KEY-----\n{b64}\n-----END PUBLIC KEY-----\n")
    }

    /// A JWT (EdDSA) of `claims` signed with this key.
    ///
    /// # Errors
    /// If the claims do not serialise or the key is refused.
    pub fn sign(&self, claims: &serde_json::Value) -> Result<String, jsonwebtoken::errors::Error> {
        let mut der = hex("302e020100300506032b657004220420");
        der.extend_from_slice(self.key.as_bytes());
        let key = jsonwebtoken::EncodingKey::from_ed_der(&der);
        jsonwebtoken::encode(
            &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::EdDSA),
            claims,
            &key,
        )
    }
}

/// Bytes of a hex string of even length (a constant of this module).
fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .filter_map(|i| u8::from_str_radix(&s[i..i + 2], 16).ok())
        .collect()
}
