"""The public leaderboard of a challenge: what the board shows, and the final rankings.

The statistics are :mod:`adjudicator.leaderboard`'s. This module only gathers their
inputs from the store: the protocol, the sealed truth, and the files of the submissions
in the order they were received. Both views are computed on demand by *replaying* the
feedback mechanism. Nothing the board shows is stored, so it can be derived again at any
time, and by anyone once the secret is published.

The secret that seeds the split and the Thresholdout noise is
``HMAC-SHA256(truth key, "adjudicator/leaderboard-secret/v2" NUL challenge)``. The truth
key is the key that seals the truth (:func:`adjudicator.store.truth_key`). Participants
cannot predict the secret and it is never stored; ``sha256(secret)`` and the split's digest
are recorded in the ledger's ``truth_committed`` entry, which fixes both before any score is
read. The final view publishes the secret, so that anyone can replay the board. (v1 mixed
the truth digest into the message: it added nothing the ledger commitment does not fix,
and it made the split itself a function of the private labels.)

Certification (the worker's adjudications and the final rankings) reads only the split's
certification units (:func:`certification_split`): the private part, or every unit with
``certify_on: all``.

The public board (:func:`public_board`) is open to anyone. It exists only when the
protocol has a ``leaderboard`` block, and it shows scores only once a truth has been
committed. Submissions form one feedback sequence per team (``scope: team``) or a single
sequence for the whole board (``scope: board``), in order of receipt.

The final rankings (:func:`final_ranking`) are available once the window has closed and the
truth has been committed. The entries are each team's last submission plus the protocol's
baselines, ranked on the certification part (the private units unless
``certify_on: all``).
"""

from __future__ import annotations

import hashlib
import hmac
import threading
from collections import OrderedDict
from typing import Any

from sqlalchemy import func, select

from .. import leaderboard as lb
from ..data import Truth, read_submission
from ..errors import VerificationError
from ..protocol import Protocol
from ..store.errors import ConflictError, NotFoundError
from ..store.keys import truth_key
from ..store.models import Baseline, Challenge, ProtocolRecord, Submission, Team
from .runtime import Runtime

__all__ = ["public_board", "final_ranking", "leaderboard_secret", "secret_for",
           "certification_split"]

_SECRET_DOMAIN = b"adjudicator/leaderboard-secret/v2"


class _Cache:
    """A small thread-safe LRU map. Keys are content addresses, so an entry cannot go stale."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._items: OrderedDict[Any, Any] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Any) -> Any:
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
        return None

    def put(self, key: Any, value: Any) -> Any:
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self.size:
                self._items.popitem(last=False)
        return value


_TRUTHS = _Cache(8)  # (sealed truth sha256, protocol digest) -> Truth
_SPLITS = _Cache(64)  # (sealed truth sha256, protocol digest, challenge) -> Split
_SCORES = _Cache(100_000)  # (submission sha256, split digest) -> PublicScore
_FINALS = _Cache(32)  # (challenge, closed_seq, truth sha256, resamples) -> dict


def secret_for(rt: Runtime, challenge_id: str) -> str:
    """The secret of a challenge's split and noise (module docstring)."""
    message = b"\0".join([_SECRET_DOMAIN, challenge_id.encode()])
    return hmac.new(truth_key(rt.settings.keys), message, hashlib.sha256).hexdigest()


def leaderboard_secret(rt: Runtime, challenge: Challenge) -> str:
    """The secret of a challenge's split and noise, once its truth is committed."""
    if challenge.truth_digest is None:
        raise ConflictError(f"challenge {challenge.id!r} has no committed truth yet")
    return secret_for(rt, challenge.id)


def _load(rt: Runtime, challenge_id: str) -> tuple[Challenge, Protocol, list[Any]]:
    with rt.store.db.read() as session:
        c = session.get(Challenge, challenge_id)
        if c is None:
            raise NotFoundError(f"no challenge {challenge_id!r}")
        record = session.get(ProtocolRecord, c.protocol_digest)
        if record is None:
            raise NotFoundError(f"no registered protocol {c.protocol_digest!r}")
        protocol = rt.protocol(record)
        rows = list(session.execute(
            # a pseudonymous challenge shows its teams by their pseudonyms
            select(Submission.id, Submission.sha256, Submission.digest,
                   func.coalesce(Submission.team_label, Team.name))
            .join(Team, Team.id == Submission.team_id)
            .where(Submission.challenge_id == challenge_id)
            .order_by(Submission.received_seq, Submission.id)).all())
        session.expunge(c)
    if protocol.leaderboard is None:
        raise NotFoundError(f"challenge {challenge_id!r} has no public leaderboard: its "
                            "protocol preregisters none (no leaderboard block)")
    return c, protocol, rows


def _truth(rt: Runtime, c: Challenge, protocol: Protocol) -> Truth:
    from .validation import read_sealed_truth

    assert c.truth_sealed_sha256 is not None
    key = (c.truth_sealed_sha256, protocol.digest)
    truth = _TRUTHS.get(key)
    if truth is None:
        plain = rt.store.sealer.open(rt.store.artifacts.read(c.truth_sealed_sha256))
        truth = _TRUTHS.put(key, read_sealed_truth(protocol, plain))
    return truth  # type: ignore[no-any-return]


def _split(rt: Runtime, c: Challenge, protocol: Protocol, truth: Truth) -> lb.Split:
    key = (c.truth_sealed_sha256, protocol.digest, c.id)
    split = _SPLITS.get(key)
    if split is None:
        split = lb.split_units(protocol, truth, secret=leaderboard_secret(rt, c))
        committed = c.split_digest
        if committed is not None and committed != split.digest:  # fail closed
            raise VerificationError(
                f"challenge {c.id!r}: the split drawn now ({split.digest}) is not the one "
                f"committed in the ledger ({committed})")
        split = _SPLITS.put(key, split)
    return split  # type: ignore[no-any-return]


