"""The results bundle of a closed challenge, and its offline verification.

One ZIP archive holds everything needed to check the open results without the service:

==============================  =========================================================
``bundle.json``                 the manifest: format, challenge, protocol digest, the
                                checkpoint's size, and the sha256 of every other file
``results.json``, ``.csv``      the open results (:mod:`.open_results`), and
``results.schema.json``         the Table Schema of the CSV
``protocol.json``               the registered protocol (canonical JSON: its digest)
``ledger/entries.jsonl``        every ledger entry of the challenge, and the protocol's
                                ``protocol_registered``: index, entry text, inclusion proof
``ledger/checkpoint.txt``       the signed checkpoint the proofs lead to: the one signed
                                right after the challenge's latest entry
``ledger/key.txt``              the ledger's verifier key
``results/<s>-<i>.json``        ``result.json`` of submission s (ledger entry i)
``reports/<s>-<i>.pdf``         the signed reports (ledger entry i: ``report_issued``)
``keys/signing-cert.pem``       the certificate the reports are signed with
==============================  =========================================================

:func:`verify_bundle` (``adjudicator verify-bundle BUNDLE``) checks, in this order, and
names the first thing of each kind that does not hold:

1. the archive is readable, and its files are exactly the manifest's, with their sha256;
2. the checkpoint is signed by the ledger key (``--key``; else the bundle's own, with a
   warning to compare it with the service's ``GET /ledger/key``);
3. every entry is canonical, of the challenge (or its protocol's registration), and is
   in the checkpoint (its inclusion proof leads to the signed root);
4. the entries of the challenge form one unbroken chain (each links to the previous
   entry of the challenge, ``challenge_prev``; the first to none) whose last entry is the
   checkpoint's last leaf: so nothing the ledger holds for the challenge up to the
   checkpoint is missing from the bundle;
5. the window was closed (``window_closed``), and its count of submissions is the
   number of ``submission_received`` entries;
6. every ``adjudication_done`` entry has its result file, with the sha256, verdict and
   submission digest the entry names, and every result file has its entry;
7. every ``report_issued`` entry has its report, the report verifies (signature by the
   certificate, ``--cert`` or the bundle's, embedded evidence as the entry says), and
   every report file has its entry;
8. ``results.json`` and ``results.csv`` are the rows the entries and the result files
   say: no row missing, none added, none changed.
"""

from __future__ import annotations

import hashlib
import io
import json
import tempfile
import threading
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from sqlalchemy import select

from ..errors import VerificationError
from ..ledger import EVENT_TYPES, leaf_hash, verify_inclusion
from ..protocol import canonical_json
from ..store.errors import ConflictError, NotFoundError
from ..store.models import Challenge, LedgerEntry, ProtocolRecord, Submission
from . import open_results as op
from .runtime import Runtime
from .users import PUBLIC, Principal

__all__ = ["BUNDLE_FORMAT", "BundleVerification", "build_bundle", "verify_bundle",
           "progress_report"]

BUNDLE_FORMAT = "adjudicator-results-bundle/v1"
_EPOCH = (1980, 1, 1, 0, 0, 0)  # ZIP's earliest time: the archive's bytes never vary
_MAX_MEMBER = 1 << 30


def _json_bytes(value: Any) -> bytes:
    return (json.dumps(value, indent=2, ensure_ascii=False, allow_nan=False, sort_keys=True)
            + "\n").encode("utf-8")


def _snapshot(rt: Runtime, challenge_id: str) -> dict[str, Any]:
    """One consistent read: the challenge's entries, the log up to its latest, the proofs."""
    with rt.store.db.read() as session:
        c = session.get(Challenge, challenge_id)
        if c is None:
            raise NotFoundError(f"no challenge {challenge_id!r}")
        record = session.get(ProtocolRecord, c.protocol_digest)
        if record is None:
            raise NotFoundError(f"no registered protocol {c.protocol_digest!r}")
        protocol = rt.protocol(record)
        # one statement: appends commit in index order, so this is a prefix of the log
        entries = op._entries(session, challenge_id)
        if not any(e.get("type") == "window_closed" for _, e, _ in entries):
            raise ConflictError(f"challenge {challenge_id!r} is {c.phase}: its results "
                                "bundle is published when the window closes")
        size = entries[-1][0] + 1
        tree = rt.store.ledger.tree(session, size)
        checkpoint = rt.store.ledger.checkpoint_at(session, size)
        names = {sid: (None if label else name) for sid, name, label in session.execute(
            select(Submission.id, Submission.name, Submission.team_label)
            .where(Submission.challenge_id == challenge_id)).all()}
        registered = session.get(LedgerEntry, record.ledger_seq)
        assert registered is not None
        listed = [(record.ledger_seq, bytes(registered.entry).decode("utf-8"))]
    listed += [(seq, text) for seq, _, text in entries]
    leaves = [tree.leaf(i) for i in range(size)]
    proofs = {seq: [p.hex() for p in path] for seq, path in
              _inclusion_proofs(leaves, [seq for seq, _ in listed]).items()}
    return {"challenge": c, "protocol": protocol, "record": record, "entries": entries,
            "listed": sorted(listed), "proofs": proofs, "size": size,
            "checkpoint": checkpoint, "names": names}


