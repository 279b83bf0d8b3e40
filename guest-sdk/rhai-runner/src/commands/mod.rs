//! Rex's script functions over Cordon's gated imports (see the table in the crate docs), one
//! module per family. Each command takes its plain arguments, or Rex's flag array first
//! (`cat([cat::number], path)`), and makes Rex's checks through [`crate::checks`].

mod awk;
mod dirs;
mod files;
mod misc;
mod search;
mod text;
mod tree;
mod walk;

use cordon_guest::Error;
use rhai::{Array, Dynamic, Engine, EvalAltResult};

use crate::error::Failure;

/// What a registered function returns.
pub(crate) type Out<T> = Result<T, Box<EvalAltResult>>;

/// Rex functions that reach what Cordon grants no component (processes, the host's system,
/// disk and network state): registered for 0 to 3 arguments, each fails with `unsupported`.
pub const UNSUPPORTED: [&str; 17] = [
    "df",
    "dmesg",
    "free",
    "hostname",
    "iostat",
    "ip_addr",
    "kill",
    "lsblk",
    "netstat",
    "nproc",
    "nsenter",
    "ps",
    "resolve",
    "sysctl_find",
    "sysctl_read",
    "sysctl_write",
    "uname",
];

pub(crate) fn register(engine: &mut Engine) {
    text::register(engine);
    search::register(engine);
    awk::register(engine);
    files::register(engine);
    dirs::register(engine);
    tree::register(engine);
    misc::register(engine);
    for name in UNSUPPORTED {
        let fail = move || -> Out<()> {
            Err(Failure::from(Error::Unsupported(format!(
                "`{name}` is not available in Cordon: a script reaches files and the network \
                 only through the gated functions, and nothing else on the host"
            )))
            .into())
        };
        engine.register_fn(name, fail);
        engine.register_fn(name, move |_: Dynamic| fail());
        engine.register_fn(name, move |_: Dynamic, _: Dynamic| fail());
        engine.register_fn(name, move |_: Dynamic, _: Dynamic, _: Dynamic| fail());
    }
}

/// Strings as a Rhai array.
pub(crate) fn strings(items: impl IntoIterator<Item = String>) -> Array {
    items.into_iter().map(Dynamic::from).collect()
}

/// A count as a Rhai integer.
pub(crate) fn int(n: impl TryInto<i64>) -> i64 {
    n.try_into().unwrap_or(i64::MAX)
}
