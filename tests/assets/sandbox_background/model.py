"""Hostile: writes honest predictions but leaves a process behind to tamper with them."""

import subprocess

import pandas as pd


def predict(inputs, output):
    subprocess.Popen(["sleep", "3600"])
    x = pd.read_csv(inputs)
    return pd.DataFrame({"patient_id": x["patient_id"], "risk": x["tsize"] / 100})