def _inclusion_proofs(leaves: list[bytes], indices: list[int]) -> dict[int, list[bytes]]:
    """RFC 6962 inclusion proofs of ``indices`` in the tree of ``leaves``, as
    :meth:`adjudicator.ledger.Ledger.inclusion_proof` gives them, with every subtree hash
    computed once (one proof at a time costs the whole tree each: O(n) per entry)."""
    memo: dict[tuple[int, int], bytes] = {}

    def mth(start: int, end: int) -> bytes:
        if (start, end) not in memo:
            if end - start == 1:
                memo[start, end] = leaves[start]
            else:
                k = 1 << ((end - start - 1).bit_length() - 1)
                memo[start, end] = hashlib.sha256(b"\x01" + mth(start, start + k)
                                                  + mth(start + k, end)).digest()
        return memo[start, end]

    def path(index: int, start: int, end: int) -> list[bytes]:
        if end - start <= 1:
            return []
        k = 1 << ((end - start - 1).bit_length() - 1)
        if index < start + k:
            return path(index, start, start + k) + [mth(start + k, end)]
        return path(index, start + k, end) + [mth(start, start + k)]

    return {i: path(i, 0, len(leaves)) for i in indices}


def _zip(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as z:
        for name in sorted(files):
            info = zipfile.ZipInfo(name, date_time=_EPOCH)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            z.writestr(info, files[name])
    return buf.getvalue()


def build_bundle(rt: Runtime, challenge_id: str) -> bytes:
    """The results bundle of a closed challenge (module docstring), as ZIP bytes."""
    from ..report.signing import CERT_FILE

    snap = _snapshot(rt, challenge_id)
    c, protocol, entries = snap["challenge"], snap["protocol"], snap["entries"]
    store = rt.store.artifacts
    rows = op.rows_from_ledger(entries, snap["names"], lambda sha: json.loads(store.read(sha)))
    files: dict[str, bytes] = {
        "results.json": _json_bytes(op.context_of(c, protocol, rows, published=True)),
        "results.csv": op.results_csv(rows),
        "results.schema.json": _json_bytes(op.results_schema()),
        "protocol.json": snap["record"].canonical.encode("utf-8"),
        "ledger/checkpoint.txt": snap["checkpoint"].encode("utf-8"),
        "ledger/key.txt": (rt.store.ledger.signer.vkey + "\n").encode("utf-8"),
        "ledger/entries.jsonl": b"".join(
            (json.dumps({"seq": seq, "entry": text, "inclusion_proof": snap["proofs"][seq]},
                        sort_keys=True, ensure_ascii=False) + "\n").encode("utf-8")
            for seq, text in snap["listed"]),
    }
    for seq, e, _ in entries:
        if e.get("type") == "adjudication_done":
            files[f"results/{e['submission']}-{seq}.json"] = store.read(e["result_sha256"])
        elif e.get("type") == "report_issued":
            files[f"reports/{e['submission']}-{seq}.pdf"] = store.read(e["sha256"])
    cert = rt.settings.keys / CERT_FILE
    if cert.exists():
        files["keys/signing-cert.pem"] = cert.read_bytes()
    manifest = {"format": BUNDLE_FORMAT, "challenge": c.id, "protocol": protocol.digest,
                "checkpoint_size": snap["size"],
                "files": {n: hashlib.sha256(d).hexdigest() for n, d in sorted(files.items())}}
    files["bundle.json"] = _json_bytes(manifest)
    return _zip(files)


# -- verification ---------------------------------------------------------------------------


@dataclass(frozen=True)
class BundleVerification:
    """What :func:`verify_bundle` found; ``valid`` is the bottom line."""

    path: str
    usable: bool
    reasons: tuple[str, ...]
    warnings: tuple[str, ...] = ()
    challenge: str | None = None
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def valid(self) -> bool:
        return self.usable and not self.reasons

    @property
    def exit_code(self) -> int:
        """0 valid, 1 invalid, 2 unusable (not a bundle, a key that cannot be read)."""
        if not self.usable:
            return 2
        return 0 if self.valid else 1

    def summary(self) -> str:
        head = "VALID" if self.valid else ("UNUSABLE" if not self.usable else "INVALID")
        lines = [f"{head}: {self.path}" + (f" (challenge {self.challenge})"
                                           if self.challenge else "")]
        if self.counts:
            lines.append("  " + ", ".join(f"{v} {k}" for k, v in self.counts.items()))
        lines.extend(f"  - {r}" for r in self.reasons)
        lines.extend(f"  ! {w}" for w in self.warnings)
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "valid": self.valid, "usable": self.usable,
                "challenge": self.challenge, "reasons": list(self.reasons),
                "warnings": list(self.warnings), "counts": dict(self.counts)}


