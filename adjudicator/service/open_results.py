"""Open results: once a challenge closes, every adjudication of every team, failures included.

Publication bias is what these prizes treat, so nothing disappears: when the window closes,
each submission of each team is published with its team (or a stable pseudonym, when the
protocol says ``publication: {teams: pseudonymous}``), times, sequence number, estimate,
interval, alpha spent, Bayesian probability and verdict, ``NOT_CERTIFIED`` and
``INCONCLUSIVE`` included, and the reason of an adjudication that could not run. A team
may attach one short public note to each of its submissions (:func:`attach_note`); nobody
can delete or hide a submission (:func:`refuse_withdrawal` records the attempt).

One context, many renderings: :func:`results_context` is the JSON document of
``GET /challenges/{c}/results``, the data of the web page, and the ``results.json`` of the
bundle; :func:`results_csv` and :func:`results_parquet` write its rows, typed by
:data:`FIELDS` (:func:`results_schema`: a Frictionless Table Schema). Before the window
closes the results are not published: the public and participants are refused; admins
and auditors get the same document with ``"published": false``.

The pseudonym of a team in a challenge is ``team-`` + the first 12 hex digits of
``HMAC-SHA256(truth key, "adjudicator/pseudonym/v1" NUL challenge NUL team)``: stable,
unlinkable across challenges, and nobody without the service's key can tell whose it is.
"""

from __future__ import annotations

import csv
import hashlib
import hmac
import io
import json
import math
import threading
import unicodedata
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from sqlalchemy import select

from ..errors import InputError
from ..protocol import Protocol
from ..store.errors import ConflictError, NotFoundError, WithdrawalRefusedError
from ..store.keys import truth_key
from ..store.models import Challenge, ProtocolRecord, Submission, Team, WithdrawalAttempt
from .runtime import Runtime
from .users import PUBLIC, Principal

__all__ = [
    "FIELDS",
    "RESULTS_FORMAT",
    "NOTE_MAX_CHARS",
    "pseudonym",
    "results_context",
    "context_of",
    "rows_from_ledger",
    "results_rows",
    "results_csv",
    "results_parquet",
    "results_schema",
    "check_note",
    "attach_note",
    "refuse_withdrawal",
]

RESULTS_FORMAT = "adjudicator-open-results/v1"
_PSEUDONYM_DOMAIN = b"adjudicator/pseudonym/v1"
#: a note is short: at most this many characters (and 1 KiB of UTF-8)
NOTE_MAX_CHARS = 280
_NOTE_MAX_BYTES = 1024
_TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"

#: the columns of the open results: (name, Table Schema type, description)
FIELDS: tuple[tuple[str, str, str], ...] = (
    ("challenge", "string", "the challenge id"),
    ("submission", "integer", "the service's submission number"),
    ("team", "string", "the team, or its pseudonym when the protocol publishes "
                       "pseudonymously"),
    ("name", "string", "the name the team gave the submission (empty when pseudonymous)"),
    ("family", "string", "the multiplicity family (the team, or * for the whole challenge)"),
    ("sequence", "integer", "k: the submission's number in its family"),
    ("received_at", "datetime", "when the submission was received"),
    ("received_seq", "integer", "its submission_received ledger entry"),
    ("status", "string", "adjudicated, failed (the adjudication could not run) or pending"),
    ("adjudicated_at", "datetime", "when it was adjudicated (or failed)"),
    ("ledger_seq", "integer", "the adjudication_done, adjudication_failed or run_failed "
                              "ledger entry"),
    ("verdict", "string", "CERTIFIED, NOT_CERTIFIED or INCONCLUSIVE"),
    ("estimate", "number", "the metric on the certification units"),
    ("interval_low", "number", "lower bound of the interval (empty if not finite)"),
    ("interval_high", "number", "upper bound of the interval (empty if not finite)"),
    ("interval_method", "string", "bca, percentile or basic"),
    ("confidence", "number", "the interval's confidence level"),
    ("alpha_spent", "number", "alpha_k: the share of the family's alpha this submission "
                              "spent"),
    ("bayes_probability", "number", "the smallest posterior probability of beating a "
                                    "baseline by its margin (empty without a Bayesian "
                                    "comparison)"),
    ("units", "integer", "units the adjudication read"),
    ("certification_part", "string", "private or all for a leaderboard protocol, else "
                                     "empty (every unit)"),
    ("result_sha256", "string", "sha256 of result.json"),
    ("report_sha256", "string", "sha256 of the signed report, if one was issued"),
    ("error", "string", "why the adjudication could not run (status failed)"),
    ("note", "string", "the team's public note"),
    ("note_at", "datetime", "when the note was attached"),
)
_NAMES = tuple(f[0] for f in FIELDS)


