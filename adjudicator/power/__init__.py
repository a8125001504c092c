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
from typing import Any

from .. import multiplicity as mult
from ..errors import AdjudicatorError, InputError
from ..protocol import Protocol
from .families import HAZARD_STRENGTHS, domain
from .result import PowerResult
from .simulation import Simulator, invert, search

__all__ = ["PowerResult", "minimum_detectable", "SUPPORTED_KINDS"]

SUPPORTED_KINDS = ("binary", "survival", "regression", "sets", "scores")


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
    for g in HAZARD_STRENGTHS:
        trial = dict(opts, hazard_strength=g)
        sim = Simulator(protocol, units, simulations=0, resamples=50, alpha=0.05,
                         opts=trial, purpose="ceiling", k=1)
        if sim.true_metric(hi) > need:
            return g
    return HAZARD_STRENGTHS[-1]


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
    lo, hi = domain(kind, protocol, units, opts)
    if kind == "survival":
        opts["hazard_strength"] = (float(hazard_strength) if hazard_strength is not None
                                   else _pick_strength(protocol, units, opts, hi,
                                                       baseline_value, baseline))

    absolute = None
    if protocol.threshold.absolute is not None:
        tau = float(protocol.threshold.absolute)
        sim = Simulator(protocol, units, simulations=simulations, resamples=b, alpha=alpha,
                         opts=opts, purpose=f"absolute:{seed}", k=1)
        best_metric = sim.true_metric(hi)
        if (best_metric > tau) if hib else (best_metric < tau):
            d, rate, best = search(lambda d: sim.certified((d,), tau, False), lo, hi, power)
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
        sim_b = Simulator(protocol, units, simulations=simulations, resamples=b, alpha=alpha,
                           opts=opts, purpose=f"baseline:{name}:{seed}", k=2)
        if kind == "scores":
            d_b = float(baseline_value)
            lo_b = d_b
            hi_b = d_b + abs(margin) + 12.0 * score_sd / math.sqrt(units) + 1.0
        else:
            d_b = invert(sim_b, float(baseline_value), lo, hi)
            lo_b, hi_b = d_b, hi
        d, rate, best = search(lambda d: sim_b.certified((d, d_b), null, True),
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
