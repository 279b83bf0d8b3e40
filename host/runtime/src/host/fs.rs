//! `cordon:agent/fs`: files under the directory the operator granted the run.
//!
//! Every call checks its arguments' size first, then goes through the gate; a denied call
//! returns `access-denied` before any syscall that changes or reads its target. Then the path
//! the policy decided on is exactly what is opened:
//!
//! - `..` is refused outright, so the path the policy sees is the path that is resolved;
//! - every component is resolved at the moment of use without following any symlink —
//!   `openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS)` where the kernel has it, else one
//!   `openat(O_NOFOLLOW | O_DIRECTORY)` per component — and the last component is acted on
//!   through `*at` calls on that directory (`O_NOFOLLOW` opens, `unlinkat`, `mkdirat`,
//!   `renameat`, `fstatat(AT_SYMLINK_NOFOLLOW)`). There is no check-then-open window: a symlink
//!   anywhere in the path, placed before or during the call, makes it `invalid`;
//! - a directory is decided as a `Dir` everywhere (`stat`, `remove`, `rename` look at what the
//!   path is, without following it, before they ask; `list-dir` and `create-dir` always name a
//!   `Dir`), and is then only acted on if it is still a directory;
//! - a rename must not grant, under the new name, anything the policy withholds under the old
//!   one, for the entry and everything below it (see [`FsView::rename`] and the schema). The
//!   check and the rename hold the root's lock exclusively, and every call that adds an entry
//!   (`write`, `append`, `create-dir`) holds it shared, so no run of any Cordon process on the
//!   same root can move or create an entry below the source between the check and the rename
//!   (see [`root_lock`]).

use std::io::{Read, Write};
use std::os::fd::OwnedFd;
use std::path::PathBuf;

use cap_std::fs::{Dir, File, FileType, Metadata as FsMetadata};
use cordon_policy::{Action, Request, Resource};
use rustix::fs::OFlags;
use wasmtime::component::HasData;

use crate::bindings::Error;
use crate::bindings::cordon::agent::fs::{DirEntry, EntryKind, Host, Metadata};
use crate::gate::Gate;
use crate::host::bounds;

/// Most entries one `list-dir` returns.
const MAX_DIR_ENTRIES: usize = 100_000;

/// Most entries (the renamed directory included) a directory rename may move: each is checked
/// against the policy under its old and new name before the rename.
pub const MAX_RENAME_ENTRIES: usize = 1_000;

/// The state the fs interface may touch: the granted root (if any), the gate, and how many
/// bytes one read may bring into the host.
pub(crate) struct FsView<'a> {
    pub(crate) root: Option<&'a Dir>,
    pub(crate) gate: &'a mut Gate,
    pub(crate) max_read_bytes: u64,
}

pub(crate) struct HasFs;

impl HasData for HasFs {
    type Data<'a> = FsView<'a>;
}

/// A guest path, checked: `policy` is what Cedar sees (`/a/b`), `rel` what is opened (`a/b`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct GuestPath {
    pub(crate) policy: String,
    pub(crate) rel: PathBuf,
}

impl GuestPath {
    /// The path's components below the root.
    fn components(&self) -> Vec<&str> {
        self.policy.split('/').filter(|s| !s.is_empty()).collect()
    }

    /// This path as the policy sees it: a `Dir` or a `File`.
    fn resource(&self, is_dir: bool) -> Resource {
        if is_dir {
            Resource::Dir(self.policy.clone())
        } else {
            Resource::File(self.policy.clone())
        }
    }

    /// `self` with `rel` (a `/`-joined path below it) appended.
    fn join(&self, rel: &str) -> String {
        match (self.policy.as_str(), rel) {
            (p, "") => p.to_owned(),
            ("/", r) => format!("/{r}"),
            (p, r) => format!("{p}/{r}"),
        }
    }
}

