def main(input):
    return {"hello": "world"}
