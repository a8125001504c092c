"""Final rankings: rank intervals and DREAM tie groups."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import DegenerateResamplingError, InputError
from ..metrics import get_kernel
from ..protocol import Protocol
from ..resampling import bootstrap, derive_seed
from ..table import Table
from ._common import _PURPOSE, _TRUTH_COLUMNS, _board
from .split import Split, _check_split, _check_table, restrict

__all__ = ["RankedEntry", "Ranking", "rank_replicates", "rank_entries"]

# -- final rankings ------------------------------------------------------------------------


def _json_float(x: float) -> float | str:
    return x if math.isfinite(x) else ("inf" if x > 0 else "-inf" if x < 0 else "nan")


@dataclass(frozen=True)
class RankedEntry:
    """One entry of the final ranking.

    Attributes
    ----------
    name, estimate
        The entry and its metric on the certification part.
    rank, group
        The competition rank of its tie group and the group's number (1 = the leader's).
    bayes_factor
        K against the overall leader (None for the leader; ``inf`` when the leader is
        better in every resample).
    group_bayes_factor
        K against its group's leader (None for a group leader).
    leader_better
        Resamples in which the overall leader is strictly better.
    rank_interval
        2.5% and 97.5% quantiles of its rank over resamples.
    """

    name: str
    estimate: float
    rank: int
    group: int
    bayes_factor: float | None
    group_bayes_factor: float | None
    leader_better: int
    rank_interval: tuple[int, int]

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name, "estimate": self.estimate, "rank": self.rank,
            "group": self.group,
            "bayes_factor": None if self.bayes_factor is None else _json_float(self.bayes_factor),
            "group_bayes_factor": (None if self.group_bayes_factor is None
                                   else _json_float(self.group_bayes_factor)),
            "leader_better": self.leader_better,
            "rank_interval": list(self.rank_interval),
        }


@dataclass(frozen=True)
class Ranking:
    """Final rankings with tie groups and rank intervals, and how they were computed."""

    entries: tuple[RankedEntry, ...]
    higher_is_better: bool
    tie_bayes_factor: float
    resamples: int
    valid_resamples: int
    part: str = "given"
    n_units: int | None = None
    split_digest: str | None = None
    seed: Mapping[str, Any] = field(default_factory=dict)

    @property
    def leader(self) -> RankedEntry:
        return self.entries[0]

    def to_dict(self) -> dict[str, Any]:
        return {
            "entries": [e.to_dict() for e in self.entries],
            "higher_is_better": self.higher_is_better,
            "tie_rule": f"K = #{{leader better}} / #{{entry better or equal}} <= "
                        f"{self.tie_bayes_factor} (paired bootstrap)",
            "rank_rule": "per resample: 1 + entries strictly better (ties share a rank); "
                         "interval: 2.5% and 97.5% quantiles, inverted empirical CDF",
            "tie_bayes_factor": self.tie_bayes_factor,
            "resamples": self.resamples,
            "valid_resamples": self.valid_resamples,
            "part": self.part,
            "n_units": self.n_units,
            "split_digest": self.split_digest,
            "seed": dict(self.seed),
        }


def _bayes_factor(leader: np.ndarray, entry: np.ndarray) -> tuple[float, int]:
    better = int(np.count_nonzero(leader > entry))
    rest = len(leader) - better
    return (math.inf if rest == 0 else better / rest), better


def rank_replicates(
    names: Sequence[str],
    estimates: Sequence[float],
    replicates: np.ndarray,
    *,
    higher_is_better: bool,
    tie_bayes_factor: float = 3.0,
) -> Ranking:
    """Tie groups and rank intervals from paired replicates (module docstring).

    Parameters
    ----------
    names, estimates
        The entries and their metric on the data (one each).
    replicates
        ``(B, n_entries)``: the metric of every entry on the same resample in each row.
    higher_is_better
        The metric's direction.
    tie_bayes_factor
        Largest K at which an entry is tied with its group's leader.
    """
    names = list(names)
    if not names or any(not isinstance(n, str) or not n for n in names):
        raise ValueError("`names` must be non-empty strings, at least one")
    if len(set(names)) != len(names):
        raise ValueError("`names` must not repeat")
    est = np.asarray(estimates, dtype=np.float64)
    if est.shape != (len(names),) or not np.isfinite(est).all():
        raise ValueError(f"`estimates` must be {len(names)} finite numbers")
    reps = np.asarray(replicates, dtype=np.float64)
    if reps.ndim != 2 or reps.shape[1] != len(names) or reps.shape[0] < 1:
        raise ValueError(f"`replicates` must have shape (B, {len(names)}), got {reps.shape}")
    if not (isinstance(tie_bayes_factor, (int, float)) and tie_bayes_factor >= 1):
        raise ValueError(f"`tie_bayes_factor` must be at least 1, got {tie_bayes_factor!r}")
    sign = 1.0 if higher_is_better else -1.0
    valid = np.isfinite(reps).all(axis=1)
    if not valid.any():
        raise DegenerateResamplingError(
            "every resample leaves some entry's metric undefined: no ranking"
        )
    oriented = sign * reps[valid]
    order = sorted(range(len(names)), key=lambda i: (-sign * est[i], names[i]))
    lead = order[0]

    group = np.zeros(len(names), dtype=np.int64)
    rank = np.zeros(len(names), dtype=np.int64)
    group_k: list[float | None] = [None] * len(names)
    remaining, g, placed = list(order), 0, 0
    while remaining:
        g += 1
        head = remaining[0]
        members = [head]
        for j in remaining[1:]:
            k, _ = _bayes_factor(oriented[:, head], oriented[:, j])
            if k <= tie_bayes_factor:
                members.append(j)
                group_k[j] = k
        for j in members:
            group[j], rank[j] = g, placed + 1
        placed += len(members)
        remaining = [j for j in remaining if j not in members]

    # competition rank within each resample: 1 + entries strictly better
    ranks = np.empty(oriented.shape, dtype=np.int64)
    for j in range(len(names)):
        ranks[:, j] = 1 + np.count_nonzero(oriented > oriented[:, [j]], axis=1)
    bounds = np.quantile(ranks, [0.025, 0.975], axis=0, method="inverted_cdf")

    entries = []
    for j in range(len(names)):
        k_lead, better = _bayes_factor(oriented[:, lead], oriented[:, j])
        entries.append(RankedEntry(
            name=names[j], estimate=float(est[j]), rank=int(rank[j]), group=int(group[j]),
            bayes_factor=None if j == lead else k_lead,
            group_bayes_factor=group_k[j],
            leader_better=0 if j == lead else better,
            rank_interval=(int(bounds[0, j]), int(bounds[1, j])),
        ))
    position = {j: i for i, j in enumerate(order)}
    entries.sort(key=lambda e: (e.rank, position[names.index(e.name)]))
    return Ranking(tuple(entries), bool(higher_is_better), float(tie_bayes_factor),
                   int(reps.shape[0]), int(valid.sum()))


def rank_entries(
    protocol: Protocol,
    split: Split,
    tables: Mapping[str, Table],
    *,
    resamples: int | None = None,
    seed: np.random.SeedSequence | int | None = None,
    workers: int = 1,
) -> Ranking:
    """Final rankings of scored entries on the certification part (module docstring).

    Parameters
    ----------
    tables
        Entry name -> its scored table against the committed truth (baselines may be
        entries too).
    resamples
        Bootstrap resamples (default ``protocol.resampling.resamples``).
    seed
        Default ``derive_seed(protocol.digest, "ranking", "leaderboard")``: every entry is
        scored on the same weights, and adding an entry changes no weight.
    """
    board = _board(protocol)
    _check_split(protocol, split)
    if not isinstance(tables, Mapping) or not tables:
        raise ValueError("`tables` must map at least one entry name to its table")
    names = list(tables)
    subs = []
    for name in names:
        _check_table(split, tables[name], what=f"table of {name!r}")
        subs.append(restrict(tables[name], split.certification))
    first, reference = subs[0], tables[names[0]]
    for name in names[1:]:
        table = tables[name]
        if table.kind != reference.kind or not all(
            np.array_equal(table[col], reference[col])
            for col in _TRUTH_COLUMNS.get(reference.kind, ())
        ):
            raise InputError(f"the table of {name!r} was scored against another truth")
    resamples = protocol.resampling.resamples if resamples is None else resamples
    if seed is None:
        seed = derive_seed(protocol.digest, "ranking", _PURPOSE)
    kernel = get_kernel(protocol.metric)
    estimates = [float(kernel(sub)) for sub in subs]

    def statistic(weights: np.ndarray) -> np.ndarray:
        return np.column_stack([kernel(sub, weights) for sub in subs])

    reps = bootstrap(statistic, first.n_units, resamples=resamples, seed=seed,
                     strata=first.strata, workers=workers)
    ranking = rank_replicates(names, estimates, reps.values,
                              higher_is_better=protocol.higher_is_better,
                              tie_bayes_factor=board.tie_bayes_factor)
    return Ranking(ranking.entries, ranking.higher_is_better, ranking.tie_bayes_factor,
                   ranking.resamples, ranking.valid_resamples,
                   part=split.certify_on, n_units=first.n_units, split_digest=split.digest,
                   seed=reps.to_dict()["seed"])
