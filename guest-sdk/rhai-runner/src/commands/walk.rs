//! Walking a tree in the order Rex's walk takes: each directory's entries by name; a
//! subdirectory is opened and listed when it is met, and walked before the entries after it.
//! `find_files` and `du` ([`super::tree`]) walk as Rex's walk does; `rm::recursive` lists
//! what it removes with [`below`].
//!
//! A walk lists at most [`crate::Limits::walk_entries`] entries in all, then stops with a
//! `limit-exceeded` error, before doing anything with them.

use cordon_guest::Error;
use cordon_guest::fs::{DirEntry, EntryKind};

use crate::checks;
use crate::error::Failure;
use crate::paths::{self, rex_mode};
use crate::{LIMITS, log_line};

/// One step of a walk.
pub(super) enum Step<'a> {
    /// Entering a directory (the walk's own first).
    Pre(&'a str),
    /// An entry; a directory is met before its entries.
    Entry(&'a str, EntryKind),
    /// Leaving a directory.
    Post(&'a str),
}

/// How a walk goes.
pub(super) struct Walk {
    /// The command, for messages.
    pub(super) command: &'static str,
    /// Directories at this depth are not listed (1: only the walk's directory).
    pub(super) max_depth: usize,
    /// Rex's walk: open each subdirectory (Rex mode: a stat) before listing it, and skip,
    /// with a `warn` line, what cannot be opened or listed. Otherwise any error ends the walk.
    pub(super) rex: bool,
}

/// A directory being walked.
struct Frame {
    dir: String,
    entries: std::vec::IntoIter<DirEntry>,
    depth: usize,
}

impl Walk {
    /// Walk the directory `root` (a Cordon path), already opened, calling `visit` at each step.
    pub(super) fn run(
        &self,
        root: &str,
        mut visit: impl FnMut(Step<'_>) -> Result<(), Failure>,
    ) -> Result<(), Failure> {
        let mut listed = 0;
        // The walk's first listing: in plain mode it is the command's first call (an error is
        // the command's); in Rex mode the directory was opened, and Rex's walk goes on.
        let first = match checks::list(root) {
            Err(e) if self.rex && rex_mode() && self.skippable(root, &e) => Vec::new(),
            other => other?,
        };
        self.count(&mut listed, root, first.len())?;
        let mut stack = vec![Frame {
            dir: root.to_owned(),
            entries: first.into_iter(),
            depth: 1,
        }];
        visit(Step::Pre(root))?;
        while let Some(frame) = stack.last_mut() {
            let Some(entry) = frame.entries.next() else {
                if let Some(done) = stack.pop() {
                    visit(Step::Post(&done.dir))?;
                }
                continue;
            };
            let (depth, path) = (frame.depth, paths::join(&frame.dir, &entry.name));
            let mut below = None;
            if entry.kind == EntryKind::Directory {
                if self.rex
                    && let Err(e) = checks::open_dir(&path)
                {
                    if self.skippable(&path, &e) {
                        continue;
                    }
                    return Err(e);
                }
                if depth < self.max_depth {
                    match checks::list(&path) {
                        Ok(entries) => {
                            self.count(&mut listed, root, entries.len())?;
                            below = Some(entries);
                        }
                        Err(e) if self.rex && self.skippable(&path, &e) => {}
                        Err(e) => return Err(e),
                    }
                }
            }
            visit(Step::Entry(&path, entry.kind))?;
            if let Some(entries) = below {
                visit(Step::Pre(&path))?;
                stack.push(Frame {
                    dir: path,
                    entries: entries.into_iter(),
                    depth: depth + 1,
                });
            }
        }
        Ok(())
    }

    /// Add `n` entries to the `listed` count; past the limit, stop.
    fn count(&self, listed: &mut usize, root: &str, n: usize) -> Result<(), Failure> {
        *listed += n;
        if *listed > LIMITS.walk_entries {
            return Err(Failure::limit(format!(
                "`{}` stopped: `{}` holds more than the {} entries a walk may list",
                self.command,
                paths::show(root),
                LIMITS.walk_entries
            )));
        }
        Ok(())
    }

    /// Whether Rex's walk goes on past `e` at `path` (with a `warn` line): anything but a
    /// limit.
    pub(super) fn skippable(&self, path: &str, e: &Failure) -> bool {
        if matches!(e.error, Error::LimitExceeded(_)) {
            return false;
        }
        let shown = paths::show(path);
        log_line(
            "warn",
            &format!("{}: skipped `{shown}`: {}", self.command, e.error),
        );
        true
    }
}

/// Every entry below the directory `dir` (a Cordon path), parents before their entries, as
/// (path, is a directory); any error ends it. For `rm::recursive`.
pub(super) fn below(dir: &str, command: &'static str) -> Result<Vec<(String, bool)>, Failure> {
    let walk = Walk {
        command,
        max_depth: usize::MAX,
        rex: false,
    };
    let mut out = Vec::new();
    walk.run(dir, |step| {
        if let Step::Entry(path, kind) = step {
            out.push((path.to_owned(), kind == EntryKind::Directory));
        }
        Ok(())
    })?;
    Ok(out)
}
