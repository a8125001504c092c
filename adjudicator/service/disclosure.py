"""What a participant may read of its own results while a leaderboard challenge is open.

A protocol with a ``leaderboard`` block preregisters what teams learn during the window:
the board's response, read from the public units only. Everything an adjudication
computes (estimate, interval, alpha spent, verdict, a failure's message, ``result.json``,
the signed report) reads the certification units, which are the private part; one of
them per submission would leak it, and the public/private split would protect nothing.
So, until the challenge is closed:

* a participant's submission views keep what the team sent and when (id, name,
  sequence, digests, receipt) and show ``status: withheld`` instead of the state, verdict,
  estimate, alpha and error; a job shows ``status: withheld``;
* ``/result``, ``/report`` and ``/report/proof`` answer 403 (:class:`WithheldError`)
  whatever the submission's state, so not even "it failed" gets out;
* a participant cannot ask for a re-adjudication (the answer would tell a failure from a
  success);
* the public per-team summary (``/challenges/{c}/leaderboard``) shows only the number of
  submissions, not adjudications or certifications.

Admins and auditors read everything, as for any challenge. Once the window closes,
everything is published (:mod:`.open_results`). Challenges without a leaderboard block are
unchanged: a team reads its own results as soon as they exist.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from ..protocol import Protocol
from ..store.errors import NotFoundError, WithheldError
from ..store.models import Challenge, ProtocolRecord
from .runtime import Runtime
from .users import Principal

__all__ = ["WITHHELD", "withholds", "withheld_for", "check_readable", "mask_submission",
           "mask_job"]

#: what a withheld field says
WITHHELD = "withheld until the window closes (the protocol preregisters a public leaderboard)"


def withholds(protocol: Protocol, phase: str) -> bool:
    """Are participants' results withheld in this phase? (leaderboard protocols, not closed)"""
    return protocol.leaderboard is not None and phase != "closed"


def withheld_for(rt: Runtime, session: Session, who: Principal, challenge_id: str) -> bool:
    """Are the results of ``challenge_id`` withheld from ``who`` now?"""
    if who.role in ("admin", "auditor"):
        return False
    c = session.get(Challenge, challenge_id)
    if c is None:
        raise NotFoundError(f"no challenge {challenge_id!r}")
    record = session.get(ProtocolRecord, c.protocol_digest)
    if record is None:
        raise NotFoundError(f"no registered protocol {c.protocol_digest!r}")
    return withholds(rt.protocol(record), str(c.phase))


def check_readable(rt: Runtime, session: Session, who: Principal, challenge_id: str,
                   what: str) -> None:
    """Raise :class:`WithheldError` when ``who`` may not read ``what`` of this challenge yet."""
    if withheld_for(rt, session, who, challenge_id):
        raise WithheldError(f"{what} of challenge {challenge_id!r}: {WITHHELD}")


def mask_submission(view: dict[str, Any]) -> dict[str, Any]:
    """A submission view without anything an adjudication computed."""
    out = dict(view)
    out.update(status="withheld", verdict=None, estimate=None, alpha_k=None,
               adjudicated_at=None, adjudicated_seq=None, error=None, withheld=WITHHELD)
    if out.get("job") is not None:
        out["job"] = {"id": out["job"]["id"], "status": "withheld"}
    return out


def mask_job(view: dict[str, Any]) -> dict[str, Any]:
    """A job view that does not tell a failed adjudication from a successful one."""
    out = dict(view)
    out.update(status="withheld", attempts=None, error=None, finished_at=None,
               withheld=WITHHELD)
    return out
