"""Bayesian comparison of an entry with each baseline, and the diagnostics that gate it.

Three models, chosen by the protocol's ``bayes.model``:

``bayesian-bootstrap``
    Dirichlet(1, ..., 1) weights over units (drawn within each stratum, every stratum
    keeping its share of the units), the entry and every baseline scored by the metric
    kernel on the *same* weights: each weight vector gives one posterior draw of the
    difference (a metric that is the mean of per-unit values goes through the engine's
    fused :class:`~adjudicator.resampling.Ratio` on the same draws, without weight rows).
    Works for every metric; the draws are independent, so there is no sampler to diagnose
    (only the Monte Carlo error of the probability, rule (2) below).
``correlated-t`` (PyMC)
    Differences ``d_i`` (per unit, from ``kernel.per_unit``) with a Student-t likelihood:
    ``d_i ~ StudentT(nu, mu, sigma)``, ``mu ~ Normal(0, mean_scale * s)``,
    ``sigma ~ HalfNormal(sd_scale * s)``, ``nu - 1 ~ Exponential(1/29)`` (Kruschke 2013).
    With ``bayes.rho = rho > 0`` the units are the folds of a cross-validation and their
    differences are correlated (Nadeau and Bengio 2003; Benavoli et al. 2017, JMLR 18:77):
    ``d ~ MvStudentT(nu, mu 1, sigma^2 ((1 - rho) I + rho 1 1'))``. The decision is on
    ``mu``, the location of the differences, which is the mean difference for symmetric
    differences; differences with at most :data:`MIN_DISTINCT_VALUES` distinct values
    (0/1 accuracies) are refused, because their Student-t location is not their mean, and
    so are per-unit values that do not average to the metric (rmse's squared errors).
``hierarchical`` (PyMC)
    Per-stratum differences ``d_k`` (the metric on the stratum's units) with bootstrap
    standard errors ``se_k`` (:data:`SE_RESAMPLES` paired resamples of the stratum), partial
    pooling in the non-centred form: ``d_k ~ Normal(theta_k, se_k)``,
    ``theta_k = mu + tau z_k``, ``z_k ~ Normal(0, 1)``, ``mu ~ Normal(0, mean_scale * s)``,
    ``tau ~ HalfNormal(sd_scale * s)``. Two decisions: on the population mean ``mu`` and on
    a new stratum ``theta_new = mu + tau z_new``; ``bayes.target`` says which one decides.

Prior scale ``s``: 1 when the prior's ``scale`` is ``metric``; when it is ``data``, the sd
of the differences (correlated-t) or ``sqrt(var(d_k) + mean(se_k^2))`` (hierarchical). For
correlated folds the prior sd of ``mu`` is further multiplied by ``sqrt(1 + n rho / (1 -
rho))``, the Nadeau-Bengio inflation of its standard error, so that with ``mean_scale`` 1
it stays ``sqrt(n)`` times wider than the likelihood, as for independent units.

Direction: every difference is "greater = better": *entry minus baseline* for a metric
where higher is better, *baseline minus entry* where lower is better (rmse, brier, ...).
Each result carries that label (``direction``) next to its probabilities.

Probabilities, with the baseline's margin ``delta`` and ``r = bayes.rope``, as shares of
the posterior draws of the difference::

    probability  = P(diff > delta)                      the criterion
    rope.below   = P(diff < delta - r)                  practically worse than required
    rope.inside  = P(delta - r <= diff <= delta + r)    practically equal to the margin
    rope.above   = P(diff > delta + r)                  practically better than required

(below + inside + above = 1; with ``r = 0`` inside is the share of draws exactly at the
margin). The HDI (ArviZ) is at the protocol's ``resampling.confidence``. The Monte Carlo
standard error of ``probability`` is ``sqrt(p (1 - p) / N)`` for independent draws and
ArviZ's ``mcse`` of the indicator ``diff > delta`` for Markov chains.

The gate, in this order, for each preregistered prior:

(1) sampler diagnostics (PyMC models): the largest R-hat over every free parameter at most
    ``max_r_hat``, the smallest bulk and tail ESS at least ``min_ess_bulk``/``min_ess_tail``,
    divergent transitions at most ``max_divergences``; otherwise INCONCLUSIVE (``passed``
    None) with the failing numbers;
(2) Monte Carlo error: when ``|probability - min_probability| <= monte_carlo_z * MCSE``,
    the sampling noise could flip the decision: INCONCLUSIVE;
(3) passed when ``probability >= min_probability``, else failed.

With several priors the criterion fails when any prior conclusively fails, is INCONCLUSIVE
when any other is inconclusive, and passes only when every prior passes; the headline
fields describe that deciding prior (else the least favourable one).

Seeds: every function takes ``seed`` (a :class:`numpy.random.SeedSequence`, a
:class:`numpy.random.Generator` or a non-negative int). Streams are derived from it by
fixed spawn keys (weights; baseline ``i`` and prior ``j`` for the sampler), so the same
inputs give the same numbers, whatever the number of cores.

Samplers: nutpie (default; the PyMC model compiled with numba) or PyMC's own NUTS
(``sampler="pymc"``), which ``benchmarks/bayes.py`` measured 20-30 times slower warm. The
numbers depend on the sampler, never on ``cores``.

Compiled models are cached per process (:func:`clear_model_cache`), keyed by the model
structure (and the number of strata, which fixes the parameter vector): the data and the
prior scales are ``pm.Data`` containers, so a second adjudication under the same protocol,
and every further prior, only swaps data into the compiled model.
"""