def pseudonym(rt: Runtime, challenge_id: str, team: str) -> str:
    """The stable pseudonym of ``team`` in ``challenge_id`` (module docstring)."""
    message = b"\0".join([_PSEUDONYM_DOMAIN, challenge_id.encode(), team.encode()])
    return "team-" + hmac.new(truth_key(rt.settings.keys), message,
                              hashlib.sha256).hexdigest()[:12]


class _Results:
    """A small LRU of parsed result documents, by their sha256 (they never change)."""

    def __init__(self, size: int = 4096) -> None:
        self.size = size
        self._items: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, rt: Runtime, sha: str) -> dict[str, Any]:
        with self._lock:
            if sha in self._items:
                self._items.move_to_end(sha)
                return self._items[sha]
        doc = json.loads(rt.store.artifacts.read(sha))
        with self._lock:
            self._items[sha] = doc
            while len(self._items) > self.size:
                self._items.popitem(last=False)
        return doc  # type: ignore[no-any-return]


_RESULTS = _Results()


def _finite(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def _bayes_probability(doc: dict[str, Any]) -> float | None:
    found = [_finite(c.get("probability")) for c in doc.get("criteria", [])
             if c.get("kind") == "bayes"]
    probs = [p for p in found if p is not None]
    return min(probs) if probs else None


def _entries(session: Any, challenge_id: str) -> list[tuple[int, dict[str, Any], str]]:
    """The ledger entries of a challenge, in order: (index, event, stored bytes)."""
    from ..store.models import LedgerEntry

    out = []
    for seq, data in session.execute(
            select(LedgerEntry.seq, LedgerEntry.entry)
            .where(LedgerEntry.challenge == challenge_id).order_by(LedgerEntry.seq)).all():
        raw = bytes(data)
        out.append((int(seq), json.loads(raw), raw.decode("utf-8")))
    return out


def rows_from_ledger(entries: list[tuple[int, dict[str, Any], str]],
                     names: dict[int, str | None],
                     result_of: Callable[[str], dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows the ledger's entries of one challenge say, in order of receipt.

    Everything but a submission's name (``names``: id -> name, or None) comes from the
    entries and the result documents they name (``result_of``: sha256 -> parsed
    ``result.json``), so the rows and the entries are one snapshot: what the bundle
    carries, and what ``verify-bundle`` recomputes offline.
    """
    rows: dict[int, dict[str, Any]] = {}
    for seq, e, _ in entries:
        kind, sid = e.get("type"), e.get("submission")
        if not isinstance(sid, int):
            continue
        if kind == "submission_received":
            new: dict[str, Any] = dict.fromkeys(_NAMES)
            new.update(challenge=e["challenge"], submission=sid, team=e.get("team"),
                       name=names.get(sid), family=e.get("family"),
                       sequence=e.get("sequence"), received_at=e.get("at"),
                       received_seq=seq, status="pending")
            rows[sid] = new
            continue
        row = rows.get(sid)
        if row is None:
            continue
        if kind == "adjudication_done":
            doc = result_of(e["result_sha256"])
            iv = doc.get("interval", {})
            part = doc.get("certification") or {}
            row.update(status="adjudicated", adjudicated_at=e.get("at"), ledger_seq=seq,
                       error=None, verdict=doc.get("verdict"),
                       estimate=_finite(doc.get("estimate")),
                       interval_low=_finite(iv.get("low")),
                       interval_high=_finite(iv.get("high")),
                       interval_method=iv.get("method"),
                       confidence=_finite(iv.get("confidence")),
                       alpha_spent=_finite(doc.get("multiplicity", {}).get("alpha_k")),
                       bayes_probability=_bayes_probability(doc),
                       units=doc.get("truth", {}).get("n_units"),
                       certification_part=part.get("part"),
                       result_sha256=e["result_sha256"])
        elif kind in ("adjudication_failed", "run_failed") and row["status"] != "adjudicated":
            row.update(status="failed", adjudicated_at=e.get("at"), ledger_seq=seq,
                       error=e.get("error") or e.get("reason"))
        elif kind == "report_issued":
            row["report_sha256"] = e.get("sha256")
        elif kind == "note_attached":
            row.update(note=e.get("note"), note_at=e.get("at"))
    return list(rows.values())


def _load(rt: Runtime, challenge_id: str
          ) -> tuple[Challenge, Protocol, list[tuple[int, dict[str, Any], str]],
                     dict[int, str | None]]:
    with rt.store.db.read() as session:
        c = session.get(Challenge, challenge_id)
        if c is None:
            raise NotFoundError(f"no challenge {challenge_id!r}")
        record = session.get(ProtocolRecord, c.protocol_digest)
        if record is None:
            raise NotFoundError(f"no registered protocol {c.protocol_digest!r}")
        protocol = rt.protocol(record)
        entries = _entries(session, challenge_id)
        names = {sid: (None if label else name) for sid, name, label in session.execute(
            select(Submission.id, Submission.name, Submission.team_label)
            .where(Submission.challenge_id == challenge_id)).all()}
    return c, protocol, entries, names


def results_rows(rt: Runtime, challenge_id: str) -> list[dict[str, Any]]:
    """Every submission of the challenge as a row of :data:`FIELDS`, in order of receipt."""
    _, _, entries, names = _load(rt, challenge_id)
    return rows_from_ledger(entries, names, lambda sha: _RESULTS.get(rt, sha))


def context_of(c: Challenge, protocol: Protocol, rows: list[dict[str, Any]], *,
               published: bool) -> dict[str, Any]:
    """The open-results document of ``rows`` (see :func:`results_context`)."""
    counts = {k: 0 for k in ("CERTIFIED", "NOT_CERTIFIED", "INCONCLUSIVE", "failed",
                             "pending")}
    for r in rows:
        counts[r["verdict"] if r["status"] == "adjudicated" else r["status"]] += 1
    base = f"/challenges/{c.id}/results"
    return {
        "format": RESULTS_FORMAT,
        "challenge": {"id": c.id, "title": c.title, "order": c.order,
                      "closed_at": c.closed_at, "closed_seq": c.closed_seq,
                      "truth": c.truth_digest, "split": c.split_digest},
        "protocol": {"digest": protocol.digest, "id": protocol.id,
                     "version": protocol.version, "title": protocol.title},
        "metric": {"name": protocol.metric.name,
                   "higher_is_better": protocol.higher_is_better},
        "publication": protocol.publication.teams,
        "published": published,
        "counts": counts,
        "links": {"json": base, "csv": f"{base}.csv", "parquet": f"{base}.parquet",
                  "schema": f"{base}/schema", "bundle": f"{base}/bundle",
                  "progress": f"{base}/progress"},
        "fields": list(_NAMES),
        "results": rows,
    }


def results_context(rt: Runtime, challenge_id: str, who: Principal = PUBLIC
                    ) -> dict[str, Any]:
    """The open results of a challenge: the JSON document, the web page's data, the bundle's
    ``results.json``. Rows come from the challenge's ledger entries (:func:`rows_from_ledger`).

    Raises ConflictError before the window closes, except for admins and auditors (who get
    ``"published": false``).
    """
    c, protocol, entries, names = _load(rt, challenge_id)
    published = any(e.get("type") == "window_closed" for _, e, _ in entries)
    if not published and who.role not in ("admin", "auditor"):
        raise ConflictError(f"the open results of challenge {challenge_id!r} are published "
                            f"when its window closes (it is {c.phase})")
    rows = rows_from_ledger(entries, names, lambda sha: _RESULTS.get(rt, sha))
    return context_of(c, protocol, rows, published=published)


def results_schema() -> dict[str, Any]:
    """The Frictionless Table Schema of the CSV and Parquet rows."""
    fields = []
    for name, kind, description in FIELDS:
        f: dict[str, Any] = {"name": name, "type": kind, "description": description}
        if kind == "datetime":
            f["format"] = _TIME_FORMAT
        if name == "status":
            f["constraints"] = {"enum": ["adjudicated", "failed", "pending"]}
        if name == "verdict":
            f["constraints"] = {"enum": ["CERTIFIED", "NOT_CERTIFIED", "INCONCLUSIVE"]}
        if name in ("challenge", "submission", "team", "family", "sequence", "status",
                    "received_at", "received_seq"):
            f.setdefault("constraints", {})["required"] = True
        fields.append(f)
    return {"$schema": "https://specs.frictionlessdata.io/schemas/table-schema.json",
            "format": RESULTS_FORMAT, "fields": fields, "primaryKey": ["submission"],
            "missingValues": [""]}


_FORMULA = ("=", "+", "-", "@", "\t", "\r")


def _cell(name: str, kind: str, value: Any) -> str:
    if value is None:
        return ""
    if kind == "number":
        return repr(float(value))
    if kind == "string" and str(value).startswith(_FORMULA):
        # a spreadsheet would run a text cell that starts like a formula (CSV injection)
        return "'" + str(value)
    return str(value)


def results_csv(rows: list[dict[str, Any]]) -> bytes:
    """The rows as CSV (UTF-8, a header row, ``""`` for missing values; text cells that
    would start a spreadsheet formula are prefixed with ``'``)."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(_NAMES)
    for r in rows:
        writer.writerow([_cell(n, k, r[n]) for n, k, _ in FIELDS])
    return buf.getvalue().encode("utf-8")


def results_parquet(rows: list[dict[str, Any]]) -> bytes:
    """The rows as Parquet, typed by :data:`FIELDS` (times as UTC microsecond timestamps);
    the Table Schema travels in the file's metadata (``adjudicator.schema``)."""
    from datetime import UTC, datetime

    import pyarrow as pa  # type: ignore[import-untyped]
    import pyarrow.parquet as pq  # type: ignore[import-untyped]

    types = {"string": pa.string(), "integer": pa.int64(), "number": pa.float64(),
             "datetime": pa.timestamp("us", tz="UTC")}

    def value(kind: str, v: Any) -> Any:
        if v is None or kind != "datetime":
            return v
        return datetime.strptime(v, _TIME_FORMAT).replace(tzinfo=UTC)

    schema = pa.schema([pa.field(n, types[k]) for n, k, _ in FIELDS],
                       metadata={"adjudicator.schema": json.dumps(results_schema())})
    table = pa.Table.from_pylist(
        [{n: value(k, r[n]) for n, k, _ in FIELDS} for r in rows], schema=schema)
    buf = io.BytesIO()
    pq.write_table(table, buf)
    return buf.getvalue()


# -- notes and refused withdrawals ---------------------------------------------------------


def check_note(text: Any) -> str:
    """A valid public note, or InputError naming what is wrong."""
    if not isinstance(text, str):
        raise InputError("`note` must be a string")
    if not text.strip():
        raise InputError("`note` must not be empty")
    if len(text) > NOTE_MAX_CHARS or len(text.encode("utf-8")) > _NOTE_MAX_BYTES:
        raise InputError(f"`note` must be at most {NOTE_MAX_CHARS} characters "
                         f"({_NOTE_MAX_BYTES} bytes of UTF-8), got {len(text)}")
    for ch in text:
        # control, format (bidirectional overrides), private, unassigned, line separators
        if unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"):
            raise InputError(f"`note` must be one line of printable text, got "
                             f"U+{ord(ch):04X}")
    return text


def attach_note(rt: Runtime, who: Principal, submission_id: int, text: str) -> Submission:
    """Attach the team's public note to one of its submissions, once (``note_attached``)."""
    from .submissions import get_submission, visible

    note = check_note(text)
    at = rt.stamp()
    with rt.store.db.write() as session:
        rt.store.ledger.lock(session)
        s = get_submission(session, submission_id)
        if who.role != "participant" or not visible(who, s):
            raise NotFoundError(f"no submission {submission_id}")
        if s.note is not None:
            raise ConflictError(f"submission {submission_id} has its note already (ledger "
                                f"entry {s.note_seq}): a note is part of the record and is "
                                "not changed")
        team = session.get(Team, s.team_id)
        seq, _ = rt.store.ledger.append(session, {
            "type": "note_attached", "at": at, "challenge": s.challenge_id,
            "submission": s.id, "team": s.team_label or (team.name if team else None),
            "note": note,
        }, at=at)
        s.note, s.note_at, s.note_seq = note, at, seq
    return s


_DONE = {"delete": "deleted", "hide": "hidden"}


def refuse_withdrawal(rt: Runtime, who: Principal, submission_id: int, action: str) -> None:
    """Refuse to delete or hide a submission, always; record the first attempt of each user
    and action in the ledger (``withdrawal_refused``), then raise WithdrawalRefusedError."""
    from .submissions import get_submission, visible

    at = rt.stamp()
    with rt.store.db.write() as session:
        rt.store.ledger.lock(session)
        s = get_submission(session, submission_id)
        if not visible(who, s) or who.user_id is None:
            raise NotFoundError(f"no submission {submission_id}")
        done = session.scalars(select(WithdrawalAttempt).where(
            WithdrawalAttempt.submission_id == s.id,
            WithdrawalAttempt.user_id == who.user_id,
            WithdrawalAttempt.action == action)).first()
        if done is None:
            team = session.get(Team, s.team_id)
            seq, _ = rt.store.ledger.append(session, {
                "type": "withdrawal_refused", "at": at, "challenge": s.challenge_id,
                "submission": s.id, "team": s.team_label or (team.name if team else None),
                "action": action, "by": who.role,
            }, at=at)
            session.add(WithdrawalAttempt(submission_id=s.id, user_id=who.user_id,
                                          action=action, at=at, ledger_seq=seq))
            recorded = f"this attempt is recorded in the ledger (entry {seq})"
        else:
            recorded = f"the attempt is on record in the ledger (entry {done.ledger_seq})"
    raise WithdrawalRefusedError(
        f"results are never withdrawn: submission {submission_id} cannot be "
        f"{_DONE.get(action, action)}; it "
        "and its result stay in the open results, published when the window closes; a team "
        f"may attach a public note instead (PUT /submissions/{submission_id}/note); "
        f"{recorded}", allow="GET")
