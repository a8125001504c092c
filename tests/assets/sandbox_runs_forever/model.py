"""Hostile: never returns (sleeping, so the wall-time limit, not the CPU one, stops it)."""

import time


def predict(inputs, output):
    while True:
        time.sleep(60)