from __future__ import annotations

import math
import os
import tempfile
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import arviz as az
import numpy as np

from . import resampling
from .errors import ComputationError, DegenerateResamplingError, InputError
from .protocol import Bayes, Prior, Protocol
from .table import Table

__all__ = [
    "DIRECTION_HIGHER",
    "DIRECTION_LOWER",
    "MIN_DISTINCT_VALUES",
    "Summary",
    "Rope",
    "Diagnosis",
    "Decision",
    "BayesResult",
    "compare",
    "bootstrap_differences",
    "bootstrap_result",
    "correlated_t",
    "hierarchical",
    "stratum_differences",
    "decide",
    "save_inference_data",
    "clear_model_cache",
    "model_cache_info",
]

DIRECTION_HIGHER = "entry minus baseline"
DIRECTION_LOWER = "baseline minus entry"

#: correlated-t refuses differences with this many distinct values or fewer (see above)
MIN_DISTINCT_VALUES = 5

#: bootstrap resamples behind each stratum's standard error in the hierarchical model
SE_RESAMPLES = 1000

_SPAWN_WEIGHTS = 0
_SPAWN_SAMPLER = 1
_SPAWN_SE = 2
_SPAWN_NEW_STRATUM = 3

Sampler = Literal["nutpie", "pymc"]


# -- results ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Summary:
    """Posterior summary of the difference: mean, sd and the HDI at ``hdi_prob``."""

    mean: float
    sd: float
    hdi_low: float
    hdi_high: float
    hdi_prob: float

    def to_dict(self) -> dict[str, Any]:
        return {"mean": self.mean, "sd": self.sd, "hdi": [self.hdi_low, self.hdi_high],
                "hdi_prob": self.hdi_prob}


@dataclass(frozen=True)
class Rope:
    """Posterior shares below, inside and above ``[low, high] = [margin - r, margin + r]``."""

    low: float
    high: float
    below: float
    inside: float
    above: float

    def to_dict(self) -> dict[str, float]:
        return {"low": self.low, "high": self.high, "below": self.below,
                "inside": self.inside, "above": self.above}


@dataclass(frozen=True)
class Diagnosis:
    """Sampler diagnostics and which bounds they fail (empty ``failures``: all fine).

    ``sampler`` is ``"independent"`` for the Bayesian bootstrap (no chains: R-hat and
    divergences are None, the ESS is the number of draws).
    """

    sampler: str
    chains: int
    draws: int
    r_hat: float | None
    ess_bulk: float
    ess_tail: float
    divergences: int | None
    failures: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.failures

    def to_dict(self) -> dict[str, Any]:
        return {"sampler": self.sampler, "chains": self.chains, "draws": self.draws,
                "r_hat": _json_float(self.r_hat), "ess_bulk": _json_float(self.ess_bulk),
                "ess_tail": _json_float(self.ess_tail),
                "divergences": self.divergences, "ok": self.ok,
                "failures": list(self.failures)}


@dataclass(frozen=True)
class Decision:
    """The decision under one prior for one target (``population`` or ``new-stratum``)."""

    prior: str | None
    target: str
    summary: Summary
    probability: float
    probability_mcse: float
    rope: Rope
    diagnostics: Diagnosis
    passed: bool | None
    reasons: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"prior": self.prior, "target": self.target, "probability": self.probability,
                "probability_mcse": self.probability_mcse, "summary": self.summary.to_dict(),
                "rope": self.rope.to_dict(), "diagnostics": self.diagnostics.to_dict(),
                "passed": self.passed, "reasons": list(self.reasons)}


@dataclass(frozen=True)
class BayesResult:
    """The Bayesian criterion against one baseline.

    ``decisions`` holds one :class:`Decision` per preregistered prior and target (for the
    Bayesian bootstrap: one, prior None); ``deciding`` is the one the headline fields and
    ``passed`` come from (module docstring). ``inference_data`` maps ``prior name`` to the
    ArviZ InferenceData of the PyMC models (empty for the Bayesian bootstrap); save it with
    :func:`save_inference_data`.
    """

    baseline: str
    model: str
    direction: str
    margin: float
    min_probability: float
    target: str
    decisions: tuple[Decision, ...]
    deciding: Decision
    passed: bool | None
    seed: dict[str, Any]
    inference_data: Mapping[str, Any] = field(default_factory=dict, repr=False,
                                              compare=False)

    @property
    def probability(self) -> float:
        return self.deciding.probability

    def to_dict(self) -> dict[str, Any]:
        """The criterion as it goes into ``criteria[]`` of result.json."""
        d = self.deciding
        return {
            "kind": "bayes",
            "baseline": self.baseline,
            "model": self.model,
            "direction": self.direction,
            "target": self.target,
            "statement": f"P({self.direction} > {self.margin:g}) >= {self.min_probability:g}",
            "margin": self.margin,
            "probability": d.probability,
            "probability_mcse": d.probability_mcse,
            "min_probability": self.min_probability,
            "summary": d.summary.to_dict(),
            "rope": d.rope.to_dict(),
            "diagnostics": d.diagnostics.to_dict(),
            "prior": d.prior,
            "passed": self.passed,
            "reasons": list(d.reasons),
            "decisions": [x.to_dict() for x in self.decisions],
            "seed": self.seed,
        }


