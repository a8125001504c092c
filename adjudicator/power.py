"""Power before launch: the minimum detectable metric of a protocol, by simulation.

Pure (numpy only, plus the core): protocol + planned number of units -> :class:`PowerResult`.

For each task kind a one-parameter synthetic family ``d`` (higher d = a better entry):

============ =============================================================================
kind         family
============ =============================================================================
binary       ``y ~ Bernoulli(positive_share)``; ``x = d y + N(0, 1)`` (binormal); the score
             is the calibrated probability ``P(y = 1 | x)``, so AUROC, AUPRC, Brier and
             log loss all move with d (AUROC = Phi(d / sqrt 2))
survival     a latent risk ``z ~ N(0, 1)``; event time ``~ Exponential(exp(g z))`` with the
             hazard strength ``g``; independent exponential censoring tuned to the share
             ``censoring`` (default 0.3); the prediction (a risk score) is
             ``z + exp(-d) N(0, 1)``. A perfect score's C-index is the family's ceiling
             (about 0.92 at g = 4, 0.96 at g = 8, 0.98 at g = 16); by default g is the
             smallest of 4, 8, 16 whose ceiling clears every target by 0.01
regression   ``y ~ N(0, 1)``; prediction ``y + exp(-d) N(0, 1)`` (y = prediction + noise);
             ``per_unit_pearson_mean`` draws ``rows_per_unit`` rows per unit (default 20)
sets         true set size ``1 + Poisson(set_size - 1)`` (default ``set_size`` 10); the
             predicted set has as many elements, each true element in it with probability
             ``q = logistic(d)``, so precision, recall and F1 all equal q in expectation
scores       per-unit scores ``N(d, score_sd)``: d is the true mean
============ =============================================================================

The true metric of each d is the metric on one very large sample (``reference_units``). For
each d, ``simulations`` test sets of ``units`` units are drawn, each resampled with the
protocol's own kernel, method, confidence and convention (``resamples`` per test set, which
may be fewer than the protocol's; recorded), and an entry counts as certified when the
criterion's bootstrap p-value is at most alpha_k under the protocol's spending rule (by
default alpha_1, the first submission's; ``sequence`` picks a later one). The adjudicator's
extra resampling of undecided p-values is not simulated. The test sets reuse the same
random numbers for every d (common random numbers), so the certification rate is monotone
up to resampling noise, and d is found by bisection: the smallest d whose rate reaches
``power``. ``certifiable`` is False when even a near-perfect entry (the family's best d)
does not reach it.

With ``baseline_value`` (the baseline's true metric) the protocol's first baseline (or
``baseline``) is simulated from the same family (same truth, independent noise) at the d
giving that value, and the minimum detectable improvement is found the same way, for that
baseline criterion alone (every kind; paired, as the adjudicator resamples the entry and the
baseline with the same weights).

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

SUPPORTED_KINDS = ("binary", "survival", "regression", "sets", "scores")
_BISECTIONS = 14
_REFERENCE_UNITS = 20_000
_REFERENCE_ROWS = 400_000  # several rows per unit: at most this many, but >= 2,000 units
_HAZARD_STRENGTHS = (4.0, 8.0, 16.0)


def _reference_units(units: int, opts: dict[str, Any]) -> int:
    """Units of the one large sample that gives each d its true metric."""
    per_unit = int(opts.get("rows_per_unit", 1))
    if per_unit == 1:
        return max(units, _REFERENCE_UNITS)
    return max(units, min(_REFERENCE_UNITS, max(2_000, _REFERENCE_ROWS // per_unit)))


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
            f"{self.units} units, at alpha_{self.sequence} = {self.alpha_k:.4g} "
            f"({self.rule}), "
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

    truth: np.ndarray  # binary: uniform for y; survival: exponential(1); regression: normal
    #                    per row; sets: the true set sizes (ints); scores: unused
    extra: np.ndarray  # survival: exponential(1) for censoring; else unused
    latent: np.ndarray  # survival: the latent risk z ~ N(0, 1); else unused
    preds: tuple[np.ndarray, ...]  # one per prediction (entry, baseline): standard normals
    #                                (one per row), sets: uniforms (units x largest set)


def _noise(kind: str, n: int, rng: np.random.Generator, k: int, opts: dict[str, Any]) -> _Noise:
    empty = np.empty(0)
    if kind == "binary":
        return _Noise(rng.random(n), empty, empty, tuple(rng.standard_normal(n)
                                                         for _ in range(k)))
    if kind == "survival":
        truth, extra, z = (rng.standard_exponential(n), rng.standard_exponential(n),
                           rng.standard_normal(n))
        return _Noise(truth, extra, z, tuple(rng.standard_normal(n) for _ in range(k)))
    if kind == "sets":
        sizes = 1 + rng.poisson(float(opts["set_size"]) - 1.0, n)
        width = int(sizes.max())
        return _Noise(sizes, empty, empty, tuple(rng.random((n, width)) for _ in range(k)))
    rows = n * int(opts.get("rows_per_unit", 1))
    truth = rng.standard_normal(rows) if kind == "regression" else empty
    return _Noise(truth, empty, empty, tuple(rng.standard_normal(rows) for _ in range(k)))


def _logit(p: float) -> float:
    return math.log(p / (1 - p))


def _censoring_rate(g: float, z: np.ndarray, share: float) -> float:
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


def _tables(kind: str, noise: _Noise, ds: tuple[float, ...], opts: dict[str, Any],
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
            logit = _logit(pi) + d * x - d * d / 2
            out.append({"y": y, "score": 1.0 / (1.0 + np.exp(-np.clip(logit, -700, 700)))})
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


def _domain(
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
        self.noises = [_noise(self.kind, units, np.random.default_rng(s.spawn(1)[0]), k, opts)
                       for s in seeds]
        self.boot_seeds = [s.spawn(2)[1] for s in seeds]
        ref_seed = derive_seed(protocol.digest, "power", "reference")
        self.reference = _noise(self.kind, _reference_units(units, opts),
                                np.random.default_rng(ref_seed), k, opts)
        self.lc = (_censoring_rate(float(opts["hazard_strength"]), self.reference.latent,
                                   float(opts["censoring"]))
                   if self.kind == "survival" else 0.0)
        self.fallbacks = 0
        self.constant = 0

    def true_metric(self, d: float) -> float:
        t = _tables(self.kind, self.reference, (d,), self.opts, self.lc)[0]
        return float(self.kernel(t))

    def certified(self, ds: tuple[float, ...], null: float, contrast: bool) -> float:
        """Share of simulated test sets in which the criterion is certified."""
        spec = self.p.resampling
        lc = self.lc
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


def _targets(protocol: Protocol, baseline_value: float | None,
             baseline: str | None) -> list[float]:
    """The true metrics an entry must beat: the threshold, the baseline value plus margin."""
    out = []
    if protocol.threshold.absolute is not None:
        out.append(float(protocol.threshold.absolute))
    if baseline_value is not None and protocol.threshold.baselines:
        name = baseline or protocol.threshold.baselines[0].name
        margins = [x.margin for x in protocol.threshold.baselines if x.name == name]
        out.append(baseline_value + (margins[0] if margins else 0.0))
    return out


def _pick_strength(protocol: Protocol, units: int, opts: dict[str, Any], hi: float,
                   baseline_value: float | None, baseline: str | None) -> float:
    """Survival: the smallest hazard strength whose ceiling clears every target by 0.01."""
    need = max(_targets(protocol, baseline_value, baseline), default=0.0) + 0.01
    for g in _HAZARD_STRENGTHS:
        trial = dict(opts, hazard_strength=g)
        sim = _Simulator(protocol, units, simulations=0, resamples=50, alpha=0.05,
                         opts=trial, purpose="ceiling", k=1)
        if sim.true_metric(hi) > need:
            return g
    return _HAZARD_STRENGTHS[-1]


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
    hazard_strength: float | None = None,
    rows_per_unit: int = 20,
    set_size: float = 10.0,
    sequence: int = 1,
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
    sequence
        The submission whose alpha_k is used (1, the first, by default; a later one has a
        smaller alpha_k under most rules).
    positive_share, censoring, score_sd, hazard_strength, rows_per_unit, set_size
        The family's options (binary; survival; scores; survival; regression with
        ``per_unit_pearson_mean``; sets); see the module docstring. ``hazard_strength``
        None picks the smallest of 4, 8, 16 whose ceiling clears every target.

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
    if hazard_strength is not None and not 0 < hazard_strength <= 64:
        raise InputError(f"power: hazard strength must be in (0, 64], got {hazard_strength!r}")
    if (isinstance(rows_per_unit, bool) or not isinstance(rows_per_unit, int)
            or not 3 <= rows_per_unit <= 10_000):
        raise InputError(f"power: rows per unit must be an integer in [3, 10000], got "
                         f"{rows_per_unit!r}")
    if not 1 <= set_size <= 1_000:
        raise InputError(f"power: set size must be in [1, 1000], got {set_size!r}")
    if baseline_value is not None and not math.isfinite(baseline_value):
        raise InputError("power: the baseline value must be finite")
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
    elif kind == "sets":
        opts["set_size"] = float(set_size)
    if protocol.metric.name == "per_unit_pearson_mean":
        opts["rows_per_unit"] = rows_per_unit
    notes = [
        f"certified means the bootstrap p-value <= alpha_{sequence}; the adjudicator's extra "
        "resampling of undecided p-values is not simulated",
    ]
    if opts.get("stratify_by_label"):
        notes.append("the protocol stratifies; the simulation stratifies by the label")
    try:
        alpha = mult.alpha_for(protocol.multiplicity, sequence)
    except AdjudicatorError as exc:
        raise InputError(f"power: sequence: {exc}") from exc
    hib = protocol.higher_is_better
    lo, hi = _domain(kind, protocol, units, opts)
    if kind == "survival":
        opts["hazard_strength"] = (float(hazard_strength) if hazard_strength is not None
                                   else _pick_strength(protocol, units, opts, hi,
                                                       baseline_value, baseline))

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
                         f"{best_metric:.4g}) does not cross the threshold {tau:g}"
                         + (f" (hazard strength {opts['hazard_strength']:g}; a larger "
                            "--hazard-strength raises the ceiling)" if kind == "survival"
                            else ""))
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
        power=float(power), alpha_k=alpha, sequence=sequence, rule=protocol.multiplicity.rule,
        simulations=simulations, resamples=b, protocol_resamples=spec.resamples,
        method=spec.method, confidence=spec.confidence, family=opts,
        absolute=absolute, baseline=base_part, notes=tuple(notes),
    )
