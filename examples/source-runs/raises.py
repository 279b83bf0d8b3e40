import json


def ratio(a, b):
    return a / b


def main(input):
    return ratio(json.dumps(input).count("x"), 0)