class _Invalid(Exception):
    pass


def _read_zip(path: Path) -> dict[str, bytes]:
    files: dict[str, bytes] = {}
    with zipfile.ZipFile(path) as z:
        for info in z.infolist():
            name = info.filename
            pure = PurePosixPath(name)
            if info.is_dir():
                continue
            if pure.is_absolute() or ".." in pure.parts or name in files:
                raise _Invalid(f"archive member {name!r} is not a plain, unique path")
            if info.file_size > _MAX_MEMBER:
                raise _Invalid(f"archive member {name!r} is too large")
            files[name] = z.read(info)
    return files


def _csv_difference(got: bytes, expected: bytes) -> str:
    """Which submissions' rows of a CSV differ from the expected CSV's (in words)."""
    import csv

    def rows(data: bytes) -> dict[str, list[str]]:
        reader = csv.reader(io.StringIO(data.decode("utf-8", "replace")))
        next(reader, None)
        return {r[1] if len(r) > 1 else "?": r for r in reader}

    have, want = rows(got), rows(expected)
    parts = [f"the row of submission {k} is missing" for k in want if k not in have]
    parts += [f"a row for submission {k} was added" for k in have if k not in want]
    parts += [f"the row of submission {k} differs" for k in want
              if k in have and have[k] != want[k]]
    return "; ".join(parts) or "its header or order differs"


def _entry_name(seq: int, e: dict[str, Any]) -> str:
    sub = f", submission {e['submission']}" if "submission" in e else ""
    return f"ledger entry {seq} ({e.get('type')}{sub})"


def verify_bundle(path: str | Path, *, key: str | None = None,
                  cert: str | Path | bytes | None = None) -> BundleVerification:
    """Check a results bundle offline (module docstring); never raises for a bad bundle.

    Parameters
    ----------
    key
        The ledger's verifier key (``name+hash+base64``), as published by the service;
        default: the bundle's own (a warning says so).
    cert
        The report signing certificate (path or PEM bytes); default: the bundle's own.
    """
    from ..report.verify import verify_report
    from ..store.notes import NoteVerifier

    name = str(path)
    reasons: list[str] = []
    warnings: list[str] = []
    counts: dict[str, int] = {}
    # (1) the archive and its manifest
    try:
        files = _read_zip(Path(path))
        manifest = json.loads(files["bundle.json"])
        if manifest.get("format") != BUNDLE_FORMAT:
            raise _Invalid(f"not a {BUNDLE_FORMAT} bundle ({manifest.get('format')!r})")
        listed: dict[str, str] = dict(manifest["files"])
        challenge = str(manifest["challenge"])
        size = int(manifest["checkpoint_size"])
    except (OSError, zipfile.BadZipFile, KeyError, TypeError, ValueError, _Invalid) as exc:
        what = exc if not isinstance(exc, KeyError) else f"no {exc} in the bundle"
        return BundleVerification(name, False, (f"not a readable results bundle: {what}",))
    for member in sorted(set(listed) - set(files)):
        reasons.append(f"{member} is listed in bundle.json but missing from the archive")
    for member in sorted(set(files) - set(listed) - {"bundle.json"}):
        reasons.append(f"{member} is in the archive but not listed in bundle.json (added)")
    for member in sorted(set(listed) & set(files)):
        if hashlib.sha256(files[member]).hexdigest() != listed[member]:
            reasons.append(f"{member} does not have the sha256 bundle.json lists (changed)")
    try:
        return _verify_contents(name, files, challenge, size, manifest, key, cert,
                                reasons, warnings, counts, verify_report, NoteVerifier)
    except _Invalid as exc:
        reasons.append(str(exc))
    except Exception as exc:  # noqa: BLE001 - any failure to check means invalid
        reasons.append(f"verification failed: {type(exc).__name__}: {exc}")
    return BundleVerification(name, True, tuple(reasons), tuple(warnings), challenge, counts)


