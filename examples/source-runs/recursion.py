def f(n):
    return f(n + 1)


def main(input):
    return f(0)
