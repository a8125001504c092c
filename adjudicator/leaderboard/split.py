"""The secret public/private split, the public score and the certification part."""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..data import Truth
from ..errors import InputError
from ..metrics import get_kernel
from ..protocol import Protocol
from ..table import Table
from ._common import _HOLDOUT, _PRIVATE, _PUBLIC, ROLES, SPLIT_FORMAT, _board, _seed

__all__ = [
    "Split",
    "split_units",
    "restrict",
    "PublicScore",
    "score_public",
    "certification_table",
]

# -- the split ------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Split:
    """The public/private split of the sequestered units of one protocol.

    Attributes
    ----------
    protocol_digest
        The protocol it was drawn for.
    units
        Unit ids, sorted (the order of :attr:`adjudicator.table.Table.units`).
    roles
        Per unit, an index into :data:`ROLES`.
    certify_on
        ``private`` or ``all`` (the protocol's ``leaderboard.certify_on``).
    digest
        ``sha256:`` of the canonical JSON ``{"format", "protocol", "roles": {role: sorted
        unit ids}}``: what the ledger records.
    secret
        True when a secret was mixed into the seed (see the module docstring).
    """

    protocol_digest: str
    units: np.ndarray
    roles: np.ndarray
    certify_on: str
    digest: str
    secret: bool

    def __post_init__(self) -> None:
        self.units.setflags(write=False)
        self.roles.setflags(write=False)

    @property
    def public(self) -> np.ndarray:
        """Mask of the units the board reads (train side and holdout)."""
        mask: np.ndarray = self.roles != _PRIVATE
        return mask

    @property
    def train(self) -> np.ndarray:
        """Mask of the public units outside the holdout."""
        mask: np.ndarray = self.roles == _PUBLIC
        return mask

    @property
    def holdout(self) -> np.ndarray:
        """Mask of the thresholdout holdout (empty for the other mechanisms)."""
        mask: np.ndarray = self.roles == _HOLDOUT
        return mask

    @property
    def private(self) -> np.ndarray:
        """Mask of the units the board never reads."""
        mask: np.ndarray = self.roles == _PRIVATE
        return mask

    @property
    def certification(self) -> np.ndarray:
        """Mask of the units certification and final rankings use."""
        if self.certify_on == "private":
            return self.private
        return np.ones(len(self.units), dtype=bool)

    def to_dict(self) -> dict[str, Any]:
        """Counts and digest (never the unit ids), for results and the ledger."""
        counts = np.bincount(self.roles, minlength=len(ROLES))
        return {
            "format": SPLIT_FORMAT,
            "digest": self.digest,
            "protocol": self.protocol_digest,
            "units": {role: int(c) for role, c in zip(ROLES, counts, strict=True)},
            "certify_on": self.certify_on,
            "secret": self.secret,
        }


def _largest_remainder(sizes: np.ndarray, fraction: float) -> np.ndarray:
    """Integers ``k_s <= sizes`` near ``fraction * sizes`` summing to round(fraction * n)."""
    quota = fraction * sizes
    k = np.floor(quota).astype(np.int64)
    target = int(math.floor(fraction * int(sizes.sum()) + 0.5))
    left = target - int(k.sum())
    if left > 0:
        # largest fractional part first; equal parts: lower stratum code first (stable sort)
        order = np.argsort(-(quota - k), kind="stable")
        k[order[:left]] += 1
    out: np.ndarray = np.minimum(k, sizes)
    return out


