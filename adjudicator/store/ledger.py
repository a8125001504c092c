"""The persistent ledger: the Merkle log of :mod:`adjudicator.ledger`, kept in the database.

Appending (:meth:`LedgerStore.append`) happens inside the caller's write transaction, the
same one that records the event's rows (a submission, a result, a report), so an event is
in the log exactly when its rows are committed. The single ``ledger_head`` row holds the
log size and its right frontier (the roots of the perfect subtrees along the right edge), so
an append costs O(log n) hashes; it is locked first (``SELECT ... FOR UPDATE`` on
PostgreSQL, the database write lock on SQLite), which puts appends in one order.

Every entry is stored with the *signed checkpoint* of the tree that ends with it
(Ed25519, C2SP signed-note, :mod:`adjudicator.store.notes`). Database triggers are no
protection against someone who can write the database; the checkpoints are: an edited,
removed or inserted entry no longer matches the checkpoints signed when the entries were
appended, and nobody without the key (a file outside the database) can sign new ones.
:meth:`LedgerStore.verify` recomputes everything from the entry bytes and names the first
entry that does not match; given a checkpoint published earlier (``--checkpoint FILE``)
it also proves the log still extends it, which catches entries removed from the end. It
streams: the entries are read in pages of :data:`VERIFY_PAGE` rows (keyset, by index) and
the root is carried as the right frontier, so its memory is one page and O(log n) hashes
(plus one index per challenge) whatever the length of the log.
:func:`verify_records` checks that the rows of the domain tables (submissions, results,
truth commitments, reports, power analyses) say what their ledger entries say.

Every event of a challenge (one with a ``"challenge"`` key) also links to the previous
entry of the same challenge: :meth:`LedgerStore.append` sets ``challenge_prev`` (its
index, or null for the challenge's first), under the head lock. Walking the links back from
a challenge's latest entry lists all of its entries, so a results bundle can prove that
nothing of a challenge was left out (:mod:`adjudicator.service.bundle`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..errors import VerificationError
from ..ledger import EVENT_TYPES, Ledger, MerkleTree, entry_bytes, leaf_hash
from ..protocol import canonical_json
from .models import (
    Challenge,
    LedgerEntry,
    LedgerHead,
    PowerAnalysis,
    ProtocolRecord,
    Report,
    Submission,
    Team,
)
from .notes import CheckpointNote, NoteSigner, NoteVerifier

__all__ = ["LedgerStore", "LedgerVerification", "verify_records", "frontier_append",
           "frontier_root", "VERIFY_PAGE"]

#: entries :meth:`LedgerStore.verify` reads per query
VERIFY_PAGE = 10_000


def _node(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def frontier_append(frontier: Sequence[bytes], size: int, leaf: bytes) -> list[bytes]:
    """The right frontier after appending ``leaf`` to a tree of ``size`` leaves.

    The frontier lists the roots of the perfect subtrees the tree splits into, largest
    first (one per set bit of ``size``); appending is binary addition with carries.
    """
    out = [*frontier, leaf]
    n = size
    while n & 1:
        right = out.pop()
        out[-1] = _node(out[-1], right)
        n >>= 1
    return out


def frontier_root(frontier: Sequence[bytes]) -> bytes:
    """RFC 6962 root of the tree whose right frontier is ``frontier``."""
    if not frontier:
        return hashlib.sha256(b"").digest()
    root = frontier[-1]
    for h in reversed(frontier[:-1]):
        root = _node(h, root)
    return root


@dataclass(frozen=True)
class LedgerVerification:
    """What a successful verification established."""

    size: int
    root: bytes
    checkpoint: str  # the latest signed checkpoint note (size, root)
    extends: CheckpointNote | None = None  # the external checkpoint it was checked against

    @property
    def head(self) -> str:
        return "sha256:" + self.root.hex()


class LedgerStore:
    """Appends events to the database log, serves proofs, verifies the whole log."""

    def __init__(self, signer: NoteSigner) -> None:
        self.signer = signer
        self.verifier = signer.verifier()

    # -- writing ----------------------------------------------------------------------------

    def append(self, session: Session, event: Mapping[str, Any], *, at: str) -> tuple[int, str]:
        """Append ``event`` in the caller's transaction; return (its index, the new checkpoint)."""
        kind = event.get("type")
        if kind not in EVENT_TYPES:
            raise ValueError(f"event type must be one of {', '.join(EVENT_TYPES)}, got {kind!r}")
        if "challenge_prev" in event:
            raise ValueError("`challenge_prev` is set by the ledger, not by the caller")
        head = self.lock(session)
        challenge = event.get("challenge")
        if challenge is not None:
            if not isinstance(challenge, str):
                raise ValueError(f"`challenge` must be a string, got {challenge!r}")
            prev = session.scalar(select(func.max(LedgerEntry.seq))
                                  .where(LedgerEntry.challenge == challenge))
            event = {**event, "challenge_prev": prev}
        data = entry_bytes(event)
        leaf = leaf_hash(data)
        frontier = frontier_append([bytes.fromhex(h) for h in json.loads(head.frontier)],
                                   head.size, leaf)
        seq, size = head.size, head.size + 1
        note = self.signer.checkpoint(size, frontier_root(frontier))
        session.add(LedgerEntry(seq=seq, entry=data, leaf_hash=leaf, checkpoint=note,
                                created_at=at, challenge=challenge))
        head.size = size
        head.frontier = json.dumps([h.hex() for h in frontier])
        session.flush()
        return seq, note

    def lock(self, session: Session) -> LedgerHead:
        """Lock the head row for the rest of the transaction (PostgreSQL ``FOR UPDATE``).

        A transaction that decides something from the state (is the window open?) and then
        appends reads that state *after* taking this lock, so every event that changes it
        is either fully before or fully after in the log.
        """
        return session.scalars(
            select(LedgerHead).where(LedgerHead.id == 1).with_for_update()
            .execution_options(populate_existing=True)
        ).one()

    # -- reading ----------------------------------------------------------------------------

    def size(self, session: Session) -> int:
        return int(session.scalar(select(func.count()).select_from(LedgerEntry)) or 0)

    def latest_checkpoint(self, session: Session) -> str:
        """The signed checkpoint of the whole log (of the empty tree when there is none)."""
        last = session.scalars(
            select(LedgerEntry).order_by(LedgerEntry.seq.desc()).limit(1)
        ).first()
        if last is None:
            return self.signer.checkpoint(0, frontier_root([]))
        return last.checkpoint

    def checkpoint_at(self, session: Session, size: int) -> str:
        """The checkpoint signed when the log reached ``size`` entries."""
        if size == 0:
            return self.signer.checkpoint(0, frontier_root([]))
        row = session.get(LedgerEntry, size - 1)
        if row is None:
            raise VerificationError(f"the ledger has no checkpoint of size {size}")
        return row.checkpoint

    def entries(self, session: Session, start: int = 0, limit: int = 100) -> list[LedgerEntry]:
        return list(session.scalars(
            select(LedgerEntry).where(LedgerEntry.seq >= start)
            .order_by(LedgerEntry.seq).limit(limit)
        ))

    def tree(self, session: Session, size: int | None = None) -> MerkleTree:
        """The Merkle tree of the log (or of its first ``size`` entries), from the stored
        leaf hashes alone: enough for checkpoints and proofs, 32 bytes per entry."""
        stmt = select(LedgerEntry.leaf_hash).order_by(LedgerEntry.seq)
        if size is not None:
            stmt = stmt.where(LedgerEntry.seq < size)
        return MerkleTree(session.scalars(stmt))

    def entry(self, session: Session, seq: int) -> bytes:
        """The bytes of entry ``seq``."""
        data = session.scalar(select(LedgerEntry.entry).where(LedgerEntry.seq == seq))
        if data is None:
            raise IndexError(f"no ledger entry {seq}")
        return bytes(data)

    def load(self, session: Session, size: int | None = None) -> Ledger:
        """The log (or its first ``size`` entries) as an in-memory :class:`Ledger`."""
        stmt = select(LedgerEntry.entry).order_by(LedgerEntry.seq)
        if size is not None:
            stmt = stmt.where(LedgerEntry.seq < size)
        return Ledger.from_entries(bytes(e) for e in session.scalars(stmt))

    # -- verifying --------------------------------------------------------------------------

    @staticmethod
    def _stream(session: Session, page: int) -> Iterator[Any]:
        """Every stored entry in index order, ``page`` rows per query (keyset: each page
        starts after the last index read, so no query skips rows it has not read). The
        first page has no lower bound, so a row with a negative index is seen too."""
        columns = (LedgerEntry.seq, LedgerEntry.entry, LedgerEntry.leaf_hash,
                   LedgerEntry.checkpoint, LedgerEntry.challenge)
        after: int | None = None
        while True:
            stmt = select(*columns).order_by(LedgerEntry.seq).limit(page)
            if after is not None:
                stmt = stmt.where(LedgerEntry.seq > after)
            rows = session.execute(stmt).all()
            yield from rows
            if len(rows) < page:
                return
            after = rows[-1].seq

    def verify(
        self, session: Session, *, checkpoint: str | None = None,
        verifier: NoteVerifier | None = None, page: int = VERIFY_PAGE,
    ) -> LedgerVerification:
        """Recompute the whole log from its entries; raise VerificationError at the first
        entry that does not match.

        The checks, in order, for every entry ``i`` (fail closed):

        1. entries are numbered 0, 1, 2, ... without a gap;
        2. the stored leaf hash is the hash of the stored bytes;
        3. the bytes are a canonical JSON event of a known type, its ``challenge`` is the
           row's, and its ``challenge_prev`` (when it has one) names the previous entry of
           the same challenge;
        4. the checkpoint stored with the entry verifies with the ledger key and commits to
           size ``i + 1`` and to the root recomputed from entries ``0..i``;

        then (5) the head row agrees with the entries, and (6) when ``checkpoint`` (a
        note published earlier) is given, it verifies and the log extends it.

        The entries are read ``page`` at a time. On PostgreSQL give a session with one
        snapshot (``db.read(snapshot=True)``) when writers may be appending meanwhile.
        """
        if isinstance(page, bool) or not isinstance(page, int) or page < 1:
            raise ValueError(f"`page` must be a positive integer, got {page!r}")
        verifier = verifier or self.verifier
        frontier: list[bytes] = []
        expected = 0
        last_note = self.signer.checkpoint(0, frontier_root([]))
        roots: dict[int, bytes] = {0: frontier_root([])}
        last_of: dict[str, int] = {}  # challenge -> its latest entry so far
        want = None
        if checkpoint is not None:
            want = verifier.checkpoint(checkpoint)  # (6a) a forged note fails here
            if want.origin != verifier.name:
                raise VerificationError(f"the checkpoint is of another log ({want.origin!r})")
        for row in self._stream(session, page):
            i = row.seq
            if i != expected:  # (1)
                raise VerificationError(
                    f"ledger entry {expected} is missing (the next stored entry is {i})")
            data = bytes(row.entry)
            if leaf_hash(data) != bytes(row.leaf_hash):  # (2)
                raise VerificationError(
                    f"ledger entry {i}: its bytes do not match its stored leaf hash "
                    "(edited after it was appended)")
            try:  # (3)
                event = json.loads(data)
                ok = (isinstance(event, dict) and event.get("type") in EVENT_TYPES
                      and canonical_json(event).encode() == data)
            except (UnicodeDecodeError, ValueError):
                ok = False
            if not ok:
                raise VerificationError(f"ledger entry {i}: not a canonical ledger event")
            challenge = event.get("challenge")
            if row.challenge != (challenge if isinstance(challenge, str) else None):
                raise VerificationError(
                    f"ledger entry {i}: its challenge column ({row.challenge!r}) is not its "
                    f"event's ({challenge!r})")
            if isinstance(challenge, str):
                if "challenge_prev" in event and event["challenge_prev"] != last_of.get(
                        challenge):
                    raise VerificationError(
                        f"ledger entry {i}: links to entry {event['challenge_prev']} as the "
                        f"previous of challenge {challenge!r}, which is "
                        f"{last_of.get(challenge)}")
                last_of[challenge] = i
            frontier = frontier_append(frontier, i, bytes(row.leaf_hash))  # (2) checked it
            root = frontier_root(frontier)
            try:  # (4)
                note = verifier.checkpoint(row.checkpoint)
            except VerificationError as exc:
                raise VerificationError(f"ledger entry {i}: its checkpoint: {exc}") from None
            if note.size != i + 1 or note.root != root:
                raise VerificationError(
                    f"ledger entry {i}: the log up to it does not match the checkpoint signed "
                    f"when it was appended (size {note.size}, {note.head}); entry {i} or an "
                    "earlier one was changed")
            if want is not None and want.size == i + 1 and want.root != root:
                raise VerificationError(
                    f"the log of size {want.size} does not match the given checkpoint "
                    f"({want.head}): an entry up to {i} was changed")
            if want is not None and want.size == i + 1:
                roots[want.size] = root
            last_note = row.checkpoint
            expected = i + 1
        head = session.get(LedgerHead, 1)  # (5)
        if head is None or head.size != expected or json.loads(head.frontier) != [
                h.hex() for h in frontier]:
            raise VerificationError(
                f"the ledger head ({None if head is None else head.size}) does not match the "
                f"{expected} entries")
        if want is not None:  # (6b)
            if want.size > expected:
                raise VerificationError(
                    f"the given checkpoint has {want.size} entries, the log only {expected}: "
                    f"entries {expected}..{want.size - 1} were removed")
            if want.size == 0 and want.root != roots[0]:
                raise VerificationError("the given empty checkpoint has a wrong root")
        return LedgerVerification(size=expected, root=frontier_root(frontier),
                                  checkpoint=last_note, extends=want)


