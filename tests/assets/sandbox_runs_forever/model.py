"""Hostile: never returns, and neither does the child it starts (sleeping, so the wall-time
limit, not the CPU one, stops them: the whole tree must go)."""

import subprocess
import time


def predict(inputs, output):
    subprocess.Popen(["sleep", "3600"])
    while True:
        time.sleep(60)
