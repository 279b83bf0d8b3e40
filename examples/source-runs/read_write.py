from cordon_guest import AccessDenied, fs


def main(input):
    text = fs.read_text("hello.txt")
    try:
        fs.write("hello.txt", "overwritten by source\n")
        wrote = "written"
    except AccessDenied as denied:
        wrote = "denied by policy [" + ", ".join(denied.policy_ids) + "]"
    return {"read": text, "write": wrote}
