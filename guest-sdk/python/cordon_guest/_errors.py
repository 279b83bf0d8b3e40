"""The exceptions that Cordon calls raise, one per case of the WIT ``error`` variant."""

from componentize_py_types import Err


# A refusal by the host's egress guard: the policy allowed the request, but the host's address
# is special-purpose and the operator has not allowed its range.
EGRESS_GUARD = "cordon:egress"
EGRESS_HINT = (
    ": the address is special-purpose (loopback, private, link-local, ...); the operator allows"
    " its range with `cordon run --allow-egress-range CIDR` or `egress.allow_ranges` of"
    " `cordon serve`"
)


class CordonError(Exception):
    """A Cordon call failed: the base class of every error the SDK raises.

    ``str(err)`` is ``"<kind, dashes as spaces>: <detail>"`` (``io``: ``"i/o error: ..."``), e.g.
    ``"not found: `a.txt` does not exist"``, the same text as Rust's ``Display`` and
    JavaScript's ``err.message``. Raising a ``CordonError`` from ``run`` hands it to the host as
    the run's typed error (a bare ``CordonError`` reaches it as ``invalid``).

    Attributes:
        kind (str): the WIT case: ``access-denied``, ``not-found``, ``invalid``,
            ``limit-exceeded``, ``io`` or ``unsupported``.
        message (str): the host's text without the kind (kept for compatibility; the same as
            ``detail``).
        detail (str): the host's text without the kind, as JavaScript's ``err.detail``.

    Example::

        try:
            fs.read_text("config.json")
        except CordonError as err:
            return {"error": err.to_json()}
    """

    kind = "error"

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message
        self.detail = message

    def to_json(self) -> dict:
        """The error as a JSON-ready dict, the same shape in Rust, Python and JavaScript.

        Returns:
            ``{"kind": str, "message": str(err)}``; an :class:`AccessDenied` adds ``action``,
            ``resource``, ``policy_ids`` and ``decision_id``.

        Example::

            except NotFound as err:
                return {"error": err.to_json()}
                # {"error": {"kind": "not-found", "message": "not found: `a.txt` does not exist"}}
        """
        return {"kind": self.kind, "message": str(self)}

    def __str__(self) -> str:
        label = "i/o error" if self.kind == "io" else self.kind.replace("-", " ")
        return f"{label}: {self.message}"

    def to_wit(self):
        """The WIT ``error`` value this exception stands for (what ``export_run`` returns).

        Returns:
            A ``wit_world.imports.types.Error_*`` value.

        Example::

            raise Err(NotFound("no such ticket").to_wit())
        """
        from wit_world.imports import types

        cases = {
            "not-found": types.Error_NotFound,
            "invalid": types.Error_Invalid,
            "limit-exceeded": types.Error_LimitExceeded,
            "io": types.Error_Io,
            "unsupported": types.Error_Unsupported,
        }
        # A bare CordonError raised by an agent reaches the host as `invalid`.
        return cases.get(self.kind, types.Error_Invalid)(self.message)


