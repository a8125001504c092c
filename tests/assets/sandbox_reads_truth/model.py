"""Hostile: reads the sequestered truth from the path where the service keeps it."""

import json
from pathlib import Path


def predict(inputs, output):
    truth = json.loads((Path(__file__).parent / "config.json").read_text())["truth"]
    text = Path(truth).read_text()  # FileNotFoundError in the sandbox
    print("LEAKED", text[:200])
    (output / "predictions.csv").write_text(text)
