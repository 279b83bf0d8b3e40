"""The Python runner: runs an agent's Python source, sent as text, under Cordon.

The host calls the component's ``run`` with ``{"language": "python", "code": "...", "input": ...}``
(the protocol of issue #15). The source is compiled as ``agent.py`` and executed in a fresh module
``agent`` where ``cordon_guest`` is importable; then ``main(input)`` is called. ``run`` returns
exactly one envelope:

- ``{"result": value}``: what ``main`` returned;
- ``{"invalid": {"message", "line"?, "column"?}}``: a syntax error, no ``main``, or a result that
  is not JSON;
- ``{"exception": {"type", "message", "traceback": [{"line", "function", "text"}], "hint"?}}``: an
  uncaught exception, with the frames of the agent's source only, outermost first, and the SDK
  call to use when the source reached for files or the network (``cordon_guest._uncaught``).

A :class:`cordon_guest.CordonError` (``AccessDenied``...) the source does not catch is not an
envelope: it reaches the host as the WIT error, as for any component (``export_run`` does that).

Built by ``scripts/build-guests.sh`` into ``build/runners/python.wasm`` with componentize-py,
whose build-time snapshot holds everything imported here: the SDK, the runner and the standard
modules agents commonly use, so a run pays for none of those imports.
"""

import json
import sys
import types

import cordon_guest
import cordon_guest.fs
import cordon_guest.http
import cordon_guest.records
from cordon_guest import CordonError
from cordon_guest._uncaught import describe

# Standard modules agent source may import. componentize-py puts in the component only the
# modules imported at build time (a module not named here, or imported by one named here, is
# `ModuleNotFoundError` at run time), and their import is then in the snapshot: an `import json`
# in the source is a dict lookup. Modules that would only offer authority the runner has not got
# (socket, subprocess, threading, tempfile, shutil...) are left out on purpose.
import base64  # noqa: F401
import bisect  # noqa: F401
import calendar  # noqa: F401
import collections  # noqa: F401
import copy  # noqa: F401
import csv  # noqa: F401
import dataclasses  # noqa: F401
import datetime  # noqa: F401
import decimal  # noqa: F401
import difflib  # noqa: F401
import enum  # noqa: F401
import fnmatch  # noqa: F401
import fractions  # noqa: F401
import functools  # noqa: F401
import hashlib  # noqa: F401
import heapq  # noqa: F401
import hmac  # noqa: F401
import html  # noqa: F401
import io  # noqa: F401
import itertools  # noqa: F401
import math  # noqa: F401
import operator  # noqa: F401
import pprint  # noqa: F401
import random  # noqa: F401
import re  # noqa: F401
import shlex  # noqa: F401
import statistics  # noqa: F401
import string  # noqa: F401
import struct  # noqa: F401
import textwrap  # noqa: F401
import time  # noqa: F401
import typing  # noqa: F401
import unicodedata  # noqa: F401
import urllib.parse  # noqa: F401
import uuid  # noqa: F401
import zlib  # noqa: F401

#: The file name the source is compiled under; frames with it are the agent's.
FILENAME = "agent.py"


def _invalid(message, line=None, column=None):
    invalid = {"message": message}
    if line is not None:
        invalid["line"] = line
    if column is not None:
        invalid["column"] = column
    return {"invalid": invalid}


def _exception(err, lines):
    def source_line(_filename, lineno):
        return lines[lineno - 1] if 0 < lineno <= len(lines) else ""

    # The source's own frames, named by no file: the source is one text.
    return {"exception": describe(err, lambda f: "" if f == FILENAME else None, source_line)}


def run(request):
    """Run one protocol request (already parsed from JSON) and return its envelope."""
    if not isinstance(request, dict) or not isinstance(request.get("code"), str):
        return _invalid("the runner's input must be an object with a string `code`")
    language = request.get("language", "python")
    if language != "python":
        return _invalid(f"this runner runs python, not `{language}`")
    code = request["code"]
    lines = code.splitlines()

    try:
        compiled = compile(code, FILENAME, "exec", dont_inherit=True)
    except SyntaxError as err:
        return _invalid(f"{type(err).__name__}: {err.msg}", err.lineno, err.offset)
    except ValueError as err:  # e.g. a NUL byte in the source
        return _invalid(f"the source cannot be compiled: {err}")

    module = types.ModuleType("agent")
    module.__file__ = FILENAME
    sys.modules["agent"] = module
    try:
        exec(compiled, module.__dict__)
        main = module.__dict__.get("main")
        if not callable(main):
            return _invalid("the source defines no function `main(input)`")
        result = main(request.get("input"))
    except CordonError:
        raise  # the WIT error, as export_run hands it to the host
    except BaseException as err:  # noqa: B036 - SystemExit too: the agent cannot end the runner
        return _exception(err, lines)

    try:
        json.dumps(result)
    except (TypeError, ValueError) as err:
        return _invalid(f"the result of `main` is not JSON: {err}")
    return {"result": result}