def _verify_contents(name: str, files: dict[str, bytes], challenge: str, size: int,
                     manifest: dict[str, Any], key: str | None, cert: Any,
                     reasons: list[str], warnings: list[str], counts: dict[str, int],
                     verify_report: Any, NoteVerifier: Any) -> BundleVerification:
    def need(member: str) -> bytes:
        if member not in files:
            raise _Invalid(f"{member} is missing from the archive")
        return files[member]

    # (2) the checkpoint
    if key is None:
        key = need("ledger/key.txt").decode("utf-8")
        warnings.append("the checkpoint was verified with the key inside the bundle: compare "
                        "it with the service's published key (GET /ledger/key), or pass --key")
    try:
        verifier = NoteVerifier(key)
    except VerificationError as exc:
        return BundleVerification(name, False, (str(exc),), tuple(warnings), challenge)
    try:
        note = verifier.checkpoint(need("ledger/checkpoint.txt").decode("utf-8"))
    except VerificationError as exc:
        raise _Invalid(f"ledger/checkpoint.txt: {exc}") from None
    if note.size != size:
        reasons.append(f"the checkpoint has {note.size} entries, bundle.json says {size}")
    # (3) every entry is in the checkpoint
    protocol_text = need("protocol.json").decode("utf-8")
    protocol_digest = "sha256:" + hashlib.sha256(protocol_text.encode("utf-8")).hexdigest()
    if protocol_digest != manifest.get("protocol"):
        reasons.append(f"protocol.json has digest {protocol_digest}, bundle.json names "
                       f"{manifest.get('protocol')}")
    chain: list[tuple[int, dict[str, Any], str]] = []
    registered = False
    for line in need("ledger/entries.jsonl").decode("utf-8").splitlines():
        item = json.loads(line)
        seq, text = int(item["seq"]), str(item["entry"])
        data = text.encode("utf-8")
        e = json.loads(text)
        what = _entry_name(seq, e)
        if not isinstance(e, dict) or e.get("type") not in EVENT_TYPES or \
                canonical_json(e).encode("utf-8") != data:
            reasons.append(f"{what}: not a canonical ledger event")
            continue
        try:
            verify_inclusion(leaf_hash(data), seq, note.size,
                             [bytes.fromhex(p) for p in item["inclusion_proof"]], note.root)
        except (VerificationError, ValueError) as exc:
            reasons.append(f"{what} is not in the signed checkpoint ({exc}): it was changed "
                           "or added")
            continue
        if e.get("type") == "protocol_registered" and "challenge" not in e:
            registered |= e.get("protocol") == protocol_digest
            continue
        if e.get("challenge") != challenge:
            reasons.append(f"{what} is of challenge {e.get('challenge')!r}, not {challenge!r}")
            continue
        chain.append((seq, e, text))
    if not registered:
        reasons.append("the protocol's protocol_registered entry is missing")
    chain.sort(key=lambda t: t[0])
    # (4) the chain of the challenge's entries is unbroken and ends at the checkpoint
    previous: int | None = None
    for seq, e, _ in chain:
        if "challenge_prev" not in e:
            reasons.append(f"{_entry_name(seq, e)} carries no challenge link "
                           "(challenge_prev): the bundle cannot prove it is complete")
        elif e["challenge_prev"] != previous:
            link = e["challenge_prev"]
            if isinstance(link, int) and (previous is None or link > previous):
                reasons.append(f"ledger entry {link} of the challenge is missing from the "
                               f"bundle ({_entry_name(seq, e)} links to it)")
            else:
                reasons.append(f"{_entry_name(seq, e)} links to {link}, not to the previous "
                               f"entry of the challenge ({previous})")
        previous = seq
    if not chain or chain[-1][0] != note.size - 1:
        reasons.append(f"the checkpoint ends with ledger entry {note.size - 1}, which is "
                       "missing from the bundle (the challenge's latest entries were removed)")
    by_type: dict[str, list[tuple[int, dict[str, Any]]]] = {}
    for seq, e, _ in chain:
        by_type.setdefault(str(e["type"]), []).append((seq, e))
    # (5) closed, with every submission it counted
    received = by_type.get("submission_received", [])
    closed = by_type.get("window_closed", [])
    if not closed:
        reasons.append("the bundle holds no window_closed entry: results are published at "
                       "close")
    elif closed[-1][1].get("submissions") != len(received):
        reasons.append(f"the window closed with {closed[-1][1].get('submissions')} "
                       f"submissions, the bundle holds {len(received)}")
    # (6) results
    results: dict[str, dict[str, Any]] = {}
    expected = set()
    for seq, e in by_type.get("adjudication_done", []):
        member = f"results/{e['submission']}-{seq}.json"
        expected.add(member)
        if member not in files:
            reasons.append(f"the result of submission {e['submission']} ({member}, "
                           f"{_entry_name(seq, e)}) is missing from the bundle")
            continue
        data = files[member]
        if hashlib.sha256(data).hexdigest() != e.get("result_sha256"):
            reasons.append(f"{member} is not the result {_entry_name(seq, e)} names")
            continue
        doc = json.loads(data)
        if doc.get("verdict") != e.get("verdict") or \
                doc.get("submission", {}).get("digest") != e.get("submission_digest"):
            reasons.append(f"{member}: verdict or submission digest differ from its entry")
        if doc.get("protocol", {}).get("digest") != protocol_digest:
            reasons.append(f"{member} was adjudicated under another protocol")
        results[e["result_sha256"]] = doc
    for member in sorted(m for m in files if m.startswith("results/")):
        if member not in expected:
            reasons.append(f"{member} is in the bundle but no adjudication_done entry of the "
                           "ledger names it (added)")
    # (7) reports
    reports = {f"reports/{e['submission']}-{seq}.pdf": (seq, e)
               for seq, e in by_type.get("report_issued", [])}
    verdicts = {e["submission"]: e.get("verdict") for _, e in by_type.get(
        "adjudication_done", [])}
    cert_bytes: Any = cert
    if cert is None and "keys/signing-cert.pem" in files:
        cert_bytes = files["keys/signing-cert.pem"]
        warnings.append("the reports were verified against the certificate inside the "
                        "bundle: compare it with the committee's, or pass --cert")
    elif isinstance(cert, (str, Path)):
        cert_bytes = Path(cert).read_bytes()
    with tempfile.TemporaryDirectory(prefix="adjudicator-bundle-") as tmp:
        for member, (seq, e) in sorted(reports.items()):
            if member not in files:
                reasons.append(f"the report of submission {e['submission']} ({member}, "
                               f"{_entry_name(seq, e)}) is missing from the bundle")
                continue
            data = files[member]
            if hashlib.sha256(data).hexdigest() != e.get("sha256"):
                reasons.append(f"{member} is not the report {_entry_name(seq, e)} names")
                continue
            pdf = Path(tmp) / f"{seq}.pdf"
            pdf.write_bytes(data)
            check = verify_report(pdf, cert=cert_bytes)
            if not check.valid:
                reasons.append(f"{member} does not verify: {'; '.join(check.reasons)}")
            elif check.result_digest != e.get("evidence_sha256"):
                reasons.append(f"{member} embeds other evidence than its entry names")
            elif check.verdict != verdicts.get(e["submission"]):
                reasons.append(f"{member} says {check.verdict}, the ledger "
                               f"{verdicts.get(e['submission'])}")
    for member in sorted(m for m in files if m.startswith("reports/")):
        if member not in reports:
            reasons.append(f"{member} is in the bundle but no report_issued entry of the "
                           "ledger names it (added)")
    # (8) the tables are what the ledger says
    table = json.loads(need("results.json"))
    given = {r.get("submission"): r for r in table.get("results", [])}
    names = {sid: r.get("name") for sid, r in given.items()}

    def result_of(sha: str) -> dict[str, Any]:
        if sha not in results:
            raise _Invalid(f"the result {sha} is missing, so the results cannot be checked")
        return results[sha]

    rows = op.rows_from_ledger(chain, names, result_of)
    want = {r["submission"]: r for r in rows}
    for sid in want:
        if sid not in given:
            reasons.append(f"submission {sid} (ledger entry {want[sid]['received_seq']}) is "
                           "missing from results.json")
        elif given[sid] != want[sid]:
            diff = sorted(k for k in want[sid] if given[sid].get(k) != want[sid][k])
            reasons.append(f"results.json: the row of submission {sid} differs from the "
                           f"ledger in {', '.join(diff) or 'its fields'}")
    for sid in given:
        if sid not in want:
            reasons.append(f"results.json has a row for submission {sid}, which the ledger "
                           "does not hold (added)")
    if [r.get("submission") for r in table.get("results", [])] != [
            r["submission"] for r in rows] and set(given) == set(want):
        reasons.append("results.json lists the submissions in another order than received")
    if table.get("challenge", {}).get("id") != challenge:
        reasons.append("results.json is of another challenge")
    csv_expected = op.results_csv(rows)
    if need("results.csv") != csv_expected:
        reasons.append("results.csv is not the rows the ledger says: "
                       + _csv_difference(need("results.csv"), csv_expected))
    counts.update(entries=len(chain), submissions=len(received),
                  results=len(by_type.get("adjudication_done", [])),
                  failures=len(by_type.get("adjudication_failed", []))
                  + len(by_type.get("run_failed", [])),
                  reports=len(reports), notes=len(by_type.get("note_attached", [])),
                  refused_withdrawals=len(by_type.get("withdrawal_refused", [])))
    return BundleVerification(name, True, tuple(reasons), tuple(warnings), challenge, counts)


