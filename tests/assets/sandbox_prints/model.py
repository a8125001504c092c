"""Hostile: prints 1 GB to stdout."""

import sys


def predict(inputs, output):
    chunk = "x" * (1024 * 1024)
    for _ in range(1024):
        sys.stdout.write(chunk)
    sys.stdout.flush()
