"""One adjudication, end to end, pure: protocol + truth + submission -> result.

(The module is called ``adjudication`` so that no submodule shadows the public function
``adjudicator.adjudicate``.)

No files, no database, no clock: the edges read the inputs (:mod:`adjudicator.data`) and
write ``result.json``; ``now`` is an argument. The steps, in order:

1. Check the inputs fit together: every baseline the protocol names is given, all tables
   share the truth's units, and the submission's place in its family (``sequence``) is
   within ``multiplicity.max_submissions`` (otherwise :class:`MultiplicityError`). A
   protocol with a ``leaderboard`` block is adjudicated on its certification units only
   (:func:`adjudicator.leaderboard.certification_table`, for the entry and every
   baseline): the split is then a required argument, and the result records the part.
2. Fix alpha_k for this submission from the preregistered spending rule, before any score.
3. Derive the seed from (protocol digest, submission digest, "bootstrap").
4. Paired bootstrap: the entry and every baseline are evaluated on the same weights.
5. BCa acceleration from the kernels' exact leave-one-out values, or the (grouped)
   jackknife through the weights.
6. Interval of the entry; p-value of each criterion with its Monte Carlo error. A
   quantity whose replicates are degenerate (all equal: perfectly separated classes, a
   constant statistic; or undefined) keeps its estimate but gets no interval and no
   p-value: its criterion is undecided, and the verdict INCONCLUSIVE unless another
   criterion failed (:func:`adjudicator.decision.degenerate_criterion`).
7. A p-value within 3 Monte Carlo errors of alpha_k: resample more, doubling B up to the
   protocol's cap, unless another criterion has already failed beyond doubt; what is
   still undecided stays undecided.
8. The Bayesian comparison, when preregistered; a degenerate one leaves its criteria
   undecided.
9. The verdict (:func:`adjudicator.decision.decide`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal
from typing import Protocol as TypingProtocol

import numpy as np

from . import leaderboard as lb
from . import multiplicity as mult
from .decision import (
    Criterion,
    Verdict,
    decide,
    degenerate_criterion,
    frequentist_criterion,
)
from .errors import ComputationError, DegenerateResamplingError, InputError
from .metrics import get_kernel
from .protocol import Protocol
from .resampling import (
    BLOCK_SIZE,
    CONVENTIONS,
    BootstrapResult,
    Executor,
    Replicates,
    bootstrap,
    derive_seed,
    extend,
    jackknife,
    summarize,
)
from .table import Table
from .versions import code_version, package_versions

__all__ = [
    "RESULT_FORMAT",
    "HistoryItem",
    "Score",
    "AdjudicationResult",
    "score",
    "adjudicate",
]

RESULT_FORMAT = "result/v1"
_HISTOGRAM_BINS = 60


class _Scored(TypingProtocol):
    """What adjudication needs of a read submission (``adjudicator.data.Submission``)."""

    digest: str
    table: Table


class _Committed(TypingProtocol):
    """What adjudication needs of the read truth (``adjudicator.data.Truth``)."""

    digest: str
    n_units: int

    @property
    def summary(self) -> Mapping[str, Any]: ...


@dataclass(frozen=True)
class HistoryItem:
    """An earlier submission of the same family, as the spending history shows it."""

    sequence: int
    alpha: float
    verdict: str
    submission_digest: str | None = None

    @classmethod
    def from_mapping(cls, item: Mapping[str, Any], where: str) -> HistoryItem:
        """From a history entry or an earlier ``result.json``; errors name ``where``."""
        try:
            if "multiplicity" in item and "verdict" in item:  # a whole result.json
                m, s = item["multiplicity"], item.get("submission", {})
                return cls(int(m["sequence"]), float(m["alpha_k"]), str(item["verdict"]),
                           s.get("digest"))
            return cls(int(item["sequence"]), float(item["alpha"]), str(item["verdict"]),
                       item.get("submission_digest"))
        except (KeyError, TypeError, ValueError) as exc:
            raise InputError(
                f"{where}: a history entry needs sequence, alpha and verdict ({exc})"
            ) from None

    def to_dict(self) -> dict[str, Any]:
        return {"sequence": self.sequence, "alpha": self.alpha, "verdict": self.verdict,
                "submission_digest": self.submission_digest}


@dataclass(frozen=True)
class _Degenerate:
    """A quantity whose bootstrap cannot be summarised: its estimate, no interval, no p-value.

    ``cause`` says why, in words a committee can read.
    """

    estimate: float
    cause: str
    method: str
    confidence: float

    @property
    def p_values(self) -> Mapping[str, Any]:
        return {}

    @property
    def standard_error(self) -> None:
        return None

    def interval_dict(self) -> dict[str, Any]:
        return {"method": self.method, "confidence": self.confidence,
                "alternative": "two-sided", "low": None, "high": None,
                "degenerate": self.cause}


def _interval_dict(res: BootstrapResult | _Degenerate) -> dict[str, Any]:
    return res.interval_dict() if isinstance(res, _Degenerate) else res.interval.to_dict()


@dataclass(frozen=True)
class _Resampled:
    """The paired bootstrap of an entry and its baselines, summarised per quantity."""

    entry: BootstrapResult | _Degenerate
    baselines: dict[str, BootstrapResult | _Degenerate]
    baseline_estimates: dict[str, float]
    replicates: Replicates
    acceleration_estimator: str | None
    histogram: dict[str, Any]


@dataclass(frozen=True)
class Score:
    """The metric with its interval and the p-value of each preregistered threshold."""

    protocol: Protocol
    truth_digest: str
    submission_digest: str
    n_units: int
    estimate: float
    resampled: _Resampled

    def to_dict(self) -> dict[str, Any]:
        e = self.resampled.entry
        p_values = {name: pv.to_dict() for name, pv in e.p_values.items()}
        if isinstance(e, _Degenerate) and self.protocol.threshold.absolute is not None:
            p_values["absolute"] = {"p": None, "mc_se": None, "degenerate": e.cause}
        for name, res in self.resampled.baselines.items():
            for pv in res.p_values.values():
                p_values[f"baseline:{name}"] = pv.to_dict()
            if isinstance(res, _Degenerate):
                p_values[f"baseline:{name}"] = {"p": None, "mc_se": None,
                                                "degenerate": res.cause}
        return {
            "protocol": {"id": self.protocol.id, "version": self.protocol.version,
                         "digest": self.protocol.digest},
            "truth": {"digest": self.truth_digest},
            "submission": {"digest": self.submission_digest},
            "metric": self.protocol.metric.name,
            "estimate": self.estimate,
            "n_units": self.n_units,
            "interval": _interval_dict(e),
            "resamples": self.resampled.replicates.resamples,
            "seed": self.resampled.replicates.to_dict().get("seed"),
            "p_values": p_values,
        }


@dataclass(frozen=True)
class AdjudicationResult:
    """Everything an adjudication decided and everything needed to reproduce it."""

    protocol: Protocol
    truth_digest: str
    truth_summary: Mapping[str, Any]
    n_units: int
    submission_digest: str
    team: str | None
    name: str | None
    verdict: Verdict
    estimate: float
    resampled: _Resampled
    budget: mult.AlphaBudget
    history: tuple[HistoryItem, ...]
    adjudicated_at: str
    #: the Bayesian results (adjudicator.bayes.BayesResult), with their InferenceData
    bayes_results: tuple[Any, ...] = field(default=(), repr=False)
    #: the part of the units adjudicated, for a protocol with a leaderboard block
    certification: Mapping[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        """The ``result.json`` document (``adjudicator result schema`` describes it)."""
        p, e = self.protocol, self.resampled.entry
        rep = self.resampled.replicates.to_dict()
        convention = p.resampling.convention
        doc: dict[str, Any] = {
            "adjudicator": RESULT_FORMAT,
            "verdict": self.verdict.outcome.value,
            "reasons": list(self.verdict.reasons),
            "protocol": {"id": p.id, "version": p.version, "title": p.title,
                         "summary": " ".join(p.summary.split()), "digest": p.digest},
            "truth": {"digest": self.truth_digest, "n_units": self.n_units,
                      "summary": dict(self.truth_summary)},
            "submission": {"digest": self.submission_digest, "team": self.team,
                           "sequence": self.budget.sequence, "name": self.name},
            "metric": {"name": p.metric.name, "higher_is_better": p.higher_is_better},
            "estimate": self.estimate,
            "standard_error": e.standard_error,
            "interval": _interval_dict(e),
            "criteria": [c.to_dict() for c in self.verdict.criteria],
            "baselines": [
                {"name": name, "estimate": self.resampled.baseline_estimates[name],
                 "difference": res.estimate, "interval": _interval_dict(res)}
                for name, res in self.resampled.baselines.items()
            ],
            "replicates": {"estimate": self.resampled.histogram},
            "multiplicity": {
                "rule": self.budget.rule, "family": self.budget.family,
                "alpha": self.budget.alpha, "alpha_k": self.budget.alpha_k,
                "sequence": self.budget.sequence,
                "max_submissions": self.budget.max_submissions,
                "spent_before": self.budget.spent_before, "remaining": self.budget.remaining,
                "split": self.budget.split,
                "history": [h.to_dict() for h in self.history],
            },
            "bayes": (
                {"model": self.protocol.bayes.model, "results": [
                    c.to_dict() for c in self.verdict.criteria if c.kind == "bayes"]}
                if self.protocol.bayes is not None else None
            ),
            "reproducibility": {
                "seed": rep.get("seed"),
                "resamples": self.resampled.replicates.resamples,
                "block_size": BLOCK_SIZE,
                "scheme": rep.get("scheme"),
                "acceleration": self.resampled.acceleration_estimator,
                "conventions": {"name": convention, **CONVENTIONS[convention]},
                "packages": package_versions(),
                "code_version": code_version(),
            },
            "timestamps": {"adjudicated_at": self.adjudicated_at},
        }
        if self.certification is not None:  # only then, so other results keep their bytes
            doc["certification"] = dict(self.certification)
        return doc


# -- the resampling shared by score() and adjudicate() -------------------------------------


def _degenerate(values: np.ndarray, estimate: float, subject: str, constant_when: str,
                exc: DegenerateResamplingError, method: str,
                confidence: float) -> _Degenerate:
    """The quantity ``subject`` whose replicates ``values`` could not be summarised."""
    finite = values[np.isfinite(values)]
    if finite.size == values.size and values.size and finite.min() == finite.max():
        cause = (f"every one of the {values.size:,} bootstrap resamples gives {subject} = "
                 f"{float(finite[0]):.4g} ({constant_when})")
    elif finite.size < values.size:
        cause = (f"{subject} is undefined on {values.size - finite.size:,} of the "
                 f"{values.size:,} bootstrap resamples (for a rank metric: resamples "
                 "without both classes)")
    else:
        cause = f"the bootstrap of {subject} is degenerate ({exc})"
    return _Degenerate(estimate=estimate, cause=cause, method=method, confidence=confidence)


def paired_statistic(kernel: Any, tables: Sequence[Table]) -> Callable[[np.ndarray], np.ndarray]:
    """The statistic of paired resampling: each weight row scores every table (the entry
    and its baselines, one column each) with the same weights."""
    def statistic(weights: np.ndarray) -> np.ndarray:
        return np.column_stack([kernel(t, weights) for t in tables])

    return statistic


def paired_leave_one_out(kernel: Any, tables: Sequence[Table],
                         statistic: Callable[[np.ndarray], np.ndarray]) -> tuple[np.ndarray, str]:
    """Leave-one-out values for the BCa acceleration: exact where every kernel has them
    (``"exact-loo"``), else the jackknife of ``statistic``."""
    exact = [kernel.leave_one_out(t) for t in tables]
    known = [x for x in exact if x is not None]
    if len(known) == len(exact):
        return np.column_stack(known), "exact-loo"
    loo: tuple[np.ndarray, str] = jackknife(statistic, tables[0].n_units)
    return loo


def _check_tables(entry: Table, baselines: Mapping[str, Table]) -> None:
    for name, t in baselines.items():
        if t.n_units != entry.n_units or not np.array_equal(t.units, entry.units):
            raise InputError(
                f"baseline '{name}' does not cover the same units as the submission "
                f"({t.n_units} vs {entry.n_units})"
            )


def _histogram(values: np.ndarray) -> dict[str, Any]:
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return {"edges": [], "counts": [], "non_finite": int(values.size)}
    counts, edges = np.histogram(finite, bins=_HISTOGRAM_BINS)
    return {"edges": [float(x) for x in edges], "counts": [int(c) for c in counts],
            "non_finite": int(values.size - finite.size)}


def _resample(
    protocol: Protocol,
    entry: _Scored,
    baselines: Mapping[str, _Scored],
    *,
    resamples: int | None = None,
    decide_at: float | None = None,
    workers: int = 1,
    executor: Executor | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[_Resampled, dict[str, float]]:
    """Paired bootstrap of the entry and the given baselines (those the protocol names).

    With ``decide_at`` (alpha_k), resampling continues while a p-value is within 3 Monte
    Carlo errors of it, doubling B up to the protocol's cap. ``workers`` threads, or an
    ``executor`` (:func:`adjudicator.resampling.bootstrap`), evaluate the resample blocks.
    """
    kernel = get_kernel(protocol.metric)
    compared = [b for b in protocol.threshold.baselines if b.name in baselines]
    names = [b.name for b in compared]
    tables = [entry.table] + [baselines[n].table for n in names]
    _check_tables(entry.table, {n: baselines[n].table for n in names})
    statistic = paired_statistic(kernel, tables)
    estimates = np.array([kernel(t) for t in tables], dtype=np.float64)
    spec = protocol.resampling
    hib = protocol.higher_is_better
    direction: Literal["higher", "lower"] = "higher" if hib else "lower"
    seed = derive_seed(protocol.digest, entry.digest, "bootstrap")
    strata = entry.table.strata
    n = entry.table.n_units

    # (5) acceleration: exact leave-one-out values where every kernel has them
    loo: Any = None
    estimator = None
    if spec.method == "bca":
        loo = paired_leave_one_out(kernel, tables, statistic)
        estimator = loo[1]

    b = resamples or spec.resamples
    reps = bootstrap(statistic, n, resamples=b, seed=seed, strata=strata, workers=workers,
                     executor=executor)
    if progress:
        progress(reps.resamples, spec.resample_cap)

    def summary(r: Replicates, quantity: int | list[float], nulls: dict[str, float],
                subject: str, constant_when: str) -> BootstrapResult | _Degenerate:
        try:
            return summarize(r, estimates, quantity=quantity, nulls=nulls,
                             method=spec.method, confidence=spec.confidence,
                             convention=spec.convention, loo=loo, direction=direction)
        except DegenerateResamplingError as exc:
            # no interval and no p-value: the criterion is undecided (decision.py)
            c = np.zeros(len(tables))
            if isinstance(quantity, int):
                c[quantity] = 1.0
            else:
                c[:] = quantity
            return _degenerate(np.asarray(r.values) @ c, float(estimates @ c), subject,
                               constant_when, exc, spec.method, spec.confidence)

    def summaries(r: Replicates) -> tuple[BootstrapResult | _Degenerate,
                                           dict[str, BootstrapResult | _Degenerate]]:
        nulls = {} if protocol.threshold.absolute is None else {
            "absolute": protocol.threshold.absolute}
        ent = summary(r, 0, nulls, protocol.metric.name,
                      "the metric does not vary over the resampled units, as with perfectly "
                      "separated classes or constant predictions")
        base = {}
        for i, bl in enumerate(compared, start=1):
            c = np.zeros(len(tables))
            c[0], c[i] = 1.0, -1.0
            null = bl.margin if hib else -bl.margin
            base[bl.name] = summary(r, list(c), {"margin": null},
                                    f"the difference to baseline '{bl.name}'",
                                    "the entry and the baseline score alike on every "
                                    "resample, as with the same ranking of the units")
        return ent, base

    ent, base = summaries(reps)
    # (7) resample more while a p-value is within 3 Monte Carlo errors of its alpha
    if decide_at is not None:
        from .decision import decide_p_value

        def undecided(e: BootstrapResult | _Degenerate,
                      bs: dict[str, BootstrapResult | _Degenerate]) -> bool:
            # more resamples help only while no criterion has already failed for sure
            # (then the verdict is NOT_CERTIFIED whatever the others do)
            pvs = list(e.p_values.values()) + [
                pv for r in bs.values() for pv in r.p_values.values()]
            decisions = [decide_p_value(pv.p, decide_at, pv.mc_se) for pv in pvs]
            return False not in decisions and None in decisions

        while undecided(ent, base) and reps.resamples < spec.resample_cap:
            more = min(reps.resamples, spec.resample_cap - reps.resamples)
            reps = extend(reps, statistic, more, workers=workers, executor=executor)
            if progress:
                progress(reps.resamples, spec.resample_cap)
            ent, base = summaries(reps)

    resampled = _Resampled(
        entry=ent,
        baselines=base,
        baseline_estimates={n: float(estimates[i]) for i, n in enumerate(names, start=1)},
        replicates=reps,
        acceleration_estimator=estimator,
        histogram=_histogram(np.asarray(reps.values[:, 0])),
    )
    return resampled, {"estimate": float(estimates[0])}


def score(
    protocol: Protocol,
    truth: _Committed,
    submission: _Scored,
    *,
    baselines: Mapping[str, _Scored] | None = None,
    workers: int = 1,
    executor: Executor | None = None,
) -> Score:
    """The metric on the whole test set, its interval and each threshold's p-value.

    Baselines are optional here: without them only the absolute threshold is tested.
    ``workers`` and ``executor`` place the resampling as in :func:`adjudicate`.
    """
    baselines = dict(baselines or {})
    unknown = set(baselines) - {b.name for b in protocol.threshold.baselines}
    if unknown:
        raise InputError(f"baselines not in the protocol: {', '.join(sorted(unknown))}")
    resampled, est = _resample(protocol, submission, baselines, workers=workers,
                               executor=executor)
    return Score(protocol=protocol, truth_digest=truth.digest,
                 submission_digest=submission.digest, n_units=submission.table.n_units,
                 estimate=est["estimate"], resampled=resampled)


# -- adjudication ----------------------------------------------------------------------------


def _sequence(protocol: Protocol, history: Sequence[HistoryItem], sequence: int | None) -> int:
    seqs = [h.sequence for h in history]
    if seqs != list(range(1, len(seqs) + 1)):
        raise InputError(
            f"history: sequences must run 1, 2, ... without gaps, got {seqs[:10]}"
        )
    k = len(history) + 1 if sequence is None else sequence
    if sequence is not None and history and sequence != len(history) + 1:
        raise InputError(
            f"sequence {sequence} does not follow a history of {len(history)} submissions"
        )
    return k


@dataclass
class _Part:
    """A read submission seen on the certification units only."""

    digest: str
    table: Table


@dataclass
class _PartTruth:
    """The truth's commitment, with the units and summary of the certification part."""

    digest: str
    n_units: int
    part_summary: Mapping[str, Any]

    @property
    def summary(self) -> Mapping[str, Any]:
        return self.part_summary


