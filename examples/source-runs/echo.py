def main(input):
    return {"echo": input, "keys": sorted(input["nested"].keys())}