/// Check and normalize a path given by the guest.
pub(crate) fn parse_path(raw: &str) -> Result<GuestPath, Error> {
    if raw.is_empty() {
        return Err(Error::Invalid("empty path".into()));
    }
    if raw.contains('\0') {
        return Err(Error::Invalid(format!("path {raw:?} contains a NUL byte")));
    }
    let mut segments = Vec::new();
    for seg in raw.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                return Err(Error::Invalid(format!(
                    "path `{raw}` contains `..`, which is not allowed"
                )));
            }
            s => segments.push(s),
        }
    }
    if segments.is_empty() {
        return Ok(GuestPath {
            policy: "/".into(),
            rel: PathBuf::from("."),
        });
    }
    Ok(GuestPath {
        policy: format!("/{}", segments.join("/")),
        rel: segments.iter().collect(),
    })
}

/// `ELOOP`: what every no-follow open and lookup answers when it meets a symlink.
const LOOP: i32 = rustix::io::Errno::LOOP.raw_os_error();

fn io_error(path: &str, e: &std::io::Error) -> Error {
    use std::io::ErrorKind;
    if e.raw_os_error() == Some(LOOP) {
        // Every open and `*at` call here refuses to follow a symlink; ELOOP means it met one.
        return Error::Invalid(format!(
            "`{path}` passes through a symlink; Cordon does not follow symlinks"
        ));
    }
    match e.kind() {
        ErrorKind::NotFound => Error::NotFound(format!("`{path}` does not exist")),
        ErrorKind::AlreadyExists => Error::Io(format!("`{path}` already exists")),
        ErrorKind::DirectoryNotEmpty => Error::Io(format!("`{path}` is not empty")),
        ErrorKind::IsADirectory => Error::Io(format!("`{path}` is a directory")),
        ErrorKind::NotADirectory => Error::Io(format!("`{path}` is not a directory")),
        ErrorKind::PermissionDenied => {
            Error::Io(format!("`{path}`: the operating system refused access"))
        }
        _ => Error::Io(format!("`{path}`: {e}")),
    }
}

fn kind_of(t: FileType) -> EntryKind {
    if t.is_symlink() {
        EntryKind::Symlink
    } else if t.is_dir() {
        EntryKind::Directory
    } else if t.is_file() {
        EntryKind::File
    } else {
        EntryKind::Other
    }
}

/// An error the caller reports as it is (not an OS error on the path).
fn other(message: String) -> std::io::Error {
    std::io::Error::other(message)
}

/// Resolution that never follows a symlink. Every function here takes the root and the path's
/// components and does its work at the moment it is called: nothing resolved earlier is
/// trusted.
mod nofollow {
    use std::io;
    use std::os::fd::{AsFd, OwnedFd};
    #[cfg(target_os = "linux")]
    use std::sync::atomic::{AtomicBool, Ordering};

    use cap_std::fs::Dir;
    use rustix::fs::{AtFlags, FileType, Mode, OFlags};

    const DIR_FLAGS: OFlags = OFlags::RDONLY
        .union(OFlags::DIRECTORY)
        .union(OFlags::NOFOLLOW)
        .union(OFlags::CLOEXEC);

    /// Whether `openat2` may be tried (cleared once the kernel or a seccomp filter refuses it).
    #[cfg(target_os = "linux")]
    static OPENAT2: AtomicBool = AtomicBool::new(true);

    /// Open the directory `components` below `root` (a new handle on the root itself when
    /// empty), following no symlink at any component.
    pub(super) fn open_dir(root: &Dir, components: &[&str]) -> io::Result<Dir> {
        if components.is_empty() {
            return root.try_clone();
        }
        #[cfg(target_os = "linux")]
        if OPENAT2.load(Ordering::Relaxed) {
            use rustix::fs::ResolveFlags;
            let resolve =
                ResolveFlags::BENEATH | ResolveFlags::NO_SYMLINKS | ResolveFlags::NO_MAGICLINKS;
            match rustix::fs::openat2(
                root,
                components.join("/"),
                DIR_FLAGS,
                Mode::empty(),
                resolve,
            ) {
                Ok(fd) => return Ok(Dir::from(fd)),
                Err(rustix::io::Errno::NOSYS | rustix::io::Errno::PERM) => {
                    OPENAT2.store(false, Ordering::Relaxed);
                }
                // A concurrent rename made the kernel give up, or a component is not a
                // directory (perhaps a symlink: an O_NOFOLLOW directory open of one says
                // ENOTDIR): resolve by components, which names the symlink.
                Err(rustix::io::Errno::AGAIN | rustix::io::Errno::NOTDIR) => {}
                Err(e) => return Err(e.into()),
            }
        }
        let mut fd: Option<OwnedFd> = None;
        for c in components {
            let next = match &fd {
                None => subdir(root, c),
                Some(d) => subdir(d, c),
            }?;
            fd = Some(next);
        }
        fd.map(Dir::from)
            .ok_or_else(|| io::Error::other("no components"))
    }

