"""Outbound HTTP (action ``http:send``), whole request and whole response.

Each request (and each redirect the host follows) is decided as ``http:send`` on
``Cordon::Url::"<scheme>://<host>:<port><path>"`` — the query and fragment are not part of the
id, the port is always written — with ``context.method``. A refusal by the policy, or by the
host's egress guard for a special-purpose address (policy id ``cordon:egress``), raises
:class:`~cordon_guest.AccessDenied` before any connection is made.

Example::

    from cordon_guest import http

    response = http.get("https://example.com/")
    if 200 <= response["status"] < 300:
        text = response["body"].decode()
"""

from collections.abc import Mapping

from wit_world.imports import http as _http

from ._errors import Invalid, call


def _headers(headers) -> list:
    if headers is None:
        return []
    items = headers.items() if isinstance(headers, Mapping) else headers
    return [(str(name), str(value)) for name, value in items]


def send(method="GET", url=None, headers=None, body=None) -> dict:
    """Send a request and wait for the whole response.

    Two forms, the same request (JavaScript's ``http.send`` takes both too):
    positional or keyword arguments, ``send("POST", url, headers, body)``, or one request dict,
    ``send({"method": "POST", "url": url, "headers": ..., "body": ...})`` (the keys of the WIT
    ``request``; all but ``url`` optional).

    Args:
        method: ``"GET"``, ``"POST"``, ... (any case; the host upper-cases it). Or a request dict.
        url: an absolute ``http`` or ``https`` URL.
        headers: a list of ``(name, value)`` pairs, or a dict; ``Host`` and the other headers
            the host sets may not be given.
        body: ``str`` (sent as UTF-8), ``bytes`` or ``None``.

    Returns:
        ``{"status": int, "headers": [(name, value), ...], "body": bytes}``.

    Raises:
        AccessDenied: the policy refused ``http:send`` on the URL, or the egress guard did
            (``policy_ids == ["cordon:egress"]``, the message names the flag that allows it).
        Invalid: not an http(s) URL, an unknown method, a header the host sets, or no ``url``.
        LimitExceeded: the response is larger than ``--max-response``, or the request took
            longer than ``--http-timeout``.
        IoError: the connection failed.
        Unsupported: this host offers no HTTP.

    Example::

        response = http.send("POST", "https://api.example/notes",
                             [("content-type", "application/json")], '{"text": "hi"}')
        same = http.send({"method": "POST", "url": "https://api.example/notes",
                          "headers": {"content-type": "application/json"},
                          "body": '{"text": "hi"}'})
    """
    if isinstance(method, Mapping):
        if url is not None or headers is not None or body is not None:
            raise Invalid("give `http.send` a request dict or separate arguments, not both")
        request = method
        unknown = set(request) - {"method", "url", "headers", "body"}
        if unknown:
            raise Invalid(f"unknown request key `{sorted(unknown)[0]}`")
        method = request.get("method", "GET")
        url, headers, body = request.get("url"), request.get("headers"), request.get("body")
    if url is None:
        raise Invalid("`http.send` needs a `url`")
    if isinstance(body, str):
        body = body.encode("utf-8")
    elif body is not None:
        body = bytes(body)
    request = _http.Request(str(method), str(url), _headers(headers), body)
    response = call(_http.send, request)
    return {"status": response.status, "headers": list(response.headers), "body": response.body}


def get(url: str, headers=None) -> dict:
    """``GET`` a URL: ``send("GET", url, headers)``.

    Args:
        url: an absolute ``http`` or ``https`` URL.
        headers: a list of ``(name, value)`` pairs, or a dict.

    Returns:
        ``{"status": int, "headers": [(name, value), ...], "body": bytes}``, as :func:`send`.

    Raises:
        AccessDenied: the policy or the egress guard refused it.
        Invalid: a bad URL or header.
        LimitExceeded: the response was too large or too slow.
        IoError: the connection failed.
        Unsupported: this host offers no HTTP.

    Example::

        status = http.get("https://example.com/")["status"]
    """
    return send("GET", url, headers)
