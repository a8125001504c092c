"""The HTTP routes. Each handler: check who may call, parse the request, call one operation
(:mod:`.challenges`, :mod:`.submissions`, the store), shape the answer. No rules live here.

=====================================================  ==========================  =========
route                                                  who                          does
=====================================================  ==========================  =========
``GET /health``                                        anyone                       liveness
``GET /me``                                            any token                    who am I
``GET /challenges``, ``GET /challenges/{c}``           anyone                       pages
``GET /challenges/{c}/leaderboard``                    anyone                       the board
``GET /protocols/{digest}``                            anyone                       protocol
``POST /protocols``                                    admin                        register
``POST /challenges``                                   admin                        create
``PUT /challenges/{c}/units``                          admin                        manifest
``PUT /challenges/{c}/truth``                          admin                        commit
``PUT /challenges/{c}/inputs``                         admin                        inputs
``PUT /challenges/{c}/baselines/{name}``               admin                        baseline
``POST /challenges/{c}/power``                         admin (draft only)           power
``POST /challenges/{c}/open``, ``.../close``           admin                        phases
``POST /challenges/{c}/submissions``                   participant                  submit
``GET /challenges/{c}/submissions``                    participant (own team),      list
                                                       auditor, admin
``GET /submissions/{s}``, ``.../result``               owner team, auditor, admin   read
``GET /submissions/{s}/run``                           owner team, auditor, admin   run
                                                       (logs: admin only)
``POST /submissions/{s}/adjudication``                 owner team, admin            request
``POST /submissions/{s}/report``                       admin                        issue
``GET /submissions/{s}/report``, ``.../report/proof``  owner team, auditor, admin   download
``GET /jobs/{j}``                                      owner team, auditor, admin   status
``GET /ledger/checkpoint``, ``/ledger/key``,           anyone                       publish
``GET /ledger/consistency``
``GET /ledger/entries``, ``/ledger/entries/{i}/proof`` auditor, admin               audit
=====================================================  ==========================  =========

The truth is never served: no route reads it back.
"""

from __future__ import annotations

import functools
import json
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Header, Path, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import func, select

from ..store.errors import ConflictError, NotFoundError
from ..store.models import Challenge, Job, LedgerEntry, ProtocolRecord, Report, Submission, Team
from . import challenges as ops
from .auth import principal, require, runtime
from .disclosure import check_readable, mask_job, mask_submission, withheld_for
from .power_analysis import PowerIn, record_power
from .submissions import get_submission, submission_view, submit, visible
from .uploads import Received, receive
from .users import PUBLIC, Principal
from .worker import enqueue

__all__ = ["router"]

# every route reads the caller, so a bad token is refused even where the public may read
router = APIRouter(dependencies=[Depends(principal)])

_BINARY = {"schema": {"type": "string", "format": "binary"}}
_FILE_BODY: dict[str, Any] = {"requestBody": {"required": True, "content": {
    "text/csv": _BINARY, "application/octet-stream": _BINARY,
    "application/vnd.apache.parquet": _BINARY}}}
_YAML_BODY: dict[str, Any] = {"requestBody": {"required": True, "content": {
    "application/yaml": {"schema": {"type": "string"}},
    "text/plain": {"schema": {"type": "string"}}}}}
_SLUG = r"^[a-z0-9][a-z0-9._-]{0,99}$"
_MAX_ID = 2**31 - 1  # the largest integer key both databases store
SubmissionId = Path(ge=1, le=_MAX_ID, description="a submission number")

ANY_USER = require("admin", "participant", "auditor")
ADMIN = require("admin")
PARTICIPANT = require("participant")
READERS = require("admin", "participant", "auditor")
AUDIT = require("admin", "auditor")