    /// Open the directory `name` of `dir` without following it. A symlink there is `ELOOP`
    /// (the kernel says ENOTDIR for an `O_DIRECTORY | O_NOFOLLOW` open of one).
    fn subdir<Fd: AsFd>(dir: Fd, name: &str) -> io::Result<OwnedFd> {
        match rustix::fs::openat(&dir, name, DIR_FLAGS, Mode::empty()) {
            Ok(fd) => Ok(fd),
            Err(rustix::io::Errno::NOTDIR) => {
                let st = rustix::fs::statat(&dir, name, AtFlags::SYMLINK_NOFOLLOW)?;
                if FileType::from_raw_mode(st.st_mode) == FileType::Symlink {
                    Err(rustix::io::Errno::LOOP.into())
                } else {
                    Err(rustix::io::Errno::NOTDIR.into())
                }
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Open the entry `name` of `dir` with `flags` and `O_NOFOLLOW`.
    pub(super) fn open_at(dir: &Dir, name: &str, flags: OFlags) -> io::Result<OwnedFd> {
        Ok(rustix::fs::openat(
            dir,
            name,
            flags | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::from_raw_mode(0o666),
        )?)
    }

    /// Open the directory `name` of `dir`, not following a symlink.
    pub(super) fn open_subdir(dir: &Dir, name: &str) -> io::Result<Dir> {
        subdir(dir, name).map(Dir::from)
    }
}

/// The lock that keeps a rename's escalation check true until the rename: an `flock` on a fresh
/// open of the run's root directory, so it excludes other runs in this process and other
/// Cordon processes on the same root alike (`flock` locks belong to an open file description).
/// A rename takes it exclusive for its check and the `renameat`; a call that adds an entry takes
/// it shared for its open and write. Either is held for bounded host work (at most
/// [`MAX_RENAME_ENTRIES`] entries checked, or one write within the run's write quota); a run
/// waiting for it still ends at its deadline or on cancel. A process outside Cordon that
/// changes the root is not bound by it.
mod root_lock {
    use std::io;
    use std::os::fd::OwnedFd;
    use std::time::Duration;

    use cap_std::fs::Dir;
    use rustix::fs::{FlockOperation, Mode, OFlags};

    use crate::stop::Stop;

    /// Longest pause between two tries while another run holds the lock.
    const MAX_PAUSE: Duration = Duration::from_millis(2);

    /// Take the lock on `root` (exclusive or shared); released when the descriptor drops.
    /// `Err` ends the run (its deadline passed, or it was cancelled, while it waited);
    /// `Ok(Err)` is an I/O error for the guest.
    pub(super) fn take(
        root: &Dir,
        exclusive: bool,
        stop: &Stop,
    ) -> wasmtime::Result<io::Result<OwnedFd>> {
        let fd = match rustix::fs::openat(
            root,
            ".",
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        ) {
            Ok(fd) => fd,
            Err(e) => return Ok(Err(e.into())),
        };
        let op = if exclusive {
            FlockOperation::NonBlockingLockExclusive
        } else {
            FlockOperation::NonBlockingLockShared
        };
        let mut pause = Duration::from_micros(20);
        loop {
            match rustix::fs::flock(&fd, op) {
                Ok(()) => return Ok(Ok(fd)),
                Err(rustix::io::Errno::WOULDBLOCK | rustix::io::Errno::INTR) => {
                    stop.check()?;
                    std::thread::sleep(pause);
                    pause = (pause * 2).min(MAX_PAUSE);
                }
                Err(e) => return Ok(Err(e.into())),
            }
        }
    }
}

/// Where a path is acted on: its parent directory, opened with no symlink followed, and its
/// last component (`None` for the root itself).
struct Located<'r> {
    parent: Parent<'r>,
    name: Option<String>,
}

/// The directory a path is acted on in: the run's root itself (held for the run, so an entry
/// at the top costs no open of its own), or a directory below it opened for this call.
enum Parent<'r> {
    Root(&'r Dir),
    Below(Dir),
}

impl std::ops::Deref for Parent<'_> {
    type Target = Dir;
    fn deref(&self) -> &Dir {
        match self {
            Parent::Root(dir) => dir,
            Parent::Below(dir) => dir,
        }
    }
}

/// Resolve `path` below `root` now, following no symlink.
fn locate<'r>(root: &'r Dir, path: &GuestPath) -> std::io::Result<Located<'r>> {
    let mut comps = path.components();
    let name = comps.pop().map(str::to_owned);
    let parent = if comps.is_empty() {
        Parent::Root(root)
    } else {
        Parent::Below(nofollow::open_dir(root, &comps)?)
    };
    Ok(Located { parent, name })
}

