"""Hostile: burns CPU forever."""


def predict(inputs, output):
    n = 0
    while True:
        n += 1