class ChallengeIn(BaseModel):
    """A new challenge: its id, the registered protocol and the order of truth and window."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=_SLUG, description="lower-case letters, digits, . _ -")
    protocol: str = Field(pattern=r"^sha256:[0-9a-f]{64}$",
                          description="digest of a registered protocol")
    order: Literal["retrospective", "prospective"]
    title: str | None = Field(default=None, max_length=300, pattern=r"^[^\x00-\x1f\x7f]*$",
                              description="one line of text")


async def _upload(request: Request, sink: Any) -> Received:
    rt = runtime(request)
    return await receive(request.stream(), sink, limit=rt.settings.max_upload_bytes,
                         content_length=request.headers.get("content-length"),
                         content_encoding=request.headers.get("content-encoding"))


async def _upload_to_tmp(request: Request) -> tuple[Any, Received]:
    handle, path = runtime(request).store.artifacts.temporary()
    try:
        with handle:
            received = await _upload(request, handle)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return path, received


def _owned(who: Principal, s: Submission) -> Submission:
    if not visible(who, s):
        raise NotFoundError(f"no submission {s.id}")
    return s


def _view(request: Request, session: Any, who: Principal, s: Submission) -> dict[str, Any]:
    """A submission as ``who`` may see it now (:mod:`.disclosure`: withheld before close)."""
    view = submission_view(session, s)
    if withheld_for(runtime(request), session, who, s.challenge_id):
        return mask_submission(view)
    return view


# -- public -------------------------------------------------------------------------------


@router.get("/health", tags=["public"])
def health(request: Request) -> dict[str, Any]:
    rt = runtime(request)
    with rt.store.db.read() as session:
        size = rt.store.ledger.size(session)
    return {"status": "ok", "database": rt.store.db.dialect, "ledger_size": size}


@router.get("/me", tags=["users"])
def me(who: Principal = Depends(ANY_USER)) -> dict[str, Any]:
    return {"name": who.name, "role": who.role, "team": who.team}


@router.get("/challenges", tags=["public"])
def list_challenges(request: Request) -> list[dict[str, Any]]:
    rt = runtime(request)
    with rt.store.db.read() as session:
        return [ops.challenge_view(session, c)
                for c in session.scalars(select(Challenge).order_by(Challenge.created_at))]


@router.get("/challenges/{challenge_id}", tags=["public"])
def get_challenge(challenge_id: str, request: Request) -> dict[str, Any]:
    rt = runtime(request)
    with rt.store.db.read() as session:
        return ops.challenge_view(session, ops.get_challenge(session, challenge_id))


@router.get("/challenges/{challenge_id}/leaderboard", tags=["public"])
def leaderboard(challenge_id: str, request: Request) -> dict[str, Any]:
    """Per team: submissions made and adjudicated, and whether one was certified.

    Scores are not shown: a public board of scores on the sequestered set leaks it to a
    team that submits adaptively (the public/private split is :mod:`adjudicator.leaderboard`'s).
    """
    rt = runtime(request)
    with rt.store.db.read() as session:
        ops.get_challenge(session, challenge_id)
        # a leaderboard challenge tells nothing of its adjudications before it closes
        hidden = withheld_for(rt, session, PUBLIC, challenge_id)
        rows = session.execute(
            select(func.coalesce(Submission.team_label, Team.name), Submission.status,
                   Submission.verdict)
            .join(Team, Team.id == Submission.team_id)
            .where(Submission.challenge_id == challenge_id)).all()
    board: dict[str, dict[str, Any]] = {}
    for team, status, verdict in rows:
        b = board.setdefault(team, {"team": team, "submissions": 0, "adjudicated": 0,
                                    "certified": False})
        b["submissions"] += 1
        b["adjudicated"] += status == "adjudicated"
        b["certified"] |= verdict == "CERTIFIED"
    if hidden:
        for b in board.values():
            b["adjudicated"] = b["certified"] = None
    ranked = sorted(board.values(), key=lambda b: (not b["certified"], b["team"]))
    return {"challenge": challenge_id, "teams": ranked}


@router.get("/protocols/{digest}", tags=["public"])
def get_protocol(digest: str, request: Request) -> dict[str, Any]:
    rt = runtime(request)
    with rt.store.db.read() as session:
        rec = session.get(ProtocolRecord, digest)
        if rec is None:
            raise NotFoundError(f"no registered protocol {digest!r}")
        return ops.protocol_view(rec, rt)


@router.get("/ledger/checkpoint", tags=["ledger"], response_class=Response,
            responses={200: {"content": {"text/plain": {}}}})
def ledger_checkpoint(request: Request) -> Response:
    """The latest signed checkpoint (C2SP signed note): publish it outside the service."""
    rt = runtime(request)
    with rt.store.db.read() as session:
        note = rt.store.ledger.latest_checkpoint(session)
    return Response(note, media_type="text/plain; charset=utf-8")


@router.get("/ledger/key", tags=["ledger"], response_class=Response,
            responses={200: {"content": {"text/plain": {}}}})
def ledger_key(request: Request) -> Response:
    """The verifier key of the checkpoints (``name+hash+base64``)."""
    return Response(runtime(request).store.ledger.signer.vkey + "\n",
                    media_type="text/plain; charset=utf-8")


@router.get("/ledger/consistency", tags=["ledger"])
def ledger_consistency(request: Request, first: int = Query(ge=0, le=2**40),
                       second: int | None = Query(default=None, ge=0, le=2**40)
                       ) -> dict[str, Any]:
    """Proof that the log of ``second`` entries extends the log of ``first`` (RFC 9162)."""
    rt = runtime(request)
    with rt.store.db.read() as session:
        tree = rt.store.ledger.tree(session)
        size2 = len(tree) if second is None else second
        if not first <= size2 <= len(tree):
            raise ConflictError(f"need first <= second <= {len(tree)}")
        return {"first": first, "second": size2,
                "proof": [p.hex() for p in tree.consistency_proof(first, size2)],
                "first_checkpoint": rt.store.ledger.checkpoint_at(session, first),
                "second_checkpoint": rt.store.ledger.checkpoint_at(session, size2)}


# -- admin: protocols and challenges -----------------------------------------------------------


@router.post("/protocols", tags=["admin"], status_code=201, openapi_extra=_YAML_BODY)
async def register_protocol(request: Request, response: Response,
                            who: Principal = Depends(ADMIN)) -> dict[str, Any]:
    rt = runtime(request)
    import io

    buf = io.BytesIO()
    await _upload(request, buf)
    rec, created = await run_in_threadpool(ops.register_protocol, rt, buf.getvalue())
    if not created:
        response.status_code = 200
    return ops.protocol_view(rec, rt)


@router.post("/challenges", tags=["admin"], status_code=201)
def create_challenge(body: ChallengeIn, request: Request,
                     who: Principal = Depends(ADMIN)) -> dict[str, Any]:
    rt = runtime(request)
    c = ops.create_challenge(rt, body.id, body.protocol, body.order, body.title)
    with rt.store.db.read() as session:
        return ops.challenge_view(session, ops.get_challenge(session, c.id))


async def _with_tmp_file(request: Request, fn: Any, *args: Any) -> Any:
    path, _ = await _upload_to_tmp(request)
    try:
        return await run_in_threadpool(functools.partial(fn, runtime(request), *args, path))
    finally:
        path.unlink(missing_ok=True)


def _page(request: Request, challenge_id: str) -> dict[str, Any]:
    rt = runtime(request)
    with rt.store.db.read() as session:
        return ops.challenge_view(session, ops.get_challenge(session, challenge_id))


@router.put("/challenges/{challenge_id}/units", tags=["admin"], openapi_extra=_FILE_BODY)
async def put_units(challenge_id: str, request: Request,
                    who: Principal = Depends(ADMIN)) -> dict[str, Any]:
    """The units manifest of a prospective challenge (CSV of the unit and key columns)."""
    await _with_tmp_file(request, ops.set_units, challenge_id)
    return _page(request, challenge_id)


@router.put("/challenges/{challenge_id}/truth", tags=["admin"], openapi_extra=_FILE_BODY)
async def put_truth(challenge_id: str, request: Request,
                    who: Principal = Depends(ADMIN)) -> dict[str, Any]:
    """Commit the sequestered truth: validated, sealed (AES-GCM), its digest in the ledger.

    The body is held in memory only, never written to disk in clear.
    """
    import io

    buf = io.BytesIO()
    await _upload(request, buf)
    await run_in_threadpool(ops.commit_truth, runtime(request), challenge_id, buf.getvalue())
    request.app.state.worker_wake()
    return _page(request, challenge_id)


@router.put("/challenges/{challenge_id}/inputs", tags=["admin"], openapi_extra=_FILE_BODY)
async def put_inputs(challenge_id: str, request: Request,
                     who: Principal = Depends(ADMIN)) -> dict[str, Any]:
    """Commit the sequestered inputs of a challenge that takes code (model to data).

    Validated against the truth or the units manifest, sealed like the truth, their digest
    in the ledger (``inputs_committed``); the body is held in memory only.
    """
    import io

    from .model_to_data import commit_inputs

    buf = io.BytesIO()
    await _upload(request, buf)
    await run_in_threadpool(commit_inputs, runtime(request), challenge_id, buf.getvalue())
    return _page(request, challenge_id)


@router.put("/challenges/{challenge_id}/baselines/{name}", tags=["admin"],
            openapi_extra=_FILE_BODY)
async def put_baseline(challenge_id: str, name: str, request: Request,
                       who: Principal = Depends(ADMIN)) -> dict[str, Any]:
    await _with_tmp_file(request, ops.add_baseline, challenge_id, name)
    return _page(request, challenge_id)


@router.post("/challenges/{challenge_id}/power", tags=["admin"], status_code=201)
def power_analysis(challenge_id: str, body: PowerIn, request: Request,
                   who: Principal = Depends(ADMIN)) -> dict[str, Any]:
    """Run the power analysis of a draft challenge and record it (:mod:`.power_analysis`):
    the minimum detectable metric, a ``power_analysis`` ledger entry, the challenge's
    ``power`` list. A plain ``def``: FastAPI runs it in its thread pool, so the simulation
    (tens of seconds) does not block the event loop."""
    return record_power(runtime(request), challenge_id, body)


@router.post("/challenges/{challenge_id}/open", tags=["admin"])
def open_window(challenge_id: str, request: Request,
                who: Principal = Depends(ADMIN),
                accept_uncertifiable: Annotated[bool, Query(description=(
                    "open although the latest recorded power analysis says the threshold "
                    "cannot be certified (recorded in the ledger)"))] = False,
                ) -> dict[str, Any]:
    """Open the submission window (``window_opened``); 409 when the truth, a baseline or
    the inputs are missing, or when the latest power analysis flags the threshold as not
    certifiable and ``accept_uncertifiable`` is not given."""
    ops.open_window(runtime(request), challenge_id,
                    accept_uncertifiable=accept_uncertifiable)
    return _page(request, challenge_id)


@router.post("/challenges/{challenge_id}/close", tags=["admin"])
def close_window(challenge_id: str, request: Request,
                 who: Principal = Depends(ADMIN)) -> dict[str, Any]:
    ops.close_window(runtime(request), challenge_id)
    return _page(request, challenge_id)


# -- submissions ------------------------------------------------------------------------------


@router.post("/challenges/{challenge_id}/submissions", tags=["participant"],
             status_code=201, openapi_extra=_FILE_BODY)
async def post_submission(
    challenge_id: str, request: Request, response: Response,
    name: str | None = Query(default=None, max_length=200),
    idempotency_key: str | None = Header(default=None, max_length=200),
    who: Principal = Depends(PARTICIPANT),
) -> dict[str, Any]:
    """Submit predictions (CSV or Parquet; ``Content-Encoding: gzip`` accepted).

    A retry with the same ``Idempotency-Key`` and body returns the same submission (200);
    the same key with another body is refused (422).
    """
    rt = runtime(request)
    path, received = await _upload_to_tmp(request)
    try:
        sub, created = await run_in_threadpool(
            submit, rt, who, challenge_id, path, received, name=name,
            idempotency_key=idempotency_key)
    finally:
        path.unlink(missing_ok=True)
    if not created:
        response.status_code = 200
    request.app.state.worker_wake()
    with rt.store.db.read() as session:
        return _view(request, session, who, get_submission(session, sub.id))


@router.get("/challenges/{challenge_id}/submissions", tags=["participant"])
def list_submissions(challenge_id: str, request: Request,
                     who: Principal = Depends(READERS)) -> list[dict[str, Any]]:
    rt = runtime(request)
    with rt.store.db.read() as session:
        ops.get_challenge(session, challenge_id)
        stmt = select(Submission).where(Submission.challenge_id == challenge_id)
        if who.role == "participant":
            stmt = stmt.where(Submission.team_id == who.team_id)
        return [_view(request, session, who, s)
                for s in session.scalars(stmt.order_by(Submission.id))]


@router.get("/submissions/{submission_id}", tags=["participant"])
def read_submission(request: Request, submission_id: int = SubmissionId,
                    who: Principal = Depends(READERS)) -> dict[str, Any]:
    rt = runtime(request)
    with rt.store.db.read() as session:
        return _view(request, session, who,
                     _owned(who, get_submission(session, submission_id)))


@router.get("/submissions/{submission_id}/result", tags=["participant"],
            responses={200: {"content": {"application/json": {}}}})
def read_result(request: Request, submission_id: int = SubmissionId,
                who: Principal = Depends(READERS)) -> Response:
    """The exact ``result.json`` bytes of the adjudication."""
    rt = runtime(request)
    with rt.store.db.read() as session:
        s = _owned(who, get_submission(session, submission_id))
        check_readable(rt, session, who, s.challenge_id, "the results")
        if s.result_sha256 is None:
            raise NotFoundError(f"submission {submission_id} has no result yet ({s.status})")
        sha = s.result_sha256
    return Response(rt.store.artifacts.read(sha), media_type="application/json")


@router.get("/submissions/{submission_id}/run", tags=["participant"])
def read_run(request: Request, submission_id: int = SubmissionId,
             who: Principal = Depends(READERS)) -> dict[str, Any]:
    """The record of a code submission's last run (``adjudicator-run/v1``).

    The team's own output (stdout, stderr, its last words, the reader's message on refused
    predictions) is for the committee only (admins): on sequestered inputs it is a channel
    out. Others get the record the ledger holds.
    """
    from .model_to_data import open_run

    rt = runtime(request)
    with rt.store.db.read() as session:
        s = _owned(who, get_submission(session, submission_id))
        # like results, a run is withheld from teams until a leaderboard window closes
        check_readable(rt, session, who, s.challenge_id, f"the run of submission {s.id}")
        if s.run_sha256 is None:
            raise NotFoundError(f"submission {submission_id} has no run (yet)")
        sha = s.run_sha256
    return open_run(rt, sha, logs=who.role == "admin")


def _job_view(job: Job) -> dict[str, Any]:
    return {"id": job.id, "kind": job.kind, "submission": job.submission_id,
            "status": job.status, "attempts": job.attempts, "error": job.error,
            "created_at": job.created_at, "finished_at": job.finished_at}


@router.post("/submissions/{submission_id}/adjudication", tags=["participant"],
             status_code=202)
def request_adjudication(request: Request, submission_id: int = SubmissionId,
                         who: Principal = Depends(require("admin", "participant"))
                         ) -> dict[str, Any]:
    """Queue the adjudication (again, after a failure); an adjudicated one is not re-run."""
    rt = runtime(request)
    with rt.store.db.write() as session:
        s = _owned(who, get_submission(session, submission_id))
        # the answer would tell a failed adjudication from a done one
        check_readable(rt, session, who, s.challenge_id, "re-adjudication")
        truth = session.scalar(select(Challenge.truth_digest)
                               .where(Challenge.id == s.challenge_id))
        if truth is None:
            raise ConflictError("the truth is not committed yet: adjudication follows it")
        if s.status == "adjudicated":
            job = session.scalars(select(Job).where(
                Job.submission_id == s.id, Job.kind == "adjudicate", Job.status == "done")
                .order_by(Job.id.desc())).first()
            if job is not None:
                return _job_view(job)
        if s.status == "failed" and s.run_seq is not None and who.role != "admin":
            # each run of code beside sequestered inputs can carry a few bits out: the
            # team's runs are bounded by its submissions, and only the committee re-runs
            raise ConflictError("the run of this code failed; a team cannot run it again "
                                "(submit new code, or ask the committee)")
        if s.status == "failed":
            s.status, s.error = "received", None
        job = enqueue(session, "adjudicate", s.id, rt.stamp())
        view = _job_view(job)
    request.app.state.worker_wake()
    return view


@router.post("/submissions/{submission_id}/report", tags=["admin"], status_code=202)
def issue_report(request: Request, submission_id: int = SubmissionId,
                 who: Principal = Depends(ADMIN)) -> dict[str, Any]:
    """Queue the signed certification report of an adjudicated submission."""
    rt = runtime(request)
    with rt.store.db.write() as session:
        s = get_submission(session, submission_id)
        if s.status != "adjudicated":
            raise ConflictError(f"submission {submission_id} is {s.status}, not adjudicated")
        view = _job_view(enqueue(session, "report", s.id, rt.stamp()))
    request.app.state.worker_wake()
    return view


def _report(session: Any, who: Principal, submission_id: int, rt: Any) -> Report:
    s = _owned(who, get_submission(session, submission_id))
    check_readable(rt, session, who, s.challenge_id, "the reports")
    rep = session.scalars(select(Report).where(Report.submission_id == submission_id)).first()
    if rep is None:
        raise NotFoundError(f"submission {submission_id} has no report yet")
    return rep  # type: ignore[no-any-return]


@router.get("/submissions/{submission_id}/report", tags=["participant"],
            response_class=Response, responses={200: {"content": {"application/pdf": {}}}})
def download_report(request: Request, submission_id: int = SubmissionId,
                    who: Principal = Depends(READERS)) -> Response:
    rt = runtime(request)
    with rt.store.db.read() as session:
        sha = _report(session, who, submission_id, rt).sha256
    return Response(rt.store.artifacts.read(sha), media_type="application/pdf",
                    headers={"Content-Disposition":
                             f'attachment; filename="report-{submission_id}.pdf"'})


@router.get("/submissions/{submission_id}/report/proof", tags=["participant"])
def report_proof(request: Request, submission_id: int = SubmissionId,
                 who: Principal = Depends(READERS)) -> dict[str, Any]:
    """The report's ledger entry, its inclusion proof and the checkpoint it is proven in."""
    rt = runtime(request)
    with rt.store.db.read() as session:
        rep = _report(session, who, submission_id, rt)
        tree = rt.store.ledger.tree(session)
        size = len(tree)
        entry = rt.store.ledger.entry(session, rep.ledger_seq)
        return {"report_sha256": rep.sha256, "minisig": rep.minisig,
                "issued_under": rep.checkpoint, "ledger_seq": rep.ledger_seq,
                "entry": entry.decode(), "size": size,
                "inclusion_proof": [p.hex() for p in tree.inclusion_proof(rep.ledger_seq,
                                                                          size)],
                "checkpoint": rt.store.ledger.checkpoint_at(session, size)}