def certification_split(rt: Runtime, c: Challenge, protocol: Protocol,
                        truth: Truth) -> lb.Split | None:
    """The split whose certification units adjudication reads; None without a board."""
    if protocol.leaderboard is None:
        return None
    return _split(rt, c, protocol, truth)


def _public_score(rt: Runtime, protocol: Protocol, truth: Truth, split: lb.Split,
                  sha256: str) -> lb.PublicScore:
    key = (sha256, split.digest)
    score = _SCORES.get(key)
    if score is None:
        entry = read_submission(protocol, rt.store.artifacts.path(sha256), truth)
        score = _SCORES.put(key, lb.score_public(protocol, split, entry.table))
    return score  # type: ignore[no-any-return]


def _header(c: Challenge, protocol: Protocol) -> dict[str, Any]:
    board = protocol.leaderboard
    assert board is not None
    return {
        "challenge": c.id, "phase": c.phase, "metric": protocol.metric.name,
        "higher_is_better": protocol.higher_is_better, "scope": board.scope,
        "feedback": board.feedback.model_dump(mode="json", exclude_none=True),
        "certify_on": board.certify_on,
    }


def public_board(rt: Runtime, challenge_id: str) -> dict[str, Any]:
    """What the public board shows now: each team's best credited value, with ties as ties.

    Each team also gets its number of submissions and, with thresholdout, the budget it
    has left (or that the board has left, with ``scope: board``).
    """
    c, protocol, rows = _load(rt, challenge_id)
    board = protocol.leaderboard
    assert board is not None
    view = _header(c, protocol)
    teams = list(dict.fromkeys(team for *_, team in rows))
    if c.truth_sealed_sha256 is None:
        view.update(split=None, note="no truth is committed yet: the board shows no scores",
                    teams=[{"team": t, "shown": None, "rank": None,
                            "submissions": sum(1 for *_, n in rows if n == t)}
                           for t in sorted(teams)])
        return view
    truth = _truth(rt, c, protocol)
    split = _split(rt, c, protocol, truth)
    secret = leaderboard_secret(rt, c)
    scores = [_public_score(rt, protocol, truth, split, sha) for _, sha, _, _ in rows]
    responses: dict[str, list[lb.Response]] = {t: [] for t in teams}
    budget: dict[str, int | None] = {}
    if board.scope == "team":
        for team in teams:
            seq = [s for s, (*_, t) in zip(scores, rows, strict=True) if t == team]
            responses[team] = list(lb.replay(protocol, seq, scope_key=f"team/{team}",
                                             secret=secret))
            budget[team] = responses[team][-1].budget_left
    else:
        for response, (*_, team) in zip(
            lb.replay(protocol, scores, scope_key="board", secret=secret), rows, strict=True
        ):
            responses[team].append(response)
        last = [r for seq in responses.values() for r in seq]
        shared = max(last, key=lambda r: r.index).budget_left if last else None
        budget = dict.fromkeys(teams, shared)
    standings = lb.standings(responses, higher_is_better=protocol.higher_is_better)
    out = []
    for s in standings:
        row = s.to_dict()
        if board.feedback.mechanism == "thresholdout":
            row["budget_left"] = budget.get(s.team)
        out.append(row)
    view.update(split=split.to_dict(), teams=out)
    return view


def final_ranking(rt: Runtime, challenge_id: str, *, resamples: int | None = None
                  ) -> dict[str, Any]:
    """The final rankings: tie groups and rank intervals on the certification part.

    Entries are each team's last submission and the protocol's baselines
    (``baseline/<name>``). Only once the window has closed and the truth is committed.
    """
    c, protocol, rows = _load(rt, challenge_id)
    if c.phase != "closed" or c.truth_sealed_sha256 is None:
        raise ConflictError("final rankings are published once the window has closed and the "
                            "truth is committed")
    key = (c.id, c.closed_seq, c.truth_sealed_sha256, resamples)
    cached = _FINALS.get(key)
    if cached is not None:
        return cached  # type: ignore[no-any-return]
    with rt.store.db.read() as session:
        baselines = {b.name: b.sha256 for b in session.scalars(
            select(Baseline).where(Baseline.challenge_id == c.id).order_by(Baseline.name))}
    truth = _truth(rt, c, protocol)
    split = _split(rt, c, protocol, truth)
    last: dict[str, tuple[int, str, str]] = {}
    for sid, sha, digest, team in rows:  # in order of receipt: the last one stays
        last[team] = (sid, sha, digest)
    if not last:
        raise ConflictError(f"challenge {c.id!r} received no submission: nothing to rank")
    store = rt.store.artifacts
    tables = {team: read_submission(protocol, store.path(sha), truth).table
              for team, (_, sha, _) in sorted(last.items())}
    for name, sha in baselines.items():
        tables[f"baseline/{name}"] = read_submission(protocol, store.path(sha), truth).table
    ranking = lb.rank_entries(protocol, split, tables, resamples=resamples,
                              workers=rt.settings.workers)
    secret = leaderboard_secret(rt, c)
    view = _header(c, protocol)
    view.update(
        split=split.to_dict(),
        submissions={team: {"submission": sid, "digest": digest}
                     for team, (sid, _, digest) in sorted(last.items())},
        secret=secret, secret_sha256=hashlib.sha256(secret.encode()).hexdigest(),
        ranking=ranking.to_dict(),
    )
    return _FINALS.put(key, view)  # type: ignore[no-any-return]
