"""Hostile: writes outside its output directory, everywhere it can think of."""

import json
from pathlib import Path


def predict(inputs, output):
    outside = json.loads((Path(__file__).parent / "config.json").read_text())["outside"]
    errors = []
    for target in (outside, "/code/planted.py", "/inputs/features.csv", "/etc/passwd",
                   "/usr/planted", "/planted", str(inputs)):
        try:
            with open(target, "a") as fh:
                fh.write("planted\n")
            print("WROTE", target)
        except OSError as exc:
            errors.append(f"{target}: {exc.strerror}")
    print("\n".join(errors))
    raise PermissionError(f"no write outside /output succeeded ({len(errors)} refused)")
