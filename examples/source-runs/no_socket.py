import socket


def main(input):
    s = socket.create_connection(("example.com", 80))
    return "connected"