# -- the funders' progress report of the open results -----------------------------------------

_PROGRESS: dict[tuple[str, str, int, int, bool], bytes] = {}
_PROGRESS_LOCK = threading.Lock()


def progress_report(rt: Runtime, worker: Any, challenge_id: str,
                    who: Principal = PUBLIC) -> bytes:
    """The signed progress report of a closed challenge's open results
    (:func:`adjudicator.report.render_progress_report`): the best entry of each day against
    the gap between the protocol's first baseline and its absolute threshold, and every
    adjudication listed, failures included."""
    from ..report import render_progress_report
    from ..report.signing import sign_pdf

    doc = op.results_context(rt, challenge_id, who)
    rows = doc["results"]
    last = max((r["ledger_seq"] or r["received_seq"] for r in rows), default=-1)
    # the ledger key tells one store from another (tests run several in one process)
    key = (rt.store.ledger.signer.vkey, challenge_id, int(last), len(rows),
           bool(doc["published"]))
    with _PROGRESS_LOCK:
        cached = _PROGRESS.get(key)
    if cached is not None:
        return cached
    with rt.store.db.read() as session:
        c = session.get(Challenge, challenge_id)
        record = None if c is None else session.get(ProtocolRecord, c.protocol_digest)
        if c is None or record is None:
            raise NotFoundError(f"no challenge {challenge_id!r}")
        protocol = rt.protocol(record)
    if protocol.threshold.absolute is None or not protocol.threshold.baselines:
        raise ConflictError("a progress report measures the gap from a baseline to an "
                            "absolute threshold: this protocol has not both")
    baseline = protocol.threshold.baselines[0].name
    store = rt.store.artifacts
    value = None
    points = []
    for r in rows:
        if r["status"] != "adjudicated" or r["estimate"] is None:
            continue
        result = json.loads(store.read(r["result_sha256"]))
        for b in result.get("baselines", []):
            if b.get("name") == baseline and value is None:
                value = b.get("estimate")
        points.append({"date": r["adjudicated_at"][:10], "estimate": r["estimate"],
                       "low": r["interval_low"], "high": r["interval_high"],
                       "team": r["team"], "submission": r["name"] or f"#{r['submission']}",
                       "verdict": r["verdict"]})
    if value is None:
        raise ConflictError("no adjudication yet: the progress report needs the baseline's "
                            "value from one")
    challenge = {"title": c.title, "metric": doc["metric"],
                 "baseline": {"name": baseline, "value": value},
                 "threshold": protocol.threshold.absolute,
                 "protocol": {"id": protocol.id, "digest": protocol.digest},
                 "confidence": protocol.resampling.confidence}
    as_of = max(p["date"] for p in points)
    rendered = render_progress_report(points, challenge=challenge, as_of=as_of, results=rows)
    signed: bytes = sign_pdf(rendered.pdf, worker._identity(), signing_time=rt.now())
    with _PROGRESS_LOCK:
        _PROGRESS[key] = signed
        while len(_PROGRESS) > 64:
            _PROGRESS.pop(next(iter(_PROGRESS)))
    return signed