def _part_summary(truth: _Committed, table: Table, split: lb.Split) -> dict[str, Any]:
    """The truth summary of the certification part (never the counts of the other part)."""
    kind = table.kind
    rows = len(table.row_unit)
    out: dict[str, Any] = {"kind": kind}
    if kind == "binary":
        pos = int(np.count_nonzero(table["y"]))
        out.update(positives=pos, negatives=rows - pos, prevalence=pos / rows if rows else None)
    elif kind == "survival":
        ev = int(np.count_nonzero(table["event"]))
        out.update(events=ev, censored=rows - ev,
                   censoring_share=1 - ev / rows if rows else None)
    names = list(dict(truth.summary).get("strata") or {})
    if table.strata is not None and names:
        counts = np.bincount(table.strata, minlength=len(names))
        out["strata"] = {n: int(c) for n, c in zip(names, counts, strict=False)}
    out.update(rows=rows, units=table.n_units, part=split.certify_on,
               units_total=int(len(split.units)))
    return out


def _certification_part(
    protocol: Protocol, truth: _Committed, submission: _Scored,
    baselines: Mapping[str, _Scored], split: Any,
) -> tuple[_Committed, _Scored, dict[str, _Scored], dict[str, Any]]:
    """The entry, baselines and truth restricted to the split's certification units."""
    entry = _Part(submission.digest, lb.certification_table(protocol, split,
                                                            submission.table))
    parts: dict[str, _Scored] = {
        n: _Part(b.digest, lb.certification_table(protocol, split, b.table))
        for n, b in baselines.items()}
    part_truth = _PartTruth(truth.digest, entry.table.n_units,
                            _part_summary(truth, entry.table, split))
    info = {"part": split.certify_on, "split_digest": split.digest,
            "n_units": entry.table.n_units, "units_total": int(len(split.units))}
    return part_truth, entry, parts, info


