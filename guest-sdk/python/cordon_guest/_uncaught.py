"""An exception the agent's code did not catch, told in the agent's terms.

:func:`describe` gives its type, message, the frames of the agent's own files (outermost first;
the SDK's, the runner's and the standard library's are left out) and a ``hint`` when the code
reached for authority an agent does not have (files through ``open()``, the network through
``socket``, ``urllib``, ``http.client`` or ``requests``): the SDK call to use instead.

The source runner answers it as ``{"exception": ...}``. A component cannot answer once its
``run`` has failed, so :func:`end_run` writes the readable traceback and then this description
as one last line of stderr, ``cordon:uncaught {...}``, and ends the run; the host reads that
line back into the report's error (``host/runtime/src/uncaught.rs``).
"""

import json
import os
import sys
import traceback

#: What starts the last line of stderr that describes an uncaught exception (the host reads it).
MARKER = "cordon:uncaught "
#: A run of one frame repeated (recursion) keeps this many of its frames.
REPEATS = 3
#: At most this many frames are kept: the outermost and innermost halves.
MAX_FRAMES = 100

FILES_HINT = (
    "an agent has no files of its own: it reads and writes the run's root through the SDK, "
    "where the policy decides each call: `from cordon_guest import fs`, then "
    "`fs.read_text(path)`, `fs.write(path, data)`, `fs.list_dir(path)`"
)
NETWORK_HINT = (
    "an agent reaches the network only through the SDK, where the policy decides each "
    "request: `from cordon_guest import http`, then `http.get(url)` or "
    "`http.send(method, url, headers, body)`"
)

#: Modules (top-level names) that would reach the network on their own.
_NETWORK_MODULES = frozenset(
    {"socket", "ssl", "http", "urllib", "urllib3", "requests", "httpx", "aiohttp", "ftplib",
     "smtplib", "poplib", "imaplib", "socketserver", "xmlrpc", "websocket", "websockets"}
)
#: Where in the standard library (or an installed package) such a module's frames come from.
_NETWORK_FILES = (
    "/socket.py", "/ssl.py", "/urllib/request.py", "/http/client.py", "/ftplib.py",
    "/smtplib.py", "/requests/", "/urllib3/", "/httpx/", "/aiohttp/",
)


def hint(err):
    """The SDK call to use instead, when ``err`` came of reaching for files or the network."""
    if isinstance(err, ModuleNotFoundError):
        name = (getattr(err, "name", None) or "").split(".")[0]
        return NETWORK_HINT if name in _NETWORK_MODULES else None
    files = [frame.filename for frame in traceback.extract_tb(err.__traceback__)]
    cause = err.__cause__ or err.__context__
    if cause is not None:
        files += [frame.filename for frame in traceback.extract_tb(cause.__traceback__)]
    if any(part in f for f in files for part in _NETWORK_FILES):
        return NETWORK_HINT
    if isinstance(err, OSError) and getattr(err, "filename", None) is not None:
        return FILES_HINT
    return None


def describe(err, agent_file, source_line=None):
    """``{"type", "message", "traceback", "omitted_frames"?, "hint"?}`` for ``err``.

    ``agent_file(filename)`` names a frame's file as the report shows it (``None``: not the
    agent's, left out; ``""``: the agent's, named by no file); ``source_line(filename, line)``
    gives a line's text when ``linecache`` cannot.
    """
    frames = []
    for frame in traceback.extract_tb(err.__traceback__):
        name = agent_file(frame.filename)
        if name is None:
            continue
        line = frame.lineno or 0
        text = (source_line(frame.filename, line) if source_line else None) or frame.line
        entry = {"file": name} if name else {}
        entry.update(line=line, function=frame.name)
        if text and text.strip():
            entry["text"] = text.strip()
        frames.append(entry)
    frames, omitted = _shorten(frames)
    try:
        message = str(err)
    except BaseException:  # noqa: B036 - the agent's own __str__ may raise anything
        message = f"<unprintable {type(err).__name__}>"
    out = {"type": type(err).__name__, "message": message, "traceback": frames}
    if omitted:
        out["omitted_frames"] = omitted
    advice = hint(err)
    if advice:
        out["hint"] = advice
    return out


def _shorten(frames):
    """Keep ``REPEATS`` frames of each run of one repeated frame and at most ``MAX_FRAMES`` in all
    (like Python's own "[Previous line repeated N more times]"); also return how many were left out.
    """
    kept = []
    for frame in frames:
        if len(kept) >= REPEATS and all(f == frame for f in kept[-REPEATS:]):
            continue
        kept.append(frame)
    if len(kept) > MAX_FRAMES:
        kept = kept[: MAX_FRAMES // 2] + kept[-(MAX_FRAMES // 2) :]
    return kept, len(frames) - len(kept)


def end_run(err, agent_dir):
    """End a component's run on ``err``, which its ``run`` did not catch: write the traceback
    (all of it, with the hint) and the marker line to stderr, then trap. Never returns.

    ``agent_dir`` is the folder of the agent's module: frames of files under it are the agent's,
    named relative to it.
    """
    prefix = agent_dir.rstrip("/") + "/"
    sdk = os.path.dirname(os.path.abspath(__file__)) + "/"

    def agent_file(filename):
        if not filename.startswith(prefix) or filename.startswith(sdk):
            return None
        return filename[len(prefix) :]

    report = describe(err, agent_file)
    report = {"kind": "exception", **report}
    try:
        text = "".join(traceback.format_exception(err))
    except BaseException:  # noqa: B036 - the agent's exception may not even print
        text = f"{report['type']}: {report['message']}\n"
    if "hint" in report:
        text += f"hint: {report['hint']}\n"
    line = MARKER + json.dumps(report, ensure_ascii=False) + "\n"
    # The process's own stderr, even if the agent replaced `sys.stderr`.
    stream = sys.__stderr__
    try:
        if sys.stderr is not None and sys.stderr is not stream:
            sys.stderr.flush()
        stream.write(text)
        stream.write(line)
        stream.flush()
    finally:
        # A trap with nothing more said: componentize-py would print the exception again and
        # panic after the marker line.
        os.abort()