@router.get("/jobs/{job_id}", tags=["participant"])
def read_job(request: Request, job_id: int = Path(ge=1, le=_MAX_ID),
             who: Principal = Depends(READERS)) -> dict[str, Any]:
    rt = runtime(request)
    with rt.store.db.read() as session:
        job = session.get(Job, job_id)
        if job is None:
            raise NotFoundError(f"no job {job_id}")
        s = _owned(who, get_submission(session, job.submission_id))
        if withheld_for(rt, session, who, s.challenge_id):
            return mask_job(_job_view(job))
        return _job_view(job)


# -- the ledger, for auditors ----------------------------------------------------------------


@router.get("/ledger/entries", tags=["ledger"])
def ledger_entries(request: Request, start: int = Query(default=0, ge=0, le=2**40),
                   limit: int = Query(default=100, ge=1, le=1000),
                   who: Principal = Depends(AUDIT)) -> dict[str, Any]:
    rt = runtime(request)
    with rt.store.db.read() as session:
        rows = rt.store.ledger.entries(session, start, limit)
        total = session.scalar(select(func.count()).select_from(LedgerEntry))
        return {"size": int(total or 0), "entries": [
            {"seq": r.seq, "event": json.loads(bytes(r.entry)),
             "leaf_hash": bytes(r.leaf_hash).hex(), "checkpoint": r.checkpoint,
             "created_at": r.created_at} for r in rows]}


@router.get("/ledger/entries/{seq}/proof", tags=["ledger"])
def ledger_inclusion(request: Request, seq: int = Path(ge=0, le=_MAX_ID),
                     size: int | None = Query(default=None, ge=1, le=2**40),
                     who: Principal = Depends(AUDIT)) -> dict[str, Any]:
    """Inclusion proof of entry ``seq`` in the checkpoint of ``size`` entries (default: all)."""
    rt = runtime(request)
    with rt.store.db.read() as session:
        tree = rt.store.ledger.tree(session)
        n = len(tree) if size is None else size
        if not 0 <= seq < n <= len(tree):
            raise NotFoundError(f"need 0 <= seq < size <= {len(tree)}")
        return {"seq": seq, "size": n, "entry": rt.store.ledger.entry(session, seq).decode(),
                "inclusion_proof": [p.hex() for p in tree.inclusion_proof(seq, n)],
                "checkpoint": rt.store.ledger.checkpoint_at(session, n)}
