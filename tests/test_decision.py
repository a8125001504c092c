"""The verdict: every criterion must pass; noise-close p-values are undecided; fail closed."""

from __future__ import annotations

import pytest

from adjudicator.decision import (
    Criterion,
    Outcome,
    decide,
    decide_p_value,
    degenerate_criterion,
    frequentist_criterion,
)
from adjudicator.errors import ComputationError


def crit(passed, name="c"):
    return Criterion(name=name, kind="absolute", statistic=0.7, bound=0.6, passed=passed,
                     reason=f"{name}: {passed}")


def test_all_passed_certifies():
    v = decide([crit(True, "a"), crit(True, "b")])
    assert v.outcome is Outcome.CERTIFIED and v.certified
    assert v.reasons == ("a: True", "b: True")


def test_one_failure_is_not_certified_even_with_undecided_ones():
    v = decide([crit(True, "a"), crit(None, "b"), crit(False, "c")])
    assert v.outcome is Outcome.NOT_CERTIFIED
    assert v.reasons == ("c: False",)


def test_undecided_without_failure_is_inconclusive():
    v = decide([crit(True, "a"), crit(None, "b")])
    assert v.outcome is Outcome.INCONCLUSIVE
    assert v.reasons == ("b: None",)


def test_no_criteria_fails_closed():
    with pytest.raises(ComputationError, match="cannot be vacuous"):
        decide([])


@pytest.mark.parametrize(
    ("p", "alpha", "mc", "expected"),
    [
        (0.01, 0.05, 0.001, True),
        (0.20, 0.05, 0.001, False),
        (0.051, 0.05, 0.001, None),   # within 3 MC errors
        (0.046, 0.05, 0.001, True),   # 4 MC errors below
        (0.05, 0.05, 0.0, True),      # exact, no noise: p <= alpha rejects
    ],
)
def test_decide_p_value(p, alpha, mc, expected):
    assert decide_p_value(p, alpha, mc) is expected


def test_nan_p_value_is_an_error_not_a_decision():
    with pytest.raises(ComputationError, match="cannot decide"):
        decide_p_value(float("nan"), 0.05, 0.01)


def test_frequentist_criterion_explains_itself():
    c = frequentist_criterion(name="absolute", kind="absolute", statistic=0.72, bound=0.7,
                              p_value=0.01, alpha=0.025, mc_error=0.001,
                              higher_is_better=True, metric="auroc", resamples=10_000)
    assert c.passed is True
    assert c.reason.startswith("Passed: auroc 0.72 is shown to lie above the threshold 0.7")
    lower = frequentist_criterion(name="cox", kind="baseline", statistic=1.5, bound=1.0,
                                  p_value=0.3, alpha=0.025, mc_error=0.004,
                                  higher_is_better=False, metric="rmse", resamples=2000)
    assert lower.passed is False
    assert lower.reason.startswith("Failed: the improvement over baseline 'cox' (1.5 in rmse)")
    d = lower.to_dict()
    assert d["p_value"] == 0.3 and d["passed"] is False and "details" not in d


def test_a_degenerate_criterion_is_undecided_without_a_p_value():
    cause = "every one of the 200 bootstrap resamples gives auroc = 1"
    c = degenerate_criterion(name="absolute", kind="absolute", statistic=1.0, bound=0.6,
                             alpha=0.025, higher_is_better=True, metric="auroc", cause=cause)
    assert c.passed is None and c.p_value is None and c.mc_error is None
    assert c.alpha == 0.025
    assert c.reason.startswith(f"Undecided whether auroc 1 lies above the threshold 0.6: "
                               f"{cause}. The bootstrap cannot measure the sampling")
    assert c.to_dict()["degenerate"] == cause
    # undecided: INCONCLUSIVE beside passing criteria, NOT_CERTIFIED beside a failed one
    v = decide([crit(True, "a"), c])
    assert v.outcome is Outcome.INCONCLUSIVE and v.reasons == (c.reason,)
    assert decide([c, crit(False, "b")]).outcome is Outcome.NOT_CERTIFIED
    base = degenerate_criterion(name="cox", kind="baseline", statistic=0.0, bound=0.01,
                                alpha=0.025, higher_is_better=False, metric="rmse",
                                cause="x", details={"difference": 0.0})
    assert base.reason.startswith("Undecided whether the improvement over baseline 'cox'")
    assert base.to_dict()["difference"] == 0.0
