"""Protocols and challenges: registration, truth commitment, baselines, the window's phases.

A challenge moves ``draft -> open -> closed``; every step is a ledger event. The two orders
differ in when the truth is committed:

============== ============================================ ===============================
order          before the window opens                      after it closes
============== ============================================ ===============================
retrospective  truth committed (``truth_committed``),        adjudications run as soon as
               baselines uploaded; submissions validated    each submission arrives
               against the truth and adjudicated at once
prospective    units manifest and baselines uploaded;       the measured truth is committed
               submissions validated against the manifest   (``truth_committed``) and every
               and locked (``submission_received``)         locked submission is adjudicated
============== ============================================ ===============================

Before the window opens the committee may also record power analyses
(:mod:`.power_analysis`, ``power_analysis`` entries).

The ledger proves the order: in a prospective challenge every ``submission_received``
entry precedes ``window_closed``, which precedes ``truth_committed``; in a retrospective
one ``truth_committed`` precedes ``window_opened``. Each state check is made after the
ledger head is locked (:meth:`adjudicator.store.LedgerStore.lock`), so it cannot be
overtaken by a concurrent change.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..errors import InputError
from ..protocol import parse_protocol
from ..store.errors import ConflictError, NotFoundError
from ..store.models import (
    ORDERS,
    Baseline,
    Challenge,
    Job,
    PowerAnalysis,
    ProtocolRecord,
    Submission,
)
from ..store.rows import record_artifact
from .model_to_data import inputs_view
from .power_analysis import power_view
from .runtime import Runtime

__all__ = [
    "register_protocol",
    "create_challenge",
    "set_units",
    "commit_truth",
    "add_baseline",
    "open_window",
    "close_window",
    "get_challenge",
    "challenge_view",
    "protocol_view",
]

_SLUG = re.compile(r"^[a-z0-9][a-z0-9._-]{0,99}$")


def get_challenge(session: Session, challenge_id: str) -> Challenge:
    c = session.get(Challenge, challenge_id)
    if c is None:
        raise NotFoundError(f"no challenge {challenge_id!r}")
    return c


def _fresh_phase(session: Session, challenge_id: str) -> str:
    # a column query always reads the database, never the session's cached object
    return str(session.scalar(select(Challenge.phase).where(Challenge.id == challenge_id)))


def _protocol_record(session: Session, digest: str) -> ProtocolRecord:
    rec = session.get(ProtocolRecord, digest)
    if rec is None:
        raise NotFoundError(f"no registered protocol {digest!r}")
    return rec


def protocol_view(rec: ProtocolRecord, rt: Runtime) -> dict[str, Any]:
    import json

    return {"digest": rec.digest, "id": rec.protocol_id, "version": rec.version,
            "title": rec.title, "registered_at": rec.registered_at,
            "ledger_seq": rec.ledger_seq, "protocol": json.loads(rec.canonical)}


def register_protocol(rt: Runtime, text: bytes) -> tuple[ProtocolRecord, bool]:
    """Register a protocol document (YAML); the same protocol twice is one record.

    Returns the record and whether this call registered it.
    """
    protocol = parse_protocol(text, source="protocol")
    at = rt.stamp()
    sha = rt.store.artifacts.put_bytes(text)
    with rt.store.db.write() as session:
        rt.store.ledger.lock(session)
        existing = session.get(ProtocolRecord, protocol.digest)
        if existing is not None:
            return existing, False
        record_artifact(session, sha, "protocol", len(text), at)
        seq, _ = rt.store.ledger.append(session, {
            "type": "protocol_registered", "at": at, "protocol": protocol.digest,
            "id": protocol.id, "version": protocol.version, "source_sha256": sha,
        }, at=at)
        rec = ProtocolRecord(digest=protocol.digest, protocol_id=protocol.id,
                             version=protocol.version, title=protocol.title,
                             canonical=protocol.canonical, source_sha256=sha,
                             registered_at=at, ledger_seq=seq)
        session.add(rec)
    return rec, True


def create_challenge(rt: Runtime, challenge_id: str, protocol_digest: str, order: str,
                     title: str | None = None) -> Challenge:
    if not _SLUG.match(challenge_id):
        raise InputError(f"challenge id {challenge_id!r}: lower-case letters, digits, . _ -")
    if order not in ORDERS:
        raise InputError(f"order must be one of {', '.join(ORDERS)}, got {order!r}")
    with rt.store.db.write() as session:
        rec = _protocol_record(session, protocol_digest)
        if session.get(Challenge, challenge_id) is not None:
            raise ConflictError(f"challenge {challenge_id!r} exists")
        c = Challenge(id=challenge_id, title=(title or rec.title)[:300],
                      protocol_digest=rec.digest, order=order, phase="draft",
                      created_at=rt.stamp())
        session.add(c)
    return c


def set_units(rt: Runtime, challenge_id: str, path: Path) -> Challenge:
    """Store the units manifest of a prospective challenge (draft phase only)."""
    from .validation import frame_bytes, read_units, skeleton_truth

    with rt.store.db.read() as session:
        c = get_challenge(session, challenge_id)
        protocol = rt.protocol(_protocol_record(session, c.protocol_digest))
    if c.order != "prospective":
        raise ConflictError("a units manifest is for prospective challenges; a retrospective "
                            "challenge is validated against its truth")
    frame = read_units(protocol, path)
    digest = skeleton_truth(protocol, frame).digest
    data = frame_bytes(frame)
    at = rt.stamp()
    with rt.store.db.write() as session:
        rt.store.ledger.lock(session)
        if _fresh_phase(session, challenge_id) != "draft":
            raise ConflictError("the units manifest can only change before the window opens")
        sha = rt.store.artifacts.put_bytes(data)
        record_artifact(session, sha, "units", len(data), at)
        c = get_challenge(session, challenge_id)
        c.units_sha256, c.units_digest = sha, digest
    return c


def commit_truth(rt: Runtime, challenge_id: str, plaintext: bytes) -> Challenge:
    """Validate, seal and commit the truth; for a prospective challenge, queue adjudications.

    Retrospective: only before the window opens. Prospective: only after it has closed,
    and the truth must cover exactly the manifest's units.
    """
    from .validation import check_covers, read_sealed_truth

    with rt.store.db.read() as session:
        c = get_challenge(session, challenge_id)
        protocol = rt.protocol(_protocol_record(session, c.protocol_digest))
    truth = read_sealed_truth(protocol, plaintext)
    if c.order == "prospective":
        check_covers(protocol, truth, rt.units(c, protocol))
    board: dict[str, Any] = {}
    if protocol.leaderboard is not None:
        # the split is fixed now, in the same entry as the truth: its digest and sha256 of
        # the secret that seeded it (a truth that leaves a part empty is refused here)
        import hashlib

        from .. import leaderboard as lb
        from .boards import secret_for

        secret = secret_for(rt, challenge_id)
        split = lb.split_units(protocol, truth, secret=secret)
        board = {"split": split.digest,
                 "secret_sha256": hashlib.sha256(secret.encode()).hexdigest()}
    blob = rt.store.sealer.seal(plaintext)
    at = rt.stamp()
    with rt.store.db.write() as session:
        rt.store.ledger.lock(session)
        phase = _fresh_phase(session, challenge_id)
        c = get_challenge(session, challenge_id)
        if c.truth_digest is not None:
            raise ConflictError(f"challenge {challenge_id!r} has its truth committed already")
        if c.order == "retrospective" and phase != "draft":
            raise ConflictError("a retrospective challenge commits its truth before the "
                                "window opens")
        if c.order == "prospective" and phase != "closed":
            raise ConflictError("a prospective challenge commits its truth after the window "
                                "has closed (predictions are locked first)")
        sha = rt.store.artifacts.put_bytes(blob)
        record_artifact(session, sha, "truth-sealed", len(blob), at)
        seq, _ = rt.store.ledger.append(session, {
            "type": "truth_committed", "at": at, "challenge": challenge_id,
            "order": c.order, "truth": truth.digest, "n_units": truth.n_units, **board,
        }, at=at)
        c.split_digest, c.secret_sha256 = board.get("split"), board.get("secret_sha256")
        c.truth_digest, c.truth_sealed_sha256 = truth.digest, sha
        c.truth_n_units, c.truth_committed_at, c.truth_seq = truth.n_units, at, seq
        if c.order == "prospective":
            for sub in session.scalars(
                select(Submission).where(Submission.challenge_id == challenge_id)
                .order_by(Submission.id)
            ):
                session.add(Job(kind="adjudicate", submission_id=sub.id, status="queued",
                                attempts=0, created_at=at))
    return c


def add_baseline(rt: Runtime, challenge_id: str, name: str, path: Path) -> Baseline:
    """Store a baseline the protocol names (draft phase), validated like a submission."""
    from .validation import validate_submission

    with rt.store.db.read() as session:
        c = get_challenge(session, challenge_id)
        protocol = rt.protocol(_protocol_record(session, c.protocol_digest))
    names = [b.name for b in protocol.threshold.baselines]
    if name not in names:
        raise NotFoundError(f"the protocol names no baseline {name!r} (it names "
                            f"{', '.join(names) or 'none'})")
    truth = rt.validation_truth(c, protocol)
    digest = validate_submission(protocol, path, truth, source=f"baseline {name}",
                                 max_bytes=rt.settings.max_upload_bytes)
    at = rt.stamp()
    with rt.store.db.write() as session:
        rt.store.ledger.lock(session)
        if _fresh_phase(session, challenge_id) != "draft":
            raise ConflictError("baselines are fixed before the window opens")
        size = path.stat().st_size
        sha = rt.store.artifacts.put_file(path)
        record_artifact(session, sha, "baseline", size, at)
        row = session.scalars(select(Baseline).where(
            Baseline.challenge_id == challenge_id, Baseline.name == name)).first()
        if row is None:
            row = Baseline(challenge_id=challenge_id, name=name, sha256=sha, digest=digest,
                           created_at=at)
            session.add(row)
        else:
            row.sha256, row.digest, row.created_at = sha, digest, at
    return row


def _latest_power(session: Session, challenge_id: str) -> PowerAnalysis | None:
    return session.scalars(
        select(PowerAnalysis).where(PowerAnalysis.challenge_id == challenge_id)
        .order_by(PowerAnalysis.ledger_seq.desc()).limit(1)).first()


def open_window(rt: Runtime, challenge_id: str, *,
                accept_uncertifiable: bool = False) -> Challenge:
    """Open the submission window of a draft challenge (``window_opened`` in the ledger).

    When the latest recorded power analysis says the protocol cannot certify its threshold
    on the planned units, opening is refused unless ``accept_uncertifiable``; the event
    names that analysis (``power_analysis``) and, when given, the acceptance, so a reader
    of the ledger sees that the committee opened it knowingly.
    """
    at = rt.stamp()
    with rt.store.db.write() as session:
        rt.store.ledger.lock(session)
        c = get_challenge(session, challenge_id)
        if _fresh_phase(session, challenge_id) != "draft":
            raise ConflictError(f"challenge {challenge_id!r} is {c.phase}, not draft")
        protocol = rt.protocol(_protocol_record(session, c.protocol_digest))
        baselines = {b.name: b.digest for b in session.scalars(
            select(Baseline).where(Baseline.challenge_id == challenge_id))}
        if c.order == "retrospective" and c.truth_digest is None:
            raise ConflictError("commit the truth before opening a retrospective challenge")
        if c.order == "prospective" and c.units_digest is None:
            raise ConflictError("upload the units manifest before opening a prospective "
                                "challenge")
        missing = [b.name for b in protocol.threshold.baselines if b.name not in baselines]
        if missing:
            raise ConflictError(f"upload the baseline(s) {', '.join(missing)} first")
        code = protocol.submission.mode == "code"
        if code and c.inputs_digest is None:
            raise ConflictError("commit the sequestered inputs before opening a challenge "
                                "that takes code (PUT /challenges/{c}/inputs)")
        power: dict[str, Any] = {}
        latest = _latest_power(session, challenge_id)
        if latest is not None:
            power["power_analysis"] = latest.ledger_seq
            if not json.loads(latest.result).get("certifiable", True):
                if not accept_uncertifiable:
                    raise ConflictError(
                        f"the latest power analysis (ledger entry {latest.ledger_seq}) says "
                        f"this protocol cannot certify its threshold on {latest.units} units: "
                        "change the protocol or the test set and record a new analysis, or "
                        "open with accept_uncertifiable=true (recorded in the ledger)")
                power["uncertifiable_accepted"] = True
        seq, _ = rt.store.ledger.append(session, {
            "type": "window_opened", "at": at, "challenge": challenge_id, "order": c.order,
            "protocol": c.protocol_digest, "truth": c.truth_digest, "units": c.units_digest,
            "baselines": baselines, **({"inputs": c.inputs_digest} if code else {}),
            **power,
        }, at=at)
        c.phase, c.opened_at, c.opened_seq = "open", at, seq
    return c


def close_window(rt: Runtime, challenge_id: str) -> Challenge:
    at = rt.stamp()
    with rt.store.db.write() as session:
        rt.store.ledger.lock(session)
        c = get_challenge(session, challenge_id)
        if _fresh_phase(session, challenge_id) != "open":
            raise ConflictError(f"challenge {challenge_id!r} is {c.phase}, not open")
        n = session.scalar(select(func.count()).select_from(Submission)
                           .where(Submission.challenge_id == challenge_id))
        seq, _ = rt.store.ledger.append(session, {
            "type": "window_closed", "at": at, "challenge": challenge_id,
            "submissions": int(n or 0),
        }, at=at)
        c.phase, c.closed_at, c.closed_seq = "closed", at, seq
    return c


def challenge_view(session: Session, c: Challenge) -> dict[str, Any]:
    """The public page of a challenge (JSON): nothing here reveals the truth."""
    rec = session.get(ProtocolRecord, c.protocol_digest)
    baselines = session.scalars(select(Baseline).where(Baseline.challenge_id == c.id)
                                .order_by(Baseline.name))
    n = session.scalar(select(func.count()).select_from(Submission)
                       .where(Submission.challenge_id == c.id))
    return {
        "id": c.id, "title": c.title, "order": c.order, "phase": c.phase,
        "protocol": {"digest": c.protocol_digest,
                     "id": rec.protocol_id if rec else None,
                     "version": rec.version if rec else None},
        "truth": {"digest": c.truth_digest, "n_units": c.truth_n_units,
                  "committed_at": c.truth_committed_at, "ledger_seq": c.truth_seq,
                  "split": c.split_digest, "secret_sha256": c.secret_sha256},
        "units_digest": c.units_digest,
        "inputs": inputs_view(c),
        "window": {"opened_at": c.opened_at, "opened_seq": c.opened_seq,
                   "closed_at": c.closed_at, "closed_seq": c.closed_seq},
        "baselines": [{"name": b.name, "digest": b.digest} for b in baselines],
        "submissions": int(n or 0),
        "created_at": c.created_at,
        # the power analyses recorded before the window opened, oldest first
        "power": power_view(session, c.id),
    }