def _event(session: Session, seq: int | None, what: str) -> dict[str, Any]:
    if seq is None:
        raise VerificationError(f"{what}: has no ledger entry")
    row = session.get(LedgerEntry, seq)
    if row is None:
        raise VerificationError(f"{what}: its ledger entry {seq} is missing")
    return dict(json.loads(bytes(row.entry)))


def _same(what: str, seq: int | None, event: Mapping[str, Any], expected: Mapping[str, Any]
          ) -> None:
    for key, value in expected.items():
        if event.get(key) != value:
            raise VerificationError(
                f"{what} does not match ledger entry {seq}: {key} is {value!r} in the table, "
                f"{event.get(key)!r} in the ledger")


def verify_records(session: Session) -> int:
    """Check every domain row against the ledger entry that recorded it; return the count.

    Raises VerificationError naming the first row (table and id) that disagrees.
    """
    checked = 0
    for p in session.scalars(select(ProtocolRecord).order_by(ProtocolRecord.registered_at)):
        what = f"protocols row {p.digest}"
        _same(what, p.ledger_seq, _event(session, p.ledger_seq, what),
              {"type": "protocol_registered", "protocol": p.digest})
        checked += 1
    for c in session.scalars(select(Challenge).order_by(Challenge.id)):
        what = f"challenges row {c.id!r}"
        if c.truth_digest is not None or c.truth_seq is not None:
            _same(what, c.truth_seq, _event(session, c.truth_seq, what),
                  {"type": "truth_committed", "challenge": c.id, "truth": c.truth_digest,
                   "split": c.split_digest, "secret_sha256": c.secret_sha256})
        if c.inputs_digest is not None or c.inputs_seq is not None:
            _same(what, c.inputs_seq, _event(session, c.inputs_seq, what),
                  {"type": "inputs_committed", "challenge": c.id, "inputs": c.inputs_digest})
        if c.opened_seq is not None:
            _same(what, c.opened_seq, _event(session, c.opened_seq, what),
                  {"type": "window_opened", "challenge": c.id, "order": c.order,
                   "protocol": c.protocol_digest})
        if c.closed_seq is not None:
            _same(what, c.closed_seq, _event(session, c.closed_seq, what),
                  {"type": "window_closed", "challenge": c.id})
        checked += 1
    for a in session.scalars(select(PowerAnalysis).order_by(PowerAnalysis.id)):
        what = f"power_analyses row {a.id}"
        if "sha256:" + hashlib.sha256(a.result.encode("utf-8")).hexdigest() != a.digest:
            raise VerificationError(f"{what}: the stored result does not match its digest "
                                    "(edited after it was recorded)")
        owner = session.get(Challenge, a.challenge_id)
        _same(what, a.ledger_seq, _event(session, a.ledger_seq, what),
              {"type": "power_analysis", "challenge": a.challenge_id,
               "protocol": owner.protocol_digest if owner else None, "units": a.units,
               "options": json.loads(a.options), "result_digest": a.digest})
        opened = owner.opened_seq if owner else None
        if opened is not None and a.ledger_seq > opened:
            raise VerificationError(f"{what}: recorded (ledger entry {a.ledger_seq}) after "
                                    f"the window opened (entry {opened})")
        checked += 1
    for s in session.scalars(select(Submission).order_by(Submission.id)):
        what = f"submissions row {s.id}"
        team = session.get(Team, s.team_id)
        _same(what, s.received_seq, _event(session, s.received_seq, what),
              {"type": "submission_received", "challenge": s.challenge_id,
               "submission": s.id,
               "team": s.team_label or (team.name if team else None),
               "family": s.family, "sequence": s.sequence, "digest": s.digest,
               "sha256": s.sha256})
        if s.status == "adjudicated" or s.adjudicated_seq is not None:
            _same(what, s.adjudicated_seq, _event(session, s.adjudicated_seq, what),
                  {"type": "adjudication_done", "submission": s.id, "verdict": s.verdict,
                   "result_sha256": s.result_sha256})
        if s.failed_seq is not None:
            _same(what, s.failed_seq, _event(session, s.failed_seq, what),
                  {"type": "adjudication_failed", "submission": s.id})
        if s.note is not None or s.note_seq is not None:
            _same(what, s.note_seq, _event(session, s.note_seq, what),
                  {"type": "note_attached", "submission": s.id, "note": s.note})
        if s.run_seq is not None:
            _same(what, s.run_seq, _event(session, s.run_seq, what),
                  {"type": "run_failed", "submission": s.id, "submission_digest": s.digest})
        checked += 1
    for r in session.scalars(select(Report).order_by(Report.id)):
        what = f"reports row {r.id}"
        _same(what, r.ledger_seq, _event(session, r.ledger_seq, what),
              {"type": "report_issued", "submission": r.submission_id, "sha256": r.sha256})
        checked += 1
    return checked
