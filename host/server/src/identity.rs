//! On-behalf-of identity: operators register an identity provider's public keys per tenant
//! (PEM with its algorithm, or a JWKS); each run carries a JWT naming the human, verified here
//! for signature, issuer, audience, expiry, not-before, issue time and lifetime.

use std::collections::HashSet;

use cordon_policy::Human;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A registered identity key (as uploaded and stored).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IdentityKey {
    /// The `iss` tokens signed by this key must carry.
    pub issuer: String,
    /// The `aud` tokens must carry (this service, as the provider names it).
    pub audience: String,
    /// A public key in PEM; needs `algorithm`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pem: Option<String>,
    /// `RS256`, `ES256` or `EdDSA` (for `pem`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub algorithm: Option<String>,
    /// A JWKS document (`{"keys": [...]}`); a token's `kid` picks the key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub jwks: Option<serde_json::Value>,
}

/// Why a key was refused at registration.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// Neither or both of `pem` and `jwks`.
    #[error("give exactly one of `pem` (with `algorithm`) or `jwks`")]
    Shape,
    /// An algorithm other than the supported ones.
    #[error("unsupported algorithm `{0}` (use RS256, ES256 or EdDSA)")]
    Algorithm(String),
    /// The PEM does not hold a public key of the algorithm.
    #[error("the pem is not a {0} public key")]
    Pem(String),
    /// The JWKS does not parse or holds an unusable key.
    #[error("the jwks is not usable: {0}")]
    Jwks(String),
    /// Issuer or audience is empty.
    #[error("`issuer` and `audience` must not be empty")]
    Empty,
}

/// What an on-behalf-of token's times must satisfy besides `exp`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenRules {
    /// Clock skew allowed between the identity provider and this host, seconds: applied to
    /// `exp`, `nbf` and `iat`.
    pub leeway_secs: u64,
    /// Longest lifetime a token may have, seconds: `exp - iat` (or `exp - now` when the token
    /// has no `iat`). A leaked long-lived token is a standing credential; this bounds it.
    pub max_lifetime_secs: u64,
}

impl Default for TokenRules {
    fn default() -> Self {
        TokenRules {
            leeway_secs: 30,
            max_lifetime_secs: 24 * 3600,
        }
    }
}

/// Why an on-behalf-of token was refused.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// No key is registered for the tenant.
    #[error("no identity keys are registered for this tenant")]
    NoKeys,
    /// The token failed every registered key (signature, issuer, audience, expiry or form).
    #[error("the token is not valid: {0}")]
    Invalid(String),
    /// The token was issued in the future (`iat` past now plus the allowed skew).
    #[error("the token was issued in the future (`iat` {iat}, now {now})")]
    IssuedInFuture {
        /// The token's `iat`.
        iat: u64,
        /// This host's time.
        now: u64,
    },
    /// The token lives longer than the host allows.
    #[error("the token lives {lifetime} s; at most {max} s are accepted")]
    TooLong {
        /// `exp - iat` (or `exp - now`).
        lifetime: u64,
        /// The allowed maximum.
        max: u64,
    },
    /// The token has no usable subject.
    #[error("the token has no `sub`")]
    NoSubject,
    /// The token was granted for another purpose or engagement.
    #[error("the token was granted for {claim} `{granted}`, not `{requested}`")]
    Mismatch {
        /// `purpose` or `engagement`.
        claim: &'static str,
        /// What the token says.
        granted: String,
        /// What the request says.
        requested: String,
    },
}

fn algorithm(name: &str) -> Result<Algorithm, KeyError> {
    match name {
        "RS256" => Ok(Algorithm::RS256),
        "ES256" => Ok(Algorithm::ES256),
        "EdDSA" => Ok(Algorithm::EdDSA),
        other => Err(KeyError::Algorithm(other.to_owned())),
    }
}

/// A key ready to verify with.
struct Verifier {
    kid: Option<String>,
    algorithm: Algorithm,
    key: DecodingKey,
}

impl IdentityKey {
    /// Check the key is usable (done once, at registration).
    pub fn validate(&self) -> Result<(), KeyError> {
        if self.issuer.is_empty() || self.audience.is_empty() {
            return Err(KeyError::Empty);
        }
        let verifiers = self.verifiers()?;
        if verifiers.is_empty() {
            return Err(KeyError::Jwks("no usable keys".into()));
        }
        Ok(())
    }