def adjudicate(
    protocol: Protocol,
    truth: _Committed,
    submission: _Scored,
    *,
    baselines: Mapping[str, _Scored] | None = None,
    history: Sequence[HistoryItem | Mapping[str, Any]] = (),
    sequence: int | None = None,
    team: str | None = None,
    name: str | None = None,
    now: datetime | None = None,
    workers: int = 1,
    progress: Callable[[int, int], None] | None = None,
    split: lb.Split | None = None,
    executor: Executor | None = None,
) -> AdjudicationResult:
    """Adjudicate one submission by the protocol, and only the protocol.

    Parameters
    ----------
    protocol, truth, submission
        The validated protocol, the read truth and the read submission
        (:func:`adjudicator.data.read_truth`, :func:`adjudicator.data.read_submission`).
    baselines
        The read baseline entries by name; every baseline the protocol names is required.
    history
        The earlier submissions of this submission's family, in order (items or earlier
        ``result.json`` documents); this submission is number ``len(history) + 1``.
    sequence
        The submission's number in its family, when there is no history to count.
    now
        When the adjudication happened (recorded, never used in a computation).
    workers, executor
        Where the resample blocks are evaluated: ``workers`` threads here, or an
        :class:`~adjudicator.resampling.Executor` (a Dask cluster through
        :mod:`adjudicator.compute`). The result is the same bits either way.
    split
        The public/private split (:func:`adjudicator.leaderboard.split_units`); required
        exactly when the protocol has a ``leaderboard`` block. The entry and every
        baseline are then scored on the certification units only (the private part, or
        all with ``certify_on: all``): the units the public board showed never decide a
        prize, and the result records the part in ``certification``.

    Returns
    -------
    AdjudicationResult
        Whatever the verdict; an exception means the adjudication could not run.
    """
    baselines = dict(baselines or {})
    # (1) inputs fit together
    needed = [b.name for b in protocol.threshold.baselines]
    missing = [n for n in needed if n not in baselines]
    if missing:
        raise InputError(f"the protocol needs baseline(s) {', '.join(missing)}: not given")
    unknown = sorted(set(baselines) - set(needed))
    if unknown:
        raise InputError(f"baselines not in the protocol: {', '.join(unknown)}")
    certification = None
    if protocol.leaderboard is not None:
        if split is None:
            raise InputError(
                "the protocol preregisters a public leaderboard: adjudication reads only its "
                "certification units, so the split is needed "
                "(adjudicator.leaderboard.split_units)")
        truth, submission, baselines, certification = _certification_part(
            protocol, truth, submission, baselines, split)
    elif split is not None:
        raise InputError("a split was given, but the protocol has no leaderboard block")
    items = tuple(
        h if isinstance(h, HistoryItem) else HistoryItem.from_mapping(h, f"history[{i}]")
        for i, h in enumerate(history)
    )
    k = _sequence(protocol, items, sequence)
    # (2) alpha_k before any score (raises MultiplicityError past max_submissions)
    budget = mult.budget(protocol.multiplicity, k)
    alpha = budget.criterion_alpha("absolute")
    assert alpha is not None
    # (3)-(7) paired bootstrap with its own seed
    resampled, est = _resample(protocol, submission, baselines, decide_at=alpha,
                               workers=workers, executor=executor, progress=progress)
    reps = resampled.replicates.resamples
    criteria: list[Criterion] = []
    metric = protocol.metric.name
    hib = protocol.higher_is_better
    if protocol.threshold.absolute is not None:
        ent = resampled.entry
        if isinstance(ent, _Degenerate):
            criteria.append(degenerate_criterion(
                name="absolute", kind="absolute", statistic=ent.estimate,
                bound=protocol.threshold.absolute, alpha=alpha, higher_is_better=hib,
                metric=metric, cause=ent.cause,
            ))
        else:
            pv = ent.p_values["absolute"]
            criteria.append(frequentist_criterion(
                name="absolute", kind="absolute", statistic=ent.estimate,
                bound=protocol.threshold.absolute, p_value=pv.p, alpha=alpha,
                mc_error=pv.mc_se, higher_is_better=hib, metric=metric, resamples=reps,
            ))
    for bl in protocol.threshold.baselines:
        res = resampled.baselines[bl.name]
        improvement = res.estimate if hib else -res.estimate
        details = {"difference": res.estimate,
                   "baseline_estimate": resampled.baseline_estimates[bl.name],
                   "interval": _interval_dict(res)}
        if isinstance(res, _Degenerate):
            criteria.append(degenerate_criterion(
                name=bl.name, kind="baseline", statistic=improvement, bound=bl.margin,
                alpha=alpha, higher_is_better=hib, metric=metric, cause=res.cause,
                details=details,
            ))
            continue
        pv = res.p_values["margin"]
        criteria.append(frequentist_criterion(
            name=bl.name, kind="baseline", statistic=improvement, bound=bl.margin,
            p_value=pv.p, alpha=alpha, mc_error=pv.mc_se, higher_is_better=hib,
            metric=metric, resamples=reps, details=details,
        ))
    # (8) the Bayesian comparison (PyMC is imported only when a protocol asks for it)
    bayes_results: tuple[Any, ...] = ()
    if protocol.bayes is not None:
        from .bayes import compare

        try:
            bayes_results = compare(
                protocol, get_kernel(protocol.metric), submission.table,
                {n: baselines[n].table for n in needed},
                seed=derive_seed(protocol.digest, submission.digest, "bayes"),
            )
        except DegenerateResamplingError as exc:
            # like a sampler that fails its diagnostics: undecided, not an error
            criteria.extend(_degenerate_bayes_criterion(protocol, bl.name, bl.margin,
                                                        resampled, exc)
                            for bl in protocol.threshold.baselines)
        else:
            criteria.extend(_bayes_criterion(r) for r in bayes_results)
    # (9) the verdict
    verdict = decide(criteria)
    stamp = (now or datetime.now(UTC)).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    if not math.isfinite(est["estimate"]):
        raise ComputationError("the estimate is not finite")
    return AdjudicationResult(
        protocol=protocol, truth_digest=truth.digest, truth_summary=dict(truth.summary),
        n_units=submission.table.n_units, submission_digest=submission.digest, team=team,
        name=name, verdict=verdict, estimate=est["estimate"], resampled=resampled,
        budget=budget, history=items, adjudicated_at=stamp, bayes_results=bayes_results,
        certification=certification,
    )


