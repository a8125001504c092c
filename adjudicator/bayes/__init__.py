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

from .bootstrap import (
    bootstrap_differences,
    bootstrap_result,
)
from .gate import (
    decide,
)
from .io import (
    save_inference_data,
)
from .models import (
    clear_model_cache,
    correlated_t,
    hierarchical,
    model_cache_info,
)
from .results import (
    DIRECTION_HIGHER,
    DIRECTION_LOWER,
    MIN_DISTINCT_VALUES,
    BayesResult,
    Decision,
    Diagnosis,
    Rope,
    Summary,
)
from .tables import (
    compare,
    stratum_differences,
)

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
