"""A protocol in plain words, for people: the CLI's ``protocol show`` and the reports."""

from __future__ import annotations

import textwrap

from .protocol import Protocol

__all__ = ["describe_protocol", "describe_criteria"]

_KIND = {
    "binary": "a binary outcome (a score per unit, higher meaning more likely positive)",
    "survival": "a time to event with censoring (a risk score per unit)",
    "regression": "a continuous value",
    "sets": "a set of elements per unit",
    "scores": "per-unit scores computed by an external harness",
}

_METRIC = {
    "auroc": "the area under the ROC curve (AUROC)",
    "auprc": "average precision (step-wise area under the precision-recall curve)",
    "brier": "the Brier score",
    "log_loss": "the logarithmic loss",
    "harrell_c": "Harrell's concordance index",
    "uno_c": "Uno's IPCW concordance index",
    "rmse": "the root mean squared error",
    "mae": "the mean absolute error",
    "pearson": "the Pearson correlation",
    "spearman": "the Spearman rank correlation",
    "per_unit_pearson_mean": "the mean over units of the Pearson correlation across rows",
    "set_precision": "set precision",
    "set_recall": "set recall",
    "set_f1": "set F1",
    "mean_score": "the mean per-unit score",
}

_INTERVAL = {"bca": "BCa (bias-corrected and accelerated)", "percentile": "percentile",
             "basic": "basic (reverse percentile)"}


def describe_criteria(p: Protocol) -> list[str]:
    """Each preregistered criterion as one sentence; all must hold to certify."""
    better = "above" if p.higher_is_better else "below"
    out = []
    if p.threshold.absolute is not None:
        out.append(
            f"The {p.metric.name} must lie {better} {p.threshold.absolute:g} "
            f"(one-sided test of H0: it does not)."
        )
    for b in p.threshold.baselines:
        out.append(
            f"It must beat the baseline '{b.name}' by more than {b.margin:g} "
            f"(paired resampling of the difference, entry minus baseline)."
        )
    if p.bayes is not None:
        out.append(
            f"Bayesian comparison ({p.bayes.model}): P(entry minus baseline > margin) must "
            f"be at least {p.bayes.min_probability:g} for every baseline, with ROPE "
            f"half-width {p.bayes.rope:g} and sampler diagnostics within bounds."
        )
    return out


def describe_protocol(p: Protocol) -> str:
    """A human summary of a protocol: what is predicted, how it is judged, and its digest."""
    t, r, m = p.task, p.resampling, p.multiplicity
    metric = _METRIC[p.metric.name]
    lines = [
        f"{p.title}",
        f"  id {p.id}, version {p.version}",
        f"  digest {p.digest}",
        "",
    ]
    if p.summary:
        lines += [textwrap.fill(" ".join(p.summary.split()), 88, initial_indent="  ",
                                subsequent_indent="  "), ""]
    lines += [
        f"Task: predict {_KIND[t.kind]} for each '{t.unit}'"
        + (f", one row per ({', '.join([t.unit, *t.keys])})" if t.keys else "")
        + ".",
        f"  truth columns: {', '.join(f'{k}={v}' for k, v in t.truth.items()) or '(units only)'}",
        f"  prediction column(s): {', '.join(t.prediction_columns)}"
        + (f"; positive class: {t.positive!r}" if t.positive is not None else "")
        + (f"; a higher prediction means {'higher' if t.direction == 'higher' else 'lower'} "
           "risk/probability" if t.kind in ("binary", "survival") else ""),
        f"Metric: {metric} ({'higher' if p.higher_is_better else 'lower'} is better).",
        f"Uncertainty: {_INTERVAL[r.method]} {r.confidence:.0%} interval from {r.resamples:,} "
        f"bootstrap resamples of '{t.unit}'"
        + (f" within strata of {', '.join(t.strata)}" if t.strata else "")
        + f"; undecided p-values resample up to {r.resample_cap:,}.",
        f"Multiplicity: alpha {m.alpha:g} over each {m.family}'s submissions, {m.rule} rule, "
        f"at most {m.max_submissions} submissions.",
        "Criteria (all must hold to certify):",
    ]
    lines += [f"  - {c}" for c in describe_criteria(p)]
    return "\n".join(lines)
