//! The argument bounds every host call checks first (see [`cordon_policy::bounds`]): an
//! over-long path, URL or name is the guest's `invalid`, counted as a host call, and logged as
//! a denial by `cordon:bounds` in a bounded form (its first bytes and the blake3 digest of the
//! whole, never the whole, see [`Gate::refuse_argument`]); it never reaches the policy or the
//! disk.

use cordon_policy::Action;
use cordon_policy::bounds::{self, ArgumentTooLong};

use crate::bindings::Error;
use crate::bindings::cordon::agent::records::Condition;
use crate::gate::Gate;

fn answer(
    gate: &mut Gate,
    action: Action,
    r: Result<(), ArgumentTooLong>,
) -> wasmtime::Result<Result<(), Error>> {
    let Err(e) = r else { return Ok(Ok(())) };
    tracing::warn!(
        target: "cordon.bounds",
        tenant = %gate.identity().tenant,
        run = %gate.identity().run_id,
        what = e.what,
        size = e.size,
        limit = e.limit,
        digest = %e.digest,
        "argument refused before policy evaluation",
    );
    Ok(Err(gate.refuse_argument(action, &e)?))
}

/// Every path of an fs call on `action`: at most [`bounds::MAX_PATH_BYTES`] and
/// [`bounds::MAX_PATH_COMPONENTS`].
pub(crate) fn paths(
    gate: &mut Gate,
    action: Action,
    raw: &[&str],
) -> wasmtime::Result<Result<(), Error>> {
    let r = raw.iter().try_for_each(|p| bounds::check_path(p));
    answer(gate, action, r)
}

/// The URL of an `http.send` (at most [`bounds::MAX_URL_BYTES`]) and its method (a name, at
/// most [`bounds::MAX_NAME_BYTES`]: policies see it in their context).
pub(crate) fn http(
    gate: &mut Gate,
    url: &str,
    method: &str,
) -> wasmtime::Result<Result<(), Error>> {
    let r = bounds::check_url(url).and_then(|()| bounds::check_name("method", method));
    answer(gate, Action::HttpSend, r)
}

/// The names of a records call: the collection, the record id, the requested fields and the
/// fields a filter names, each at most [`bounds::MAX_NAME_BYTES`], at most
/// [`bounds::MAX_NAMES`] fields and conditions.
pub(crate) fn records(
    gate: &mut Gate,
    collection: &str,
    id: Option<&str>,
    fields: &[String],
    filter: &[Condition],
) -> wasmtime::Result<Result<(), Error>> {
    let r = bounds::check_name("collection", collection)
        .and_then(|()| id.map_or(Ok(()), |id| bounds::check_name("record id", id)))
        .and_then(|()| bounds::check_names("field", fields.iter().map(String::as_str)))
        .and_then(|()| {
            bounds::check_names(
                "filter field",
                filter.iter().map(|c| match c {
                    Condition::Compare(c) => c.field.as_str(),
                    Condition::OneOf(m) => m.field.as_str(),
                }),
            )
        });
    answer(gate, Action::RecordsRead, r)
}
