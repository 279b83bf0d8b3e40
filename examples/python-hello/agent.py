"""python-hello: hello-fs in Python. Reads `hello.txt` (permitted), tries to overwrite it
(forbidden), and reports both; the denial is caught, so the run succeeds."""

from cordon_guest import AccessDenied, fs


def run(input):
    text = fs.read_text("hello.txt")
    try:
        fs.write("hello.txt", "overwritten by python-hello\n")
        wrote = "written"
    except AccessDenied as denied:
        wrote = "denied by policy [" + ", ".join(denied.policy_ids) + "]"
    return {"read": text, "write": wrote}
