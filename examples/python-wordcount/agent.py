"""python-wordcount: counts the words of its input (a JSON string). It asks the host for
nothing: it is a second Python component with the same interpreter as python-hello, which
benches/benches/compile.rs compiles after python-hello to measure the incremental cache."""


def run(input):
    words = str(input or "").split()
    return {"words": len(words), "longest": max(words, key=len, default="")}
