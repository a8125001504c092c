"""The PyMC models (correlated-t, hierarchical), compiled once per structure."""

from __future__ import annotations

import math
import os
import threading
from collections.abc import Mapping
from typing import Any

import numpy as np

from ..errors import ComputationError, DegenerateResamplingError, InputError
from ..protocol import Bayes, Prior
from .gate import (
    _diagnose,
    _result,
    decide,
)
from .results import (
    _SPAWN_NEW_STRATUM,
    _SPAWN_SAMPLER,
    DIRECTION_HIGHER,
    MIN_DISTINCT_VALUES,
    BayesResult,
    Sampler,
)
from .seeds import (
    _child,
    _int_seed,
    _seed_sequence,
)

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