# -- seeds --------------------------------------------------------------------------------


def _seed_sequence(seed: object) -> np.random.SeedSequence:
    if isinstance(seed, np.random.SeedSequence):
        return seed
    if isinstance(seed, np.random.Generator):
        # consumes 256 bits of the generator: deterministic for a generator in a given
        # state; integer entropy, as the resampling engine requires
        return np.random.SeedSequence(int.from_bytes(seed.bytes(32), "big"))
    if isinstance(seed, (int, np.integer)) and not isinstance(seed, bool) and seed >= 0:
        return np.random.SeedSequence(int(seed))
    raise InputError(
        "`seed` must be a numpy SeedSequence, Generator or non-negative int, got "
        f"{type(seed).__name__}"
    )


def _child(ss: np.random.SeedSequence, *key: int) -> np.random.SeedSequence:
    # explicit spawn keys instead of ss.spawn(): spawn() counts calls, keys do not
    return np.random.SeedSequence(ss.entropy, spawn_key=(*ss.spawn_key, *key),
                                  pool_size=ss.pool_size)


def _int_seed(ss: np.random.SeedSequence) -> int:
    return int(ss.generate_state(1, np.uint32)[0])


def _seed_record(ss: np.random.SeedSequence) -> dict[str, Any]:
    # entropy as a decimal string, as the resampling engine records it (JSON readers lose
    # integers above 2**53)
    entropy = ss.entropy
    text = (" ".join(str(int(e)) for e in entropy) if isinstance(entropy, Sequence)
            else str(entropy))
    return {"entropy": text, "spawn_key": [int(k) for k in ss.spawn_key]}


def _json_float(x: float | None) -> float | str | None:
    return x if x is None or math.isfinite(x) else str(x)


# -- summaries and the gate ---------------------------------------------------------------


def _summary(draws: np.ndarray, hdi_prob: float) -> Summary:
    flat = np.asarray(draws, dtype=np.float64).ravel()
    low, high = az.hdi(flat, hdi_prob=hdi_prob)
    return Summary(mean=float(flat.mean()), sd=float(flat.std(ddof=1)),
                   hdi_low=float(low), hdi_high=float(high), hdi_prob=float(hdi_prob))


def _rope(draws: np.ndarray, margin: float, rope: float) -> Rope:
    flat = np.asarray(draws).ravel()
    n = flat.size
    low, high = margin - rope, margin + rope
    below = int(np.count_nonzero(flat < low))
    above = int(np.count_nonzero(flat > high))
    return Rope(low=low, high=high, below=below / n, inside=(n - below - above) / n,
                above=above / n)


def _probability(draws: np.ndarray, margin: float) -> tuple[float, float]:
    """P(diff > margin) and its Monte Carlo standard error (ArviZ mcse of the indicator)."""
    x = np.asarray(draws)
    ind = (x > margin).astype(np.float64)
    p = float(ind.mean())
    if x.ndim == 1:  # independent draws
        return p, math.sqrt(p * (1 - p) / x.size)
    if p in (0.0, 1.0):
        return p, 0.0
    return p, float(np.ravel(az.mcse(ind, method="mean"))[0])


def decide(
    draws: np.ndarray,
    *,
    margin: float,
    rope: float,
    min_probability: float,
    hdi_prob: float,
    diagnosis: Diagnosis,
    monte_carlo_z: float,
    prior: str | None = None,
    target: str = "population",
) -> Decision:
    """Summarise posterior draws of the difference and apply the gate (module docstring).

    ``draws`` is 1-D for independent draws, ``(chains, draws)`` for MCMC (the MCSE of the
    probability then accounts for autocorrelation).
    """
    p, mcse = _probability(draws, margin)
    reasons: list[str] = []
    passed: bool | None
    # (1) sampler diagnostics
    if not diagnosis.ok:
        passed = None
        reasons.extend(diagnosis.failures)
    # (2) Monte Carlo error could flip the decision
    elif abs(p - min_probability) <= monte_carlo_z * mcse:
        passed = None
        reasons.append(
            f"P = {p:.4f} is within {monte_carlo_z:g} Monte Carlo standard errors "
            f"({mcse:.4f}) of min_probability {min_probability:g}"
        )
    # (3) the criterion
    else:
        passed = p >= min_probability
        reasons.append(f"P = {p:.4f} {'>=' if passed else '<'} {min_probability:g}")
    return Decision(prior=prior, target=target, summary=_summary(draws, hdi_prob),
                    probability=p, probability_mcse=mcse, rope=_rope(draws, margin, rope),
                    diagnostics=diagnosis, passed=passed, reasons=tuple(reasons))


def _combine(decisions: Sequence[Decision]) -> Decision:
    """The deciding decision over priors: a failure, else an inconclusive one, else the
    least favourable pass."""
    failed = [d for d in decisions if d.passed is False]
    if failed:
        return min(failed, key=lambda d: d.probability)
    undecided = [d for d in decisions if d.passed is None]
    if undecided:
        return undecided[0]
    return min(decisions, key=lambda d: d.probability)


def _result(
    *, baseline: str, model: str, direction: str, bayes: Bayes, margin: float,
    decisions: Sequence[Decision], ss: np.random.SeedSequence,
    inference_data: Mapping[str, Any] | None = None,
) -> BayesResult:
    target = bayes.target if model == "hierarchical" else "population"
    deciding = _combine([d for d in decisions if d.target == target])
    return BayesResult(baseline=baseline, model=model, direction=direction, margin=margin,
                       min_probability=bayes.min_probability, target=target,
                       decisions=tuple(decisions), deciding=deciding,
                       passed=deciding.passed, seed=_seed_record(ss),
                       inference_data=dict(inference_data or {}))


