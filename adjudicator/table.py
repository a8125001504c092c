"""The scored table: what metric kernels and the resampling engine see.

A :class:`Table` is the validated join of the sequestered truth and one prediction set,
reduced to numpy arrays in a canonical order (units sorted by id, rows sorted by unit then
keys). It carries no file names and no pandas: it is the hand-off between the edges
(:mod:`adjudicator.data`) and the pure statistics (:mod:`adjudicator.metrics`,
:mod:`adjudicator.resampling`).

Weights are always per *unit*: ``weights[b, u]`` is how many times (or how much) unit ``u``
counts in resample ``b``. A unit with several rows (``task.keys``, or a cluster) carries
its weight to each of its rows through :attr:`Table.row_unit`.

Columns by task kind (every array has one entry per row):

============ =========================================================================
kind         columns
============ =========================================================================
binary       ``y`` (bool, True = the protocol's positive class), ``score`` (float;
             higher = more likely positive, already flipped when direction is 'lower')
survival     ``time`` (float), ``event`` (bool), ``score`` (float; higher = higher risk,
             already flipped when the prediction is a survival time)
regression   ``y`` (float), ``pred`` (float)
sets         one row per unit: ``tp`` (int, |predicted & true|), ``n_pred`` (int,
             |predicted|), ``n_true`` (int, |true|)
scores       ``score`` (float, one per row: one per unit unless ``task.keys``)
============ =========================================================================

Built by :mod:`adjudicator.data` (``Submission.table``, or ``table_from_frames`` for
in-memory data): ``meta`` holds the truth's summary (rows, units, class balance or
censoring share, strata sizes); ``strata`` the codes of the sorted distinct combinations
of ``task.strata``. With several prediction columns the first is scored. Sets: a unit
with an empty predicted or true set has ``n_pred`` or ``n_true`` 0.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["Table", "expand_weights"]


@dataclass(frozen=True, eq=False)
class Table:
    """Truth joined with one set of predictions, as arrays in canonical order.

    Attributes
    ----------
    kind
        The task kind of the protocol.
    units
        Unit ids, sorted, unique, as strings; ``n_units = len(units)``.
    row_unit
        For each row, the index of its unit in :attr:`units` (non-decreasing).
    columns
        Arrays by name, one entry per row (see the module docstring).
    strata
        Per unit, an integer stratum code (``0..n_strata-1``), or None when unstratified.
    meta
        Free-form facts for reports (class balance, censoring share, ...).
    """

    kind: str
    units: np.ndarray
    row_unit: np.ndarray
    columns: Mapping[str, np.ndarray]
    strata: np.ndarray | None = None
    meta: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        n_rows = len(self.row_unit)
        for name, col in self.columns.items():
            if len(col) != n_rows:
                raise ValueError(f"column {name!r} has {len(col)} rows, expected {n_rows}")
        if self.strata is not None and len(self.strata) != len(self.units):
            raise ValueError("strata must have one code per unit")
        for arr in (self.units, self.row_unit, *self.columns.values()):
            arr.setflags(write=False)
        if self.strata is not None:
            self.strata.setflags(write=False)

    @property
    def n_units(self) -> int:
        return len(self.units)

    @property
    def n_rows(self) -> int:
        return len(self.row_unit)

    @property
    def one_row_per_unit(self) -> bool:
        return self.n_rows == self.n_units

    def __getitem__(self, name: str) -> np.ndarray:
        return self.columns[name]

    def with_columns(self, **columns: np.ndarray) -> Table:
        """A copy with some columns replaced (e.g. a baseline's predictions)."""
        return Table(
            kind=self.kind,
            units=self.units,
            row_unit=self.row_unit,
            columns={**self.columns, **columns},
            strata=self.strata,
            meta=self.meta,
        )


def expand_weights(table: Table, weights: np.ndarray) -> np.ndarray:
    """Per-unit weights ``(B, n_units)`` to per-row weights ``(B, n_rows)``."""
    if table.one_row_per_unit:
        return weights
    return weights[:, table.row_unit]