impl Located<'_> {
    /// The entry's metadata, not following it; a symlink is refused like one met on the way
    /// (`ELOOP`), so a call on a symlink itself is as `invalid` as a call through one.
    fn metadata(&self) -> std::io::Result<FsMetadata> {
        let m = match &self.name {
            None => self.parent.dir_metadata(),
            Some(n) => self.parent.symlink_metadata(n),
        }?;
        if m.file_type().is_symlink() {
            return Err(rustix::io::Errno::LOOP.into());
        }
        Ok(m)
    }

    /// The entry's name, or an error naming `what` cannot be done to the root.
    fn name(&self, what: &str) -> std::io::Result<&str> {
        self.name
            .as_deref()
            .ok_or_else(|| other(format!("the root cannot be {what}")))
    }

    /// Open the entry as a regular file with `flags`, not following it.
    fn open_file(&self, flags: OFlags) -> std::io::Result<File> {
        self.open_regular(flags).map(|(file, _)| file)
    }

    /// [`Located::open_file`], with the file's size when it was opened.
    fn open_regular(&self, flags: OFlags) -> std::io::Result<(File, u64)> {
        let name = self
            .name("opened as a file")
            .map_err(|_| std::io::Error::from(std::io::ErrorKind::IsADirectory))?;
        // O_NONBLOCK: opening a FIFO an operator left in the root must not wait for a writer.
        let fd: OwnedFd = nofollow::open_at(&self.parent, name, flags | OFlags::NONBLOCK)?;
        let file = File::from(fd);
        let meta = file.metadata()?;
        if meta.is_dir() {
            return Err(std::io::ErrorKind::IsADirectory.into());
        }
        if !meta.is_file() {
            return Err(other("not a regular file".into()));
        }
        Ok((file, meta.len()))
    }

    /// Open the entry as a directory, not following it.
    fn open_dir(&self) -> std::io::Result<Dir> {
        match &self.name {
            None => self.parent.try_clone(),
            Some(n) => nofollow::open_subdir(&self.parent, n),
        }
    }
}

/// What is at `path` now (not following a symlink), or why nothing can be found there. Asked
/// before the policy, to decide a directory as a `Dir`; a path that cannot be resolved is not
/// one. The guest learns nothing from it but the kind the policy then decides on, unless the
/// policy allows it to see what was found.
fn look(root: Option<&Dir>, path: &GuestPath) -> std::io::Result<FsMetadata> {
    let root = root.ok_or_else(|| other("no directory is granted to this run".into()))?;
    locate(root, path)?.metadata()
}

/// Whether `path` is a directory now: [`look`]'s kind.
fn is_dir(root: Option<&Dir>, path: &GuestPath) -> bool {
    look(root, path).is_ok_and(|m| m.is_dir())
}

