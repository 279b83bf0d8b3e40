"""Write Cordon agents in Python.

A Cordon agent is a module with a ``run`` function that takes the run's input (parsed JSON:
a dict, list, str, number, bool or None) and returns something ``json.dumps`` can write::

    from cordon_guest import AccessDenied, fs

    def run(input):
        text = fs.read_text("hello.txt")
        try:
            fs.write("hello.txt", "bye")
            wrote = "written"
        except AccessDenied as denied:
            wrote = f"denied by policy {denied.policy_ids}"
        return {"read": text, "write": wrote}

``guest-sdk/python/componentize.sh agent.py -o agent.wasm`` turns it into a component of the
world ``cordon:agent/agent``. Every call to :mod:`cordon_guest.fs`, :mod:`cordon_guest.http` or
:mod:`cordon_guest.records` is decided by the host's Cedar policy; a refusal raises
:class:`AccessDenied`, which the agent may catch. Raising a :class:`CordonError` from ``run``
hands it to the host as the run's typed error; any other exception is a bug and ends the run:
the report's error is then of kind ``exception``, with its type, message and the line of the
agent's file it was raised at (``location``, ``traceback``), and a ``hint`` naming the SDK call
to use when the code reached for files (``open``) or the network (``socket``, ``urllib``,
``requests``), which an agent has only through this package. ``print`` writes to the report's
``stdout``; the full traceback is in its ``stderr``.
"""

import json

from ._errors import (
    AccessDenied,
    CordonError,
    Invalid,
    IoError,
    LimitExceeded,
    NotFound,
    Unsupported,
)

__all__ = [
    "AccessDenied",
    "CordonError",
    "Invalid",
    "IoError",
    "LimitExceeded",
    "NotFound",
    "Unsupported",
    "export_run",
]


def export_run(run):
    """Make ``run(input) -> result`` the component's export (``componentize.sh`` calls this).

    The host's input text is parsed as JSON (empty input is ``None``) and handed to ``run``;
    what ``run`` returns is serialised with ``json.dumps`` and becomes the report's ``output``.
    A :class:`CordonError` raised from ``run`` becomes the WIT error it stands for (the report's
    ``status`` is then ``error`` and its ``error.kind`` that error's kind, e.g.
    ``access-denied`` with ``policy_ids``); any other exception ends the run with an error of
    kind ``exception`` at the agent's own line.

    Args:
        run: the agent's function, ``run(input) -> object``.

    Returns:
        A ``WitWorld`` class for componentize-py.

    Raises:
        Invalid: (to the host) the input is not JSON, or the output cannot be serialised.

    Example::

        import agent
        from cordon_guest import export_run
        WitWorld = export_run(agent.run)
    """
    import inspect
    import os

    from componentize_py_types import Err

    from ._errors import Invalid as _Invalid
    from ._uncaught import end_run

    # Frames of files in the agent's folder are the agent's own.
    try:
        agent_dir = os.path.dirname(os.path.abspath(inspect.getfile(run)))
    except TypeError:
        agent_dir = os.getcwd()

    class WitWorld:
        def run(self, input: str) -> str:
            try:
                value = json.loads(input) if input.strip() else None
            except ValueError as err:
                raise Err(_Invalid(f"input is not JSON: {err}").to_wit())
            try:
                output = run(value)
            except CordonError as err:
                raise Err(err.to_wit())
            except BaseException as err:  # noqa: B036 - SystemExit too: it ends the run all the same
                end_run(err, agent_dir)
            try:
                return json.dumps(output)
            except (TypeError, ValueError) as err:
                raise Err(_Invalid(f"cannot serialise the output as JSON: {err}").to_wit())

    return WitWorld
