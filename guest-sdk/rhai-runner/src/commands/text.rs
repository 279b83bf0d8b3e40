//! Reading one file: `cat`, `tail`, `wc`. In Rex mode each opens the file's directory and the
//! file (two stats) before it reads; outside it each is one `fs.read`.

use rhai::{Array, Dynamic, Engine, Map};

use super::{Out, int, strings};
use crate::checks;
use crate::error::Failure;
use crate::flags::{self, Flag};
use crate::paths;

/// How many lines `tail(path)` returns, as Rex's.
const TAIL_LINES: i64 = 10;

#[derive(Debug, Clone)]
enum CatFlag {
    Number,
}

impl Flag for CatFlag {
    const COMMAND: &'static str = "cat";
    const TYPE: &'static str = "CatFlag";
    const NAMES: &'static [&'static str] = &["number", "n"];
}

#[derive(Debug, Clone)]
enum TailFlag {
    Count(i64),
    From(i64),
    Range(i64, i64),
}

impl Flag for TailFlag {
    const COMMAND: &'static str = "tail";
    const TYPE: &'static str = "TailFlag";
    const NAMES: &'static [&'static str] = &["n(count)", "from(line)", "range(start, end)"];
}

#[derive(Debug, Clone)]
enum WcFlag {
    Lines,
    Words,
    Bytes,
}

impl Flag for WcFlag {
    const COMMAND: &'static str = "wc";
    const TYPE: &'static str = "WcFlag";
    const NAMES: &'static [&'static str] = &["lines", "l", "words", "w", "bytes", "c"];
}

pub(super) fn register(engine: &mut Engine) {
    flags::register(
        engine,
        &[("number", CatFlag::Number), ("n", CatFlag::Number)],
        |_| {},
    );
    flags::register::<TailFlag>(engine, &[], |m| {
        m.set_native_fn("n", |v: Dynamic| {
            Ok(TailFlag::Count(flags::int("tail::n", &v)?))
        });
        m.set_native_fn("from", |v: Dynamic| {
            Ok(TailFlag::From(flags::int("tail::from", &v)?))
        });
        m.set_native_fn("range", |s: Dynamic, e: Dynamic| {
            let start = flags::int("tail::range", &s)?;
            Ok(TailFlag::Range(start, flags::int("tail::range", &e)?))
        });
    });
    flags::register(
        engine,
        &[
            ("lines", WcFlag::Lines),
            ("l", WcFlag::Lines),
            ("words", WcFlag::Words),
            ("w", WcFlag::Words),
            ("bytes", WcFlag::Bytes),
            ("c", WcFlag::Bytes),
        ],
        |_| {},
    );
    engine.register_fn("cat", |path: &str| cat(&Array::new(), path));
    engine.register_fn("cat", |flags: Array, path: &str| cat(&flags, path));
    engine.register_fn("tail", |path: &str| tail(&Array::new(), path));
    engine.register_fn("tail", |flags: Array, path: &str| tail(&flags, path));
    engine.register_fn("wc", |path: &str| wc(&Array::new(), path));
    engine.register_fn("wc", |flags: Array, path: &str| wc(&flags, path));
}

/// Rex's checks to read the file the script names `path`, and its bytes.
pub(super) fn read_file(path: &str) -> Result<Vec<u8>, Failure> {
    let path = paths::resolve(path)?;
    checks::open_in_dir(&path, false)?;
    checks::read(&path)
}

/// [`read_file`], as UTF-8 text.
pub(super) fn read_text(path: &str) -> Result<String, Failure> {
    let path = paths::resolve(path)?;
    checks::open_in_dir(&path, false)?;
    checks::read_text(&path)
}

/// The file's text; with `cat::number`, each line numbered as `{:>6}\t{line}`, joined by `\n`.
fn cat(flags: &Array, path: &str) -> Out<String> {
    let flags = flags::parse::<CatFlag>(flags)?;
    let text = read_text(path)?;
    if !flags::has(&flags, |f| matches!(f, CatFlag::Number)) {
        return Ok(text);
    }
    Ok(text
        .lines()
        .enumerate()
        .map(|(i, line)| format!("{:>6}\t{line}", i + 1))
        .collect::<Vec<_>>()
        .join("\n"))
}

/// Lines of the file, as Rex selects them: the last 10; `tail::n(c)` the first `c` lines, or
/// the last `-c` when `c` is negative; `tail::from(s)` from line `s` (1-based) to the end;
/// `tail::range(s, e)` lines `s` to `e`. With a start, `n` counts from it (negative: the
/// lines up to it).
fn tail(flags: &Array, path: &str) -> Out<Array> {
    let flags = flags::parse::<TailFlag>(flags)?;
    let (mut count, mut start) = match flags::find(&flags, |f| match f {
        TailFlag::Range(s, e) => Some((*s, *e)),
        _ => None,
    }) {
        Some((s, e)) => (Some(e.saturating_sub(s).saturating_add(1)), Some(s)),
        None => (None, None),
    };
    if let Some(n) = flags::find(&flags, |f| match f {
        TailFlag::Count(n) => Some(*n),
        _ => None,
    }) {
        count = Some(n);
    }
    if let Some(s) = flags::find(&flags, |f| match f {
        TailFlag::From(s) => Some(*s),
        _ => None,
    }) {
        start = Some(s);
    }
    if let Some(s) = start.filter(|s| *s < 1) {
        return Err(
            Failure::invalid(format!("`tail`: lines are numbered from 1, not `{s}`")).into(),
        );
    }
    let text = read_text(path)?;
    let lines: Vec<&str> = text.lines().collect();
    let start = start.map(|s| usize::try_from(s).unwrap_or(usize::MAX));
    let take = |n: i64| usize::try_from(n.unsigned_abs()).unwrap_or(usize::MAX);
    let chosen: &[&str] = match (count.or(start.is_none().then_some(-TAIL_LINES)), start) {
        (Some(n), s) if n < 0 => {
            let end = s.map_or(lines.len(), |s| s.min(lines.len()));
            &lines[end.saturating_sub(take(n))..end]
        }
        (Some(n), s) => {
            let from = s.map_or(0, |s| s - 1).min(lines.len());
            &lines[from..from.saturating_add(take(n)).min(lines.len())]
        }
        (None, s) => &lines[s.map_or(0, |s| s - 1).min(lines.len())..],
    };
    Ok(strings(chosen.iter().map(|l| (*l).to_owned())))
}

/// `#{lines, words, bytes}` of the file as Rex counts them (newlines; runs of bytes that are
/// not ASCII whitespace or `\v`; bytes); with flags, only the counts they name.
fn wc(flags: &Array, path: &str) -> Out<Map> {
    let flags = flags::parse::<WcFlag>(flags)?;
    let bytes = read_file(path)?;
    let all = flags.is_empty();
    let mut words = 0;
    let mut in_word = false;
    for &b in &bytes {
        let space = b.is_ascii_whitespace() || b == 0x0b;
        if !space && !in_word {
            words += 1;
        }
        in_word = !space;
    }
    let mut map = Map::new();
    if all || flags::has(&flags, |f| matches!(f, WcFlag::Lines)) {
        let lines = bytes.iter().filter(|&&b| b == b'\n').count();
        map.insert("lines".into(), Dynamic::from(int(lines)));
    }
    if all || flags::has(&flags, |f| matches!(f, WcFlag::Words)) {
        map.insert("words".into(), Dynamic::from(int(words)));
    }
    if all || flags::has(&flags, |f| matches!(f, WcFlag::Bytes)) {
        map.insert("bytes".into(), Dynamic::from(int(bytes.len())));
    }
    Ok(map)
}
