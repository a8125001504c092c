"""The synthetic families of test sets, one per task kind (see :mod:`adjudicator.power`)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import (
    InputError,
)
from ..protocol import Protocol
from ..table import Table

REFERENCE_UNITS = 20_000
REFERENCE_ROWS = 400_000  # several rows per unit: at most this many, but >= 2,000 units
HAZARD_STRENGTHS = (4.0, 8.0, 16.0)


def reference_units(units: int, opts: dict[str, Any]) -> int:
    """Units of the one large sample that gives each d its true metric."""
    per_unit = int(opts.get("rows_per_unit", 1))
    if per_unit == 1:
        return max(units, REFERENCE_UNITS)
    return max(units, min(REFERENCE_UNITS, max(2_000, REFERENCE_ROWS // per_unit)))


# -- the synthetic families ------------------------------------------------------------------


@dataclass(frozen=True)
class Noise:
    """The standard random numbers of one test set, reused for every effect d."""

    truth: np.ndarray  # binary: uniform for y; survival: exponential(1); regression: normal
    #                    per row; sets: the true set sizes (ints); scores: unused
    extra: np.ndarray  # survival: exponential(1) for censoring; else unused
    latent: np.ndarray  # survival: the latent risk z ~ N(0, 1); else unused
    preds: tuple[np.ndarray, ...]  # one per prediction (entry, baseline): standard normals
    #                                (one per row), sets: uniforms (units x largest set)


def draw_noise(kind: str, n: int, rng: np.random.Generator, k: int, opts: dict[str, Any]) -> Noise:
    empty = np.empty(0)
    if kind == "binary":
        return Noise(rng.random(n), empty, empty, tuple(rng.standard_normal(n)
                                                         for _ in range(k)))
    if kind == "survival":
        truth, extra, z = (rng.standard_exponential(n), rng.standard_exponential(n),
                           rng.standard_normal(n))
        return Noise(truth, extra, z, tuple(rng.standard_normal(n) for _ in range(k)))
    if kind == "sets":
        sizes = 1 + rng.poisson(float(opts["set_size"]) - 1.0, n)
        width = int(sizes.max())
        return Noise(sizes, empty, empty, tuple(rng.random((n, width)) for _ in range(k)))
    rows = n * int(opts.get("rows_per_unit", 1))
    truth = rng.standard_normal(rows) if kind == "regression" else empty
    return Noise(truth, empty, empty, tuple(rng.standard_normal(rows) for _ in range(k)))


def log_odds(p: float) -> float:
    return math.log(p / (1 - p))


def censoring_rate(g: float, z: np.ndarray, share: float) -> float:
    """lambda_c with E[lambda_c / (lambda_c + exp(g z))] = share (independent exponentials)."""
    if share <= 0:
        return 0.0
    h = np.exp(g * z)
    lo, hi = -30.0, 30.0
    for _ in range(80):
        mid = (lo + hi) / 2
        lc = math.exp(mid)
        if float(np.mean(lc / (lc + h))) < share:
            lo = mid
        else:
            hi = mid
    return math.exp((lo + hi) / 2)


def make_tables(kind: str, noise: Noise, ds: tuple[float, ...], opts: dict[str, Any],
            lc: float = 0.0) -> list[Table]:
    """One table per prediction (same truth): the entry at ds[0], a baseline at ds[1]."""
    n = noise.latent.size if kind == "survival" else (
        noise.truth.size if kind in ("binary", "sets") else
        noise.preds[0].size // int(opts.get("rows_per_unit", 1)))
    units = np.array([f"u{i:07d}" for i in range(n)])
    rows = np.repeat(np.arange(n), int(opts.get("rows_per_unit", 1)))
    out = []
    if kind == "binary":
        pi = float(opts["positive_share"])
        y = noise.truth < pi
        for d, e in zip(ds, noise.preds, strict=False):
            x = d * y + e
            z = log_odds(pi) + d * x - d * d / 2
            out.append({"y": y, "score": 1.0 / (1.0 + np.exp(-np.clip(z, -700, 700)))})
    elif kind == "survival":
        g = float(opts["hazard_strength"])
        t_event = noise.truth / np.exp(g * noise.latent)
        if lc > 0:
            t_cens = noise.extra / lc
            event = t_event <= t_cens
            time = np.minimum(t_event, t_cens)
        else:
            event, time = np.ones(n, dtype=bool), t_event
        for d, e in zip(ds, noise.preds, strict=False):
            out.append({"time": time, "event": event, "score": noise.latent + math.exp(-d) * e})
    elif kind == "regression":
        y = noise.truth
        for d, e in zip(ds, noise.preds, strict=False):
            out.append({"y": y, "pred": y + math.exp(-d) * e})
    elif kind == "sets":
        sizes = noise.truth
        inside = np.arange(noise.preds[0].shape[1])[None, :] < sizes[:, None]
        for d, u in zip(ds, noise.preds, strict=False):
            q = 1.0 / (1.0 + math.exp(-d))
            tp = np.count_nonzero((u < q) & inside, axis=1)
            out.append({"tp": tp, "n_pred": sizes, "n_true": sizes})
    elif kind == "scores":
        sd = float(opts["score_sd"])
        for d, e in zip(ds, noise.preds, strict=False):
            out.append({"score": d + sd * e})
    else:  # pragma: no cover - checked before
        raise InputError(f"power: task kind {kind} is not supported")
    strata = None
    if opts.get("stratify_by_label") and kind == "binary":
        strata = np.asarray(out[0]["y"], dtype=np.int64)
    return [Table(kind=kind, units=units, row_unit=rows,
                  columns={k: np.asarray(v) for k, v in cols.items()}, strata=strata)
            for cols in out]


def domain(
    kind: str, protocol: Protocol, units: int, opts: dict[str, Any]
) -> tuple[float, float]:
    if kind == "binary":
        return 0.0, 4.0  # near-perfect: AUROC 0.9977
    if kind == "survival":
        return -4.0, 8.0  # score noise sd 55 (C about 0.5) to 0.0003 (the ceiling)
    if kind == "regression":
        return -3.0, 6.0
    if kind == "sets":
        return -6.0, 6.0  # q from 0.0025 to 0.9975
    # scores: the mean itself, around the threshold (or 0)
    tau = protocol.threshold.absolute or 0.0
    span = 10.0 * float(opts["score_sd"]) / math.sqrt(max(units, 1))
    return tau - span, tau + span
