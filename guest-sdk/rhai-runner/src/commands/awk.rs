//! Rex's `awk_*` helpers: one operation of `awk` each, over the lines of one file (fields are
//! numbered from 1 and split on a literal delimiter), and `awk_split` over a string.

use std::collections::BTreeMap;

use rhai::{Array, Dynamic, Engine, Map};

use super::text::read_text;
use super::{Out, int, strings};
use crate::error::Failure;

pub(super) fn register(engine: &mut Engine) {
    engine.register_fn("awk_split", |text: &str, delimiter: &str| {
        strings(text.split(delimiter).map(str::to_owned))
    });
    engine.register_fn("awk_field", awk_field);
    engine.register_fn("awk_filter", awk_filter);
    engine.register_fn("awk_filter_field", awk_filter_field);
    engine.register_fn("awk_sum", awk_sum);
    engine.register_fn("awk_count_unique", awk_count_unique);
    engine.register_fn("awk_filter_range", awk_filter_range);
}

/// The 0-based index of field `field` (1-based), or `invalid` as Rex has it.
fn index(field: i64) -> Result<usize, Failure> {
    usize::try_from(field)
        .ok()
        .and_then(|f| f.checked_sub(1))
        .ok_or_else(|| Failure::invalid(format!("awk: field number must be >= 1, not `{field}`")))
}

/// Field `idx` of `line` split on `delimiter`.
fn field<'a>(line: &'a str, delimiter: &str, idx: usize) -> Option<&'a str> {
    line.split(delimiter).nth(idx)
}

/// Field `field` of each line that has one.
fn awk_field(field_num: i64, delimiter: &str, path: &str) -> Out<Array> {
    let idx = index(field_num)?;
    let text = read_text(path)?;
    Ok(strings(
        text.lines()
            .filter_map(|line| field(line, delimiter, idx))
            .map(str::to_owned),
    ))
}

/// The lines that contain `pattern` (a plain string).
fn awk_filter(pattern: &str, path: &str) -> Out<Array> {
    let text = read_text(path)?;
    Ok(strings(
        text.lines()
            .filter(|line| line.contains(pattern))
            .map(str::to_owned),
    ))
}

/// The lines whose field `field_num` contains `pattern`.
fn awk_filter_field(field_num: i64, delimiter: &str, pattern: &str, path: &str) -> Out<Array> {
    let idx = index(field_num)?;
    let text = read_text(path)?;
    Ok(strings(
        text.lines()
            .filter(|line| field(line, delimiter, idx).is_some_and(|f| f.contains(pattern)))
            .map(str::to_owned),
    ))
}

/// The sum of field `field_num` over the lines where it is a number (others are skipped).
fn awk_sum(field_num: i64, delimiter: &str, path: &str) -> Out<f64> {
    let idx = index(field_num)?;
    let text = read_text(path)?;
    Ok(text
        .lines()
        .filter_map(|line| field(line, delimiter, idx)?.trim().parse::<f64>().ok())
        .sum())
}

/// How many lines have each value of field `field_num`: a map of value to count.
fn awk_count_unique(field_num: i64, delimiter: &str, path: &str) -> Out<Map> {
    let idx = index(field_num)?;
    let text = read_text(path)?;
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for value in text.lines().filter_map(|line| field(line, delimiter, idx)) {
        *counts.entry(value).or_default() += 1;
    }
    Ok(counts
        .into_iter()
        .map(|(value, n)| (value.into(), Dynamic::from(int(n))))
        .collect())
}

/// Lines `start` to `end` (1-based, inclusive).
fn awk_filter_range(start: i64, end: i64, path: &str) -> Out<Array> {
    if start < 1 || end < start {
        return Err(Failure::invalid(format!("awk: invalid range {start}..{end}")).into());
    }
    let text = read_text(path)?;
    let skip = usize::try_from(start - 1).unwrap_or(usize::MAX);
    let take = usize::try_from(end - start + 1).unwrap_or(usize::MAX);
    Ok(strings(
        text.lines().skip(skip).take(take).map(str::to_owned),
    ))
}
