"""Files under the run's root: every call is one decision of an ``fs:*`` action.

Paths are relative to the root the operator gave the run (``cordon run --root DIR``):
``notes/a.txt`` and ``/notes/a.txt`` name the same file, which the policy sees as
``Cordon::File::"/notes/a.txt"`` (a directory as ``Cordon::Dir::"/notes"``). Empty segments and
``.`` are dropped; ``..``, an empty path, a NUL byte or a symlink anywhere on the way are
:class:`~cordon_guest.Invalid`. A run without a root gets :class:`~cordon_guest.Unsupported`.

Every function raises :class:`~cordon_guest.AccessDenied` when the policy refuses the call
(nothing was touched), :class:`~cordon_guest.NotFound` for a path that does not exist,
:class:`~cordon_guest.Invalid` for a bad path, :class:`~cordon_guest.LimitExceeded` past a
per-call limit and :class:`~cordon_guest.IoError` when the operating system refuses (a file
that already exists, a directory that is not empty, ...).

Example::

    from cordon_guest import fs

    for entry in fs.list_dir("logs"):
        if entry["kind"] == "file":
            text = fs.read_text("logs/" + entry["name"])
"""

from wit_world.imports import fs as _fs

from ._errors import Invalid, call


def _bytes(data) -> bytes:
    return data.encode("utf-8") if isinstance(data, str) else bytes(data)


def read(path: str) -> bytes:
    """Read a whole file (action ``fs:read`` on ``Cordon::File::"/<path>"``).

    Args:
        path: the file, relative to the run's root.

    Returns:
        The file's content as ``bytes``.

    Raises:
        AccessDenied: the policy refused the read.
        NotFound: there is no such file.
        Invalid: a bad path (``..``, a symlink on the way).
        LimitExceeded: the file is larger than one read may return.
        IoError: the path is a directory, or the operating system refused.

    Example::

        data = fs.read("data.bin")
    """
    return call(_fs.read, path)


def read_text(path: str) -> str:
    """Read a whole file as UTF-8 text (action ``fs:read``). Rust: ``fs::read_to_string``.

    Args:
        path: the file, relative to the run's root.

    Returns:
        The file's content as ``str``.

    Raises:
        Invalid: the file is not UTF-8 text, or a bad path.
        AccessDenied: the policy refused the read.
        NotFound: there is no such file.
        LimitExceeded: the file is larger than one read may return.
        IoError: the operating system refused.

    Example::

        text = fs.read_text("hello.txt")
    """
    data = read(path)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise Invalid(f"`{path}` is not UTF-8 text: {err}") from None


def write(path: str, data) -> None:
    """Create or truncate a file and write ``data`` to it (action ``fs:write``).

    The decision is durable in the log before the file is touched.

    Args:
        path: the file, relative to the run's root; its directory must exist.
        data: ``str`` (written as UTF-8) or ``bytes``-like.

    Returns:
        ``None``.

    Raises:
        AccessDenied: the policy refused the write.
        NotFound: the file's directory does not exist.
        LimitExceeded: the run's ``--max-write`` would be passed (nothing is written).
        Invalid: a bad path.
        IoError: the path is a directory, or the operating system refused.

    Example::

        fs.write("out.txt", "hi")
    """
    call(_fs.write, path, _bytes(data))


def append(path: str, data) -> None:
    """Append ``data`` to a file, creating it if needed (action ``fs:append``).

    Args:
        path: the file, relative to the run's root.
        data: ``str`` (written as UTF-8) or ``bytes``-like.

    Returns:
        ``None``.

    Raises:
        AccessDenied: the policy refused the append.
        NotFound: the file's directory does not exist.
        LimitExceeded: the run's ``--max-write`` would be passed (nothing is written).
        Invalid: a bad path.
        IoError: the operating system refused.

    Example::

        fs.append("log.txt", "one more line\\n")
    """
    call(_fs.append, path, _bytes(data))


def list_dir(path: str) -> list:
    """List a directory (action ``fs:list`` on ``Cordon::Dir::"/<path>"``).

    Args:
        path: the directory, relative to the run's root (``""`` or ``"/"``: the root).

    Returns:
        A list of dicts ``{"name": str, "kind": "file" | "directory" | "symlink" | "other"}``,
        names only (not paths).

    Raises:
        AccessDenied: the policy refused the listing.
        NotFound: there is no such directory.
        LimitExceeded: the directory has more entries than one listing may return.
        Invalid: a bad path.
        IoError: the path is not a directory, or the operating system refused.

    Example::

        names = [e["name"] for e in fs.list_dir("logs") if e["kind"] == "file"]
    """
    return [{"name": e.name, "kind": e.kind.name.lower()} for e in call(_fs.list_dir, path)]


def stat(path: str) -> dict:
    """Describe a path (action ``fs:stat``; a ``Dir`` when the path is a directory, else a ``File``).

    Args:
        path: relative to the run's root; a symlink is described, not followed.

    Returns:
        ``{"kind": "file" | "directory" | "symlink" | "other", "size": int,
        "modified_ms": int | None}`` (``modified_ms``: milliseconds since the Unix epoch).

    Raises:
        AccessDenied: the policy refused the stat.
        NotFound: nothing is at the path.
        Invalid: a bad path.
        IoError: the operating system refused.

    Example::

        size = fs.stat("a.txt")["size"]
    """
    meta = call(_fs.stat, path)
    return {"kind": meta.kind.name.lower(), "size": meta.size, "modified_ms": meta.modified_ms}


def create_dir(path: str) -> None:
    """Create a directory whose parent exists (action ``fs:create-dir`` on ``Cordon::Dir``).

    Args:
        path: the new directory, relative to the run's root.

    Returns:
        ``None``.

    Raises:
        AccessDenied: the policy refused it.
        NotFound: the parent does not exist.
        IoError: the path already exists, or the operating system refused.
        Invalid: a bad path.

    Example::

        fs.create_dir("out")
    """
    call(_fs.create_dir, path)


def remove(path: str) -> None:
    """Remove a file or an empty directory (action ``fs:remove``).

    Args:
        path: relative to the run's root; a directory is decided as ``Cordon::Dir``.

    Returns:
        ``None``.

    Raises:
        AccessDenied: the policy refused it.
        NotFound: nothing is at the path.
        IoError: the directory is not empty, or the operating system refused.
        Invalid: a bad path.

    Example::

        fs.remove("scratch.txt")
    """
    call(_fs.remove, path)


def rename(src: str, dst: str) -> None:
    """Rename a file or directory (``fs:rename`` on ``src``, ``fs:write`` on ``dst``).

    A directory's ``dst`` needs ``fs:create-dir``; the host also refuses a rename that would
    let the policy allow more on the new names than on the old ones (decided by
    ``cordon:rename``).

    Args:
        src: what to rename, relative to the run's root.
        dst: its new path.

    Returns:
        ``None``.

    Raises:
        AccessDenied: the policy (or ``cordon:rename``) refused it.
        NotFound: ``src`` does not exist.
        LimitExceeded: the directory holds more entries than the check walks.
        IoError: ``dst`` exists as a non-empty directory, or the operating system refused.
        Invalid: a bad path.

    Example::

        fs.rename("draft.md", "final.md")
    """
    call(_fs.rename, src, dst)
