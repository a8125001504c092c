"""Set kernels: precision, recall and F1 of predicted sets, micro or macro averaged.

The table has one row per unit with ``tp = |predicted & true|``, ``n_pred`` and
``n_true``. Micro pools the counts over units (``sum w tp / sum w n_pred``, F1 =
``2 TP / (N_pred + N_true)``); macro is the weighted mean over units of the per-unit
value (scikit-learn's ``average="samples"``). ``zero_division`` is what a 0/0 counts as,
for a unit (macro) or for the pooled counts (micro).
"""

from __future__ import annotations

import numpy as np

from ..table import Table
from ._base import Kernel, rowdot, rowsum

__all__ = ["SetKernel"]


def _ratio(num: np.ndarray, den: np.ndarray, zero_division: float) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1.0), zero_division)


class SetKernel(Kernel):
    """``set_precision``, ``set_recall`` or ``set_f1``."""

    kind = "sets"
    columns = ("tp", "n_pred", "n_true")
    higher_is_better = True

    def __init__(self, name: str, average: str = "micro", zero_division: int = 0) -> None:
        if name not in ("set_precision", "set_recall", "set_f1"):
            raise ValueError(f"unknown set metric {name!r}")
        if average not in ("micro", "macro"):
            raise ValueError(f"`average` must be 'micro' or 'macro', got {average!r}")
        if zero_division not in (0, 1):
            raise ValueError(f"`zero_division` must be 0 or 1, got {zero_division!r}")
        self.name = name
        self.average = average
        self.zero_division = float(zero_division)

    @property
    def conventions(self) -> str:
        what = {"set_precision": "precision |P & T| / |P|", "set_recall": "recall |P & T| / |T|",
                "set_f1": "F1 2|P & T| / (|P| + |T|)"}[self.name]
        how = ("micro: counts pooled over units" if self.average == "micro"
               else "macro: the mean over units of each unit's value")
        return f"set {what}; {how}; 0/0 counts as {int(self.zero_division)}"

    def _num_den(self, table: Table) -> tuple[np.ndarray, np.ndarray]:
        tp = np.asarray(table["tp"], float)
        n_pred = np.asarray(table["n_pred"], float)
        n_true = np.asarray(table["n_true"], float)
        if self.name == "set_precision":
            return tp, n_pred
        if self.name == "set_recall":
            return tp, n_true
        return 2.0 * tp, n_pred + n_true

    def _prepare(self, table: Table) -> tuple[np.ndarray, np.ndarray]:
        return self._num_den(table)

    def _batch(
        self, table: Table, w: np.ndarray, prep: tuple[np.ndarray, np.ndarray]
    ) -> np.ndarray:
        num, den = prep
        sw = rowsum(w)
        if self.average == "micro":
            value = _ratio(rowdot(w, num), rowdot(w, den), self.zero_division)
        else:
            with np.errstate(invalid="ignore", divide="ignore"):
                value = rowdot(w, _ratio(num, den, self.zero_division)) / sw
        return np.where(sw > 0, value, np.nan)

    def per_unit(self, table: Table) -> np.ndarray | None:
        """Macro only: each unit's value (micro does not decompose over units)."""
        self._check_table(table)
        if self.average != "macro":
            return None
        num, den = self._num_den(table)
        return _ratio(num, den, self.zero_division)

    def leave_one_out(self, table: Table) -> np.ndarray:
        self._check_table(table)
        num, den = self._num_den(table)
        n = table.n_units
        if self.average == "micro":
            value = _ratio(num.sum() - num, den.sum() - den, self.zero_division)
        else:
            v = _ratio(num, den, self.zero_division)
            with np.errstate(invalid="ignore", divide="ignore"):
                value = (v.sum() - v) / (n - 1)
        return value if n > 1 else np.full(n, np.nan)