/// Act on `path` as decided: refuse it when what is there now is not of the kind the policy
/// decided on (it changed in between). Its metadata, as it is now.
fn still(l: &Located, decided_dir: bool) -> std::io::Result<FsMetadata> {
    let m = l.metadata()?;
    if m.is_dir() == decided_dir {
        Ok(m)
    } else {
        Err(other("changed kind while the call was decided".into()))
    }
}

/// Every entry below the directory `base` (its components below `root`), as (`/`-joined path
/// relative to it, is a directory), walked without following symlinks; `None` when there are
/// more than `max`. One directory is open at a time: each is resolved again from the root.
fn walk(root: &Dir, base: &[&str], max: usize) -> std::io::Result<Option<Vec<(String, bool)>>> {
    let mut out: Vec<(String, bool)> = Vec::new();
    let mut pending = vec![String::new()];
    while let Some(prefix) = pending.pop() {
        let mut comps = base.to_vec();
        comps.extend(prefix.split('/').filter(|s| !s.is_empty()));
        let dir = nofollow::open_dir(root, &comps)?;
        for entry in dir.entries()? {
            let entry = entry?;
            if out.len() == max {
                return Ok(None);
            }
            let name = entry.file_name().to_string_lossy().into_owned();
            let rel = if prefix.is_empty() {
                name
            } else {
                format!("{prefix}/{name}")
            };
            let is_dir = entry.file_type()?.is_dir();
            if is_dir {
                pending.push(rel.clone());
            }
            out.push((rel, is_dir));
        }
    }
    Ok(Some(out))
}

impl<'a> FsView<'a> {
    /// Bounds, parse, then the gate on `path` as `resource(path)`. Only an `Ok` may be acted on.
    fn admit(
        &mut self,
        action: Action,
        raw: &str,
        kind: impl FnOnce(Option<&Dir>, &GuestPath) -> bool,
    ) -> wasmtime::Result<Result<(&'a Dir, GuestPath, bool), Error>> {
        if let Err(e) = bounds::paths(self.gate, action, &[raw])? {
            return Ok(Err(e));
        }
        let path = match parse_path(raw) {
            Ok(p) => p,
            Err(e) => return Ok(Err(e)),
        };
        let dir = kind(self.root, &path);
        if let Err(denied) = self.gate.check(Request::new(action, path.resource(dir)))? {
            return Ok(Err(denied));
        }
        let Some(root) = self.root else {
            return Ok(Err(Error::Unsupported(
                "no directory is granted to this run".into(),
            )));
        };
        Ok(Ok((root, path, dir)))
    }

    /// Admit `action` on `raw` decided as a `File`.
    fn file(
        &mut self,
        action: Action,
        raw: &str,
    ) -> wasmtime::Result<Result<(&'a Dir, GuestPath), Error>> {
        Ok(self
            .admit(action, raw, |_, _| false)?
            .map(|(d, p, _)| (d, p)))
    }

    /// Admit `action` on `raw` decided as a `Dir`.
    fn dir(
        &mut self,
        action: Action,
        raw: &str,
    ) -> wasmtime::Result<Result<(&'a Dir, GuestPath), Error>> {
        Ok(self
            .admit(action, raw, |_, _| true)?
            .map(|(d, p, _)| (d, p)))
    }

    /// Admit `action` on `raw` decided as what it is now: a `Dir` if it is a directory.
    fn entry(
        &mut self,
        action: Action,
        raw: &str,
    ) -> wasmtime::Result<Result<(&'a Dir, GuestPath, bool), Error>> {
        self.admit(action, raw, is_dir)
    }

    /// Act on `path`, which may add an entry below the root, holding the root's lock shared
    /// (see [`root_lock`]).
    fn adding(
        &self,
        root: &Dir,
        path: &GuestPath,
        op: impl FnOnce(&Located) -> std::io::Result<()>,
    ) -> wasmtime::Result<Result<(), Error>> {
        let result = root_lock::take(root, false, self.gate.stop())?
            .and_then(|_held| locate(root, path).and_then(|l| op(&l)));
        Ok(result.map_err(|e| io_error(&path.policy, &e)))
    }

