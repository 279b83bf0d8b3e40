//! Rex's script functions over Cordon's gated imports (see the table in the crate docs).

use cordon_guest::{Error, fs, http};
use rhai::{Array, Dynamic, Engine, EvalAltResult, Map};

use crate::raise;

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

/// How many lines `tail(path)` returns, as Rex's.
const TAIL_LINES: usize = 10;

type Out<T> = Result<T, Box<EvalAltResult>>;

pub(crate) fn register(engine: &mut Engine) {
    engine.register_fn("cat", |path: &str| -> Out<String> {
        fs::read_to_string(path).map_err(raise)
    });
    engine.register_fn("write", |path: &str, text: &str| -> Out<()> {
        fs::write(path, text).map_err(raise)
    });
    engine.register_fn("ls", |path: &str| -> Out<Map> {
        let mut map = Map::new();
        for entry in fs::list_dir(path).map_err(raise)? {
            let mut info = Map::new();
            let kind = format!("{:?}", entry.kind).to_lowercase();
            info.insert("type".into(), kind.into());
            map.insert(entry.name.into(), Dynamic::from_map(info));
        }
        Ok(map)
    });
    engine.register_fn("touch", |path: &str| -> Out<()> {
        fs::append(path, "").map_err(raise)
    });
    engine.register_fn("mkdir", |path: &str| -> Out<()> {
        fs::create_dir(path).map_err(raise)
    });
    engine.register_fn("rm", |path: &str| -> Out<()> {
        fs::remove(path).map_err(raise)
    });
    engine.register_fn("mv", |from: &str, to: &str| -> Out<()> {
        fs::rename(from, to).map_err(raise)
    });
    engine.register_fn("cp", |from: &str, to: &str| -> Out<()> {
        let bytes = fs::read(from).map_err(raise)?;
        fs::write(to, bytes).map_err(raise)
    });
    engine.register_fn("wc", |path: &str| -> Out<Map> {
        let bytes = fs::read(path).map_err(raise)?;
        let text = String::from_utf8_lossy(&bytes);
        let mut map = Map::new();
        let count = |n: usize| Dynamic::from(i64::try_from(n).unwrap_or(i64::MAX));
        map.insert(
            "lines".into(),
            count(bytes.iter().filter(|&&b| b == b'\n').count()),
        );
        map.insert("words".into(), count(text.split_whitespace().count()));
        map.insert("bytes".into(), count(bytes.len()));
        Ok(map)
    });
    engine.register_fn("tail", |path: &str| -> Out<Array> {
        let text = fs::read_to_string(path).map_err(raise)?;
        let lines: Vec<&str> = text.lines().collect();
        let from = lines.len().saturating_sub(TAIL_LINES);
        Ok(lines[from..]
            .iter()
            .map(|l| Dynamic::from(l.to_string()))
            .collect())
    });
    engine.register_fn("seq", |start: i64, end: i64| -> Out<Array> {
        // The array's size limit applies to what the script keeps; bound the work here too.
        let len = end.saturating_sub(start).saturating_add(1).max(0);
        if len > crate::LIMITS.array_size as i64 {
            return Err(raise(Error::LimitExceeded(format!(
                "seq({start}, {end}) would hold {len} numbers, more than {}",
                crate::LIMITS.array_size
            ))));
        }
        Ok((start..=end).map(Dynamic::from).collect())
    });
    engine.register_fn("curl", |url: &str| -> Out<Map> {
        let response = http::get(url).map_err(raise)?;
        let mut map = Map::new();
        map.insert("status".into(), Dynamic::from(i64::from(response.status)));
        map.insert(
            "text".into(),
            String::from_utf8_lossy(&response.body).into_owned().into(),
        );
        Ok(map)
    });
    for name in UNSUPPORTED {
        let fail = move || -> Out<()> {
            Err(raise(Error::Unsupported(format!(
                "`{name}` is not available in Cordon: a script reaches files and the network \
                 only through the gated functions, and nothing else on the host"
            ))))
        };
        engine.register_fn(name, fail);
        engine.register_fn(name, move |_: Dynamic| fail());
        engine.register_fn(name, move |_: Dynamic, _: Dynamic| fail());
        engine.register_fn(name, move |_: Dynamic, _: Dynamic, _: Dynamic| fail());
    }
}
