"""python-errors: one call per kind of refusal and error, each caught and described by what
the SDK shows the agent (class, text, fields, ``to_json()``); js-errors does the same calls in
JavaScript and must describe them identically. With ``{"uncaught": true}`` the denied write is
not caught: the run ends with the SDK's typed error."""

from cordon_guest import AccessDenied, CordonError, fs, http

URL = "https://api.example/upload?draft=1"


def describe(err):
    out = {"class": type(err).__name__, "kind": err.kind, "text": str(err), "json": err.to_json()}
    if isinstance(err, AccessDenied):
        out["fields"] = [err.action, err.resource, err.policy_ids, err.decision_id]
    return out


CASES = [
    ("write-forbidden", lambda: fs.write("hello.txt", "overwritten by python-errors\n")),
    ("read-not-permitted", lambda: fs.read_text("secret.txt")),
    ("post-positional", lambda: http.send("POST", URL, [("content-type", "text/plain")], "hi")),
    ("post-request", lambda: http.send({"method": "POST", "url": URL, "body": "hi"})),
    ("read-missing", lambda: fs.read_text("public/missing.txt")),
    ("path-escapes", lambda: fs.read("../outside.txt")),
]


def run(input):
    if isinstance(input, dict) and input.get("uncaught"):
        fs.write("hello.txt", "overwritten by python-errors\n")
    results = {}
    for name, call in CASES:
        try:
            call()
            results[name] = "allowed"
        except CordonError as err:
            results[name] = describe(err)
    return results
