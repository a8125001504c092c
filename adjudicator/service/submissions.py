"""Accepting a submission: validate, then, in one transaction, count, store and record.

The steps of :func:`submit`, in order:

1. the caller is a participant of a team; the challenge exists and its window is open;
2. an ``Idempotency-Key`` seen before returns the submission its first request created
   (the same body) or is refused (a different body: :class:`IdempotencyKeyError`);
3. a cheap, unlocked look at the family's count refuses an upload past
   ``max_submissions`` before any parsing;
4. the file is validated (Parquet size first, then the reader) against the truth or the
   units manifest: nothing invalid is ever accepted; in a challenge that takes code, the
   file is a code archive checked by :func:`.model_to_data.check_code` and the digest is
   the code's (it runs in the adjudication job);
5. one write transaction: lock the family counter (SQLite: the transaction holds the write
   lock from its ``BEGIN IMMEDIATE``; PostgreSQL: ``SELECT ... FOR UPDATE``), lock the
   ledger head, re-check the window and the key, refuse past the cap
   (:class:`MultiplicityError`), move the file to its address, insert the submission with
   the next sequence number, append ``submission_received``, remember the key and queue
   the adjudication. Any failure rolls all of it back; a file moved to the store by a
   transaction that then failed is removed by the next start's sweep.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..errors import InputError, MultiplicityError
from ..store.errors import ConflictError, IdempotencyKeyError, NotFoundError
from ..store.models import (
    Challenge,
    FamilyCounter,
    IdempotencyRecord,
    Job,
    ProtocolRecord,
    Submission,
    Team,
)
from ..store.rows import existing, lock_family, record_artifact
from .open_results import pseudonym
from .runtime import Runtime
from .uploads import Received, check_parquet
from .users import Principal

__all__ = ["submit", "submission_view", "get_submission", "visible", "family_of"]

_MAX_KEY = 200


def family_of(protocol_family: str, team: str) -> str:
    """The multiplicity family a team's submission counts in: its team, or the challenge."""
    return team if protocol_family == "team" else "*"


def get_submission(session: Session, submission_id: int) -> Submission:
    s = session.get(Submission, submission_id)
    if s is None:
        raise NotFoundError(f"no submission {submission_id}")
    return s


def visible(principal: Principal, s: Submission) -> bool:
    """May this principal read this submission? Admins and auditors: all; teams: their own."""
    if principal.role in ("admin", "auditor"):
        return True
    return principal.role == "participant" and principal.team_id == s.team_id


def submission_view(session: Session, s: Submission) -> dict[str, Any]:
    team = session.get(Team, s.team_id)
    job = session.scalars(select(Job).where(Job.submission_id == s.id, Job.kind == "adjudicate")
                          .order_by(Job.id.desc()).limit(1)).first()
    return {
        "id": s.id, "challenge": s.challenge_id, "team": team.name if team else None,
        "name": s.name, "family": s.family, "sequence": s.sequence, "digest": s.digest,
        "sha256": s.sha256, "received_at": s.received_at, "received_seq": s.received_seq,
        "status": s.status, "verdict": s.verdict, "estimate": s.estimate,
        "alpha_k": s.alpha_k, "adjudicated_at": s.adjudicated_at,
        "adjudicated_seq": s.adjudicated_seq, "error": s.error,
        "note": s.note, "note_at": s.note_at,
        "job": None if job is None else {"id": job.id, "status": job.status},
    }


def _replay(session: Session, principal: Principal, key: str, request_sha: str
            ) -> Submission | None:
    rec = session.get(IdempotencyRecord, (principal.user_id, key))
    if rec is None:
        return None
    if rec.request_sha256 != request_sha:
        raise IdempotencyKeyError(
            f"Idempotency-Key {key!r} was used for a different body; use a new key")
    return get_submission(session, rec.submission_id)


