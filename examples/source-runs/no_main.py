def run(input):
    return "the runner calls main, not run"
