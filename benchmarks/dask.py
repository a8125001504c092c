"""A large bootstrap in process and on Dask clusters of 1 and 2 worker processes.

The statistic is AUROC (the adjudication kernel) on a stratified binary table of ``--n``
units, ``--resamples`` B resamples: B / 1024 blocks, each one task on the cluster. Each
case checks that its replicates are the in-process bits, then reports:

- wall time (best of ``--repeats`` rounds, each round running every case once, so that a
  change in the machine's load hits every case) and the ratio to one thread in process;
- the overhead per block of the cluster: (cluster time - in-process time with the same
  parallelism) / blocks per worker, and a task's bare round trip (a 2-unit table);
- the one-off scatter of the table to every worker.

Cost model (what the figures support): one block costs ``1024 * n * (c_draw + c_kernel)``
wherever it runs (drawing the counts and AUROC's weighted pass are both linear in n), so
the work is proportional to ``n * B`` and divides by ``min(workers, blocks)``; the cluster
adds a scatter proportional to ``n * workers`` (the table goes to every worker once) and a
per-block overhead of milliseconds, independent of n. With B = 1e4 there are 10 blocks,
so 2 workers split them 5/5 and more than 10 workers would idle.

Usage: ``python benchmarks/dask.py [--n 100000] [--resamples 10000] [--quick]``.

Scaled down: the issue asks for n = 1e6, B = 1e4. On the 2-core development machine one
resample of AUROC at n = 1e6 costs about 0.1 s of one core (96 ns per unit: the weight rows
no longer fit in the cache), so that case takes about 16 minutes per configuration, an
hour for the four. The default keeps B = 1e4 (10 blocks, the parallel split and the
per-block overhead of the real case) at n = 1e5 (38 ns per unit), a few minutes in all;
``--n 1e6`` runs the full case.
"""

# ruff: noqa: E402 - the import path is fixed before the imports (see below)
from __future__ import annotations

import sys
from pathlib import Path

# this file is named like the package it benchmarks: with its folder first on sys.path
# (as ``python benchmarks/dask.py`` puts it), ``import dask`` would import this file
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]

import argparse
import contextlib
import os
import time
from collections.abc import Callable
from typing import Any

import numpy as np
from distributed import Client, LocalCluster

from adjudicator import resampling as rs
from adjudicator.compute import DaskExecutor
from adjudicator.metrics import get_kernel
from adjudicator.protocol import PlainMetric
from adjudicator.table import Table

SEED = rs.derive_seed("sha256:benchmark-protocol", "sha256:benchmark-submission", "bootstrap")


class AurocStatistic:
    """AUROC of one table on weight rows (what an adjudication resamples)."""

    def __init__(self, table: Table) -> None:
        self.table = table
        self.kernel = get_kernel(PlainMetric(name="auroc"))

    def __call__(self, weights: np.ndarray) -> np.ndarray:
        return np.asarray(self.kernel(self.table, weights))[:, None]


def binary(n: int, seed: int = 0) -> Table:
    rng = np.random.default_rng(seed)
    y = rng.random(n) < 0.3
    s = np.round(rng.normal(size=n) + y, 3)
    units = np.array([f"u{i:07d}" for i in range(n)])
    return Table("binary", units, np.arange(n), {"y": y, "score": s}, strata=y.astype(np.int64))


def best(fn: Callable[[], Any], repeats: int) -> tuple[float, Any]:
    times, out = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return min(times), out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=float, default=1e5)
    ap.add_argument("--resamples", type=float, default=1e4)
    ap.add_argument("--repeats", type=int, default=3, help="interleaved rounds")
    ap.add_argument("--quick", action="store_true", help="n = 1e5, B = 4096")
    args = ap.parse_args()
    n, b = (100_000, 4096) if args.quick else (int(args.n), int(args.resamples))
    blocks = -(-b // rs.BLOCK_SIZE)
    table = binary(n)
    stat = AurocStatistic(table)
    strata = table.strata
    print(f"AUROC bootstrap, n = {n:,}, B = {b:,} ({blocks} blocks of {rs.BLOCK_SIZE}), "
          f"stratified by the label; {os.cpu_count()} cores; best of {args.repeats}")

    def run(**engine: Any) -> np.ndarray:
        return rs.bootstrap(stat, n, resamples=b, seed=SEED, strata=strata, **engine).values

    rs.bootstrap(stat, n, resamples=2, seed=SEED, strata=strata)  # compile the kernels here
    ref = run(workers=1)  # the reference bits (also a warm-up)
    tiny = AurocStatistic(binary(64, seed=1))
    with contextlib.ExitStack() as stack:
        clients = {}
        notes = {}
        for workers in (1, 2):
            cluster = stack.enter_context(LocalCluster(
                n_workers=workers, processes=True, threads_per_worker=1,
                dashboard_address=None, host="127.0.0.1"))
            client = stack.enter_context(Client(cluster, set_as_default=False))
            clients[workers] = client
            warm = DaskExecutor(client)  # compile the kernels on every worker, untimed
            rs.bootstrap(tiny, 64, resamples=rs.BLOCK_SIZE * workers, seed=SEED,
                         executor=warm)
            t0 = time.perf_counter()  # a task's bare round trip: one resample of 64 units
            for _ in range(20):
                rs.bootstrap(tiny, 64, resamples=1, seed=SEED, executor=warm)
            trip = (time.perf_counter() - t0) / 20
            warm.release()
            t0 = time.perf_counter()
            [shared] = client.scatter([stat], broadcast=True, hash=False)
            scatter = time.perf_counter() - t0
            client.cancel([shared])
            notes[workers] = f"round trip {trip * 1e3:.0f} ms; scatter {scatter:.2f} s"

        def on_cluster(workers: int) -> np.ndarray:
            executor = DaskExecutor(clients[workers])
            try:
                return run(executor=executor)
            finally:
                executor.release()

        cases: dict[str, Callable[[], np.ndarray]] = {
            "in process, 1 thread": lambda: run(workers=1),
            "in process, 2 threads": lambda: run(workers=2),
            "Dask, 1 worker process": lambda: on_cluster(1),
            "Dask, 2 worker processes": lambda: on_cluster(2),
        }
        # rounds interleave the cases, so that a change in the machine's load hits all
        times: dict[str, float] = dict.fromkeys(cases, float("inf"))
        for _ in range(args.repeats):
            for name, fn in cases.items():
                t, got = best(fn, 1)
                assert got.tobytes() == ref.tobytes(), f"{name} changed the bits"
                times[name] = min(times[name], t)
    t1 = times["in process, 1 thread"]
    width = max(map(len, times))
    for name, t in times.items():
        note = ""
        if name.startswith("Dask"):
            workers = 1 if "1 worker" in name else 2
            same = times["in process, 1 thread" if workers == 1 else "in process, 2 threads"]
            per_block = (t - same) / (blocks / workers)
            note = (f"overhead/block {per_block * 1e3:+.0f} ms vs {workers} thread"
                    f"{'s' * (workers > 1)}; {notes[workers]}")
        print(f"  {name:<{width}}  {t:8.2f} s  x{t / t1:5.2f} of 1 thread  {note}")
    print(f"  replicates: identical bits in every case; load average after: "
          f"{os.getloadavg()[0]:.1f}")

if __name__ == "__main__":
    main()
