"""Simulated certification rates and the search for the smallest certified effect."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..adjudication import paired_leave_one_out, paired_statistic
from ..errors import (
    AdjudicatorError,
    ComputationError,
    DegenerateResamplingError,
    InputError,
)
from ..metrics import get_kernel
from ..protocol import Protocol
from ..resampling import bootstrap, derive_seed, summarize
from .families import censoring_rate, draw_noise, make_tables, reference_units

BISECTIONS = 14


# -- simulation ------------------------------------------------------------------------------


class Simulator:
    def __init__(self, protocol: Protocol, units: int, *, simulations: int, resamples: int,
                 alpha: float, opts: dict[str, Any], purpose: str, k: int) -> None:
        self.p = protocol
        self.kind = protocol.task.kind
        self.kernel = get_kernel(protocol.metric)
        self.alpha = alpha
        self.opts = opts
        self.resamples = resamples
        self.hib = protocol.higher_is_better
        root = derive_seed(protocol.digest, "power", f"{purpose}:{units}:{simulations}")
        seeds = root.spawn(simulations)
        self.noises = [draw_noise(self.kind, units, np.random.default_rng(s.spawn(1)[0]), k, opts)
                       for s in seeds]
        self.boot_seeds = [s.spawn(2)[1] for s in seeds]
        ref_seed = derive_seed(protocol.digest, "power", "reference")
        self.reference = draw_noise(self.kind, reference_units(units, opts),
                                np.random.default_rng(ref_seed), k, opts)
        self.lc = (censoring_rate(float(opts["hazard_strength"]), self.reference.latent,
                                   float(opts["censoring"]))
                   if self.kind == "survival" else 0.0)
        self.fallbacks = 0
        self.constant = 0

    def true_metric(self, d: float) -> float:
        t = make_tables(self.kind, self.reference, (d,), self.opts, self.lc)[0]
        return float(self.kernel(t))

    def certified(self, ds: tuple[float, ...], null: float, contrast: bool) -> float:
        """Share of simulated test sets in which the criterion is certified."""
        spec = self.p.resampling
        lc = self.lc
        hits = 0
        for noise, seed in zip(self.noises, self.boot_seeds, strict=True):
            tables = make_tables(self.kind, noise, ds, self.opts, lc)
            kernel = self.kernel
            statistic = paired_statistic(kernel, tables)

            try:
                estimates = np.array([kernel(t) for t in tables], dtype=np.float64)
                n = tables[0].n_units
                loo: Any = None
                if spec.method == "bca":
                    loo = paired_leave_one_out(kernel, tables, statistic)
                reps = bootstrap(statistic, n, resamples=self.resamples, seed=seed,
                                 strata=tables[0].strata)
                quantity: Any = [1.0, -1.0] if contrast else 0
                common = dict(quantity=quantity, confidence=spec.confidence,
                              convention=spec.convention, nulls={"c": null},
                              direction="higher" if self.hib else "lower")
                try:
                    res = summarize(reps, estimates, method=spec.method, loo=loo, **common)
                except ComputationError:
                    # BCa undefined (every replicate at the maximum: a perfectly separated
                    # sample) or needing more resamples than simulated: the percentile
                    # p-value still says it; counted in the result
                    self.fallbacks += 1
                    try:
                        res = summarize(reps, estimates, method="percentile", **common)
                    except DegenerateResamplingError:
                        # every replicate equal (a perfectly separated sample): the
                        # adjudicator cannot resample it and gives no verdict, so it is not
                        # certified; counted in the notes
                        self.constant += 1
                        continue
                p = res.p_values["c"].p
            except AdjudicatorError:  # a degenerate simulated set is not certified
                continue
            if math.isfinite(p) and p <= self.alpha:
                hits += 1
        return hits / len(self.noises)


def search(rate_of: Any, lo: float, hi: float, power: float) -> tuple[float, float, float]:
    """(smallest d with rate >= power, its rate, rate at hi); d = nan when hi falls short."""
    best = rate_of(hi)
    if best < power:
        # the rate can fall again near perfection (perfectly separated samples are not
        # certified): try a little lower before flagging
        for frac in (0.85, 0.7):
            d = lo + frac * (hi - lo)
            r = rate_of(d)
            if r > best:
                best = r
            if r >= power:
                hi = d
                break
        else:
            return math.nan, math.nan, best
    r_hi = rate_of(hi)
    for _ in range(BISECTIONS):
        mid = (lo + hi) / 2
        r = rate_of(mid)
        if r >= power:
            hi, r_hi = mid, r
        else:
            lo = mid
    return hi, r_hi, best


def invert(sim: Simulator, value: float, lo: float, hi: float) -> float:
    """The d whose true metric is ``value`` (the metric is monotone in d)."""
    f_lo, f_hi = sim.true_metric(lo), sim.true_metric(hi)
    if not (min(f_lo, f_hi) <= value <= max(f_lo, f_hi)):
        raise InputError(
            f"baseline value {value:g} is outside what the synthetic family reaches "
            f"({min(f_lo, f_hi):.4g} to {max(f_lo, f_hi):.4g})")
    increasing = f_hi > f_lo
    for _ in range(50):
        mid = (lo + hi) / 2
        if (sim.true_metric(mid) < value) == increasing:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2
