"""The mean of per-unit scores supplied by an external harness."""

from __future__ import annotations

import numpy as np

from ..table import Table
from ._base import MeanKernel

__all__ = ["MeanScore"]


class MeanScore(MeanKernel):
    """Weighted mean of the ``score`` column over rows (one row per unit unless keys)."""

    name = "mean_score"
    kind = "scores"
    columns = ("score",)

    def __init__(self, higher_is_better: bool = True) -> None:
        self.higher_is_better = bool(higher_is_better)

    @property
    def conventions(self) -> str:
        better = "higher" if self.higher_is_better else "lower"
        return f"mean of the per-unit scores supplied by the harness; {better} is better"

    def _row_values(self, table: Table) -> np.ndarray:
        return np.asarray(table["score"], dtype=np.float64)
