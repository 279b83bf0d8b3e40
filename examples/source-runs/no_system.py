import os


def main(input):
    return os.system("ls")
