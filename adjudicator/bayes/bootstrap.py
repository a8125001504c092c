"""The Bayesian bootstrap on the engine's Dirichlet weights."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from .. import resampling
from ..errors import DegenerateResamplingError, InputError
from ..protocol import Bayes
from ..table import Table
from .gate import (
    _result,
    decide,
)
from .results import (
    _SPAWN_WEIGHTS,
    DIRECTION_HIGHER,
    BayesResult,
    Diagnosis,
)
from .seeds import (
    _child,
    _seed_sequence,
)

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