def _diagnose(idata: Any, bayes: Bayes, names: Sequence[str], sampler: str) -> Diagnosis:
    post = idata.posterior[list(names)]
    rhat = az.rhat(post)
    bulk = az.ess(post, method="bulk")
    tail = az.ess(post, method="tail")
    # an undefined statistic (constant draws: NaN) counts as failing: R-hat inf, ESS 0
    r_hat = max(float(np.max(np.where(np.isnan(rhat[v].values), math.inf, rhat[v].values)))
                for v in names)
    ess_bulk = min(float(np.min(np.nan_to_num(bulk[v].values, nan=0.0))) for v in names)
    ess_tail = min(float(np.min(np.nan_to_num(tail[v].values, nan=0.0))) for v in names)
    div = int(np.asarray(idata.sample_stats["diverging"]).sum())
    b = bayes.diagnostics
    failures = []
    if not r_hat <= b.max_r_hat:
        failures.append(f"R-hat {r_hat:.4f} > {b.max_r_hat:g}")
    if not ess_bulk >= b.min_ess_bulk:
        failures.append(f"bulk ESS {ess_bulk:.0f} < {b.min_ess_bulk}")
    if not ess_tail >= b.min_ess_tail:
        failures.append(f"tail ESS {ess_tail:.0f} < {b.min_ess_tail}")
    if div > b.max_divergences:
        failures.append(f"{div} divergent transitions > {b.max_divergences}")
    post0 = idata.posterior
    return Diagnosis(sampler=sampler, chains=int(post0.sizes["chain"]),
                     draws=int(post0.sizes["chain"] * post0.sizes["draw"]), r_hat=r_hat,
                     ess_bulk=ess_bulk, ess_tail=ess_tail, divergences=div,
                     failures=tuple(failures))


# -- the Bayesian bootstrap ---------------------------------------------------------------


def _check_paired(entry: Table, baselines: Mapping[str, Table]) -> None:
    if not baselines:
        raise InputError("`baselines` must name at least one baseline table")
    for name, t in baselines.items():
        if t.kind != entry.kind or t.n_units != entry.n_units or not np.array_equal(
            t.units, entry.units
        ) or not np.array_equal(t.row_unit, entry.row_unit):
            raise InputError(
                f"baseline {name!r}: its table must have the entry's units and rows "
                "(the comparison is paired)"
            )


def bootstrap_differences(
    kernel: Callable[..., Any],
    entry: Table,
    baselines: Mapping[str, Table],
    *,
    draws: int,
    seed: object,
    higher_is_better: bool,
    workers: int = 1,
) -> dict[str, np.ndarray]:
    """Bayesian-bootstrap posterior draws of the difference, per baseline.

    Every draw is one Dirichlet(1, ..., 1) weight vector over the units (within each
    stratum of ``entry.strata``), from the resampling engine's ``bayesian`` scheme (block
    streams: the draws do not depend on ``workers``); the entry and every baseline are
    scored on the same weights. A metric that is the plain mean of per-unit values
    (``kernel.per_unit``, checked against the metric) is evaluated by the engine's fused
    :class:`~adjudicator.resampling.Ratio` (about 3x faster), any other by the kernel on
    weight rows. Returns ``{baseline: (draws,) array}`` oriented "greater = better".

    Raises
    ------
    DegenerateResamplingError
        When a draw leaves the metric undefined (NaN) for the entry or a baseline.
    """
    if isinstance(draws, bool) or not isinstance(draws, int) or draws < 1:
        raise InputError(f"`draws` must be a positive integer, got {draws!r}")
    _check_paired(entry, baselines)
    ss = _child(_seed_sequence(seed), _SPAWN_WEIGHTS)
    sign = 1.0 if higher_is_better else -1.0
    tables = [entry, *baselines.values()]
    statistic: Any = _mean_of_units(kernel, tables)
    if statistic is None:

        def statistic(w: np.ndarray) -> np.ndarray:
            return np.stack([np.asarray(kernel(t, w), dtype=np.float64) for t in tables],
                            axis=1)

    reps = resampling.bootstrap(statistic, entry.n_units, resamples=draws, seed=ss,
                                strata=entry.strata, scheme="bayesian", workers=workers)
    v = reps.values
    out = {name: sign * (v[:, 0] - v[:, 1 + j]) for j, name in enumerate(baselines)}
    for name, d in out.items():
        bad = int(np.count_nonzero(~np.isfinite(d)))
        if bad:
            raise DegenerateResamplingError(
                f"baseline {name!r}: the metric is undefined under {bad} of {draws} "
                "Bayesian-bootstrap weight vectors"
            )
    return out


