//! Rex's command flags: each command's flags are values of its own Rhai type (`CatFlag`),
//! found in a static module named after the command (`cat::number`, `tail::n(5)`), and passed
//! as an array before the arguments: `cat([cat::number], path)`.

use rhai::{Array, Dynamic, Engine, EvalAltResult, Module};

use crate::error::Failure;

/// A command's flag type.
pub(crate) trait Flag: Clone + 'static {
    /// The command, which is also the flag module's name: `cat`.
    const COMMAND: &'static str;
    /// The flag type's name in Rhai: `CatFlag`.
    const TYPE: &'static str;
    /// Every flag of the module as scripts spell it (aliases too), for messages.
    const NAMES: &'static [&'static str];
}

/// Register `F` and its module: the constant flags `values`, and what `functions` adds (flags
/// that carry a value, such as `tail::n(5)`).
pub(crate) fn register<F: Flag>(
    engine: &mut Engine,
    values: &[(&str, F)],
    functions: impl FnOnce(&mut Module),
) {
    engine.register_type_with_name::<F>(F::TYPE);
    let mut module = Module::new();
    for (name, flag) in values {
        module.set_var(*name, flag.clone());
    }
    functions(&mut module);
    engine.register_static_module(F::COMMAND, module.into());
}

/// The flags of `F` in `flags`; any other element is `invalid`, named with its place.
pub(crate) fn parse<F: Flag>(flags: &Array) -> Result<Vec<F>, Failure> {
    flags
        .iter()
        .enumerate()
        .map(|(i, item)| {
            item.clone().try_cast::<F>().ok_or_else(|| {
                let names: Vec<String> = F::NAMES
                    .iter()
                    .map(|n| format!("`{}::{n}`", F::COMMAND))
                    .collect();
                Failure::invalid(format!(
                    "flag {i} of `{}` is {}, not a `{}`: the flags are {}",
                    F::COMMAND,
                    describe(item),
                    F::TYPE,
                    names.join(", ")
                ))
            })
        })
        .collect()
}

/// The integer a value-carrying flag (`flag`, e.g. `tail::n`) was given; anything else is
/// `invalid`.
pub(crate) fn int(flag: &str, value: &Dynamic) -> Result<i64, Box<EvalAltResult>> {
    value.as_int().map_err(|_| {
        Failure::invalid(format!(
            "`{flag}` takes an integer, not {}",
            describe(value)
        ))
        .into()
    })
}

/// `a string ("x")`, `a LsFlag`: what a wrong value is, for messages.
fn describe(value: &Dynamic) -> String {
    let full = value.type_name();
    let name = full.rsplit("::").next().unwrap_or(full);
    if value.is_string() || value.is_int() || value.is_bool() || value.is_float() {
        format!("the {name} `{value}`")
    } else {
        format!("a `{name}`")
    }
}

/// Whether `flags` holds a flag `is` matches.
pub(crate) fn has<F>(flags: &[F], is: impl Fn(&F) -> bool) -> bool {
    flags.iter().any(is)
}

/// The value of the first flag `value` extracts one from.
pub(crate) fn find<F, V>(flags: &[F], value: impl Fn(&F) -> Option<V>) -> Option<V> {
    flags.iter().find_map(value)
}
