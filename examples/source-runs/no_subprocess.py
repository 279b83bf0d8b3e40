import subprocess


def main(input):
    return subprocess.run(["ls"], capture_output=True).stdout.decode()
