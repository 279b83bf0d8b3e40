def main(input):
    n = 0
    while True:
        n += 1
