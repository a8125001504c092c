"""The background worker: adjudications and reports, from a jobs table that survives restarts.

A job is claimed with a *lease*: the claiming transaction sets ``status = running``, bumps
``attempts`` (the claim's token) and ``lease_until``; a heartbeat renews the lease while the
job runs. A worker that dies (SIGKILL, power cut) stops renewing, the lease lapses and any
worker claims the job again, so a job queued before a crash is finished after the restart.
Work is done outside any transaction (files go to the content-addressed store first); the
result is committed in one transaction that first checks the claim is still this worker's,
records the rows and appends the ledger event. Running a job twice is harmless: the
statistics are seeded by the digests, and a lost claim commits nothing.

Several workers (threads of one :class:`Worker`, setting ``service_workers``, and any
number of server processes) claim jobs independently. A claim is one write transaction:

1. pick the oldest claimable job (PostgreSQL: ``SELECT ... FOR UPDATE SKIP LOCKED``, so
   two claimers never wait on or take the same row; SQLite: the transaction is ``BEGIN
   IMMEDIATE``, which holds the database's only write lock from before the read);
2. take it with a compare-and-set ``UPDATE ... WHERE id = ? AND attempts = <read>`` that
   repeats the claimable condition, and count the rows it changed: 0 means another worker
   took it first (impossible under 1., but the claim does not rest on that alone).

An adjudication waits until no earlier submission of its family is queued or running, so
its multiplicity history (recorded in ``result.json``) is the one a single worker, taking
jobs in order, would see: the results are the same whatever the number of workers.

Errors: an :class:`~adjudicator.errors.AdjudicatorError` (bad input, undefined statistics,
no alpha left) is the answer for that submission: the submission is marked ``failed`` with
the message. Anything else is retried, up to ``max_attempts`` claims.

Where an adjudication runs is :attr:`Worker.compute` (:mod:`adjudicator.compute`): in this
process by default, or on a Dask cluster (setting ``service_compute``: its resample blocks,
or the whole adjudication as one task), with the same result. Code submissions
(model to data) run through :attr:`Worker.code_runner` inside the adjudication job: in this
process by default; a cluster runner must send them only to machines with bubblewrap
(:class:`adjudicator.service.model_to_data.CodeRunner`), never with the truth. A failed
run is an answer, not an error: ``run_failed`` is appended and the submission fails with
the run's reason (which never quotes the team's output).
"""

from __future__ import annotations

import json
import logging
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import CursorResult, exists, or_, select, update
from sqlalchemy.orm import aliased

from ..errors import AdjudicatorError, InputError, VerificationError
from ..store.models import Baseline, Challenge, Job, ProtocolRecord, Report, Submission, Team
from ..store.rows import existing, record_artifact
from ..store.sealing import INPUTS
from .boards import certification_split
from .model_to_data import CodeRunner, record_run_artifacts, run_code_here
from .runtime import Runtime

__all__ = ["Worker", "enqueue"]

_log = logging.getLogger("adjudicator.service.worker")
_KINDS = ("adjudicate", "report")


def enqueue(session: Any, kind: str, submission_id: int, at: str) -> Job:
    """Queue a job unless the same job is already queued or running; return the job."""
    if kind not in _KINDS:
        raise ValueError(f"job kind must be one of {_KINDS}")
    active = session.scalars(select(Job).where(
        Job.submission_id == submission_id, Job.kind == kind,
        Job.status.in_(("queued", "running")))).first()
    if active is not None:
        return active
    job = Job(kind=kind, submission_id=submission_id, status="queued", attempts=0,
              created_at=at)
    session.add(job)
    session.flush()
    return job


@dataclass(frozen=True)
class _Ran:
    """A code submission's successful run: its record, the entry read from its predictions,
    the sealed full record and the stored predictions (address, size)."""

    record: Any
    entry: Any
    sealed: tuple[str, int]
    predictions: tuple[str, int] | None


@dataclass(frozen=True)
class _Claim:
    id: int
    kind: str
    submission_id: int
    attempts: int