    fn verifiers(&self) -> Result<Vec<Verifier>, KeyError> {
        match (&self.pem, &self.jwks) {
            (Some(pem), None) => {
                let name = self.algorithm.as_deref().unwrap_or("");
                let alg = algorithm(name)?;
                let bytes = pem.as_bytes();
                let key = match alg {
                    Algorithm::RS256 => DecodingKey::from_rsa_pem(bytes),
                    Algorithm::ES256 => DecodingKey::from_ec_pem(bytes),
                    _ => DecodingKey::from_ed_pem(bytes),
                }
                .map_err(|_| KeyError::Pem(name.to_owned()))?;
                Ok(vec![Verifier {
                    kid: None,
                    algorithm: alg,
                    key,
                }])
            }
            (None, Some(jwks)) => {
                let set: JwkSet = serde_json::from_value(jwks.clone())
                    .map_err(|e| KeyError::Jwks(e.to_string()))?;
                let mut out = Vec::new();
                for jwk in &set.keys {
                    let alg = match &jwk.common.key_algorithm {
                        Some(a) => algorithm(&a.to_string())?,
                        None => match &jwk.algorithm {
                            jsonwebtoken::jwk::AlgorithmParameters::RSA(_) => Algorithm::RS256,
                            jsonwebtoken::jwk::AlgorithmParameters::EllipticCurve(_) => {
                                Algorithm::ES256
                            }
                            jsonwebtoken::jwk::AlgorithmParameters::OctetKeyPair(_) => {
                                Algorithm::EdDSA
                            }
                            _ => return Err(KeyError::Jwks("unsupported key type".into())),
                        },
                    };
                    let key =
                        DecodingKey::from_jwk(jwk).map_err(|e| KeyError::Jwks(e.to_string()))?;
                    out.push(Verifier {
                        kid: jwk.common.key_id.clone(),
                        algorithm: alg,
                        key,
                    });
                }
                Ok(out)
            }
            _ => Err(KeyError::Shape),
        }
    }
}

#[derive(Deserialize)]
struct Claims {
    sub: Option<String>,
    exp: u64,
    iat: Option<u64>,
    #[serde(default)]
    roles: Vec<String>,
    purpose: Option<String>,
    engagement: Option<String>,
}

/// Verify `token` against the tenant's keys: signature, issuer, audience, `exp` and `nbf`
/// (within the allowed skew), an `iat` not in the future, and a lifetime within `rules`.
pub fn verify(
    keys: &[IdentityKey],
    token: &str,
    purpose: &str,
    engagement: &str,
    rules: &TokenRules,
) -> Result<Human, TokenError> {
    if keys.is_empty() {
        return Err(TokenError::NoKeys);
    }
    let header =
        jsonwebtoken::decode_header(token).map_err(|e| TokenError::Invalid(e.to_string()))?;
    let mut last = String::from("no key matches the token");
    for k in keys {
        let Ok(verifiers) = k.verifiers() else {
            continue;
        };
        for v in verifiers {
            if v.algorithm != header.alg {
                continue;
            }
            if let (Some(want), Some(have)) = (&v.kid, &header.kid)
                && want != have
            {
                continue;
            }
            let mut validation = Validation::new(v.algorithm);
            validation.set_issuer(&[&k.issuer]);
            validation.set_audience(&[&k.audience]);
            validation.required_spec_claims =
                HashSet::from(["exp".to_owned(), "iss".to_owned(), "aud".to_owned()]);
            validation.leeway = rules.leeway_secs;
            validation.validate_nbf = true;
            match jsonwebtoken::decode::<Claims>(token, &v.key, &validation) {
                Ok(data) => {
                    check_times(&data.claims, rules)?;
                    return bind(data.claims, purpose, engagement);
                }
                Err(e) => last = e.to_string(),
            }
        }
    }
    Err(TokenError::Invalid(last))
}

fn check_times(claims: &Claims, rules: &TokenRules) -> Result<(), TokenError> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    if let Some(iat) = claims.iat
        && iat > now.saturating_add(rules.leeway_secs)
    {
        return Err(TokenError::IssuedInFuture { iat, now });
    }
    let lifetime = claims.exp.saturating_sub(claims.iat.unwrap_or(now));
    if lifetime > rules.max_lifetime_secs {
        return Err(TokenError::TooLong {
            lifetime,
            max: rules.max_lifetime_secs,
        });
    }
    Ok(())
}

fn bind(claims: Claims, purpose: &str, engagement: &str) -> Result<Human, TokenError> {
    let sub = claims
        .sub
        .filter(|s| !s.is_empty())
        .ok_or(TokenError::NoSubject)?;
    for (claim, granted, requested) in [
        ("purpose", &claims.purpose, purpose),
        ("engagement", &claims.engagement, engagement),
    ] {
        if let Some(granted) = granted
            && granted != requested
        {
            return Err(TokenError::Mismatch {
                claim,
                granted: granted.clone(),
                requested: requested.to_owned(),
            });
        }
    }
    Ok(Human::new(sub, claims.roles))
}
