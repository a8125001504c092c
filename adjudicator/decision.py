"""Preregistered criteria -> a :class:`Verdict` with its reasons.

The verdict is computed in a fixed, visible order and fails closed:

1. A verdict needs at least one criterion: an empty list raises (it never certifies
   vacuously).
2. Each frequentist criterion is decided at its own alpha: ``p <= alpha`` passes,
   ``p > alpha`` fails, unless ``|p - alpha| < 3 x`` its Monte Carlo standard error, in which
   case the resampling noise could flip it and it is *undecided* (``passed is None``). The
   engine resamples more before it gets here (up to the protocol's cap); what is still
   undecided stays so.
   A criterion whose bootstrap is degenerate (every replicate equal, or undefined: the
   resampling cannot measure the sampling uncertainty) has no p-value and is undecided
   too (:func:`degenerate_criterion`); more resamples do not help it.
3. A Bayesian criterion whose sampler diagnostics fail, or whose computation is degenerate,
   is undecided; otherwise it passes when ``P(entry minus baseline > margin) >=
   min_probability``.
4. ``CERTIFIED`` when every criterion passed; ``NOT_CERTIFIED`` when at least one failed
   (no undecided criterion could then change the outcome); ``INCONCLUSIVE`` otherwise.

A failed criterion is data, not an exception (STYLE 5).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any, Literal

from .errors import ComputationError

__all__ = [
    "MC_ERROR_MULTIPLE",
    "Outcome",
    "Criterion",
    "Verdict",
    "decide_p_value",
    "frequentist_criterion",
    "degenerate_criterion",
    "decide",
]

#: a p-value closer to its alpha than this many Monte Carlo standard errors is undecided
MC_ERROR_MULTIPLE = 3.0


class Outcome(StrEnum):
    """The three verdicts."""

    CERTIFIED = "CERTIFIED"
    NOT_CERTIFIED = "NOT_CERTIFIED"
    INCONCLUSIVE = "INCONCLUSIVE"


@dataclass(frozen=True)
class Criterion:
    """One preregistered criterion with its evidence.

    Attributes
    ----------
    name
        ``absolute``, the baseline's name, or ``bayes:<baseline>``.
    kind
        ``absolute`` (H0: metric does not improve on tau), ``baseline`` (H0: entry minus
        baseline does not improve on the margin) or ``bayes``.
    statistic
        The estimate (absolute) or the estimated difference, entry minus baseline.
    bound
        tau, or the margin.
    p_value, alpha, mc_error
        Frequentist criteria: the bootstrap p-value, the alpha it is tested at, and the
        p-value's Monte Carlo standard error (p-value and error None when the bootstrap is
        degenerate).
    passed
        True, False, or None when undecided.
    reason
        One sentence a committee can read.
    details
        Extra fields for reports (Bayesian probability, ROPE shares, diagnostics, ...).
    """

    name: str
    kind: Literal["absolute", "baseline", "bayes"]
    statistic: float
    bound: float
    passed: bool | None
    reason: str
    p_value: float | None = None
    alpha: float | None = None
    mc_error: float | None = None
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        details = d.pop("details")
        return {**d, **details}


@dataclass(frozen=True)
class Verdict:
    """The outcome and every criterion behind it."""

    outcome: Outcome
    criteria: tuple[Criterion, ...]
    reasons: tuple[str, ...]

    @property
    def certified(self) -> bool:
        return self.outcome is Outcome.CERTIFIED


def decide_p_value(p_value: float, alpha: float, mc_error: float) -> bool | None:
    """True (reject H0), False (keep H0) or None (the Monte Carlo noise could flip it)."""
    if not (math.isfinite(p_value) and math.isfinite(alpha) and math.isfinite(mc_error)):
        raise ComputationError(
            f"cannot decide with p-value {p_value}, alpha {alpha}, Monte Carlo error {mc_error}"
        )
    if abs(p_value - alpha) < MC_ERROR_MULTIPLE * mc_error:
        return None
    return p_value <= alpha


def _wording(
    name: str, kind: str, statistic: float, bound: float, higher_is_better: bool, metric: str
) -> tuple[str, str, str]:
    """(subject, "to lie above ...", "lies above ...") of a frequentist criterion's reason."""
    if kind == "absolute":
        side = "above" if higher_is_better else "below"
        return (f"{metric} {statistic:.4g}", f"to lie {side} the threshold {bound:g}",
                f"lies {side} the threshold {bound:g}")
    return (f"the improvement over baseline '{name}' ({statistic:.4g} in {metric})",
            f"to exceed the margin {bound:g}", f"exceeds the margin {bound:g}")