    /// The first entry of a rename of `from` (a directory when `dir`) to `to` whose new name
    /// would be allowed an fs action its old name is not, or — below a directory — whose new
    /// name may not be created there (`fs:write` for a file, `fs:create-dir` for a directory);
    /// `Ok(None)` when the move grants nothing. Also an `Err` (the guest's `limit-exceeded`) when the directory holds more than
    /// [`MAX_RENAME_ENTRIES`] entries or a new path would pass the path bounds.
    fn escalation(
        &self,
        root: &Dir,
        from: &GuestPath,
        to: &GuestPath,
        dir: bool,
    ) -> Result<Option<(String, Action)>, Error> {
        let session = self.gate.session();
        let taint = &self.gate.taint;
        let check = |rel: &str, is_dir: bool| {
            let (old, new) = (from.join(rel), to.join(rel));
            let kind = |p: String| {
                if is_dir {
                    Resource::Dir(p)
                } else {
                    Resource::File(p)
                }
            };
            if cordon_policy::bounds::check_path(&new).is_err() {
                return Err(Error::LimitExceeded(format!(
                    "renaming `{}` would make a path below `{}` longer than the path bounds",
                    from.policy, to.policy
                )));
            }
            // An entry below a renamed directory is, in effect, created at its new path: that
            // must be allowed too (the directory itself had its destination decided already).
            let create = if is_dir {
                Action::FsCreateDir
            } else {
                Action::FsWrite
            };
            if !rel.is_empty()
                && !session
                    .authorize_with_taint(&Request::new(create, kind(new.clone())), taint)
                    .allowed
            {
                return Ok(Some((old, create)));
            }
            Ok(session
                .escalation(&kind(old.clone()), &kind(new), taint)
                .map(|a| (old, a)))
        };
        if let Some(found) = check("", dir)? {
            return Ok(Some(found));
        }
        if !dir {
            return Ok(None);
        }
        let entries = walk(root, &from.components(), MAX_RENAME_ENTRIES - 1)
            .map_err(|e| io_error(&from.policy, &e))?
            .ok_or_else(|| {
                Error::LimitExceeded(format!(
                    "`{}` holds more than the {MAX_RENAME_ENTRIES} entries a rename may move",
                    from.policy
                ))
            })?;
        for (rel, is_dir) in entries {
            if let Some(found) = check(&rel, is_dir)? {
                return Ok(Some(found));
            }
        }
        Ok(None)
    }
}

