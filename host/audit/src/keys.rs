//! The checkpoint signing key (ed25519) and its public half.
//!
//! The signing key file holds the 32-byte seed as 64 hex digits and a newline. It is created
//! on first use with mode 0600 (owner read/write only) and refused if it is readable by group
//! or others. The public key file holds the 32-byte public key as 64 hex digits; it is what an
//! auditor needs to check checkpoints and bundles, and may be published.

use std::fmt;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use ed25519_dalek::{SigningKey, VerifyingKey};

use crate::hex;

/// Why a key file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The file could not be read or written.
    #[error("cannot access key file `{path}`")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
    /// The file does not hold 64 hex digits.
    #[error("key file `{path}` does not hold a 32-byte hex key")]
    Malformed {
        /// The file.
        path: PathBuf,
    },
    /// The public key bytes are not a valid ed25519 point.
    #[error("key file `{path}` does not hold a valid ed25519 public key")]
    InvalidPublicKey {
        /// The file.
        path: PathBuf,
    },
    /// The signing key is readable by group or others.
    #[error(
        "signing key file `{path}` has mode {mode:o}; it must not be accessible to group or others (chmod 600)"
    )]
    Permissions {
        /// The file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// The public key file does not match the signing key.
    #[error("public key file `{path}` does not match the signing key")]
    PublicKeyMismatch {
        /// The public key file.
        path: PathBuf,
    },
    /// No randomness for a new key.
    #[error("cannot generate a signing key")]
    Random(#[source] getrandom::Error),
}

fn io_error(path: &Path) -> impl FnOnce(io::Error) -> KeyError + '_ {
    move |source| KeyError::Io {
        path: path.to_owned(),
        source,
    }
}

/// An ed25519 public key that checks checkpoint signatures.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct PublicKey(pub(crate) VerifyingKey);

impl PublicKey {
    /// Reads a public key file (64 hex digits).
    pub fn read(path: &Path) -> Result<PublicKey, KeyError> {
        let text = fs::read_to_string(path).map_err(io_error(path))?;
        PublicKey::from_hex(text.trim()).ok_or_else(|| KeyError::InvalidPublicKey {
            path: path.to_owned(),
        })
    }

    /// Parses 64 hex digits.
    pub fn from_hex(text: &str) -> Option<PublicKey> {
        let bytes = hex::decode_array::<32>(text)?;
        VerifyingKey::from_bytes(&bytes).ok().map(PublicKey)
    }

    /// The key as 64 lower-case hex digits.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0.as_bytes())
    }
}

impl fmt::Display for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({})", self.to_hex())
    }
}

#[cfg(unix)]
fn check_private(path: &Path, file: &fs::File) -> Result<(), KeyError> {
    use std::os::unix::fs::PermissionsExt;
    let mode = file
        .metadata()
        .map_err(io_error(path))?
        .permissions()
        .mode()
        & 0o777;
    if mode & 0o077 != 0 {
        return Err(KeyError::Permissions {
            path: path.to_owned(),
            mode,
        });
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_private(_path: &Path, _file: &fs::File) -> Result<(), KeyError> {
    Ok(())
}

fn create_private(path: &Path) -> io::Result<fs::File> {
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path)
}

fn read_signing_key(path: &Path) -> Result<SigningKey, KeyError> {
    use std::io::Read;
    let mut file = fs::File::open(path).map_err(io_error(path))?;
    check_private(path, &file)?;
    let mut text = String::new();
    file.read_to_string(&mut text).map_err(io_error(path))?;
    let seed = hex::decode_array::<32>(text.trim()).ok_or_else(|| KeyError::Malformed {
        path: path.to_owned(),
    })?;
    Ok(SigningKey::from_bytes(&seed))
}

/// Loads the signing key at `path`, generating it (mode 0600) if the file does not exist.
/// If `public_path` is given, the public key is written there when missing and must match
/// when present.
pub fn load_or_generate(path: &Path, public_path: Option<&Path>) -> Result<SigningKey, KeyError> {
    let key = match create_private(path) {
        Ok(mut file) => {
            let mut seed = [0u8; 32];
            getrandom::fill(&mut seed).map_err(KeyError::Random)?;
            let key = SigningKey::from_bytes(&seed);
            file.write_all(format!("{}\n", hex::encode(&seed)).as_bytes())
                .and_then(|()| file.sync_all())
                .map_err(io_error(path))?;
            key
        }
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => read_signing_key(path)?,
        Err(e) => return Err(io_error(path)(e)),
    };
    if let Some(public_path) = public_path {
        let public = PublicKey(key.verifying_key());
        match PublicKey::read(public_path) {
            Ok(found) if found == public => {}
            Ok(_) => {
                return Err(KeyError::PublicKeyMismatch {
                    path: public_path.to_owned(),
                });
            }
            Err(KeyError::Io { source, .. }) if source.kind() == io::ErrorKind::NotFound => {
                fs::write(public_path, format!("{}\n", public.to_hex()))
                    .map_err(io_error(public_path))?;
            }
            Err(e) => return Err(e),
        }
    }
    Ok(key)
}