def frequentist_criterion(
    *,
    name: str,
    kind: Literal["absolute", "baseline"],
    statistic: float,
    bound: float,
    p_value: float,
    alpha: float,
    mc_error: float,
    higher_is_better: bool,
    metric: str,
    resamples: int,
    details: dict[str, Any] | None = None,
) -> Criterion:
    """Decide one criterion at its alpha and explain the decision in one sentence."""
    passed = decide_p_value(p_value, alpha, mc_error)
    subject, shown, plain = _wording(name, kind, statistic, bound, higher_is_better, metric)
    test = f"p = {p_value:.4g} (Monte Carlo error {mc_error:.2g}), alpha {alpha:.4g}"
    if passed is None:
        reason = (
            f"Undecided whether {subject} {plain}: {test} is within {MC_ERROR_MULTIPLE:g} "
            f"Monte Carlo errors of alpha after {resamples:,} resamples."
        )
    elif passed:
        reason = f"Passed: {subject} is shown {shown} ({test})."
    else:
        reason = f"Failed: {subject} is not shown {shown} ({test})."
    return Criterion(
        name=name,
        kind=kind,
        statistic=float(statistic),
        bound=float(bound),
        passed=passed,
        reason=reason,
        p_value=float(p_value),
        alpha=float(alpha),
        mc_error=float(mc_error),
        details=dict(details or {}),
    )


def degenerate_criterion(
    *,
    name: str,
    kind: Literal["absolute", "baseline"],
    statistic: float,
    bound: float,
    alpha: float,
    higher_is_better: bool,
    metric: str,
    cause: str,
    details: dict[str, Any] | None = None,
) -> Criterion:
    """An undecided criterion whose bootstrap is degenerate, so it has no p-value.

    ``cause`` says what the resampling showed ("every one of the 200 bootstrap resamples
    gives auroc = 1 ..."); it is recorded as ``degenerate`` and opens the reason.
    """
    subject, _, plain = _wording(name, kind, statistic, bound, higher_is_better, metric)
    reason = (
        f"Undecided whether {subject} {plain}: {cause}. The bootstrap cannot measure the "
        "sampling uncertainty, so there is no p-value and this criterion cannot be "
        "decided; the committee may review the entry."
    )
    return Criterion(
        name=name, kind=kind, statistic=float(statistic), bound=float(bound), passed=None,
        reason=reason, p_value=None, alpha=float(alpha), mc_error=None,
        details={**(details or {}), "degenerate": cause},
    )


def decide(criteria: list[Criterion] | tuple[Criterion, ...]) -> Verdict:
    """Combine criteria into a verdict; every criterion must pass to certify."""
    criteria = tuple(criteria)
    # (1) no criteria, no certification
    if not criteria:
        raise ComputationError("no criteria to decide on: a verdict cannot be vacuous")
    failed = [c for c in criteria if c.passed is False]
    undecided = [c for c in criteria if c.passed is None]
    # (4) combine
    if failed:
        outcome = Outcome.NOT_CERTIFIED
        reasons = [c.reason for c in failed]
    elif undecided:
        outcome = Outcome.INCONCLUSIVE
        reasons = [c.reason for c in undecided]
    else:
        outcome = Outcome.CERTIFIED
        reasons = [c.reason for c in criteria]
    return Verdict(outcome=outcome, criteria=criteria, reasons=tuple(reasons))
