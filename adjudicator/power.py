"""Power before launch: the minimum detectable metric of a protocol, by simulation.

Pure (numpy only, plus the core): protocol + planned number of units -> :class:`PowerResult`.

For each task kind a one-parameter synthetic family ``d`` (higher d = a better entry):

============ =============================================================================
kind         family
============ =============================================================================
binary       ``y ~ Bernoulli(positive_share)``; ``x = d y + N(0, 1)`` (binormal); the score
             is the calibrated probability ``P(y = 1 | x)``, so AUROC, AUPRC, Brier and
             log loss all move with d (AUROC = Phi(d / sqrt 2))
survival     ``s ~ N(0, 1)`` the score; event time ``~ Exponential(exp(d s))`` (log-hazard
             linear in the score); independent exponential censoring tuned to the share
             ``censoring`` (default 0.3)
regression   ``y ~ N(0, 1)``; prediction ``y + exp(-d) N(0, 1)`` (y = prediction + noise)
scores       per-unit scores ``N(d, score_sd)``: d is the true mean
sets         not supported
============ =============================================================================

The true metric of each d is the metric on one very large sample (``reference_units``).
For each d, ``simulations`` test sets of ``units`` units are drawn, each resampled with the
protocol's own kernel, method, confidence and convention (``resamples`` per test set, which
may be fewer than the protocol's; recorded), and an entry counts as certified when the
criterion's bootstrap p-value is at most alpha_1 (the first submission's alpha under the
protocol's spending rule). The adjudicator's extra resampling of undecided p-values is
not simulated. The test sets reuse the same random numbers for every d (common random
numbers), so the certification rate is monotone up to resampling noise, and d is found by
bisection: the smallest d whose rate reaches ``power``. ``certifiable`` is False when even a
near-perfect entry (the family's best d) does not reach it.

With ``baseline_value`` (the baseline's true metric) the protocol's first baseline (or
``baseline``) is simulated from the same family (same truth, independent noise) at the d
giving that value, and the minimum detectable improvement is found the same way, for that
baseline criterion alone (binary, regression and scores; survival is not supported).

Everything is seeded from ``derive_seed(protocol.digest, "power", ...)``: the same inputs
give the same numbers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from . import multiplicity as mult
from .errors import (
    AdjudicatorError,
    ComputationError,
    DegenerateResamplingError,
    InputError,
)
from .metrics import get_kernel
from .protocol import Protocol
from .resampling import bootstrap, derive_seed, jackknife, summarize
from .table import Table

__all__ = ["PowerResult", "minimum_detectable", "SUPPORTED_KINDS"]

SUPPORTED_KINDS = ("binary", "survival", "regression", "scores")
_BISECTIONS = 10
_REFERENCE_UNITS = 20_000


@dataclass(frozen=True)
class PowerResult:
    """What a committee records before launch (``to_dict`` for JSON)."""

    protocol_id: str
    protocol_digest: str
    metric: str
    higher_is_better: bool
    kind: str
    units: int
    power: float
    alpha_k: float
    sequence: int
    rule: str
    simulations: int
    resamples: int
    protocol_resamples: int
    method: str
    confidence: float
    family: dict[str, Any]
    absolute: dict[str, Any] | None
    baseline: dict[str, Any] | None
    notes: tuple[str, ...] = field(default=())

    @property
    def certifiable(self) -> bool:
        parts = [p for p in (self.absolute, self.baseline) if p is not None]
        return all(p["certifiable"] for p in parts)

    def to_dict(self) -> dict[str, Any]:
        return {
            "protocol": {"id": self.protocol_id, "digest": self.protocol_digest},
            "metric": {"name": self.metric, "higher_is_better": self.higher_is_better},
            "kind": self.kind, "units": self.units, "power": self.power,
            "alpha_k": self.alpha_k, "sequence": self.sequence, "rule": self.rule,
            "simulations": self.simulations, "resamples": self.resamples,
            "protocol_resamples": self.protocol_resamples, "method": self.method,
            "confidence": self.confidence, "family": dict(self.family),
            "certifiable": self.certifiable,
            "absolute": self.absolute, "baseline": self.baseline, "notes": list(self.notes),
        }

    def summary(self) -> str:
        """A few readable lines."""
        better = "higher" if self.higher_is_better else "lower"
        lines = [
            f"Power of protocol {self.protocol_id} ({self.metric}, {better} is better) with "
            f"{self.units} units, at alpha_1 = {self.alpha_k:.4g} ({self.rule}), "
            f"power {self.power:g}:",
        ]
        a = self.absolute
        if a is not None:
            if a["certifiable"]:
                lines.append(
                    f"  absolute threshold {a['threshold']:g}: minimum detectable true "
                    f"{self.metric} {a['minimum_detectable']:.4f} (certified in "
                    f"{a['rate']:.0%} of simulations)")
            else:
                lines.append(
                    f"  absolute threshold {a['threshold']:g}: NOT CERTIFIABLE with "
                    f"{self.units} units: even a near-perfect entry (true {self.metric} "
                    f"{a['best_metric']:.4f}) is certified in only {a['best_rate']:.0%} "
                    "of simulations")
        b = self.baseline
        if b is not None:
            head = (f"  baseline '{b['name']}' (true {self.metric} {b['baseline_value']:g}, "
                    f"margin {b['margin']:g}): ")
            if b["certifiable"]:
                lines.append(head + f"minimum detectable improvement "
                             f"{b['minimum_detectable_improvement']:.4f} (entry "
                             f"{b['minimum_detectable']:.4f}, certified in "
                             f"{b['rate']:.0%} of simulations)")
            else:
                lines.append(head + "NOT CERTIFIABLE with this many units (best rate "
                             f"{b['best_rate']:.0%})")
        lines.append(
            f"  by simulation: {self.simulations} test sets per effect, {self.resamples} "
            f"resamples each (the protocol preregisters {self.protocol_resamples}), "
            f"{self.method} at confidence {self.confidence:g}; family {self.family}")
        lines.extend(f"  note: {n}" for n in self.notes)
        return "\n".join(lines)


# -- the synthetic families ------------------------------------------------------------------


@dataclass(frozen=True)
class _Noise:
    """The standard random numbers of one test set, reused for every effect d."""

    truth: np.ndarray  # binary: uniform for y; survival: exponential(1); others: normal
    extra: np.ndarray  # survival: exponential(1) for censoring; else unused
    preds: tuple[np.ndarray, ...]  # one standard normal per prediction (entry, baseline)


def _noise(kind: str, n: int, rng: np.random.Generator, k: int) -> _Noise:
    truth = rng.random(n) if kind == "binary" else (
        rng.standard_exponential(n) if kind == "survival" else rng.standard_normal(n))
    extra = rng.standard_exponential(n) if kind == "survival" else np.empty(0)
    preds = tuple(rng.standard_normal(n) for _ in range(k))
    return _Noise(truth, extra, preds)


def _logit(p: float) -> float:
    return math.log(p / (1 - p))


def _censoring_rate(d: float, s: np.ndarray, share: float) -> float:
    """lambda_c with E[lambda_c / (lambda_c + exp(d s))] = share (independent exponentials)."""
    if share <= 0:
        return 0.0
    h = np.exp(d * s)
    lo, hi = -30.0, 30.0
    for _ in range(80):
        mid = (lo + hi) / 2
        lc = math.exp(mid)
        if float(np.mean(lc / (lc + h))) < share:
            lo = mid
        else:
            hi = mid
    return math.exp((lo + hi) / 2)


def _tables(kind: str, noise: _Noise, ds: tuple[float, ...], opts: dict[str, Any],
            lc: float = 0.0) -> list[Table]:
    """One table per prediction (same truth): the entry at ds[0], a baseline at ds[1]."""
    n = noise.truth.size
    units = np.array([f"u{i:07d}" for i in range(n)])
    rows = np.arange(n)
    out = []
    if kind == "binary":
        pi = float(opts["positive_share"])
        y = noise.truth < pi
        for d, e in zip(ds, noise.preds, strict=False):
            x = d * y + e
            logit = _logit(pi) + d * x - d * d / 2
            out.append({"y": y, "score": 1.0 / (1.0 + np.exp(-np.clip(logit, -700, 700)))})
    elif kind == "survival":
        d = ds[0]
        s = noise.preds[0]
        t_event = noise.truth / np.exp(d * s)
        if lc > 0:
            t_cens = noise.extra / lc
            event = t_event <= t_cens
            time = np.minimum(t_event, t_cens)
        else:
            event, time = np.ones(n, dtype=bool), t_event
        out.append({"time": time, "event": event, "score": s})
    elif kind == "regression":
        y = noise.truth
        for d, e in zip(ds, noise.preds, strict=False):
            out.append({"y": y, "pred": y + math.exp(-d) * e})
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


def _domain(
    kind: str, protocol: Protocol, units: int, opts: dict[str, Any]
) -> tuple[float, float]:
    if kind == "binary":
        return 0.0, 4.0  # near-perfect: AUROC 0.9977
    if kind == "survival":
        return 0.0, 8.0
    if kind == "regression":
        return -3.0, 6.0
    # scores: the mean itself, around the threshold (or 0)
    tau = protocol.threshold.absolute or 0.0
    span = 10.0 * float(opts["score_sd"]) / math.sqrt(max(units, 1))
    return tau - span, tau + span


# -- simulation ------------------------------------------------------------------------------


class _Simulator:
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
        self.noises = [_noise(self.kind, units, np.random.default_rng(s.spawn(1)[0]), k)
                       for s in seeds]
        self.boot_seeds = [s.spawn(2)[1] for s in seeds]
        ref_seed = derive_seed(protocol.digest, "power", "reference")
        self.reference = _noise(self.kind, max(_REFERENCE_UNITS, units),
                                np.random.default_rng(ref_seed), k)
        self._lc: dict[float, float] = {}
        self.fallbacks = 0
        self.constant = 0

    def censoring(self, d: float) -> float:
        if self.kind != "survival":
            return 0.0
        if d not in self._lc:
            self._lc[d] = _censoring_rate(d, self.reference.preds[0],
                                          float(self.opts["censoring"]))
        return self._lc[d]

    def true_metric(self, d: float) -> float:
        t = _tables(self.kind, self.reference, (d,), self.opts, self.censoring(d))[0]
        return float(self.kernel(t))

    def certified(self, ds: tuple[float, ...], null: float, contrast: bool) -> float:
        """Share of simulated test sets in which the criterion is certified."""
        spec = self.p.resampling
        lc = self.censoring(ds[0])
        hits = 0
        for noise, seed in zip(self.noises, self.boot_seeds, strict=True):
            tables = _tables(self.kind, noise, ds, self.opts, lc)
            kernel = self.kernel
            statistic = _paired(kernel, tables)

            try:
                estimates = np.array([kernel(t) for t in tables], dtype=np.float64)
                n = tables[0].n_units
                loo: Any = None
                if spec.method == "bca":
                    exact = [kernel.leave_one_out(t) for t in tables]
                    if all(x is not None for x in exact):
                        loo = (np.column_stack(exact), "exact-loo")
                    else:
                        loo = jackknife(statistic, n)
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


def _paired(kernel: Any, tables: list[Table]) -> Any:
    def statistic(w: np.ndarray) -> np.ndarray:
        return np.column_stack([kernel(t, w) for t in tables])

    return statistic


def _search(rate_of: Any, lo: float, hi: float, power: float) -> tuple[float, float, float]:
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
    for _ in range(_BISECTIONS):
        mid = (lo + hi) / 2
        r = rate_of(mid)
        if r >= power:
            hi, r_hi = mid, r
        else:
            lo = mid
    return hi, r_hi, best


def _invert(sim: _Simulator, value: float, lo: float, hi: float) -> float:
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


def minimum_detectable(
    protocol: Protocol,
    units: int,
    *,
    baseline_value: float | None = None,
    baseline: str | None = None,
    power: float = 0.8,
    simulations: int = 200,
    resamples: int | None = None,
    seed: str = "0",
    positive_share: float | None = None,
    censoring: float = 0.3,
    score_sd: float = 1.0,
) -> PowerResult:
    """The smallest true metric (and improvement over a baseline) certified with ``power``.

    Parameters
    ----------
    protocol
        The preregistered protocol (its metric, resampling and spending rule are used).
    units
        The planned number of test units.
    baseline_value
        The true metric of the protocol's baseline (``baseline``, default its first); then
        the minimum detectable improvement over it is found as well.
    power
        The required probability of certification, in (0, 1).
    simulations, resamples
        Simulated test sets per effect, and resamples per test set (default: the
        protocol's, at most 1000).
    seed
        Mixed into ``derive_seed(protocol.digest, "power", ...)``.
    positive_share, censoring, score_sd
        The family's options (binary, survival, scores); see the module docstring.

    Raises
    ------
    InputError
        Bad numbers, a task kind or metric the families do not cover, or a baseline value
        the family cannot reach.
    """
    kind = protocol.task.kind
    if kind not in SUPPORTED_KINDS:
        raise InputError(f"power: task kind '{kind}' is not supported (supported: "
                         f"{', '.join(SUPPORTED_KINDS)})")
    if protocol.metric.name == "per_unit_pearson_mean":
        raise InputError("power: metric per_unit_pearson_mean (several rows per unit) is not "
                         "supported")
    if isinstance(units, bool) or not isinstance(units, int) or units < 10:
        raise InputError(f"power: units must be an integer >= 10, got {units!r}")
    if not (isinstance(power, (int, float)) and 0 < power < 1):
        raise InputError(f"power: power must be in (0, 1), got {power!r}")
    if isinstance(simulations, bool) or not isinstance(simulations, int) or simulations < 10:
        raise InputError(f"power: simulations must be an integer >= 10, got {simulations!r}")
    spec = protocol.resampling
    b = min(spec.resamples, 1000) if resamples is None else resamples
    if isinstance(b, bool) or not isinstance(b, int) or b < 50:
        raise InputError(f"power: resamples must be an integer >= 50, got {b!r}")
    pi = positive_share if positive_share is not None else 0.5
    if not 0 < pi < 1:
        raise InputError(f"power: positive share must be in (0, 1), got {pi!r}")
    if not 0 <= censoring < 1:
        raise InputError(f"power: censoring must be in [0, 1), got {censoring!r}")
    if not score_sd > 0:
        raise InputError(f"power: score_sd must be > 0, got {score_sd!r}")
    if protocol.threshold.absolute is None and baseline_value is None:
        raise InputError("power: the protocol has no absolute threshold; give --baseline-value")

    opts: dict[str, Any] = {"kind": kind}
    if kind == "binary":
        opts["positive_share"] = pi
        opts["stratify_by_label"] = bool(protocol.task.strata)
    elif kind == "survival":
        opts["censoring"] = censoring
    elif kind == "scores":
        opts["score_sd"] = score_sd
    notes = [
        "certified means the bootstrap p-value <= alpha_1; the adjudicator's extra "
        "resampling of undecided p-values is not simulated",
    ]
    if opts.get("stratify_by_label"):
        notes.append("the protocol stratifies; the simulation stratifies by the label")
    alpha = mult.alpha_for(protocol.multiplicity, 1)
    hib = protocol.higher_is_better
    lo, hi = _domain(kind, protocol, units, opts)

    absolute = None
    if protocol.threshold.absolute is not None:
        tau = float(protocol.threshold.absolute)
        sim = _Simulator(protocol, units, simulations=simulations, resamples=b, alpha=alpha,
                         opts=opts, purpose=f"absolute:{seed}", k=1)
        best_metric = sim.true_metric(hi)
        if (best_metric > tau) if hib else (best_metric < tau):
            d, rate, best = _search(lambda d: sim.certified((d,), tau, False), lo, hi, power)
        else:  # even the family's best entry does not cross the threshold
            d, rate, best = math.nan, math.nan, 0.0
            notes.append(f"absolute: the family's best entry (true {protocol.metric.name} "
                         f"{best_metric:.4g}) does not cross the threshold {tau:g}")
        ok = not math.isnan(d)
        if sim.constant:
            notes.append(f"absolute: {sim.constant} simulated test sets had every replicate "
                         "equal (perfect separation): not certified, as the adjudicator "
                         "cannot resample such a sample")
        if sim.fallbacks:
            notes.append(f"absolute: {sim.fallbacks} simulated intervals fell back from "
                         f"{spec.method} to percentile (degenerate, or too few resamples)")
        absolute = {
            "threshold": tau, "certifiable": ok,
            "minimum_detectable": sim.true_metric(d) if ok else None,
            "effect": d if ok else None, "rate": rate if ok else None,
            "best_effect": hi, "best_metric": best_metric, "best_rate": best,
        }

    base_part = None
    if baseline_value is not None:
        if not protocol.threshold.baselines:
            raise InputError("power: --baseline-value given but the protocol names no baseline")
        names = [x.name for x in protocol.threshold.baselines]
        name = baseline or names[0]
        if name not in names:
            raise InputError(f"power: baseline '{name}' is not in the protocol ({names})")
        if kind == "survival":
            raise InputError("power: the improvement over a baseline is not supported for "
                             "survival protocols (the absolute threshold is)")
        if not math.isfinite(baseline_value):
            raise InputError("power: the baseline value must be finite")
        margin = next(x.margin for x in protocol.threshold.baselines if x.name == name)
        null = margin if hib else -margin
        sim_b = _Simulator(protocol, units, simulations=simulations, resamples=b, alpha=alpha,
                           opts=opts, purpose=f"baseline:{name}:{seed}", k=2)
        if kind == "scores":
            d_b = float(baseline_value)
            lo_b = d_b
            hi_b = d_b + abs(margin) + 12.0 * score_sd / math.sqrt(units) + 1.0
        else:
            d_b = _invert(sim_b, float(baseline_value), lo, hi)
            lo_b, hi_b = d_b, hi
        d, rate, best = _search(lambda d: sim_b.certified((d, d_b), null, True),
                                lo_b, hi_b, power)
        ok = not math.isnan(d)
        entry = sim_b.true_metric(d) if ok else None
        base_true = sim_b.true_metric(d_b)
        base_part = {
            "name": name, "margin": margin, "baseline_value": float(baseline_value),
            "baseline_effect": d_b, "certifiable": ok,
            "minimum_detectable": entry,
            "minimum_detectable_improvement": (
                None if entry is None else (entry - base_true if hib else base_true - entry)),
            "effect": d if ok else None, "rate": rate if ok else None, "best_rate": best,
        }
        if sim_b.constant:
            notes.append(f"baseline: {sim_b.constant} simulated test sets had every replicate "
                         "equal (perfect separation): not certified, as the adjudicator "
                         "cannot resample such a sample")
        if sim_b.fallbacks:
            notes.append(f"baseline: {sim_b.fallbacks} simulated intervals fell back from "
                         f"{spec.method} to percentile (degenerate, or too few resamples)")
        notes.append(f"baseline '{name}': same truth, independent noise; its criterion alone")

    return PowerResult(
        protocol_id=protocol.id, protocol_digest=protocol.digest,
        metric=protocol.metric.name, higher_is_better=hib, kind=kind, units=units,
        power=float(power), alpha_k=alpha, sequence=1, rule=protocol.multiplicity.rule,
        simulations=simulations, resamples=b, protocol_resamples=spec.resamples,
        method=spec.method, confidence=spec.confidence, family=opts,
        absolute=absolute, baseline=base_part, notes=tuple(notes),
    )
