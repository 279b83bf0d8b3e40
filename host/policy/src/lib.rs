//! Cedar for Cordon: the schema every bundle is validated against, policy bundles, the typed
//! requests the host makes, and authorization that names the deciding policies.
//!
//! This crate knows nothing of WebAssembly; the runtime builds a [`Request`] for each host call
//! and asks a [`PolicyBundle`] for a [`Decision`].
//!
//! ```
//! use cordon_policy::{Action, PolicyBundle, Principal, Request, Resource, RunContext};
//!
//! let bundle = PolicyBundle::from_sources([(
//!     "readme.cedar",
//!     r#"@id("read-docs")
//!        permit(principal, action == Cordon::Action::"fs:read", resource in Cordon::Dir::"/docs");"#,
//! )])?;
//! let principal = Principal::unattended("acme", "c0ffee");
//! let context = RunContext::new("support", "case-17");
//! let session = bundle.session(&principal, &context)?;
//!
//! let allowed = session.authorize(&Request::new(Action::FsRead, Resource::file("/docs/a.md")?));
//! assert!(allowed.is_allowed());
//! assert_eq!(allowed.policy_ids, ["read-docs"]);
//!
//! let denied = session.authorize(&Request::new(Action::FsRead, Resource::file("/etc/passwd")?));
//! assert!(!denied.is_allowed());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![deny(missing_docs)]

pub mod bounds;
mod bundle;
pub mod cases;
mod entities;
mod lints;
mod records;
mod request;
mod rex;
mod schema;
mod session;
mod taint;

pub use bundle::{BundleError, PolicyBundle};
pub use cases::{Case, CaseError, CaseFile, Outcome, Verdict};
pub use entities::EntityError;
pub use records::{FieldResource, RecordAttrs, RecordAuthorizer, RecordResource, RecordsContext};
pub use request::{
    Action, Human, PathError, Principal, Request, Resource, RunContext, SourceCode, UrlError,
    UrlParts, check_url,
};
pub use rex::{
    ACTIONS as REX_ACTIONS, OUTSIDE_ROOT, RexError, RexNote, RexTranslation, is_rex_policy,
    is_rex_root, translate_rex,
};
pub use schema::{CordonSchema, SCHEMA_JSON, SCHEMA_TEXT, SchemaError};
pub use session::{Decision, Session};
pub use taint::Taint;
