"""Kernel throughput against the reference implementations, side by side, as ratios.

For each metric: B bootstrap count vectors (multinomial, as the resampling engine draws
them); the kernel takes them in one batched call; the reference library is called once
per resample on the resampled indices, which is what a bootstrap without weighted kernels
does. Reported: resamples per second for both and their ratio (kernel / reference). The
reference is timed on the first ``--ref-resamples`` resamples only (it is slow), and its
values are checked against the kernel's on those same resamples.

    .venv/bin/python benchmarks/metrics.py            # the sizes of the issue
    .venv/bin/python benchmarks/metrics.py --quick    # a smoke run

Not a test: numbers depend on the machine and its load.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import numpy as np
from lifelines.utils import concordance_index as lifelines_cindex
from scipy.stats import spearmanr
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score
from sksurv.metrics import concordance_index_censored, concordance_index_ipcw
from sksurv.util import Surv

from adjudicator.metrics.binary import Auprc, Auroc, Brier
from adjudicator.metrics.regression import Spearman
from adjudicator.metrics.survival import HarrellC, UnoC
from adjudicator.table import Table

_BLOCK = 100


def _table(kind: str, n: int, **cols: np.ndarray) -> Table:
    return Table(kind=kind, units=np.array([f"u{i:07d}" for i in range(n)]),
                 row_unit=np.arange(n), columns=cols)


def _bench(name: str, kernel, table: Table, reference: Callable[[np.ndarray], float],
           n_boot: int, n_ref: int, rng: np.random.Generator) -> dict[str, float | str]:
    n = table.n_units
    kernel(table, np.ones((2, n)))  # compile / warm up
    # weights come in blocks, as the resampling engine draws them (B x n int64 at once
    # would be 800 MB at n = 1e5, B = 1000); drawing them is not timed
    values = np.empty(n_boot)
    first = None
    t_kernel = 0.0
    for start in range(0, n_boot, _BLOCK):
        counts = rng.multinomial(n, np.full(n, 1.0 / n), size=min(_BLOCK, n_boot - start))
        if first is None:
            first = counts[:n_ref]
        t0 = time.perf_counter()
        values[start:start + len(counts)] = kernel(table, counts)
        t_kernel += time.perf_counter() - t0
    ref_values = np.empty(n_ref)
    t0 = time.perf_counter()
    for b in range(n_ref):
        idx = np.repeat(np.arange(n), first[b])
        ref_values[b] = reference(idx)
    t_ref = time.perf_counter() - t0
    err = float(np.max(np.abs(values[:n_ref] - ref_values)))
    k_rate = n_boot / t_kernel
    r_rate = n_ref / t_ref
    return {"metric": name, "n": n, "B": n_boot, "kernel/s": k_rate, "reference/s": r_rate,
            "ratio": k_rate / r_rate, "max |diff|": err}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small sizes, a few seconds")
    ap.add_argument("--seed", type=int, default=20261129)
    args = ap.parse_args()
    rng = np.random.default_rng(args.seed)
    if args.quick:
        n_bin, b_bin, n_surv, b_surv, n_ref = 10_000, 100, 2_000, 50, 10
    else:
        n_bin, b_bin, n_surv, b_surv, n_ref = 100_000, 1000, 5_000, 200, 20

    rows = []
    y = rng.random(n_bin) < 0.3
    s = np.round(rng.normal(size=n_bin) + y, 2)  # ties, as real scores have
    p = 1 / (1 + np.exp(-s))
    tb = _table("binary", n_bin, y=y, score=s)
    rows.append(_bench("auroc (sklearn roc_auc_score)", Auroc(), tb,
                       lambda i: roc_auc_score(y[i], s[i]), b_bin, n_ref, rng))
    rows.append(_bench("auprc (sklearn average_precision_score)", Auprc(), tb,
                       lambda i: average_precision_score(y[i], s[i]), b_bin, n_ref, rng))
    tp = _table("binary", n_bin, y=y, score=p)
    rows.append(_bench("brier (sklearn brier_score_loss)", Brier(), tp,
                       lambda i: brier_score_loss(y[i], p[i]), b_bin, n_ref, rng))
    x = rng.normal(size=n_bin)
    z = np.round(x + rng.normal(size=n_bin), 1)
    tr = _table("regression", n_bin, y=x, pred=z)
    rows.append(_bench("spearman (scipy spearmanr)", Spearman(), tr,
                       lambda i: spearmanr(x[i], z[i])[0], b_bin, n_ref, rng))

    t = rng.integers(1, 2000, n_surv).astype(float)
    e = rng.random(n_surv) < 0.6
    e[t == t.max()] = False
    r = np.round(rng.normal(size=n_surv) - t / 1000, 2)
    ts = _table("survival", n_surv, time=t, event=e, score=r)
    rows.append(_bench("harrell_c (sksurv concordance_index_censored)", HarrellC(), ts,
                       lambda i: concordance_index_censored(e[i], t[i], r[i], tied_tol=0)[0],
                       b_surv, max(2, n_ref // 4), rng))
    rows.append(_bench("harrell_c (lifelines concordance_index)", HarrellC(), ts,
                       lambda i: lifelines_cindex(t[i], -r[i], e[i]), b_surv, n_ref, rng))

    def uno_ref(i: np.ndarray) -> float:
        yy = Surv.from_arrays(e[i], t[i])
        return concordance_index_ipcw(yy, yy, r[i], tau=1500.0, tied_tol=0)[0]

    rows.append(_bench("uno_c (sksurv concordance_index_ipcw)", UnoC(truncation=1500.0), ts,
                       uno_ref, b_surv, max(2, n_ref // 4), rng))

    print(f"{'metric':48} {'n':>7} {'B':>5} {'kernel/s':>10} {'reference/s':>12} "
          f"{'ratio':>8} {'max |diff|':>11}")
    for row in rows:
        print(f"{row['metric']:48} {row['n']:>7} {row['B']:>5} {row['kernel/s']:>10.1f} "
              f"{row['reference/s']:>12.2f} {row['ratio']:>7.1f}x {row['max |diff|']:>11.1e}")


if __name__ == "__main__":
    main()
