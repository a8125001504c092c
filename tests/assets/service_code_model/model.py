"""An honest team's model for the small service challenge: its score is the feature x
(so running it gives exactly service_entry.csv)."""

import csv


def predict(inputs, output):
    with open(inputs, newline="") as fh, open(output / "predictions.csv", "w",
                                              newline="") as out:
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["unit_id", "score"])
        for row in csv.DictReader(fh):
            writer.writerow([row["unit_id"], row["x"]])
