//! Replacing a store file so that what it held does not survive in the old file's blocks: the
//! way the key file and the records store get rid of erased bytes that redb's free pages keep.

use std::io::{Seek, SeekFrom, Write};
use std::path::Path;

/// Atomically put `fresh` (a rewritten copy) in place of `path`, make the rename durable, and —
/// when `blank` — overwrite every byte of the old file, now unreachable by name, with zeros and
/// sync it (skip that only when another process may still be reading the old file).
pub fn replace_and_blank(path: &Path, fresh: &Path, blank: bool) -> std::io::Result<()> {
    let stale = std::fs::OpenOptions::new().write(true).open(path)?;
    std::fs::rename(fresh, path)?;
    if let Some(dir) = path.parent() {
        std::fs::File::open(dir)?.sync_all()?;
    }
    if blank {
        zero_fill(stale)?;
    }
    Ok(())
}

/// Overwrite the whole of `file` with zeros and make that durable.
fn zero_fill(mut file: std::fs::File) -> std::io::Result<()> {
    let len = file.metadata()?.len();
    file.seek(SeekFrom::Start(0))?;
    let zeros = vec![0u8; 1 << 16];
    let mut left = len;
    while left > 0 {
        let n = usize::try_from(left.min(zeros.len() as u64)).unwrap_or(zeros.len());
        file.write_all(&zeros[..n])?;
        left -= n as u64;
    }
    file.sync_all()
}
