"""An honest command-line entry point using the standard library only."""

import csv
import math
import os

with open(os.environ["ADJUDICATOR_INPUTS"], newline="") as fh:
    rows = list(csv.DictReader(fh))
with open(os.path.join(os.environ["ADJUDICATOR_OUTPUT"], "predictions.csv"), "w") as fh:
    fh.write("patient_id,risk\n")
    for r in rows:
        fh.write(f"{r['patient_id']},{0.01 * float(r['tsize']) + math.log1p(float(r['pnodes']))}\n")
print(f"predicted {len(rows)} patients as uid {os.getuid()}")
