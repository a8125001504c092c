"""From scored tables to a comparison: per-stratum differences and ``compare``."""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from .. import resampling
from ..errors import ComputationError, DegenerateResamplingError, InputError
from ..protocol import Protocol
from ..table import Table
from .bootstrap import (
    _check_paired,
    bootstrap_differences,
    bootstrap_result,
)
from .models import (
    correlated_t,
    hierarchical,
)
from .results import (
    _SPAWN_SE,
    DIRECTION_HIGHER,
    DIRECTION_LOWER,
    SE_RESAMPLES,
    BayesResult,
    Sampler,
)
from .seeds import (
    _child,
    _seed_sequence,
)

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
