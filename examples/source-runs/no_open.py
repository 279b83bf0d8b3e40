def main(input):
    with open("/etc/passwd") as f:
        return f.read()
