"""The sandbox's overhead against running the same model directly, as ratios.

*Direct* is what a team does at home: a fresh interpreter imports the model, calls
``predict(inputs, output)`` and writes the predictions CSV. *Sandboxed* is
:func:`adjudicator.sandbox.run_code` end to end: check the inputs' bytes against their
digest, stage the code, start bwrap, the harness (process 1) forks the confined entry
point, kills leftovers, streams the predictions back, the runner writes them out. Same
interpreter, same model, same inputs file, same environment (one BLAS thread,
``PYTHONHASHSEED=0``).

* start-up: a model that imports nothing and writes one line per patient (686 rows), and
  the GBSG2 model of the tests (pandas + numpy) on 686 rows;
* per row: the GBSG2 model on 686 and on ``--rows`` rows (GBSG2 replicated):
  (t(big) - t(small)) / (rows(big) - rows(small)), sandboxed / direct.

Each figure is the median of ``--repeats`` runs; the two ways run alternately, so both
see the same load of the machine.

    .venv/bin/python benchmarks/sandbox.py            # 200,000 rows, 5 repeats
    .venv/bin/python benchmarks/sandbox.py --quick    # a smoke run

Not a test: numbers depend on the machine and its load.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

from adjudicator import parse_protocol
from adjudicator.sandbox import load_code, read_inputs, run_code

PROTOCOL = """
adjudicator: protocol/v1
id: sandbox-benchmark
version: 1
title: Sandbox overhead
task: {kind: survival, unit: patient_id, truth: {time: rfs_days, event: recurred},
       prediction: risk}
metric: {name: harrell_c}
threshold: {absolute: 0.6}
submission:
  mode: code
  entry_point: {module: model}
  limits: {cpu_seconds: 600, memory_mb: 4096, wall_seconds: 600, output_mb: 256,
           processes: 16}
"""

MODELS = {
    "stdlib": '''
import csv


def predict(inputs, output):
    with open(inputs, newline="") as fh, open(output / "predictions.csv", "w") as out:
        out.write("patient_id,risk\\n")
        for row in csv.DictReader(fh):
            out.write(f"{row['patient_id']},{float(row['tsize']) / 100}\\n")
''',
    "pandas": '''
import numpy as np
import pandas as pd


def predict(inputs, output):
    x = pd.read_csv(inputs)
    grade = x["tgrade"].map({"I": 0.0, "II": 1.0, "III": 2.0}).to_numpy()
    risk = (0.008 * x["tsize"].to_numpy() + 0.35 * grade
            + 0.45 * np.log1p(x["pnodes"].to_numpy())
            - 0.12 * np.log1p(x["progrec"].to_numpy()) - 0.3 * (x["horTh"] == "yes"))
    return pd.DataFrame({"patient_id": x["patient_id"], "risk": np.round(risk, 10)})
''',
}

# the environment the sandbox gives the code, so the comparison is of the sandbox alone
ENV = {**os.environ, "PYTHONHASHSEED": "0", "OMP_NUM_THREADS": "1",
       "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "NUMEXPR_NUM_THREADS": "1"}

DIRECT = """
import sys, pathlib
sys.path.insert(0, sys.argv[1])
import model
out = pathlib.Path(sys.argv[3])
result = model.predict(pathlib.Path(sys.argv[2]), out)
if result is not None:
    result.to_csv(out / "predictions.csv", index=False)
"""


def _features(folder: Path, rows: int) -> Path:
    from sksurv.datasets import load_gbsg2

    x, _ = load_gbsg2()
    x = x.reset_index(drop=True)
    reps = -(-rows // len(x))
    big = pd.concat([x] * reps, ignore_index=True).iloc[:rows].copy()
    big.insert(0, "patient_id", [f"p{i:08d}" for i in range(len(big))])
    path = folder / f"features-{rows}.csv"
    big.to_csv(path, index=False)
    return path


def _timed(f) -> float:
    t0 = time.perf_counter()
    f()
    return time.perf_counter() - t0


def _pairs(direct, sandboxed, repeats: int) -> tuple[float, float]:
    """Median times of the two ways, run alternately so both see the same machine load."""
    d, s = [], []
    for _ in range(repeats):
        d.append(_timed(direct))
        s.append(_timed(sandboxed))
    return statistics.median(d), statistics.median(s)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=200_000)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--quick", action="store_true", help="20,000 rows, 2 repeats")
    args = ap.parse_args()
    if args.quick:
        args.rows, args.repeats = 20_000, 2
    protocol = parse_protocol(PROTOCOL)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        codes = {}
        for name, source in MODELS.items():
            (folder / name).mkdir()
            (folder / name / "model.py").write_text(source)
            codes[name] = load_code(folder / name)
        small, big = _features(folder, 686), _features(folder, args.rows)
        inputs = {p: read_inputs(protocol, p) for p in (small, big)}

        def direct(name: str, features: Path):
            def go() -> None:
                out = Path(tempfile.mkdtemp(dir=folder))
                subprocess.run([sys.executable, "-s", "-B", "-c", DIRECT,
                                str(folder / name), str(features), str(out)], check=True,
                               env=ENV)
            return go

        def sandboxed(name: str, features: Path):
            def go() -> None:
                run = run_code(protocol, codes[name], inputs[features],
                               Path(tempfile.mkdtemp(dir=folder)))
                assert run.record.succeeded, run.record.reason
            return go

        sandboxed("stdlib", small)()  # warm the file cache and the runtime description
        direct("pandas", big)()
        rows = []
        for name in ("stdlib", "pandas"):
            d, s = _pairs(direct(name, small), sandboxed(name, small), args.repeats)
            rows.append((f"start-up, {name} model, 686 rows", d, s))
        d_big, s_big = _pairs(direct("pandas", big), sandboxed("pandas", big), args.repeats)
        d_small, s_small = rows[1][1], rows[1][2]
        n = args.rows - 686
        per_row = ((d_big - d_small) / n, (s_big - s_small) / n)
    print(f"{'':38s} {'direct':>12s} {'sandboxed':>12s} {'ratio':>8s}")
    for label, d, s in rows:
        print(f"{label:38s} {d * 1e3:9.1f} ms {s * 1e3:9.1f} ms {s / d:8.2f}")
    print(f"{f'pandas model, {args.rows:,} rows':38s} {d_big * 1e3:9.1f} ms "
          f"{s_big * 1e3:9.1f} ms {s_big / d_big:8.2f}")
    print(f"{'per row (big - small) / rows':38s} {per_row[0] * 1e6:9.3f} us "
          f"{per_row[1] * 1e6:9.3f} us {per_row[1] / per_row[0]:8.2f}")
    print(f"\nstart-up overhead of the sandbox: {(rows[0][2] - rows[0][1]) * 1e3:.0f} ms "
          f"(stdlib model), {(rows[1][2] - rows[1][1]) * 1e3:.0f} ms (pandas model)")


if __name__ == "__main__":
    main()