def split_units(protocol: Protocol, truth: Truth, *, secret: str | None) -> Split:
    """Split the units of ``truth`` into the roles of :data:`ROLES` (module docstring).

    Deterministic: the same protocol, unit ids, strata and secret give the same split,
    whatever the order of the truth file. Pass ``secret=None`` only where the split may
    be public (demos, tests).

    Raises
    ------
    ProtocolError
        When the protocol has no leaderboard block.
    InputError
        When ``truth`` was read for another protocol, or a part would be empty.
    """
    board = _board(protocol)
    if not isinstance(truth, Truth):
        raise TypeError(f"`truth` must be a Truth, got {type(truth).__name__}")
    if truth.protocol_digest != protocol.digest:
        raise InputError("the truth was read for another protocol; read it again for this one",
                         source=truth.source)
    # the sorted unit ids and per-unit stratum codes, exactly as adjudicator.data builds
    # them for every Table joined with this truth (Truth has no public accessor for them)
    units = np.unique(truth._rows["_unit"].to_numpy().astype(str))
    strata = (np.zeros(len(units), np.int64) if truth._strata is None
              else np.asarray(truth._strata, dtype=np.int64))
    entropy = _seed(protocol, "split", secret).entropy
    assert isinstance(entropy, int)  # derive_seed gives a 256-bit integer
    key = entropy.to_bytes(32, "big") + b"\0"
    rank_key = np.array([hashlib.sha256(key + u.encode("utf-8")).digest() for u in units],
                        dtype=object)
    sizes = np.bincount(strata)
    public_k = _largest_remainder(sizes, board.public_fraction)
    fb = board.feedback
    holdout_k = (_largest_remainder(public_k, fb.holdout_fraction)
                 if fb.mechanism == "thresholdout" and fb.holdout_fraction is not None
                 else np.zeros_like(public_k))
    roles = np.full(len(units), _PRIVATE, dtype=np.int8)
    for s in np.flatnonzero(sizes):
        members = np.flatnonzero(strata == s)
        ordered = members[sorted(range(len(members)), key=lambda i: rank_key[members[i]])]
        roles[ordered[: public_k[s]]] = _PUBLIC
        roles[ordered[: holdout_k[s]]] = _HOLDOUT
    counts = np.bincount(roles, minlength=len(ROLES))
    needed = ROLES if fb.mechanism == "thresholdout" else ROLES[:2]
    empty = [r for r in needed if counts[ROLES.index(r)] == 0]
    if empty:
        raise InputError(
            f"{len(units)} units leave the {' and '.join(empty)} part empty with "
            f"public_fraction {board.public_fraction}", source=truth.source,
        )
    listing = {role: sorted(units[roles == i].tolist()) for i, role in enumerate(ROLES)}
    text = json.dumps({"format": SPLIT_FORMAT, "protocol": protocol.digest, "roles": listing},
                      sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    digest = "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()
    return Split(protocol.digest, units, roles, board.certify_on, digest, secret is not None)


def restrict(table: Table, mask: np.ndarray) -> Table:
    """The table of the units where ``mask`` (one bool per unit) is True, and nothing else.

    Rows, strata and unit ids of the other units are dropped (not weighted zero), and so is
    ``meta`` (the truth summary counts every unit).
    """
    mask = np.asarray(mask)
    if mask.dtype != bool or mask.shape != (table.n_units,):
        raise ValueError(f"`mask` must be {table.n_units} booleans, one per unit")
    rows = mask[table.row_unit]
    new_index = np.cumsum(mask) - 1
    return Table(
        kind=table.kind,
        units=table.units[mask].copy(),
        row_unit=new_index[table.row_unit[rows]],
        columns={name: col[rows].copy() for name, col in table.columns.items()},
        strata=None if table.strata is None else table.strata[mask].copy(),
        meta={},  # the truth summary describes every unit: it does not travel with a part
    )


def _check_table(split: Split, table: Table, what: str = "table") -> None:
    if not isinstance(table, Table):
        raise TypeError(f"`{what}` must be a Table, got {type(table).__name__}")
    if not np.array_equal(table.units, split.units):
        raise InputError(
            f"the {what} holds other units than the split: score it against the truth the "
            "split was drawn from"
        )


def _check_split(protocol: Protocol, split: Split) -> None:
    if not isinstance(split, Split):
        raise TypeError(f"`split` must be a Split, got {type(split).__name__}")
    if split.protocol_digest != protocol.digest:
        raise InputError("the split was drawn for another protocol")


@dataclass(frozen=True)
class PublicScore:
    """What the board may read of one submission: its metric on public units only.

    Attributes
    ----------
    public
        The metric on every public unit (exact and ladder).
    train, holdout
        Thresholdout only: the metric on the public units outside the holdout and on the
        holdout; None otherwise.
    """

    public: float
    train: float | None = None
    holdout: float | None = None


def score_public(protocol: Protocol, split: Split, table: Table) -> PublicScore:
    """The public scores of a scored table; the private units are not even passed on."""
    _board(protocol)
    _check_split(protocol, split)
    _check_table(split, table)
    kernel = get_kernel(protocol.metric)
    public = float(kernel(restrict(table, split.public)))
    if not split.holdout.any():
        return PublicScore(public)
    return PublicScore(public, float(kernel(restrict(table, split.train))),
                       float(kernel(restrict(table, split.holdout))))


def certification_table(protocol: Protocol, split: Split, table: Table) -> Table:
    """The table certification must use: the private units, or all (``certify_on``)."""
    _board(protocol)
    _check_split(protocol, split)
    _check_table(split, table)
    return restrict(table, split.certification)