impl Host for FsView<'_> {
    #[tracing::instrument(name = "cordon.fs.read", skip_all)]
    fn read(&mut self, path: String) -> wasmtime::Result<Result<Vec<u8>, Error>> {
        let max = self.max_read_bytes;
        let (root, path) = match self.file(Action::FsRead, &path)? {
            Ok(v) => v,
            Err(e) => return Ok(Err(e)),
        };
        let result = (|| {
            let (file, size) = locate(root, &path)?.open_regular(OFlags::RDONLY)?;
            // The file as the open found it: its size then, checked against the bound before
            // anything is read, and that many bytes (fewer if it shrank), in one read. A file
            // that claims no size (a kernel file under a `/proc`-like root) is read to the
            // bound instead, and is larger than it if anything is left past it.
            let limit = if size == 0 {
                max.saturating_add(1)
            } else {
                size
            };
            if limit > max {
                return Ok(None);
            }
            let mut data = Vec::with_capacity(usize::try_from(limit).unwrap_or(0));
            file.take(limit).read_to_end(&mut data)?;
            Ok::<_, std::io::Error>(Some(data))
        })();
        Ok(match result {
            Ok(Some(data)) if data.len() as u64 <= max => Ok(data),
            Ok(_) => Err(Error::LimitExceeded(format!(
                "`{}` is larger than the {max} bytes one read may return",
                path.policy
            ))),
            Err(e) => Err(io_error(&path.policy, &e)),
        })
    }

    #[tracing::instrument(name = "cordon.fs.write", skip_all)]
    fn write(&mut self, path: String, data: Vec<u8>) -> wasmtime::Result<Result<(), Error>> {
        if let Err(e) = self.gate.charge_write(data.len()) {
            return Ok(Err(e));
        }
        let (root, path) = match self.file(Action::FsWrite, &path)? {
            Ok(v) => v,
            Err(e) => return Ok(Err(e)),
        };
        self.adding(root, &path, |l| {
            l.open_file(OFlags::WRONLY | OFlags::CREATE | OFlags::TRUNC)
                .and_then(|mut f| f.write_all(&data))
        })
    }

    #[tracing::instrument(name = "cordon.fs.append", skip_all)]
    fn append(&mut self, path: String, data: Vec<u8>) -> wasmtime::Result<Result<(), Error>> {
        if let Err(e) = self.gate.charge_write(data.len()) {
            return Ok(Err(e));
        }
        let (root, path) = match self.file(Action::FsAppend, &path)? {
            Ok(v) => v,
            Err(e) => return Ok(Err(e)),
        };
        self.adding(root, &path, |l| {
            l.open_file(OFlags::WRONLY | OFlags::CREATE | OFlags::APPEND)
                .and_then(|mut f| f.write_all(&data))
        })
    }

    #[tracing::instrument(name = "cordon.fs.list_dir", skip_all)]
    fn list_dir(&mut self, path: String) -> wasmtime::Result<Result<Vec<DirEntry>, Error>> {
        let (root, path) = match self.dir(Action::FsList, &path)? {
            Ok(v) => v,
            Err(e) => return Ok(Err(e)),
        };
        let result = (|| {
            let dir = locate(root, &path)?.open_dir()?;
            let mut out = Vec::new();
            for entry in dir.entries()? {
                let entry = entry?;
                if out.len() == MAX_DIR_ENTRIES {
                    return Ok(None);
                }
                out.push(DirEntry {
                    name: entry.file_name().to_string_lossy().into_owned(),
                    kind: kind_of(entry.file_type()?),
                });
            }
            out.sort_by(|a, b| a.name.cmp(&b.name));
            Ok::<_, std::io::Error>(Some(out))
        })();
        Ok(match result {
            Ok(Some(entries)) => Ok(entries),
            Ok(None) => Err(Error::LimitExceeded(format!(
                "`{}` has more than {MAX_DIR_ENTRIES} entries",
                path.policy
            ))),
            Err(e) => Err(io_error(&path.policy, &e)),
        })
    }

    #[tracing::instrument(name = "cordon.fs.stat", skip_all)]
    fn stat(&mut self, path: String) -> wasmtime::Result<Result<Metadata, Error>> {
        // The metadata the kind was decided on is the answer: one look, so what the guest is
        // shown is exactly what the policy decided on (a later look could find another entry).
        let mut found = None;
        let (_, path, _) = match self.admit(Action::FsStat, &path, |root, path| {
            let meta = look(root, path);
            let dir = meta.as_ref().is_ok_and(FsMetadata::is_dir);
            found = Some(meta);
            dir
        })? {
            Ok(v) => v,
            Err(e) => return Ok(Err(e)),
        };
        let result = found.unwrap_or_else(|| Err(other("the entry was not looked at".into())));
        Ok(result
            .map(|m| Metadata {
                kind: kind_of(m.file_type()),
                size: m.len(),
                modified_ms: m
                    .modified()
                    .ok()
                    .and_then(|t| t.into_std().duration_since(std::time::UNIX_EPOCH).ok())
                    .and_then(|d| u64::try_from(d.as_millis()).ok()),
            })
            .map_err(|e| io_error(&path.policy, &e)))
    }

    #[tracing::instrument(name = "cordon.fs.create_dir", skip_all)]
    fn create_dir(&mut self, path: String) -> wasmtime::Result<Result<(), Error>> {
        let (root, path) = match self.dir(Action::FsCreateDir, &path)? {
            Ok(v) => v,
            Err(e) => return Ok(Err(e)),
        };
        self.adding(root, &path, |l| {
            l.parent.create_dir(l.name("created")?).map_err(|e| {
                // Something is there already: a symlink is refused as such.
                match l.metadata() {
                    Err(link) if link.raw_os_error() == Some(LOOP) => link,
                    _ => e,
                }
            })
        })
    }

    #[tracing::instrument(name = "cordon.fs.remove", skip_all)]
    fn remove(&mut self, path: String) -> wasmtime::Result<Result<(), Error>> {
        let (root, path, dir) = match self.entry(Action::FsRemove, &path)? {
            Ok(v) => v,
            Err(e) => return Ok(Err(e)),
        };
        // `unlinkat` with or without AT_REMOVEDIR: it refuses an entry of the other kind, so
        // what is removed is of the kind that was decided.
        let result = locate(root, &path).and_then(|l| {
            still(&l, dir)?;
            let name = l.name("removed")?;
            if dir {
                l.parent.remove_dir(name)
            } else {
                l.parent.remove_file(name)
            }
        });
        Ok(result.map_err(|e| io_error(&path.policy, &e)))
    }

    /// `fs:rename` on `from` (a `Dir` when it is a directory), then `fs:write` on `to` as a
    /// `File` (`fs:create-dir` on `to` as a `Dir` when `from` is a directory), then the
    /// escalation check: for `from` and every entry below it, no fs action the policy withholds
    /// under the old name may be allowed under the new one. A refusal by that check is logged
    /// as a denial of `fs:rename` by `cordon:rename`.
    #[tracing::instrument(name = "cordon.fs.rename", skip_all)]
    fn rename(&mut self, from: String, to: String) -> wasmtime::Result<Result<(), Error>> {
        if let Err(e) = bounds::paths(self.gate, Action::FsRename, &[&from, &to])? {
            return Ok(Err(e));
        }
        let to = match parse_path(&to) {
            Ok(p) => p,
            Err(e) => return Ok(Err(e)),
        };
        let (root, from, dir) = match self.entry(Action::FsRename, &from)? {
            Ok(v) => v,
            Err(e) => return Ok(Err(e)),
        };
        let dest = if dir {
            Action::FsCreateDir
        } else {
            Action::FsWrite
        };
        if let Err(denied) = self.gate.check(Request::new(dest, to.resource(dir)))? {
            return Ok(Err(denied));
        }
        // Held from the check to the rename: nothing can be moved or created below `from`
        // in between by another run on this root.
        let _held = match root_lock::take(root, true, self.gate.stop())? {
            Ok(fd) => fd,
            Err(e) => return Ok(Err(io_error(&from.policy, &e))),
        };
        match self.escalation(root, &from, &to, dir) {
            Ok(None) => {}
            Ok(Some((entry, action))) => {
                tracing::debug!(
                    target: "cordon.fs",
                    entry = %entry,
                    action = action.as_str(),
                    "rename refused: it would grant under the new name what the old one withholds"
                );
                let request = Request::new(Action::FsRename, from.resource(dir));
                return Ok(Err(self.gate.refuse(&request, "cordon:rename")?));
            }
            Err(e) => return Ok(Err(e)),
        }
        let result = locate(root, &from).and_then(|src| {
            still(&src, dir)?;
            let dst = locate(root, &to)?;
            src.parent
                .rename(src.name("renamed")?, &dst.parent, dst.name("replaced")?)
        });
        Ok(result.map_err(|e| io_error(&from.policy, &e)))
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    #[test]
    fn paths_are_normalized_relative_to_the_root() {
        let p = parse_path("/a//b/./c.txt").unwrap();
        assert_eq!(p.policy, "/a/b/c.txt");
        assert_eq!(p.rel, PathBuf::from("a/b/c.txt"));
        assert_eq!(parse_path("a/b").unwrap(), parse_path("/a/b").unwrap());
        let root = parse_path("/").unwrap();
        assert_eq!(
            (root.policy.as_str(), root.rel.as_path()),
            ("/", Path::new("."))
        );
    }

    #[test]
    fn dot_dot_empty_and_nul_paths_are_invalid() {
        for bad in ["..", "../etc/passwd", "a/../../b", "a/..", "", "a\0b"] {
            assert!(matches!(parse_path(bad), Err(Error::Invalid(_))), "{bad:?}");
        }
    }
}
