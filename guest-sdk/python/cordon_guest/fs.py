"""Files under the run's root (actions ``fs:read``, ``fs:write``, ...).

Paths are relative to the root: ``notes/a.txt`` and ``/notes/a.txt`` name the same file.

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
    """Read a whole file. Example: ``data = fs.read("data.bin")``."""
    return call(_fs.read, path)


def read_text(path: str) -> str:
    """Read a whole file as UTF-8 text (``Invalid`` if it is not). Example: ``fs.read_text("a.txt")``."""
    data = read(path)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise Invalid(f"`{path}` is not UTF-8 text: {err}") from None


def write(path: str, data) -> None:
    """Create or truncate a file and write ``data`` (str or bytes). Example: ``fs.write("out.txt", "hi")``."""
    call(_fs.write, path, _bytes(data))


def append(path: str, data) -> None:
    """Append ``data`` (str or bytes), creating the file if needed. Example: ``fs.append("log.txt", "x\\n")``."""
    call(_fs.append, path, _bytes(data))


def list_dir(path: str) -> list:
    """List a directory as dicts ``{"name": ..., "kind": "file" | "directory" | "symlink" | "other"}``.

    Example: ``names = [e["name"] for e in fs.list_dir("logs")]``.
    """
    return [{"name": e.name, "kind": e.kind.name.lower()} for e in call(_fs.list_dir, path)]


def stat(path: str) -> dict:
    """Describe a path: ``{"kind", "size", "modified_ms"}``. Example: ``fs.stat("a.txt")["size"]``."""
    meta = call(_fs.stat, path)
    return {"kind": meta.kind.name.lower(), "size": meta.size, "modified_ms": meta.modified_ms}


def create_dir(path: str) -> None:
    """Create a directory whose parent exists. Example: ``fs.create_dir("out")``."""
    call(_fs.create_dir, path)


def remove(path: str) -> None:
    """Remove a file or an empty directory. Example: ``fs.remove("scratch.txt")``."""
    call(_fs.remove, path)


def rename(src: str, dst: str) -> None:
    """Rename a file or directory. Example: ``fs.rename("draft.md", "final.md")``."""
    call(_fs.rename, src, dst)
