"""A second module of python-uncaught: a frame in another file of the agent."""


def ratio(a, b):
    return a / b