def _mean_of_units(kernel: Any, tables: Sequence[Table]) -> resampling.Ratio | None:
    """The engine's fused weighted mean when the metric is the plain mean of per-unit values.

    Such a metric on integer weights is the mean with units repeated, so on any weights it
    is the weighted mean of the per-unit values: :class:`resampling.Ratio` computes it while
    drawing, without weight rows (the same draws; the sums may differ in the last bits from
    the kernel's). None when the metric does not decompose so (AUROC, rmse, ...).
    """
    per_unit = getattr(kernel, "per_unit", None)
    if per_unit is None:
        return None
    columns = []
    for t in tables:
        v = per_unit(t)
        if v is None:
            return None
        v = np.asarray(v, dtype=np.float64)
        if not np.isfinite(v).all() or not math.isclose(
            float(v.mean()), float(kernel(t)), rel_tol=1e-9, abs_tol=1e-12
        ):
            return None
        columns.append(v)
    return resampling.Ratio.mean(np.column_stack(columns))


def bootstrap_result(
    differences: np.ndarray,
    *,
    bayes: Bayes,
    margin: float,
    hdi_prob: float,
    seed: object,
    baseline: str = "baseline",
    direction: str = DIRECTION_HIGHER,
) -> BayesResult:
    """The Bayesian-bootstrap criterion from its draws (see :func:`bootstrap_differences`)."""
    d = np.asarray(differences, dtype=np.float64)
    diag = Diagnosis(sampler="independent", chains=1, draws=d.size, r_hat=None,
                     ess_bulk=float(d.size), ess_tail=float(d.size), divergences=None)
    dec = decide(d, margin=margin, rope=bayes.rope, min_probability=bayes.min_probability,
                 hdi_prob=hdi_prob, diagnosis=diag,
                 monte_carlo_z=bayes.diagnostics.monte_carlo_z)
    return _result(baseline=baseline, model="bayesian-bootstrap", direction=direction,
                   bayes=bayes, margin=margin, decisions=[dec], ss=_seed_sequence(seed))


# -- PyMC models, compiled once per structure ---------------------------------------------

_CACHE: dict[tuple[Any, ...], Any] = {}
_CACHE_LOCK = threading.Lock()
_CACHE_STATS = {"hits": 0, "misses": 0}


def clear_model_cache() -> None:
    """Forget every compiled model (the next fit compiles again)."""
    with _CACHE_LOCK:
        _CACHE.clear()
        _CACHE_STATS.update(hits=0, misses=0)


def model_cache_info() -> dict[str, int]:
    """Cached structures, hits and misses since the last :func:`clear_model_cache`."""
    with _CACHE_LOCK:
        return {"models": len(_CACHE), **_CACHE_STATS}


def _pymc() -> Any:
    # imported on first use: PyMC and PyTensor take seconds to import, and most commands
    # (and the Bayesian bootstrap) never need them
    import pymc

    return pymc


def _build(structure: str, size: int) -> Any:
    pm = _pymc()
    import pytensor.tensor as pt

    with pm.Model() as model:
        mean_sd = pm.Data("mean_sd", 1.0)
        sd_sd = pm.Data("sd_sd", 1.0)
        mu = pm.Normal("mu", 0.0, mean_sd)
        if structure == "hierarchical":
            # the number of strata fixes the parameter vector: it is part of the cache key
            d = pm.Data("d", np.zeros(size))
            se = pm.Data("se", np.ones(size))
            tau = pm.HalfNormal("tau", sd_sd)
            z = pm.Normal("z", 0.0, 1.0, shape=size)
            pm.Normal("obs", mu + tau * z, se, observed=d)
            return model
        sigma = pm.HalfNormal("sigma", sd_sd)
        nu_minus_one = pm.Exponential("nu_minus_one", 1 / 29)
        nu = nu_minus_one + 1
        if structure == "t-independent":
            # distinct values with their counts: exact, and fast for tied differences
            values = pm.Data("values", np.zeros(2))
            counts = pm.Data("counts", np.ones(2))
            logp = pm.logp(pm.StudentT.dist(nu=nu, mu=mu, sigma=sigma), values)
            pm.Potential("likelihood", (counts * logp).sum())
            return model
        if structure == "t-folds":
            # MvStudentT(nu, mu 1, sigma^2 ((1 - rho) I + rho 1 1')) written out: the
            # compound-symmetric scale has a closed-form inverse and determinant, which
            # compiles and samples far faster than the generic Cholesky of pm.MvStudentT
            x = pm.Data("x", np.zeros(2))
            rho = pm.Data("rho", 0.1)
            k = pt.cast(x.shape[0], "float64")
            r = x - mu
            a = 1 - rho + k * rho
            quad = ((r**2).sum() - rho / a * r.sum() ** 2) / (sigma**2 * (1 - rho))
            logdet = 2 * k * pt.log(sigma) + (k - 1) * pt.log(1 - rho) + pt.log(a)
            logp = (pt.gammaln((nu + k) / 2) - pt.gammaln(nu / 2)
                    - k / 2 * pt.log(nu * np.pi) - logdet / 2
                    - (nu + k) / 2 * pt.log1p(quad / nu))
            pm.Potential("likelihood", logp)
            return model
    raise ValueError(f"unknown model structure {structure!r}")  # pragma: no cover


def _compiled(structure: str, size: int, sampler: Sampler) -> Any:
    key = (structure, size, sampler)
    with _CACHE_LOCK:
        hit = _CACHE.get(key)
        if hit is not None:
            _CACHE_STATS["hits"] += 1
            return hit
        _CACHE_STATS["misses"] += 1
        model = _build(structure, size)
        if sampler == "nutpie":
            import nutpie

            hit = nutpie.compile_pymc_model(model)
        else:
            hit = model
        _CACHE[key] = hit
        return hit


