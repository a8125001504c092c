"""Weighted, batched metric kernels: one per metric of ``protocol/v1``.

Every kernel follows one contract (:class:`Kernel`)::

    kernel = get_kernel(protocol.metric)
    kernel(table)                  # the plain metric, a float (ComputationError if undefined)
    kernel(table, weights)         # weights (B, n_units) -> values (B,), NaN where undefined
    kernel.leave_one_out(table)    # (n_units,) exact leave-one-unit-out values, or None
    kernel.per_unit(table)         # (n_units,) values whose mean is the metric, or None

Weights are per unit: 0 removes a unit, an integer ``k`` counts it ``k`` times, and
scaling a row of weights changes nothing (exactly for a power of two, to rounding
otherwise). One kernel thus serves bootstrap counts, Bayesian-bootstrap Dirichlet weights
and jackknife weights. With integer weights, auroc, auprc, harrell_c and the micro set
metrics are bit-identical to the repeated data (their sums are sums of integers, exact in
float64 below 2**53); the others agree with it to rounding (1e-12 in the tests).

Every sum runs in a fixed order, compensated where it is long (Neumaier), never by a
shape-dependent BLAS or pairwise reduction: a batch of weight rows gives bit-identical
values to row-by-row calls and to any chunking, which the resampling engine relies on for
results independent of block size and worker count. Per-table work (sorting, ranks,
per-unit sums) happens once per call; weight rows are then processed in chunks of at most
``CHUNK_CELLS`` cells, so memory stays bounded whatever ``B`` is.

Undefined values: a weight row that leaves a metric undefined (no positive, no comparable
pair, a constant vector under ``constant: error``, zero total weight) gives NaN in that
row; the plain metric on such data raises :class:`~adjudicator.errors.ComputationError`
with the reason.

Which kernels decompose (:meth:`Kernel.per_unit`): brier, log_loss, mae, mean_score and
rmse (as the mean squared error) when every unit has the same number of rows;
per_unit_pearson_mean; the macro set metrics. Closed-form leave-one-out: auroc and
harrell_c (placement values, ``O(n log n)``), every mean-type metric,
per_unit_pearson_mean and the set metrics; None for auprc, uno_c, pearson and spearman.
"""

from __future__ import annotations

from typing import Any

from ..protocol import METRICS
from ._base import Kernel, check_weights
from .binary import Auprc, Auroc, Brier, LogLoss
from .regression import Mae, Pearson, PerUnitPearsonMean, Rmse, Spearman
from .scores import MeanScore
from .sets import SetKernel
from .survival import HarrellC, UnoC

__all__ = ["Kernel", "get_kernel", "check_weights", "KERNELS"]

#: metric name -> kernel factory taking the metric spec
KERNELS: dict[str, Any] = {
    "auroc": lambda m: Auroc(),
    "auprc": lambda m: Auprc(),
    "brier": lambda m: Brier(),
    "log_loss": lambda m: LogLoss(),
    "harrell_c": lambda m: HarrellC(),
    "uno_c": lambda m: UnoC(truncation=getattr(m, "truncation", None)),
    "rmse": lambda m: Rmse(),
    "mae": lambda m: Mae(),
    "pearson": lambda m: Pearson(constant=getattr(m, "constant", "error")),
    "spearman": lambda m: Spearman(constant=getattr(m, "constant", "error")),
    "per_unit_pearson_mean": lambda m: PerUnitPearsonMean(
        constant=getattr(m, "constant", "error")
    ),
    "set_precision": lambda m: SetKernel("set_precision", m.average, m.zero_division),
    "set_recall": lambda m: SetKernel("set_recall", m.average, m.zero_division),
    "set_f1": lambda m: SetKernel("set_f1", m.average, m.zero_division),
    "mean_score": lambda m: MeanScore(higher_is_better=m.higher_is_better),
}

assert set(KERNELS) == set(METRICS), "every protocol metric needs a kernel"


def get_kernel(metric: Any) -> Kernel:
    """The kernel for a validated metric spec (``protocol.metric``), options applied.

    Examples
    --------
    >>> from adjudicator.protocol import PlainMetric
    >>> get_kernel(PlainMetric(name="auroc"))
    <kernel auroc>
    """
    try:
        factory = KERNELS[metric.name]
    except (AttributeError, KeyError):
        raise ValueError(f"no kernel for metric {getattr(metric, 'name', metric)!r}") from None
    kernel: Kernel = factory(metric)
    return kernel