class AccessDenied(CordonError):
    """The host owner's policy refused the call; nothing was touched. ``kind``: ``access-denied``.

    ``str(err)`` names the action, the resource as the policy saw it, the deciding policies and
    the decision's number in the log::

        access denied: `fs:write` on `Cordon::File::"/hello.txt"` (by policy hello-is-read-only, decision 1)

    With no policy ids, ``(no policy permits it, decision N)``; refused by the host's egress guard,
    ``(by the host's egress guard cordon:egress, decision N)`` and a hint naming
    ``cordon run --allow-egress-range CIDR``.

    Attributes:
        action (str): the refused Cedar action, e.g. ``fs:write``, ``http:send``.
        resource (str): the resource as the policy saw it, e.g. ``Cordon::File::"/hello.txt"``,
            ``Cordon::Url::"https://api.example:443/upload"``.
        policy_ids (list[str]): the ``@id`` of each policy that decided the refusal (a
            ``forbid``); empty when no policy permits the call; a host guard's name when the
            host refused what the policy allowed (``cordon:egress``: a special-purpose address;
            ``cordon:rename``: a rename that would grant more under the new names).
        decision_id (int): the decision's sequence number in the run's log (the report's
            ``decisions[].seq``).

    Example::

        try:
            fs.write("hello.txt", "bye")
        except AccessDenied as denied:
            print(denied.action, denied.resource, denied.policy_ids, denied.decision_id)
    """

    kind = "access-denied"

    def __init__(self, action: str, resource: str, policy_ids: list, decision_id: int):
        self.action = action
        self.resource = resource
        self.policy_ids = list(policy_ids)
        self.decision_id = decision_id
        if self.policy_ids == [EGRESS_GUARD]:
            by = f"by the host's egress guard {EGRESS_GUARD}"
        elif self.policy_ids:
            by = "by policy " + ", ".join(self.policy_ids)
        else:
            by = "no policy permits it"
        message = f"`{action}` on `{resource}` ({by}, decision {decision_id})"
        if self.policy_ids == [EGRESS_GUARD]:
            message += EGRESS_HINT
        super().__init__(message)

    def to_json(self) -> dict:
        """The denial as a JSON-ready dict.

        Returns:
            ``{"kind": "access-denied", "message": str(err), "action", "resource",
            "policy_ids", "decision_id"}``.

        Example::

            except AccessDenied as denied:
                skipped[path] = denied.to_json()
        """
        return {
            **super().to_json(),
            "action": self.action,
            "resource": self.resource,
            "policy_ids": self.policy_ids,
            "decision_id": self.decision_id,
        }

    def to_wit(self):
        """The WIT ``access-denied`` value, with the same denial.

        Returns:
            A ``wit_world.imports.types.Error_AccessDenied``.

        Example::

            raise Err(denied.to_wit())
        """
        from wit_world.imports import types

        return types.Error_AccessDenied(
            types.Denial(self.action, self.resource, self.policy_ids, self.decision_id)
        )


class NotFound(CordonError):
    """The named thing does not exist: a file, a directory, a collection. ``kind``: ``not-found``.

    Example::

        try:
            config = fs.read_text("config.json")
        except NotFound:
            config = "{}"
    """

    kind = "not-found"


class Invalid(CordonError):
    """The call's arguments are malformed, or the input was not the expected JSON. ``kind``: ``invalid``.

    A bad path (``..``, a symlink on the way, over 4,096 bytes), a URL that is not http(s), an
    unknown field or operator, text that is not UTF-8. An agent may raise it for bad input.

    Example::

        def run(input):
            if not isinstance(input, dict) or "path" not in input:
                raise Invalid('expected {"path": ...}')
    """

    kind = "invalid"


class LimitExceeded(CordonError):
    """A per-call limit was hit; the run goes on. ``kind``: ``limit-exceeded``.

    A file larger than one read may return, a write past ``--max-write``, a response past
    ``--max-response`` or slower than ``--http-timeout``. (A run past its fuel, memory or time
    is stopped instead, not told.)

    Example::

        try:
            page = http.get(url)
        except LimitExceeded as err:
            page = None
            print("skipped:", err)
    """

    kind = "limit-exceeded"


class IoError(CordonError):
    """The host's operating system refused the operation. ``kind``: ``io``.

    A file that already exists, a directory that is not empty, a path that is a directory,
    a connection that failed.

    Example::

        try:
            fs.create_dir("out")
        except IoError:
            pass  # already there
    """

    kind = "io"


class Unsupported(CordonError):
    """The capability is not provided by this host. ``kind``: ``unsupported``.

    A run without ``--root`` (no files), a host without a records store or without HTTP.

    Example::

        try:
            rows = records.query("tickets", [], ["title"])["rows"]
        except Unsupported:
            rows = []
    """

    kind = "unsupported"


def from_wit(error) -> CordonError:
    """The exception for a WIT ``error`` value."""
    from wit_world.imports import types

    if isinstance(error, types.Error_AccessDenied):
        d = error.value
        return AccessDenied(d.action, d.resource, d.policy_ids, d.decision_id)
    cases = {
        types.Error_NotFound: NotFound,
        types.Error_Invalid: Invalid,
        types.Error_LimitExceeded: LimitExceeded,
        types.Error_Io: IoError,
        types.Error_Unsupported: Unsupported,
    }
    return cases[type(error)](error.value)


def call(function, *args):
    """Call a generated import, raising the matching :class:`CordonError` on ``Err``."""
    try:
        return function(*args)
    except Err as err:
        raise from_wit(err.value) from None
