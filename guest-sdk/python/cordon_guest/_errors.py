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
    """A Cordon call failed. ``kind`` is the WIT case name (``access-denied``, ``not-found``...).

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

    def to_json(self) -> dict:
        """The error as a JSON-ready dict: ``kind``, ``message`` and any details."""
        return {"kind": self.kind, "message": str(self)}

    def __str__(self) -> str:
        return f"{self.kind.replace('-', ' ')}: {self.message}"

    def to_wit(self):
        """The WIT ``error`` value this exception stands for."""
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
    """The host owner's policy refused the call; nothing was touched.

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
        return {
            **super().to_json(),
            "action": self.action,
            "resource": self.resource,
            "policy_ids": self.policy_ids,
            "decision_id": self.decision_id,
        }

    def to_wit(self):
        from wit_world.imports import types

        return types.Error_AccessDenied(
            types.Denial(self.action, self.resource, self.policy_ids, self.decision_id)
        )


class NotFound(CordonError):
    """The named thing does not exist."""

    kind = "not-found"


class Invalid(CordonError):
    """The call's arguments are malformed, or the input was not the expected JSON."""

    kind = "invalid"


class LimitExceeded(CordonError):
    """A per-call limit was hit."""

    kind = "limit-exceeded"


class IoError(CordonError):
    """The host's operating system refused the operation."""

    kind = "io"


class Unsupported(CordonError):
    """The capability is not provided by this host."""

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
