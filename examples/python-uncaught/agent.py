"""python-uncaught: fails on purpose, the way its input says, to show what a run's report says
when an agent's own code raises and does not catch (see README.md)."""

from helper import ratio


def run(input):
    input = input or {}
    fault = input.get("do")
    if fault == "raise":
        return ratio(input.get("n", 1), 0)
    if fault == "open":
        with open("/etc/passwd") as f:
            return f.read()
    if fault == "urllib":
        import urllib.request

        return urllib.request.urlopen("https://example.com/").read()
    if fault == "socket":
        import socket

        return socket.create_connection(("example.com", 80))
    if fault == "requests":
        import requests

        return requests.get("https://example.com/").text
    return "nothing asked"
