"""Outbound HTTP (action ``http:send``), whole request and whole response.

Example::

    from cordon_guest import http

    response = http.get("https://example.com/")
    if 200 <= response["status"] < 300:
        text = response["body"].decode()
"""

from wit_world.imports import http as _http

from ._errors import call


def send(method: str, url: str, headers=None, body=None) -> dict:
    """Send a request; returns ``{"status", "headers", "body"}`` (body as bytes).

    Example: ``http.send("POST", url, [("content-type", "text/plain")], "hi")``.
    """
    if isinstance(body, str):
        body = body.encode("utf-8")
    request = _http.Request(method, url, list(headers or []), body)
    response = call(_http.send, request)
    return {"status": response.status, "headers": list(response.headers), "body": response.body}


def get(url: str, headers=None) -> dict:
    """``GET`` a URL. Example: ``http.get("https://example.com/")["status"]``."""
    return send("GET", url, headers)