class _LostClaim(Exception):
    """Another worker claimed the job after our lease lapsed: commit nothing."""


def _claimable(now: float) -> Any:
    """A job no live worker holds: queued, or running under a lease that lapsed."""
    return or_(Job.status == "queued", (Job.status == "running") & (Job.lease_until < now))


def _behind_its_family() -> Any:
    """The job's submission follows one of its family whose adjudication is not finished
    (its history, and so its ``result.json``, is not settled yet)."""
    own, earlier, job = aliased(Submission), aliased(Submission), aliased(Job)
    return exists().where(
        own.id == Job.submission_id,
        earlier.challenge_id == own.challenge_id, earlier.family == own.family,
        earlier.sequence < own.sequence,
        job.submission_id == earlier.id, job.kind == "adjudicate",
        job.status.in_(("queued", "running")))


_RACED = object()  # a claim's compare-and-set found the job taken


class Worker:
    """Claims and runs jobs: in ``threads`` background threads (:meth:`start`), or one at
    a time in the caller's thread (:meth:`run_once`, :meth:`drain`)."""

    def __init__(self, rt: Runtime, *, lease: float = 60.0, poll: float = 0.5,
                 max_attempts: int = 3, threads: int = 1) -> None:
        if lease <= 0 or poll <= 0:
            raise ValueError("`lease` and `poll` must be positive")
        if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
            raise ValueError(f"`threads` must be a positive integer, got {threads!r}")
        self.rt = rt
        self.lease = lease
        self.poll = poll
        self.max_attempts = max_attempts
        self.threads = threads
        #: where adjudications run (:class:`adjudicator.compute.Compute`); None: from the
        #: settings (``service_compute``, ``dask_scheduler``) on first use
        self.compute: Any = None
        self._compute_lock = threading.Lock()
        #: where code submissions run (:class:`.model_to_data.CodeRunner`): here by default;
        #: a cluster runner must only use machines with bubblewrap
        self.code_runner: CodeRunner = run_code_here
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._threads: list[threading.Thread] = []
        self._identity_lock = threading.Lock()

    # -- the loop ---------------------------------------------------------------------------

    def start(self) -> None:
        """Start :attr:`threads` loops, each claiming jobs on its own."""
        if self._threads:
            return
        self.sweep()
        self._stop.clear()
        self._threads = [threading.Thread(target=self._loop, name=f"adjudicator-worker-{i}",
                                          daemon=True) for i in range(self.threads)]
        for thread in self._threads:
            thread.start()

    def sweep(self) -> int:
        """Remove staging folders (decrypted inputs, code) that a crashed run left behind."""
        from ..sandbox import sweep_stale_stages
        from .model_to_data import sandbox_base

        base = sandbox_base(self.rt.settings)
        removed = sweep_stale_stages(base)
        if removed:
            _log.warning("removed %d staging folder(s) left by a crashed run under %s",
                         len(removed), base)
        return len(removed)

    def stop(self, timeout: float | None = None) -> None:
        self._stop.set()
        self._wake.set()
        deadline = None if timeout is None else time.monotonic() + timeout
        for thread in self._threads:
            thread.join(None if deadline is None else max(0.0, deadline - time.monotonic()))
        self._threads = []
        with self._compute_lock:
            if self.compute is not None:
                self.compute.close()
                self.compute = None

    def wake(self) -> None:
        """Tell the loop there may be work (it also polls)."""
        self._wake.set()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                ran = self.run_once()
            except Exception:  # noqa: BLE001 - the loop must outlive a database hiccup
                _log.exception("worker iteration failed")
                ran = False
            if not ran:
                self._wake.wait(self.poll)
                self._wake.clear()

    def drain(self, limit: int = 10_000) -> int:
        """Run jobs until none can be claimed (or ``limit``); return how many ran."""
        n = 0
        while n < limit and self.run_once():
            n += 1
        return n

    # -- claiming ---------------------------------------------------------------------------

    def _claim(self) -> _Claim | None:
        """Take the oldest claimable job, or None when there is none (module docstring)."""
        while True:
            claim = self._try_claim()
            if claim is not _RACED:  # a lost race means another worker made progress
                return claim  # type: ignore[return-value]
            _log.warning("a job was claimed by another worker between read and update")

    def _try_claim(self) -> _Claim | None | object:
        now = time.time()
        with self.rt.store.db.write() as session:
            # (1) the candidate, locked (PostgreSQL) or under the write lock (SQLite)
            row = session.execute(
                select(Job.id, Job.kind, Job.submission_id, Job.attempts)
                .where(_claimable(now), ~((Job.kind == "adjudicate") & _behind_its_family()))
                .order_by(Job.id).limit(1).with_for_update(of=Job, skip_locked=True)).first()
            if row is None:
                return None
            # (2) compare-and-set on the claim token
            taken: CursorResult[Any] = session.execute(  # type: ignore[assignment]
                update(Job).where(Job.id == row.id, Job.attempts == row.attempts,
                                  _claimable(now))
                .values(status="running", attempts=row.attempts + 1,
                        lease_until=now + self.lease)
                .execution_options(synchronize_session=False))
            if taken.rowcount != 1:
                return _RACED
            return _Claim(row.id, row.kind, row.submission_id, row.attempts + 1)

    def _renew(self, claim: _Claim, done: threading.Event) -> None:
        while not done.wait(self.lease / 3):
            try:
                with self.rt.store.db.write() as session:
                    job = session.get(Job, claim.id)
                    if job is None or job.attempts != claim.attempts or job.status != "running":
                        return
                    job.lease_until = time.time() + self.lease
            except Exception:  # noqa: BLE001 - a missed renewal only shortens the lease
                _log.warning("could not renew the lease of job %s", claim.id)

    def _check_claim(self, session: Any, claim: _Claim) -> Job:
        job = session.scalars(select(Job).where(Job.id == claim.id).with_for_update()
                              .execution_options(populate_existing=True)).one()
        if job.attempts != claim.attempts or job.status != "running":
            raise _LostClaim()
        return job

    def run_once(self) -> bool:
        """Claim one job and run it; False when there was none to claim."""
        claim = self._claim()
        if claim is None:
            return False
        done = threading.Event()
        renewer = threading.Thread(target=self._renew, args=(claim, done), daemon=True)
        renewer.start()
        try:
            self.execute(claim)
        except _LostClaim:
            _log.warning("job %s was claimed by another worker; result discarded", claim.id)
        except AdjudicatorError as exc:
            self._fail(claim, str(exc), permanent=True)
        except Exception as exc:  # noqa: BLE001 - recorded on the job, retried
            _log.error("job %s failed: %s", claim.id, traceback.format_exc())
            self._fail(claim, f"{type(exc).__name__}: {exc}",
                       permanent=claim.attempts >= self.max_attempts)
        finally:
            done.set()
            renewer.join()
            self._wake.set()  # a finished job may unblock the next of its family elsewhere
        return True

    def _fail(self, claim: _Claim, message: str, *, permanent: bool) -> None:
        at = self.rt.stamp()
        message = message.replace("\x00", "\\x00")  # PostgreSQL text cannot hold NUL
        with self.rt.store.db.write() as session:
            try:
                job = self._check_claim(session, claim)
            except _LostClaim:
                return
            job.error = message[:4000]
            if not permanent:
                job.status, job.lease_until = "queued", None
                return
            job.status, job.finished_at = "failed", at
            if claim.kind == "adjudicate":
                sub = session.get(Submission, claim.submission_id)
                if sub is not None and sub.status != "adjudicated":
                    sub.status, sub.error = "failed", message[:4000]
                    sub.failed_seq = self._failed_entry(session, sub, message, at)

    def _failed_entry(self, session: Any, sub: Submission, message: str, at: str) -> int:
        """Append ``adjudication_failed``: a failure is a published result too, and every
        adjudication appends one entry whatever its outcome (the log's size tells nothing)."""
        self.rt.store.ledger.lock(session)
        team = sub.team_label or existing(session, Team, sub.team_id).name
        seq, _ = self.rt.store.ledger.append(session, {
            "type": "adjudication_failed", "at": at, "challenge": sub.challenge_id,
            "submission": sub.id, "team": team, "sequence": sub.sequence,
            "submission_digest": sub.digest, "error": message[:1000],
        }, at=at)
        return seq

    # -- the work ---------------------------------------------------------------------------

    def execute(self, claim: _Claim) -> None:
        """Run one claimed job to its committed end."""
        runners: dict[str, Callable[[_Claim], None]] = {
            "adjudicate": self._adjudicate, "report": self._report}
        runners[claim.kind](claim)

    def _adjudicate(self, claim: _Claim) -> None:
        from ..adjudication import HistoryItem
        from ..data import read_submission
        from .validation import read_sealed_truth

        rt = self.rt
        with rt.store.db.read() as session:
            sub = session.get(Submission, claim.submission_id)
            if sub is None:
                raise VerificationError(f"job {claim.id}: submission is gone")
            c = existing(session, Challenge, sub.challenge_id)
            protocol = rt.protocol(existing(session, ProtocolRecord, c.protocol_digest))
            # the name the ledger and the published results use (a pseudonym, maybe)
            team = sub.team_label or existing(session, Team, sub.team_id).name
            baselines = {b.name: b.sha256 for b in session.scalars(
                select(Baseline).where(Baseline.challenge_id == c.id))}
            earlier = list(session.scalars(select(Submission).where(
                Submission.challenge_id == c.id, Submission.family == sub.family,
                Submission.sequence < sub.sequence, Submission.status == "adjudicated")
                .order_by(Submission.sequence)))
        if c.truth_sealed_sha256 is None:
            raise VerificationError("the challenge has no committed truth yet")
        truth = read_sealed_truth(
            protocol, rt.store.sealer.open(rt.store.artifacts.read(c.truth_sealed_sha256)))
        store = rt.store.artifacts
        ran: _Ran | None = None
        if protocol.submission.mode == "code":
            ran = self._run(claim, protocol, c, sub, team, truth)
            if ran is None:
                return  # the run failed: recorded, and the submission failed with its reason
            entry = ran.entry
        else:
            entry = read_submission(protocol, store.path(sub.sha256), truth)
            if entry.digest != sub.digest:
                raise VerificationError(f"submission {sub.id}: stored file has digest "
                                        f"{entry.digest}, recorded {sub.digest}")
        read_baselines = {n: read_submission(protocol, store.path(sha), truth)
                          for n, sha in baselines.items()}
        # a leaderboard protocol certifies on its certification units only (the private part)
        split = certification_split(rt, c, protocol, truth)
        history: list[HistoryItem] = []
        if [h.sequence for h in earlier] == list(range(1, sub.sequence)):
            history = [HistoryItem(h.sequence, float(h.alpha_k or 0.0), str(h.verdict),
                                   h.digest) for h in earlier]
        result = self._place_adjudication(
            protocol, truth, entry, baselines=read_baselines, history=history,
            sequence=sub.sequence, team=team, name=None if sub.team_label else sub.name,
            now=rt.now(), split=split)
        doc = result.to_dict()
        if ran is not None:
            doc["run"] = ran.record.to_dict(logs=False)  # no logs: they may carry the inputs
        data = (json.dumps(doc, indent=2, ensure_ascii=False, allow_nan=False)
                + "\n").encode()
        result_sha = store.put_bytes(data)
        posteriors: dict[str, tuple[str, int]] = {}
        for r in result.bayes_results:
            if getattr(r, "inference_data", None):
                from ..bayes import save_inference_data

                handle, tmp = store.temporary(suffix=".nc")
                handle.close()
                try:
                    for i, f in enumerate(save_inference_data(r, tmp)):
                        size = f.stat().st_size
                        posteriors[f"{r.baseline}" + (f"#{i}" if i else "")] = (
                            store.put_file(f), size)
                finally:
                    tmp.unlink(missing_ok=True)
        at = rt.stamp()
        with rt.store.db.write() as session:
            job = self._check_claim(session, claim)
            rt.store.ledger.lock(session)
            s = existing(session, Submission, claim.submission_id)
            record_artifact(session, result_sha, "result", len(data), at)
            for sha, size in posteriors.values():
                record_artifact(session, sha, "posterior", size, at)
            if ran is not None:
                record_run_artifacts(session, at, ran.sealed, ran.predictions)
                s.run_sha256, s.run_seq = ran.sealed[0], None
            seq, _ = rt.store.ledger.append(session, {
                "type": "adjudication_done", "at": at, "challenge": c.id,
                "submission": s.id, "team": team, "sequence": s.sequence,
                "verdict": doc["verdict"], "result_sha256": result_sha,
                "protocol": protocol.digest, "truth": c.truth_digest,
                "submission_digest": s.digest,
                **({"run": doc["run"]} if ran is not None else {}),
            }, at=at)
            s.status, s.verdict, s.error = "adjudicated", doc["verdict"], None
            s.estimate = float(doc["estimate"])
            s.alpha_k = float(doc["multiplicity"]["alpha_k"])
            s.result_sha256, s.adjudicated_at, s.adjudicated_seq = result_sha, at, seq
            s.posteriors = json.dumps({k: v[0] for k, v in posteriors.items()}) or None
            job.status, job.finished_at, job.error = "done", at, None

    def _run(self, claim: _Claim, protocol: Any, c: Challenge, sub: Submission, team: str,
             truth: Any) -> _Ran | None:
        """Run a code submission and read its predictions as an upload; None when the run
        failed (then the failure is committed here: ``run_failed``, the submission failed).
        """
        from ..sandbox import SandboxRun, read_output
        from .model_to_data import REFUSED_PREDICTIONS, sandbox_base, seal_run

        rt = self.rt
        store = rt.store.artifacts
        if c.inputs_sha256 is None or c.inputs_digest is None:
            raise VerificationError("the challenge has no committed inputs")
        inputs = rt.store.sealer.open(store.read(c.inputs_sha256), purpose=INPUTS)
        run = self.code_runner(protocol, store.read(sub.sha256), inputs, c.inputs_digest,
                               base=sandbox_base(rt.settings), now=rt.now())
        del inputs
        record = run.record
        if record.code_digest != sub.digest:
            raise VerificationError(f"submission {sub.id}: stored code has digest "
                                    f"{record.code_digest}, recorded {sub.digest}")
        reason, refused, entry = record.reason, None, None
        predictions: tuple[str, int] | None = None
        if record.succeeded and run.predictions is not None:
            predictions = (store.put_bytes(run.predictions), len(run.predictions))
            try:
                entry = read_output(protocol, SandboxRun(record, store.path(predictions[0])),
                                    truth)
            except InputError as exc:
                reason, refused = REFUSED_PREDICTIONS, str(exc)
        reason = reason or "the run gave no predictions file"
        sealed = seal_run(rt, record, refused)
        if entry is not None:
            return _Ran(record=record, entry=entry, sealed=sealed, predictions=predictions)
        at = rt.stamp()
        with rt.store.db.write() as session:
            job = self._check_claim(session, claim)
            rt.store.ledger.lock(session)
            s = existing(session, Submission, claim.submission_id)
            record_run_artifacts(session, at, sealed, predictions)
            seq, _ = rt.store.ledger.append(session, {
                "type": "run_failed", "at": at, "challenge": c.id, "submission": s.id,
                "team": team, "sequence": s.sequence, "reason": reason,
                "protocol": protocol.digest, "inputs": c.inputs_digest,
                "submission_digest": s.digest, "run": record.to_dict(logs=False),
            }, at=at)
            s.status, s.error = "failed", reason
            s.run_sha256, s.run_seq = sealed[0], seq
            job.status, job.finished_at, job.error = "failed", at, reason
        return None

    def _place_adjudication(self, *args: Any, **kwargs: Any) -> Any:
        """``adjudicate(*args, **kwargs)`` where :attr:`compute` says. A cluster that
        cannot be reached or runs other package versions is not the submission's fault:
        a RuntimeError, so the job is retried (and fails after ``max_attempts``)."""
        from ..compute import Compute
        from ..errors import ConfigurationError

        s = self.rt.settings
        try:
            with self._compute_lock:
                if self.compute is None:
                    if s.service_compute == "process" or s.dask_scheduler is None:
                        self.compute = Compute.in_process(s.workers)
                    else:
                        self.compute = Compute.connect(s.dask_scheduler,
                                                       unit=s.service_compute)
                compute = self.compute
            return compute.adjudicate(*args, **kwargs)
        except ConfigurationError as exc:
            raise RuntimeError(f"compute ({s.service_compute}): {exc}") from exc

    def _identity(self) -> Any:
        from ..errors import ConfigurationError
        from ..report.signing import CERT_FILE, create_signing_identity, load_signing_identity

        keys = self.rt.settings.keys
        with self._identity_lock:
            if not (keys / CERT_FILE).exists():
                try:
                    create_signing_identity(keys, valid_from=self.rt.now())
                except ConfigurationError:
                    pass  # another process created it first
            return load_signing_identity(keys)

    def _report(self, claim: _Claim) -> None:
        from ..report.render import render_certification_report
        from ..report.signing import sign_pdf

        rt = self.rt
        with rt.store.db.read() as session:
            sub = session.get(Submission, claim.submission_id)
            if (sub is None or sub.status != "adjudicated" or sub.result_sha256 is None
                    or sub.adjudicated_seq is None):
                raise VerificationError(f"submission {claim.submission_id} is not adjudicated")
            tree = rt.store.ledger.tree(session)
            size = len(tree)
            note = rt.store.ledger.checkpoint_at(session, size)
            seq = int(sub.adjudicated_seq)
            proof = tree.inclusion_proof(seq, size)
            head = tree.checkpoint(size)
            entry = rt.store.ledger.entry(session, seq)
        evidence = json.loads(rt.store.artifacts.read(sub.result_sha256))
        evidence["ledger"] = {
            "head": head.head, "size": size, "sequence": seq, "checkpoint": note,
            "inclusion_proof": [p.hex() for p in proof],
            "entry": entry.decode(),
        }
        rendered = render_certification_report(evidence)
        identity = self._identity()
        signed = sign_pdf(rendered.pdf, identity, signing_time=rt.now())
        minisig = None
        if getattr(identity, "minisign_key", None) is not None:
            from ..report.minisign import minisign_sign

            minisig = minisign_sign(signed, identity.minisign_key,
                                    trusted_comment=f"adjudicator report {sub.id}")
        sha = rt.store.artifacts.put_bytes(signed)
        at = rt.stamp()
        with rt.store.db.write() as session:
            job = self._check_claim(session, claim)
            rt.store.ledger.lock(session)
            record_artifact(session, sha, "report", len(signed), at)
            lseq, _ = rt.store.ledger.append(session, {
                "type": "report_issued", "at": at, "challenge": sub.challenge_id,
                "submission": sub.id, "sha256": sha, "checkpoint_size": size,
                "evidence_sha256": rendered.evidence_sha256,
            }, at=at)
            row = session.scalars(select(Report).where(
                Report.submission_id == sub.id)).first()
            if row is None:
                row = Report(submission_id=sub.id, sha256=sha, minisig=minisig,
                             checkpoint=note, issued_at=at, ledger_seq=lseq)
                session.add(row)
            else:
                row.sha256, row.minisig, row.checkpoint = sha, minisig, note
                row.issued_at, row.ledger_seq = at, lseq
            job.status, job.finished_at, job.error = "done", at, None