def submit(
    rt: Runtime, principal: Principal, challenge_id: str, path: Path, received: Received,
    *, name: str | None = None, idempotency_key: str | None = None,
) -> tuple[Submission, bool]:
    """Accept a submission (see the module docstring); return it and whether it is new."""
    # (1)
    if principal.role != "participant" or principal.team_id is None or principal.team is None:
        raise ConflictError("only a participant of a team submits")
    if idempotency_key is not None and not 0 < len(idempotency_key) <= _MAX_KEY:
        raise InputError(f"Idempotency-Key must be 1-{_MAX_KEY} characters")
    if name is not None and len(name) > 200:
        raise InputError("name must be at most 200 characters")
    with rt.store.db.read() as session:
        c = session.get(Challenge, challenge_id)
        if c is None:
            raise NotFoundError(f"no challenge {challenge_id!r}")
        if c.phase != "open":
            raise ConflictError(f"challenge {challenge_id!r} is not open for submissions "
                                f"(it is {c.phase})")
        protocol = rt.protocol(existing(session, ProtocolRecord, c.protocol_digest))
        # a pseudonymous challenge names the team by its pseudonym wherever it is published
        # (the ledger, the family, the results): the label is fixed here, once
        label = (pseudonym(rt, challenge_id, principal.team)
                 if protocol.publication.teams == "pseudonymous" else None)
        family = family_of(protocol.multiplicity.family, label or principal.team)
        cap = protocol.multiplicity.max_submissions
        # (2)
        if idempotency_key is not None:
            done = _replay(session, principal, idempotency_key, received.sha256)
            if done is not None:
                return done, False
        # (3)
        counter = session.get(FamilyCounter, (challenge_id, family))
        if counter is not None and counter.accepted >= cap:
            raise _cap_error(cap, family)
    # (4)
    from .validation import validate_submission

    if protocol.submission.mode == "code":
        from .model_to_data import check_code

        digest = check_code(protocol, path, max_bytes=rt.settings.max_upload_bytes,
                            source=name or "submission")
    else:
        check_parquet(path, rt.settings.max_upload_bytes)
        truth = rt.validation_truth(c, protocol)
        digest = validate_submission(protocol, path, truth, source=name or "submission",
                                     max_bytes=rt.settings.max_upload_bytes)
    # (5)
    at = rt.stamp()
    with rt.store.db.write() as session:
        counter = lock_family(session, challenge_id, family)
        rt.store.ledger.lock(session)
        phase = session.scalar(select(Challenge.phase).where(Challenge.id == challenge_id))
        if phase != "open":
            raise ConflictError(f"challenge {challenge_id!r} closed before the submission "
                                "was accepted")
        if idempotency_key is not None:
            done = _replay(session, principal, idempotency_key, received.sha256)
            if done is not None:
                return done, False
        if counter.accepted >= cap:
            raise _cap_error(cap, family)
        sequence = counter.accepted + 1
        counter.accepted = sequence
        sha = rt.store.artifacts.put_file(path, received.sha256)
        record_artifact(session, sha, "submission", received.size, at)
        sub = Submission(challenge_id=challenge_id, team_id=principal.team_id,
                         team_label=label,
                         user_id=principal.user_id, family=family, sequence=sequence,
                         name=name, digest=digest, sha256=sha, received_at=at,
                         received_seq=-1, status="received")
        session.add(sub)
        session.flush()
        seq, _ = rt.store.ledger.append(session, {
            "type": "submission_received", "at": at, "challenge": challenge_id,
            "submission": sub.id, "team": label or principal.team, "family": family,
            "sequence": sequence, "digest": digest, "sha256": sha,
        }, at=at)
        sub.received_seq = seq
        if idempotency_key is not None:
            session.add(IdempotencyRecord(user_id=principal.user_id, key=idempotency_key,
                                          request_sha256=received.sha256,
                                          submission_id=sub.id, created_at=at))
        truth_ready = session.scalar(select(Challenge.truth_digest)
                                     .where(Challenge.id == challenge_id)) is not None
        if truth_ready:
            session.add(Job(kind="adjudicate", submission_id=sub.id, status="queued",
                            attempts=0, created_at=at))
    return sub, True


def _cap_error(cap: int, family: str) -> MultiplicityError:
    who = "the challenge" if family == "*" else f"team {family!r}"
    return MultiplicityError(
        f"{who} has used all {cap} submissions the protocol allows (max_submissions); "
        "there is no alpha left to spend")