def _sample(
    structure: str, data: Mapping[str, Any], *, bayes: Bayes, seed: int, sampler: Sampler,
    cores: int | None,
) -> Any:
    chains = bayes.chains
    per_chain = -(-bayes.draws // chains)
    cores = min(chains, cores or os.cpu_count() or 1)
    size = len(data["d"]) if structure == "hierarchical" else 0
    compiled = _compiled(structure, size, sampler)
    try:
        if sampler == "nutpie":
            import nutpie

            return nutpie.sample(compiled.with_data(**data), draws=per_chain,
                                 tune=bayes.tune, chains=chains, cores=cores, seed=seed,
                                 progress_bar=False, save_warmup=False,
                                 target_accept=bayes.target_accept)
        pm = _pymc()
        with _CACHE_LOCK:  # the cached pm.Model is shared: set its data and sample in turn
            with compiled:
                pm.set_data(dict(data))
                return pm.sample(draws=per_chain, tune=bayes.tune, chains=chains,
                                 cores=cores, random_seed=seed, progressbar=False,
                                 target_accept=bayes.target_accept,
                                 compute_convergence_checks=False)
    except Exception as exc:
        raise ComputationError(f"{structure} model: the {sampler} sampler failed: {exc}") \
            from exc
    except BaseException as exc:
        # a Rust panic inside nutpie arrives as pyo3's PanicException, a BaseException
        if type(exc).__name__ != "PanicException":
            raise
        raise ComputationError(f"{structure} model: the {sampler} sampler failed: {exc}") \
            from exc


def _prior_scales(prior: Prior, data_scale: float, mean_factor: float = 1.0) -> dict[str, float]:
    if prior.scale == "metric":
        return {"mean_sd": prior.mean_scale, "sd_sd": prior.sd_scale}
    return {"mean_sd": prior.mean_scale * data_scale * mean_factor,
            "sd_sd": prior.sd_scale * data_scale}


def _check_bayes(bayes: object, margin: object, hdi_prob: object,
                 sampler: object = "nutpie") -> None:
    if sampler not in ("nutpie", "pymc"):
        raise InputError(f"`sampler` must be 'nutpie' or 'pymc', got {sampler!r}")
    if not isinstance(bayes, Bayes):
        raise InputError(f"`bayes` must be a protocol Bayes block, got {type(bayes).__name__}")
    if isinstance(margin, bool) or not isinstance(margin, (int, float)) or not math.isfinite(
        margin
    ):
        raise InputError(f"`margin` must be a finite number, got {margin!r}")
    if isinstance(hdi_prob, bool) or not isinstance(hdi_prob, float) or not 0 < hdi_prob < 1:
        raise InputError(f"`hdi_prob` must be in (0, 1), got {hdi_prob!r}")


def _vector(x: object, name: str, *, min_size: int) -> np.ndarray:
    a = np.asarray(x, dtype=np.float64)
    if a.ndim != 1 or a.size < min_size:
        raise InputError(f"`{name}` must be a 1-D array of at least {min_size} values")
    if not np.isfinite(a).all():
        raise InputError(f"`{name}` must be finite")
    return a


def correlated_t(
    differences: object,
    *,
    bayes: Bayes,
    margin: float,
    hdi_prob: float,
    seed: object,
    baseline: str = "baseline",
    direction: str = DIRECTION_HIGHER,
    sampler: Sampler = "nutpie",
    cores: int | None = None,
) -> BayesResult:
    """The correlated-t criterion on differences oriented "greater = better".

    ``differences`` are per unit (``bayes.rho`` None or 0) or per fold (``bayes.rho`` > 0,
    the Nadeau-Bengio correlation: the test share of a fold). One decision per prior in
    ``bayes.priors``, on ``mu``.

    Raises
    ------
    DegenerateResamplingError
        When the differences are all equal, or take at most :data:`MIN_DISTINCT_VALUES`
        distinct values (their Student-t location is not their mean).
    """
    _check_bayes(bayes, margin, hdi_prob, sampler)
    d = _vector(differences, "differences", min_size=3)
    values, counts = np.unique(d, return_counts=True)
    if values.size <= MIN_DISTINCT_VALUES:
        raise DegenerateResamplingError(
            f"correlated-t: the differences take only {values.size} distinct value(s), "
            "so the Student-t location is not their mean; preregister bayesian-bootstrap "
            "for such metrics"
        )
    rho = bayes.rho or 0.0
    ss = _seed_sequence(seed)
    data_scale = float(d.std(ddof=1))
    decisions, idatas = [], {}
    # Nadeau-Bengio: correlated folds carry less information than independent units; the
    # mean's prior widens by the same factor as its standard error, so that it stays
    # sqrt(n) times wider than the likelihood, as for independent units
    inflation = math.sqrt(1 + d.size * rho / (1 - rho))
    for j, prior in enumerate(bayes.priors):
        scales = _prior_scales(prior, data_scale, inflation)
        if rho > 0:
            structure, data = "t-folds", {"x": d, "rho": rho, **scales}
        else:
            structure, data = "t-independent", {"values": values,
                                                "counts": counts.astype(np.float64), **scales}
        idata = _sample(structure, data, bayes=bayes,
                        seed=_int_seed(_child(ss, _SPAWN_SAMPLER, j)), sampler=sampler,
                        cores=cores)
        diag = _diagnose(idata, bayes, ("mu", "sigma", "nu_minus_one"), sampler)
        mu = idata.posterior["mu"].values
        decisions.append(decide(mu, margin=margin, rope=bayes.rope,
                                min_probability=bayes.min_probability, hdi_prob=hdi_prob,
                                diagnosis=diag, monte_carlo_z=bayes.diagnostics.monte_carlo_z,
                                prior=prior.name))
        idata.posterior.attrs.update(_idata_attrs("correlated-t", baseline, direction,
                                                  prior, margin))
        idatas[prior.name] = idata
    return _result(baseline=baseline, model="correlated-t", direction=direction, bayes=bayes,
                   margin=margin, decisions=decisions, ss=ss, inference_data=idatas)


def hierarchical(
    differences: object,
    standard_errors: object,
    *,
    bayes: Bayes,
    margin: float,
    hdi_prob: float,
    seed: object,
    baseline: str = "baseline",
    direction: str = DIRECTION_HIGHER,
    sampler: Sampler = "nutpie",
    cores: int | None = None,
) -> BayesResult:
    """The hierarchical criterion on per-stratum differences and their standard errors.

    Two decisions per prior: ``population`` (on ``mu``) and ``new-stratum`` (on
    ``mu + tau z_new``, ``z_new`` drawn from the seed); ``bayes.target`` picks the one that
    decides. The InferenceData carries ``theta_new`` in its posterior.
    """
    _check_bayes(bayes, margin, hdi_prob, sampler)
    d = _vector(differences, "differences", min_size=2)
    se = _vector(standard_errors, "standard_errors", min_size=2)
    if se.size != d.size:
        raise InputError("`standard_errors` must have one value per stratum difference")
    if (se <= 0).any():
        raise DegenerateResamplingError(
            "hierarchical: every stratum needs a positive standard error, got "
            f"{np.round(se, 6).tolist()}"
        )
    ss = _seed_sequence(seed)
    data_scale = float(math.sqrt(d.var(ddof=1) + float(np.mean(se**2))))
    decisions, idatas = [], {}
    for j, prior in enumerate(bayes.priors):
        data = {"d": d, "se": se, **_prior_scales(prior, data_scale)}
        idata = _sample("hierarchical", data, bayes=bayes,
                        seed=_int_seed(_child(ss, _SPAWN_SAMPLER, j)), sampler=sampler,
                        cores=cores)
        diag = _diagnose(idata, bayes, ("mu", "tau", "z"), sampler)
        post = idata.posterior
        mu, tau = post["mu"].values, post["tau"].values
        z_new = np.random.default_rng(_child(ss, _SPAWN_NEW_STRATUM, j)).standard_normal(
            mu.shape)
        theta_new = mu + tau * z_new
        post["theta_new"] = (("chain", "draw"), theta_new)
        for target, draws in (("population", mu), ("new-stratum", theta_new)):
            decisions.append(decide(draws, margin=margin, rope=bayes.rope,
                                    min_probability=bayes.min_probability,
                                    hdi_prob=hdi_prob, diagnosis=diag,
                                    monte_carlo_z=bayes.diagnostics.monte_carlo_z,
                                    prior=prior.name, target=target))
        post.attrs.update(_idata_attrs("hierarchical", baseline, direction, prior, margin))
        idatas[prior.name] = idata
    return _result(baseline=baseline, model="hierarchical", direction=direction, bayes=bayes,
                   margin=margin, decisions=decisions, ss=ss, inference_data=idatas)


def _idata_attrs(model: str, baseline: str, direction: str, prior: Prior,
                 margin: float) -> dict[str, Any]:
    return {"adjudicator_model": model, "baseline": baseline, "direction": direction,
            "prior": prior.name, "prior_scale": prior.scale,
            "prior_mean_scale": prior.mean_scale, "prior_sd_scale": prior.sd_scale,
            "margin": margin}


# -- from tables --------------------------------------------------------------------------


def _subset(table: Table, units: np.ndarray) -> Table:
    """The table restricted to the units with indices ``units`` (sorted)."""
    keep_rows = np.isin(table.row_unit, units)
    remap = np.full(table.n_units, -1, dtype=np.int64)
    remap[units] = np.arange(units.size)
    return Table(kind=table.kind, units=table.units[units].copy(),
                 row_unit=remap[table.row_unit[keep_rows]],
                 columns={k: v[keep_rows].copy() for k, v in table.columns.items()},
                 strata=None, meta=table.meta)


def stratum_differences(
    kernel: Callable[..., Any],
    entry: Table,
    baseline: Table,
    *,
    higher_is_better: bool,
    seed: object,
    resamples: int = SE_RESAMPLES,
) -> tuple[np.ndarray, np.ndarray]:
    """Per-stratum differences (greater = better) and their bootstrap standard errors.

    The standard error of stratum ``k`` is the sd of the difference over ``resamples``
    paired bootstrap resamples (multinomial counts) of that stratum's units.
    """
    _check_paired(entry, {"baseline": baseline})
    if entry.strata is None:
        raise InputError("hierarchical: the table has no strata (task.strata)")
    ss = _child(_seed_sequence(seed), _SPAWN_SE)
    sign = 1.0 if higher_is_better else -1.0
    codes = np.unique(entry.strata)
    d, se = np.empty(codes.size), np.empty(codes.size)
    for i, k in enumerate(codes):
        units = np.flatnonzero(entry.strata == k)
        if units.size < 2:
            raise DegenerateResamplingError(
                f"hierarchical: stratum {int(k)} holds {units.size} unit(s); a standard "
                "error needs at least 2"
            )
        e_k, b_k = _subset(entry, units), _subset(baseline, units)
        d[i] = sign * (float(kernel(e_k)) - float(kernel(b_k)))

        def statistic(w: np.ndarray, e_k: Table = e_k, b_k: Table = b_k) -> np.ndarray:
            diff: np.ndarray = np.asarray(kernel(e_k, w)) - np.asarray(kernel(b_k, w))
            return diff

        reps = sign * resampling.bootstrap(statistic, units.size, resamples=resamples,
                                           seed=_child(ss, int(k)),
                                           scheme="bootstrap").values[:, 0]
        reps = reps[np.isfinite(reps)]
        if reps.size < resamples // 2:
            raise DegenerateResamplingError(
                f"stratum {int(k)}: the metric is undefined in most bootstrap resamples"
            )
        se[i] = reps.std(ddof=1)
    return d, se


def _per_unit(kernel: Any, table: Table, metric: str) -> np.ndarray:
    """Per-unit values whose mean is the metric itself, or ComputationError."""
    values = kernel.per_unit(table)
    if values is None:
        raise ComputationError(
            f"correlated-t: the metric {metric} does not decompose over units; preregister "
            "bayesian-bootstrap or hierarchical"
        )
    values = np.asarray(values, dtype=np.float64)
    whole = float(kernel(table))
    # the margin is in metric units: the mean of the per-unit values must be the metric
    # (rmse's per-unit values are squared errors, whose mean is the mse)
    if not math.isclose(float(values.mean()), whole, rel_tol=1e-9, abs_tol=1e-12):
        raise ComputationError(
            f"correlated-t: the per-unit values of {metric} average to {values.mean():.6g}, "
            f"not to the metric {whole:.6g}, so a margin in metric units does not apply to "
            "them; preregister bayesian-bootstrap or hierarchical"
        )
    return values


def compare(
    protocol: Protocol,
    kernel: Callable[..., Any],
    entry: Table,
    baselines: Mapping[str, Table],
    *,
    seed: object,
    sampler: Sampler = "nutpie",
    cores: int | None = None,
) -> tuple[BayesResult, ...]:
    """The Bayesian criterion of ``protocol.bayes`` against every baseline of the protocol.

    ``kernel`` is the protocol's metric kernel; ``baselines`` maps every baseline name of
    ``protocol.threshold.baselines`` to its scored table (same units as ``entry``). Results
    come in the protocol's baseline order. ``cores`` and ``sampler`` change the running
    time, never the numbers for a given sampler.
    """
    bayes = protocol.bayes
    if bayes is None:
        raise InputError("the protocol has no bayes block")
    names = [b.name for b in protocol.threshold.baselines]
    missing = [n for n in names if n not in baselines]
    if missing:
        raise InputError(f"no scored table for baseline(s) {', '.join(missing)}")
    _check_paired(entry, baselines)
    hib = protocol.higher_is_better
    direction = DIRECTION_HIGHER if hib else DIRECTION_LOWER
    hdi_prob = protocol.resampling.confidence
    ss = _seed_sequence(seed)
    if bayes.model == "bayesian-bootstrap":
        draws = bootstrap_differences(kernel, entry, {n: baselines[n] for n in names},
                                      draws=bayes.draws, seed=ss, higher_is_better=hib,
                                      workers=max(1, cores or os.cpu_count() or 1))
        return tuple(
            bootstrap_result(draws[b.name], bayes=bayes, margin=b.margin, hdi_prob=hdi_prob,
                             seed=ss, baseline=b.name, direction=direction)
            for b in protocol.threshold.baselines
        )
    results = []
    for i, b in enumerate(protocol.threshold.baselines):
        child = _child(ss, 100 + i)
        if bayes.model == "correlated-t":
            diff = (1.0 if hib else -1.0) * (
                _per_unit(kernel, entry, protocol.metric.name)
                - _per_unit(kernel, baselines[b.name], protocol.metric.name))
            results.append(correlated_t(diff, bayes=bayes, margin=b.margin,
                                        hdi_prob=hdi_prob, seed=child, baseline=b.name,
                                        direction=direction, sampler=sampler, cores=cores))
        else:
            d, se = stratum_differences(kernel, entry, baselines[b.name],
                                        higher_is_better=hib, seed=child)
            results.append(hierarchical(d, se, bayes=bayes, margin=b.margin,
                                        hdi_prob=hdi_prob, seed=child, baseline=b.name,
                                        direction=direction, sampler=sampler, cores=cores))
    return tuple(results)


# -- the edge: writing InferenceData ------------------------------------------------------


def save_inference_data(result: BayesResult, path: str | os.PathLike[str]) -> tuple[Path, ...]:
    """Write the result's InferenceData as NetCDF; returns the files written.

    One prior: ``path`` itself. Several: ``<stem>.<prior>.nc`` beside it. Each file is
    written to a temporary name and renamed, so a reader never sees half a file. Nothing
    is written for the Bayesian bootstrap (no InferenceData).
    """
    path = Path(path)
    items = list(result.inference_data.items())
    written = []
    for name, idata in items:
        target = path if len(items) == 1 else path.with_name(f"{path.stem}.{name}.nc")
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
        os.close(fd)
        try:
            idata.to_netcdf(tmp)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        written.append(target)
    return tuple(written)
