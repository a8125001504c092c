"""The open-results routes (:mod:`.open_results`, :mod:`.bundle`).

=====================================================  ==============================  ==========
route                                                  who                             does
=====================================================  ==============================  ==========
``GET /challenges/{c}/results``                        anyone once closed (admin,      results
                                                       auditor: before, unpublished)
``GET /challenges/{c}/results.csv``, ``.parquet``      the same                        tables
``GET /challenges/{c}/results/schema``                 anyone                          schema
``GET /challenges/{c}/results/bundle``                 anyone once closed              archive
``GET /challenges/{c}/results/progress``               anyone once closed              PDF
``PUT /submissions/{s}/note``                          owner team (participant)        note
``DELETE /submissions/{s}``, ``PATCH /submissions/{s}``  nobody: 405, and recorded      refused
=====================================================  ==============================  ==========
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Path, Request, Response
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field

from . import open_results as results
from .auth import principal, require, runtime
from .disclosure import mask_submission, withheld_for
from .submissions import get_submission, submission_view
from .users import Principal

__all__ = ["router"]

router = APIRouter(dependencies=[Depends(principal)])

_MAX_ID = 2**31 - 1
SubmissionId = Path(ge=1, le=_MAX_ID, description="a submission number")
_PARTICIPANT = require("participant")
_WRITERS = require("admin", "participant")


class NoteIn(BaseModel):
    """A short public note (one line, at most 280 characters)."""

    model_config = ConfigDict(extra="forbid")

    note: str = Field(max_length=results.NOTE_MAX_CHARS,
                      description="one line of text, shown with the open results")


@router.get("/challenges/{challenge_id}/results", tags=["public"])
def open_results(challenge_id: str, request: Request,
                 who: Principal = Depends(principal)) -> dict[str, Any]:
    """Every adjudication of every team, failures included (published at close)."""
    return results.results_context(runtime(request), challenge_id, who)


@router.get("/challenges/{challenge_id}/results.csv", tags=["public"],
            response_class=Response, responses={200: {"content": {"text/csv": {}}}})
def open_results_csv(challenge_id: str, request: Request,
                     who: Principal = Depends(principal)) -> Response:
    """The open results as CSV (columns: ``/results/schema``)."""
    doc = results.results_context(runtime(request), challenge_id, who)
    return Response(results.results_csv(doc["results"]), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition":
                             f'attachment; filename="{challenge_id}-results.csv"'})


@router.get("/challenges/{challenge_id}/results.parquet", tags=["public"],
            response_class=Response,
            responses={200: {"content": {"application/vnd.apache.parquet": {}}}})
def open_results_parquet(challenge_id: str, request: Request,
                         who: Principal = Depends(principal)) -> Response:
    """The open results as Parquet (typed; the schema is also in the file's metadata)."""
    doc = results.results_context(runtime(request), challenge_id, who)
    return Response(results.results_parquet(doc["results"]),
                    media_type="application/vnd.apache.parquet",
                    headers={"Content-Disposition":
                             f'attachment; filename="{challenge_id}-results.parquet"'})


@router.get("/challenges/{challenge_id}/results/schema", tags=["public"])
def open_results_schema(challenge_id: str) -> dict[str, Any]:
    """The Table Schema (Frictionless) of the CSV and Parquet results."""
    return results.results_schema()


@router.get("/challenges/{challenge_id}/results/bundle", tags=["public"],
            response_class=Response, responses={200: {"content": {"application/zip": {}}}})
async def results_bundle(challenge_id: str, request: Request) -> Response:
    """One archive anyone can check offline with ``adjudicator verify-bundle``: the results,
    result documents, reports, the ledger entries of the challenge with their inclusion
    proofs and the signed checkpoint."""
    from .bundle import build_bundle

    data = await run_in_threadpool(build_bundle, runtime(request), challenge_id)
    return Response(data, media_type="application/zip",
                    headers={"Content-Disposition":
                             f'attachment; filename="{challenge_id}-results.zip"'})


@router.get("/challenges/{challenge_id}/results/progress", tags=["public"],
            response_class=Response, responses={200: {"content": {"application/pdf": {}}}})
async def results_progress(challenge_id: str, request: Request,
                           who: Principal = Depends(principal)) -> Response:
    """The funders' progress report of the open results (signed PDF), every adjudication
    listed, failures included."""
    from .bundle import progress_report

    data = await run_in_threadpool(progress_report, runtime(request),
                                   request.app.state.worker, challenge_id, who)
    return Response(data, media_type="application/pdf",
                    headers={"Content-Disposition":
                             f'attachment; filename="{challenge_id}-progress.pdf"'})


@router.put("/submissions/{submission_id}/note", tags=["participant"])
def put_note(body: NoteIn, request: Request, submission_id: int = SubmissionId,
             who: Principal = Depends(_PARTICIPANT)) -> dict[str, Any]:
    """Attach the team's public note to its submission: once, recorded in the ledger."""
    rt = runtime(request)
    results.attach_note(rt, who, submission_id, body.note)
    with rt.store.db.read() as session:
        s = get_submission(session, submission_id)
        view = submission_view(session, s)
        return mask_submission(view) if withheld_for(rt, session, who,
                                                     s.challenge_id) else view


_REFUSAL: dict[int | str, dict[str, Any]] = {
    405: {"description": "never allowed: results are not withdrawn (recorded in the ledger)"}
}


@router.delete("/submissions/{submission_id}", tags=["participant"], responses=_REFUSAL)
def delete_submission(request: Request, submission_id: int = SubmissionId,
                      who: Principal = Depends(_WRITERS)) -> None:
    """Refused, always (405): nothing is withdrawn. The attempt is recorded in the ledger."""
    results.refuse_withdrawal(runtime(request), who, submission_id, "delete")


@router.patch("/submissions/{submission_id}", tags=["participant"], responses=_REFUSAL)
def hide_submission(request: Request, submission_id: int = SubmissionId,
                    who: Principal = Depends(_WRITERS)) -> None:
    """Refused, always (405): a submission cannot be hidden or changed. The attempt is
    recorded in the ledger; a team may attach a public note instead."""
    results.refuse_withdrawal(runtime(request), who, submission_id, "hide")
