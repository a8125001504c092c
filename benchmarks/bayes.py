"""Time of each Bayesian comparison model, cold and warm, with nutpie and with PyMC's NUTS.

Each case runs in a fresh Python process: *cold* is its first call (imports excluded;
model build and compilation included: numba for nutpie, PyTensor C for PyMC, whose
on-disk compile cache may already be warm from earlier runs), *warm* the best of the next
``--repeats`` calls on new data of the same shape, as a second adjudication under the same
protocol sees it (the compiled model comes from :mod:`adjudicator.bayes`' cache).

Cases (the protocol's defaults: 4 chains, 4,000 draws in total, 1,000 tuning steps):

- ``bayesian-bootstrap``: n = 1e5 units, 4,000 Dirichlet draws, mean score and AUROC
  (entry and one baseline); the engine's Dirichlet weights alone (one thread); and the
  floor: numpy merely drawing the 4e8 exponentials;
- ``correlated-t``: 2,000 per-unit continuous differences; ``correlated-t folds``: 10
  fold differences, rho = 0.1;
- ``hierarchical``: 10 strata.

Targets (issue 6): warm hierarchical on 10 strata < 10 s on 2 cores; bayesian-bootstrap at
n = 1e5 with 4,000 draws < 2 s. Not a test: numbers depend on the machine and its load.

Usage: ``python benchmarks/bayes.py [--quick] [--repeats 3] [--cores 2]``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from typing import Any

import numpy as np

CASES = ("bootstrap-floor", "bootstrap-weights", "bootstrap-mean", "bootstrap-auroc",
         "correlated-t", "correlated-t-folds", "hierarchical")
PYMC_CASES = ("correlated-t", "correlated-t-folds", "hierarchical")
TARGETS = {"hierarchical": 10.0, "bootstrap-mean": 2.0, "bootstrap-auroc": 2.0}


def _case(name: str, sampler: str, quick: bool, cores: int, repeats: int) -> dict[str, Any]:
    from adjudicator import bayes
    from adjudicator.metrics import get_kernel
    from adjudicator.protocol import Bayes, MeanScore, PlainMetric
    from adjudicator.table import Table

    draws = 1000 if quick else 4000
    rng = np.random.default_rng(0)

    def run(i: int) -> Any:
        if name.startswith("bootstrap"):
            n = 10_000 if quick else 100_000
            units = np.array([f"u{j:06d}" for j in range(n)])
            if name == "bootstrap-mean":
                kernel = get_kernel(MeanScore(name="mean_score"))
                e = Table(kind="scores", units=units, row_unit=np.arange(n),
                          columns={"score": rng.random(n)})
                b = e.with_columns(score=rng.random(n))
            else:
                kernel = get_kernel(PlainMetric(name="auroc"))
                y = rng.random(n) < 0.3
                e = Table(kind="binary", units=units, row_unit=np.arange(n),
                          columns={"y": y, "score": y + rng.normal(size=n)})
                b = e.with_columns(score=y + 1.2 * rng.normal(size=n))
            t = time.perf_counter()
            bayes.bootstrap_differences(kernel, e, {"b": b}, draws=draws, seed=i,
                                        higher_is_better=True, workers=cores)
            return time.perf_counter() - t
        bz = Bayes(model="hierarchical" if name == "hierarchical" else "correlated-t",
                   draws=draws, chains=4, tune=1000, rho=0.1 if name.endswith("folds") else None)
        t = time.perf_counter()
        if name == "hierarchical":
            se = rng.uniform(0.01, 0.03, 10)
            d = 0.02 + 0.01 * rng.normal(size=10) + se * rng.normal(size=10)
            r = bayes.hierarchical(d, se, bayes=bz, margin=0.0, hdi_prob=0.95, seed=i,
                                   sampler=sampler, cores=cores)
        else:
            d = rng.normal(0.02, 0.05 if name.endswith("folds") else 0.3,
                           size=10 if name.endswith("folds") else 2000)
            r = bayes.correlated_t(d, bayes=bz, margin=0.0, hdi_prob=0.95, seed=i,
                                   sampler=sampler, cores=cores)
        elapsed = time.perf_counter() - t
        run.diag = r.deciding.diagnostics.to_dict()  # type: ignore[attr-defined]
        return elapsed

    if name == "bootstrap-floor":
        # numpy drawing the same number of exponentials (Dirichlet weights before their
        # normalisation), in 32 MiB chunks, nothing computed on them
        n = 10_000 if quick else 100_000
        chunk = max(1, (1 << 22) // n)

        def run(i: int) -> float:  # type: ignore[no-redef]
            g = np.random.default_rng(i)
            t = time.perf_counter()
            for start in range(0, draws, chunk):
                g.standard_exponential((min(chunk, draws - start), n))
            return time.perf_counter() - t

    if name == "bootstrap-weights":
        # the resampling engine's Dirichlet weights alone, in the chunks it uses
        from adjudicator import resampling

        n = 10_000 if quick else 100_000
        chunk = max(1, resampling._common._MAX_CHUNK_CELLS // n)

        def run(i: int) -> float:  # type: ignore[no-redef]
            seed = np.random.SeedSequence(i)
            t = time.perf_counter()
            for start in range(0, draws, chunk):
                resampling.resample_weights(n, start, min(draws, start + chunk), seed=seed,
                                            scheme="bayesian")
            return time.perf_counter() - t

    cold = run(0)
    warm = min(run(i + 1) for i in range(repeats))
    return {"case": name, "sampler": sampler, "cold": cold, "warm": warm,
            "diagnostics": getattr(run, "diag", None)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small sizes: a smoke run")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--cores", type=int, default=2)
    ap.add_argument("--case", help=argparse.SUPPRESS)
    ap.add_argument("--sampler", default="nutpie", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.case:  # the child process: one case
        print(json.dumps(_case(args.case, args.sampler, args.quick, args.cores,
                               args.repeats)))
        return
    print(f"{'case':<22}{'sampler':<9}{'cold s':>9}{'warm s':>9}  target  diagnostics")
    for case in CASES:
        for sampler in (("nutpie", "pymc") if case in PYMC_CASES else ("numpy",)):
            cmd = [sys.executable, __file__, "--case", case, "--sampler", sampler,
                   "--repeats", str(args.repeats), "--cores", str(args.cores)]
            if args.quick:
                cmd.append("--quick")
            out = subprocess.run(cmd, capture_output=True, text=True, check=False)
            if out.returncode:
                print(f"{case:<22}{sampler:<9} failed:\n{out.stderr[-2000:]}")
                sys.exit(1)
            r = json.loads(out.stdout.strip().splitlines()[-1])
            target = None if args.quick else TARGETS.get(case)
            verdict = "" if target is None else (
                f"<{target:g} {'ok' if r['warm'] < target else 'MISSED'}")
            diag = r["diagnostics"]
            dtext = "" if diag is None or diag["sampler"] == "independent" else (
                f"r_hat {diag['r_hat']:.3f} ess {diag['ess_bulk']:.0f}/{diag['ess_tail']:.0f}"
                f" div {diag['divergences']}")
            print(f"{case:<22}{sampler:<9}{r['cold']:>9.2f}{r['warm']:>9.2f}  {verdict:<11}"
                  f"{dtext}", flush=True)


if __name__ == "__main__":
    main()
