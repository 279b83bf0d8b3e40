//! `seq` (no call) and `curl` (one `http.send`).

use cordon_guest::http;
use rhai::{Array, Dynamic, Engine, Map};

use super::Out;
use crate::LIMITS;
use crate::error::{Failure, rex_get_check};
use crate::flags::{self, Flag};

#[derive(Debug, Clone)]
enum SeqFlag {
    Step(i64),
}

impl Flag for SeqFlag {
    const COMMAND: &'static str = "seq";
    const TYPE: &'static str = "SeqFlag";
    const NAMES: &'static [&'static str] = &["step(n)"];
}

pub(super) fn register(engine: &mut Engine) {
    flags::register::<SeqFlag>(engine, &[], |m| {
        m.set_native_fn("step", |v: Dynamic| {
            Ok(SeqFlag::Step(flags::int("seq::step", &v)?))
        });
    });
    engine.register_fn("seq", |start: i64, end: i64| seq(&Array::new(), start, end));
    engine.register_fn("seq", |flags: Array, start: i64, end: i64| {
        seq(&flags, start, end)
    });
    engine.register_fn("curl", curl);
}

/// `start`, `start + step`, ... while not past `end` (`seq::step(n)`, default 1; a negative
/// step counts down); empty when `start` is already past `end`. Refused before any work when
/// it would hold more numbers than an array may.
fn seq(flags: &Array, start: i64, end: i64) -> Out<Array> {
    let flags = flags::parse::<SeqFlag>(flags)?;
    let step = flags::find(&flags, |SeqFlag::Step(n)| Some(*n)).unwrap_or(1);
    if step == 0 {
        return Err(Failure::invalid("`seq`: the step cannot be zero").into());
    }
    let (start, end, by) = (i128::from(start), i128::from(end), i128::from(step));
    let len = if (by > 0 && start > end) || (by < 0 && start < end) {
        0
    } else {
        (end - start) / by + 1
    };
    if len > LIMITS.array_size as i128 {
        return Err(Failure::limit(format!(
            "`seq` from {start} to {end} by {step} would hold {len} numbers, more than the {} \
             an array may",
            LIMITS.array_size
        ))
        .into());
    }
    // Every value lies between `start` and `end`, so each fits an i64.
    Ok((0..len)
        .map(|i| Dynamic::from(i64::try_from(start + i * by).unwrap_or(i64::MAX)))
        .collect())
}

/// A GET of `url`: one `http.send`. Returns `#{status, text}`.
fn curl(url: &str) -> Out<Map> {
    let response = http::get(url).map_err(|e| Failure::new(e, rex_get_check(url)))?;
    let mut map = Map::new();
    map.insert("status".into(), Dynamic::from(i64::from(response.status)));
    map.insert(
        "text".into(),
        String::from_utf8_lossy(&response.body).into_owned().into(),
    );
    Ok(map)
}
