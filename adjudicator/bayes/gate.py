"""Posterior summaries, the decision rule and the diagnostics gate."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import arviz as az
import numpy as np

from ..protocol import Bayes
from .results import (
    BayesResult,
    Decision,
    Diagnosis,
    Rope,
    Summary,
)
from .seeds import (
    _seed_record,
)

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
