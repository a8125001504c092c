"""Hostile: allocates 10 GB and touches it."""


def predict(inputs, output):
    block = bytearray(10 * 1024**3)
    block[:: 4096] = b"x" * len(block[:: 4096])
