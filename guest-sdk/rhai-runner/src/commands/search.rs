//! Searching and editing a file's text: `grep` and `sed`, with Rex's patterns (the regex
//! crate's syntax, `$1` for a group in a replacement).

use regex::Regex;
use rhai::{Array, Dynamic, Engine};

use super::{Out, strings};
use crate::checks;
use crate::error::Failure;
use crate::flags::{self, Flag};
use crate::{LIMITS, paths};

#[derive(Debug, Clone)]
enum GrepFlag {
    IgnoreCase,
    Count,
    Invert,
    LineNumber,
    MaxCount(i64),
}

impl Flag for GrepFlag {
    const COMMAND: &'static str = "grep";
    const TYPE: &'static str = "GrepFlag";
    const NAMES: &'static [&'static str] = &[
        "ignore_case",
        "i",
        "count",
        "c",
        "invert",
        "v",
        "line_number",
        "n",
        "max_count(n)",
        "m(n)",
    ];
}

#[derive(Debug, Clone)]
enum SedFlag {
    Regex,
    All,
    InPlace,
}

impl Flag for SedFlag {
    const COMMAND: &'static str = "sed";
    const TYPE: &'static str = "SedFlag";
    const NAMES: &'static [&'static str] = &["regex", "all", "g", "in_place", "i"];
}

pub(super) fn register(engine: &mut Engine) {
    flags::register(
        engine,
        &[
            ("ignore_case", GrepFlag::IgnoreCase),
            ("i", GrepFlag::IgnoreCase),
            ("count", GrepFlag::Count),
            ("c", GrepFlag::Count),
            ("invert", GrepFlag::Invert),
            ("v", GrepFlag::Invert),
            ("line_number", GrepFlag::LineNumber),
            ("n", GrepFlag::LineNumber),
        ],
        |m| {
            m.set_native_fn("max_count", |v: Dynamic| {
                Ok(GrepFlag::MaxCount(flags::int("grep::max_count", &v)?))
            });
            m.set_native_fn("m", |v: Dynamic| {
                Ok(GrepFlag::MaxCount(flags::int("grep::m", &v)?))
            });
        },
    );
    flags::register(
        engine,
        &[
            ("regex", SedFlag::Regex),
            ("all", SedFlag::All),
            ("g", SedFlag::All),
            ("in_place", SedFlag::InPlace),
            ("i", SedFlag::InPlace),
        ],
        |_| {},
    );
    engine.register_fn("grep", |pattern: &str, path: &str| {
        grep(&Array::new(), pattern, path)
    });
    engine.register_fn("grep", |flags: Array, pattern: &str, path: &str| {
        grep(&flags, pattern, path)
    });
    engine.register_fn("sed", |pattern: &str, replacement: &str, path: &str| {
        sed(&Array::new(), pattern, replacement, path)
    });
    engine.register_fn(
        "sed",
        |flags: Array, pattern: &str, replacement: &str, path: &str| {
            sed(&flags, pattern, replacement, path)
        },
    );
}

fn compile(pattern: &str) -> Result<Regex, Failure> {
    Regex::new(pattern).map_err(|e| Failure::invalid(format!("bad pattern `{pattern}`: {e}")))
}

/// The lines of the file that match `pattern` (a regex; `(?i)` in front with
/// `grep::ignore_case`), or with `grep::invert` those that do not, at most `grep::max_count(n)`
/// of them; with `grep::line_number` each as `{n}:{line}`; with `grep::count` only how many,
/// as the one string of the array. Rex reads the file a second time to invert: so does Rex
/// mode.
fn grep(flags: &Array, pattern: &str, path: &str) -> Out<Array> {
    let flags = flags::parse::<GrepFlag>(flags)?;
    let is = |want: fn(&GrepFlag) -> bool| flags::has(&flags, want);
    let path = paths::resolve(path)?;
    checks::open_in_dir(&path, false)?;
    let mut text = checks::read_text(&path)?;
    let pattern = if is(|f| matches!(f, GrepFlag::IgnoreCase)) {
        format!("(?i){pattern}")
    } else {
        pattern.to_owned()
    };
    let re = compile(&pattern)?;
    let invert = is(|f| matches!(f, GrepFlag::Invert));
    if invert && paths::rex_mode() {
        text = checks::read_text(&path)?;
    }
    let max = flags::find(&flags, |f| match f {
        GrepFlag::MaxCount(n) if *n > 0 => Some(usize::try_from(*n).unwrap_or(usize::MAX)),
        _ => None,
    });
    let chosen: Vec<(usize, &str)> = text
        .lines()
        .enumerate()
        .filter(|(_, line)| re.is_match(line) != invert)
        .take(max.unwrap_or(usize::MAX))
        .map(|(i, line)| (i + 1, line))
        .collect();
    if is(|f| matches!(f, GrepFlag::Count)) {
        return Ok(strings([chosen.len().to_string()]));
    }
    let numbered = is(|f| matches!(f, GrepFlag::LineNumber));
    Ok(strings(chosen.into_iter().map(|(n, line)| {
        if numbered {
            format!("{n}:{line}")
        } else {
            line.to_owned()
        }
    })))
}

/// The file's text with the first occurrence of `pattern` replaced (`sed::all`: every one;
/// `sed::regex`: `pattern` is a regex and `replacement` may name its groups, `$1`); with
/// `sed::in_place` also written back to the file. Returns the new text.
fn sed(flags: &Array, pattern: &str, replacement: &str, path: &str) -> Out<String> {
    let flags = flags::parse::<SedFlag>(flags)?;
    let is = |want: fn(&SedFlag) -> bool| flags::has(&flags, want);
    let path = paths::resolve(path)?;
    checks::open_in_dir(&path, false)?;
    let text = checks::read_text(&path)?;
    let all = is(|f| matches!(f, SedFlag::All));
    let result = if is(|f| matches!(f, SedFlag::Regex)) {
        let re = compile(pattern)?;
        let matches = re.captures_iter(&text).map(|caps| {
            let mut with = String::new();
            caps.expand(replacement, &mut with);
            caps.get(0).map(|m| (m.range(), with))
        });
        splice(&text, matches.flatten(), all)?
    } else {
        let matches = text
            .match_indices(pattern)
            .map(|(at, found)| (at..at + found.len(), replacement.to_owned()));
        splice(&text, matches, all)?
    };
    if is(|f| matches!(f, SedFlag::InPlace)) {
        checks::write(&path, result.as_bytes())?;
    }
    Ok(result)
}

/// `text` with each `(range, replacement)` of `matches` (in order, not overlapping) put in,
/// only the first unless `all`; never longer than a script's longest string.
fn splice(
    text: &str,
    matches: impl Iterator<Item = (std::ops::Range<usize>, String)>,
    all: bool,
) -> Result<String, Failure> {
    let mut out = String::new();
    let mut last = 0;
    for (range, with) in matches.take(if all { usize::MAX } else { 1 }) {
        out.push_str(&text[last..range.start]);
        out.push_str(&with);
        last = range.end;
        if out.len() > LIMITS.string_size {
            return Err(Failure::limit(format!(
                "`sed`'s result would be longer than {} bytes, the longest string a script may \
                 hold",
                LIMITS.string_size
            )));
        }
    }
    out.push_str(&text[last..]);
    Ok(out)
}
