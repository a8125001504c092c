"""Batch adjustment of an end-of-challenge family (statsmodels, equal to R's p.adjust).

See :mod:`adjudicator.multiplicity`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import InputError

__all__ = ["ADJUST_METHODS", "adjust"]

# -- batch adjustment ----------------------------------------------------------------------

#: our method name -> the name statsmodels' ``multipletests`` takes (R ``p.adjust`` name)
ADJUST_METHODS: dict[str, str] = {
    "bonferroni": "bonferroni",  # R "bonferroni"
    "sidak": "sidak",  # (R: multtest "SidakSS")
    "holm": "holm",  # R "holm"
    "hochberg": "simes-hochberg",  # R "hochberg"
    "hommel": "hommel",  # R "hommel"
    "fdr_bh": "fdr_bh",  # R "BH" / "fdr"
    "fdr_by": "fdr_by",  # R "BY"
}


def adjust(pvalues: Any, method: str = "holm") -> np.ndarray:
    """Adjusted p-values of a batch of hypotheses (an end-of-challenge family).

    Parameters
    ----------
    pvalues
        One-dimensional, non-empty sequence of p-values in [0, 1].
    method
        ``bonferroni``, ``sidak``, ``holm`` (the default, as in R), ``hochberg``,
        ``hommel``, ``fdr_bh`` (Benjamini-Hochberg) or ``fdr_by``
        (Benjamini-Yekutieli), the names of statsmodels' ``multipletests``.

    Returns
    -------
    numpy.ndarray
        The adjusted p-values, float64, in the order of the input; equal to R's
        ``p.adjust`` (``sidak``: to multtest's single-step Sidak). Reject hypothesis i at
        level alpha when ``adjusted[i] <= alpha``.

    Raises
    ------
    InputError
        Unknown method; p-values empty, not one-dimensional, not numbers, NaN or outside
        [0, 1].
    """
    # the single validation step, then trust the inputs (STYLE 3)
    if not isinstance(method, str) or method not in ADJUST_METHODS:
        raise InputError(
            f"`method` must be one of {', '.join(ADJUST_METHODS)}, got {method!r}"
        )
    p = as_pvalues(pvalues)
    if p.size == 0:
        raise InputError("`pvalues` is empty: there is nothing to adjust")
    # statsmodels is imported here: the spending rules and online FDR do not need it
    from statsmodels.stats.multitest import multipletests  # type: ignore[import-untyped]

    with np.errstate(divide="ignore"):  # sidak at p = 1: log1p(-1) = -inf, correctly 1
        adjusted = multipletests(p, alpha=0.05, method=ADJUST_METHODS[method])[1]
    return np.asarray(adjusted, dtype=np.float64)


def as_pvalues(pvalues: Any) -> np.ndarray:
    try:
        p = np.asarray(pvalues)
    except (TypeError, ValueError) as exc:
        raise InputError(f"`pvalues` must be a sequence of numbers: {exc}") from exc
    if p.ndim != 1:
        raise InputError(f"`pvalues` must be one-dimensional, got shape {p.shape}")
    if p.size == 0:
        return p.astype(np.float64)
    if p.dtype == np.bool_ or not (
        np.issubdtype(p.dtype, np.floating) or np.issubdtype(p.dtype, np.integer)
    ):
        raise InputError(f"`pvalues` must be numbers, got values of type {p.dtype}")
    p = p.astype(np.float64)
    nan = np.flatnonzero(np.isnan(p))
    if nan.size:
        raise InputError(
            f"`pvalues[{nan[0]}]` is NaN: every p-value must be a number in [0, 1] "
            f"({nan.size} NaN in all)"
        )
    bad = np.flatnonzero((p < 0) | (p > 1))
    if bad.size:
        raise InputError(
            f"`pvalues[{bad[0]}]` is {float(p[bad[0]])!r}: every p-value must be in [0, 1]"
        )
    return p
