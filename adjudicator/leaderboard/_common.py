"""Shared pieces of the leaderboard modules: constants, seeds, checks."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import ProtocolError
from ..protocol import Leaderboard, Protocol
from ..resampling import derive_seed

__all__ = ["ROLES", "SPLIT_FORMAT"]


#: format marker of the canonical text the split digest is taken of
SPLIT_FORMAT = "adjudicator-leaderboard-split/v1"
#: unit roles, by code: private (never read by the board), public (train side under
#: thresholdout), holdout (public, thresholdout only)
ROLES = ("private", "public", "holdout")
_PRIVATE, _PUBLIC, _HOLDOUT = 0, 1, 2
_PURPOSE = "leaderboard"
#: truth columns of the scored table by kind (entries ranked together must share them)
_TRUTH_COLUMNS = {"binary": ("y",), "survival": ("time", "event"), "regression": ("y",),
                  "sets": ("n_true",), "scores": ()}


def _board(protocol: Protocol) -> Leaderboard:
    if not isinstance(protocol, Protocol):
        raise TypeError(f"`protocol` must be a Protocol, got {type(protocol).__name__}")
    if protocol.leaderboard is None:
        raise ProtocolError(
            f"protocol {protocol.id!r} has no leaderboard block: it preregisters no public board"
        )
    return protocol.leaderboard


def _check_text(name: str, value: Any) -> str:
    if not isinstance(value, str) or not value or any(ord(c) < 32 for c in value):
        raise ValueError(f"`{name}` must be a non-empty string without control characters")
    return value


def _seed(protocol: Protocol, what: str, secret: str | None) -> np.random.SeedSequence:
    if secret is not None:
        what = what + "\x1f" + _check_text("secret", secret)
    return derive_seed(protocol.digest, what, _PURPOSE)