def _degenerate_bayes_criterion(protocol: Protocol, baseline: str, margin: float,
                                resampled: _Resampled,
                                exc: DegenerateResamplingError) -> Criterion:
    """The Bayesian criterion against ``baseline`` when the comparison cannot be computed.

    Its statistic is the observed improvement over the baseline (there is no posterior).
    """
    bayes = protocol.bayes
    assert bayes is not None
    difference = resampled.entry.estimate - resampled.baseline_estimates[baseline]
    improvement = difference if protocol.higher_is_better else -difference
    cause = str(exc)
    reason = (
        f"Undecided: Bayesian {bayes.model} comparison with '{baseline}': {cause}. There "
        "is no posterior to decide on; the committee may review the entry."
    )
    return Criterion(
        name=f"bayes:{baseline}", kind="bayes", statistic=float(improvement),
        bound=float(margin), passed=None, reason=reason,
        details={"model": bayes.model, "baseline": baseline,
                 "min_probability": bayes.min_probability, "degenerate": cause},
    )


def _bayes_criterion(result: Any) -> Criterion:
    """A :class:`adjudicator.bayes.BayesResult` as a criterion of the verdict."""
    d = result.to_dict()
    p, need = d["probability"], d["min_probability"]
    head = {True: "Passed", False: "Failed", None: "Undecided"}[result.passed]
    reason = (
        f"{head}: Bayesian {d['model']} comparison with '{result.baseline}': "
        f"P({d['direction']} > {result.margin:g}) = {p:.4f}, needed {need:g}"
        + (f"; {'; '.join(d['reasons'])}" if result.passed is None else "")
        + "."
    )
    details = {k: v for k, v in d.items() if k not in ("kind", "passed", "margin")}
    return Criterion(
        name=f"bayes:{result.baseline}", kind="bayes", statistic=float(d["summary"]["mean"]),
        bound=float(result.margin), passed=result.passed, reason=reason, details=details,
    )
