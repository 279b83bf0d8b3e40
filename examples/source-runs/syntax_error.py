def main(input):
    total = 0
    for x in input["values"]
        total += x
    return total
