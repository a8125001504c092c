"""The web pages' routes. Each handler: who is signed in, may they, build the page's data
(:mod:`.views`), render it. The rules are the service's: uploads go through
:func:`adjudicator.service.submissions.submit`, and the buttons call the JSON API's own
handlers, so a page can do exactly what the same person could do with a token.

=============================================  ==========================  ==================
route                                          who                         what
=============================================  ==========================  ==================
``GET /web/``                                  anyone                      challenge list
``GET /web/challenges/{c}``                    anyone                      challenge page
``GET /web/challenges/{c}/board``              anyone                      public leaderboard
``GET /web/challenges/{c}/rankings``           anyone (rankings: after     final rankings
                                               close, as the JSON route)
``POST /web/challenges/{c}/open``, ``/close``  admin                       confirm, then the
                                                                           window's phase
``GET /web/challenges/{c}/results``            anyone after close          open results
                                               (before: auditor, admin)
``GET /web/challenges/{c}/progress``           auditor, admin              progress chart
``GET|POST /web/sign-in``, ``POST /sign-out``  anyone                      session
``GET /web/home``                              anyone                      your page
``GET /web/teams/{t}``                         the team, auditor, admin    team page
``POST /web/teams/{t}/challenges/{c}/upload``  the team's participants     upload
``GET /web/submissions/{s}``                   owner team, auditor, admin  submission
``GET /web/submissions/{s}/status``            owner team, auditor, admin  JSON, polled
``GET /web/submissions/{s}/report.pdf``        owner team, auditor, admin  signed report
``POST /web/submissions/{s}/adjudication``     owner team, admin           (re-)adjudicate
``POST /web/submissions/{s}/report``           admin                       issue report
``POST /web/submissions/{s}/note``             the owner team              public note
``GET /web/committee``                         auditor, admin              all submissions
``GET /web/ledger``                            anyone (entries: auditor,   ledger viewer
                                               admin)
``POST /web/ledger/verification``              auditor, admin              verify the ledger
``GET /web/ledger/verification``               auditor, admin              JSON, polled
=============================================  ==========================  ==================

Every POST carries the session's CSRF token; every GET page also answers ``?format=json``
with its data. Opening and closing a window take two POSTs: the first shows what will
happen, the second (``confirm=yes``) does it. ``GET /`` redirects to ``/web/``.
"""

from __future__ import annotations

import re
import secrets
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, HTTPException, Path, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, RedirectResponse
from starlette.responses import Response

from ..errors import AdjudicatorError
from ..service import routes as api
from ..service.runtime import Runtime
from ..service.submissions import submit
from ..service.users import Principal
from ..store.errors import NotFoundError
from . import views
from .forms import CsrfError, FormError, read_small_form, read_upload_form
from .ledger_check import LedgerChecks
from .rendering import SECURITY_HEADERS, HtmlRoute, SignInRequired, asset, page
from .sessions import (
    Session,
    csrf_valid,
    find_user_by_token,
    new_session,
    read_session,
    session_key,
    set_cookie,
)

__all__ = ["router", "chrome_for"]

router = APIRouter(route_class=HtmlRoute, include_in_schema=False)

_MAX_ID = 2**31 - 1
SubmissionId = Path(ge=1, le=_MAX_ID)
_LOCAL = re.compile(r"^/web/[A-Za-z0-9/_.\-]*$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_LEDGER_PAGE = 50


# -- sessions and chrome --------------------------------------------------------------------


def _rt(request: Request) -> Runtime:
    return request.app.state.runtime  # type: ignore[no-any-return]


def _key(request: Request) -> bytes:
    key = getattr(request.app.state, "web_session_key", None)
    if key is None:
        key = request.app.state.web_session_key = session_key(_rt(request))
    return key


def current(request: Request) -> Session:
    """This request's session (read once per request)."""
    cached = getattr(request.state, "session", None)
    if cached is None:
        cached = request.state.session = read_session(request, _rt(request), _key(request))
    return cached


def _who(request: Request, *roles: str) -> Principal:
    who = current(request).principal
    if roles and who.role == "public":
        raise SignInRequired()
    if roles and who.role not in roles:
        raise HTTPException(403, f"the {who.role} role may not do this")
    return who


def chrome_for(request: Request) -> dict[str, Any]:
    """What every page shows around its content: who is signed in, the CSRF token, links."""
    session = current(request)
    who = session.principal
    nav = [("Challenges", "/web/")]
    if who.role == "participant" and who.team:
        nav.append(("My team", f"/web/teams/{who.team}"))
    if who.role in ("admin", "auditor"):
        nav.append(("Committee", "/web/committee"))
    nav.append(("Ledger", "/web/ledger"))
    return {"who": {"role": who.role, "name": who.name, "team": who.team},
            "csrf": session.csrf(_key(request)), "nav": nav, "here": request.url.path}


def _page(request: Request, template: str, data: dict[str, Any], *, status: int = 200,
          **extra: Any) -> Response:
    response = page(request, template, data, {**chrome_for(request), **extra}, status=status)
    set_cookie(request, response)
    return response


async def _form(request: Request) -> dict[str, str]:
    form = await read_small_form(request)
    if not csrf_valid(current(request), _key(request), form.get("csrf")):
        raise HTTPException(403, "This form has expired or was not sent from this site: "
                                 "reload the page and try again.")
    return form


def _back(form: dict[str, str], default: str) -> RedirectResponse:
    target = form.get("next") or default
    return RedirectResponse(target if _LOCAL.match(target) else default, status_code=303)


# -- public pages ---------------------------------------------------------------------------


@router.get("/")
def root() -> RedirectResponse:
    return RedirectResponse("/web/", status_code=303)


@router.get("/web/static/{name}")
def static(name: str) -> Response:
    return asset(name)


@router.get("/web/")
def challenges(request: Request) -> Response:
    return _page(request, "challenges.html.j2", views.challenge_list(_rt(request)))


def _challenge_page(request: Request, challenge_id: str, *,
                    window_error: str | None = None, status: int = 200) -> Response:
    notice = None
    if request.query_params.get("opened"):
        notice = "The submission window is open, and the ledger records when it opened."
    elif request.query_params.get("closed"):
        notice = "The submission window is closed, and the ledger records when it closed."
    return _page(request, "challenge.html.j2", views.challenge_page(_rt(request), challenge_id),
                 status=status, notice=notice, window_error=window_error)


@router.get("/web/challenges/{challenge_id}")
def challenge(challenge_id: str, request: Request) -> Response:
    return _challenge_page(request, challenge_id)


async def _window(request: Request, challenge_id: str, action: str) -> Response:
    """Open or close a window: the first POST shows what will happen, the second
    (``confirm=yes``) calls the API's own handler, so the ledger records the same event."""
    from ..service.app import STATUS

    who = _who(request, "admin")
    form = await _form(request)
    rt = _rt(request)
    if form.get("confirm") != "yes":
        data = await run_in_threadpool(views.window_page, rt, challenge_id, action)
        return _page(request, "window.html.j2", data)
    handler = api.open_window if action == "open" else api.close_window
    try:
        await run_in_threadpool(handler, challenge_id, request, who)
    except AdjudicatorError as exc:
        code = next(c for kind, c in STATUS if isinstance(exc, kind))
        if code >= 500 or isinstance(exc, NotFoundError):
            raise
        # refused (no truth yet, not in the right phase): the challenge page says why
        return await run_in_threadpool(_challenge_page, request, challenge_id,
                                       window_error=str(exc), status=code)
    flag = "opened" if action == "open" else "closed"
    return RedirectResponse(f"/web/challenges/{quote(challenge_id, safe='')}?{flag}=1",
                            status_code=303)


@router.post("/web/challenges/{challenge_id}/open")
async def open_window(challenge_id: str, request: Request) -> Response:
    return await _window(request, challenge_id, "open")


@router.post("/web/challenges/{challenge_id}/close")
async def close_window(challenge_id: str, request: Request) -> Response:
    return await _window(request, challenge_id, "close")


@router.get("/web/challenges/{challenge_id}/board")
async def board(challenge_id: str, request: Request) -> Response:
    counts = api.leaderboard(challenge_id, request)
    data = await run_in_threadpool(views.board_page, _rt(request), challenge_id, counts)
    return _page(request, "board.html.j2", data)


@router.get("/web/challenges/{challenge_id}/rankings")
async def rankings(challenge_id: str, request: Request) -> Response:
    data = await run_in_threadpool(views.rankings_page, _rt(request), challenge_id)
    return _page(request, "rankings.html.j2", data)


@router.get("/web/challenges/{challenge_id}/results")
async def open_results(challenge_id: str, request: Request) -> Response:
    from ..service.open_results import results_context

    who = current(request).principal
    data = await run_in_threadpool(results_context, _rt(request), challenge_id, who)
    return _page(request, "results.html.j2", {**data, "title": data["challenge"]["title"]})


@router.post("/web/submissions/{submission_id}/note")
async def note(request: Request, submission_id: int = SubmissionId) -> Response:
    from ..service.open_results import attach_note

    who = _who(request, "participant")
    form = await _form(request)
    await run_in_threadpool(attach_note, _rt(request), who, submission_id,
                            form.get("note", ""))
    return _back(form, f"/web/submissions/{submission_id}")


@router.get("/web/challenges/{challenge_id}/progress")
async def progress(challenge_id: str, request: Request) -> Response:
    _who(request, "admin", "auditor")
    rt = _rt(request)
    data = await run_in_threadpool(views.progress_page, rt, challenge_id, rt.stamp()[:10])
    return _page(request, "progress.html.j2", data)


# -- signing in and out ---------------------------------------------------------------------


@router.get("/web/sign-in")
def sign_in_form(request: Request, next: str = Query(default="", max_length=300)) -> Response:
    return _page(request, "sign_in.html.j2", {"title": "Sign in", "error": None,
                                              "next": next if _LOCAL.match(next) else ""})


@router.post("/web/sign-in")
async def sign_in(request: Request) -> Response:
    form = await _form(request)
    target = form.get("next", "")
    user = await run_in_threadpool(find_user_by_token, _rt(request), form.get("token", ""))
    if user is None:
        return _page(request, "sign_in.html.j2", {
            "title": "Sign in", "next": target if _LOCAL.match(target) else "",
            "error": "That token is unknown or has been revoked."}, status=401)
    _, value = new_session(_rt(request), _key(request), user)  # a fresh nonce: no fixation
    home = "/web/home"
    response = RedirectResponse(target if _LOCAL.match(target) else home, status_code=303)
    set_cookie(request, response, value)
    return response


@router.post("/web/sign-out")
async def sign_out(request: Request) -> Response:
    await _form(request)
    _, value = new_session(_rt(request), _key(request))
    response = RedirectResponse("/web/", status_code=303)
    set_cookie(request, response, value)
    return response


@router.get("/web/home")
def home(request: Request) -> Response:
    who = current(request).principal
    if who.role == "participant" and who.team:
        target = f"/web/teams/{who.team}"
    elif who.role in ("admin", "auditor"):
        target = "/web/committee"
    else:
        target = "/web/sign-in"
    return RedirectResponse(target, status_code=303)


# -- a team ---------------------------------------------------------------------------------


def _team_page(request: Request, team: str, *, error: dict[str, Any] | None = None,
               status: int = 200) -> Response:
    who = _who(request, "participant", "admin", "auditor")
    data = views.team_page(_rt(request), who, team)
    # a one-use key per form shown: sending the same form twice makes one submission
    return _page(request, "team.html.j2", data, status=status, upload_error=error,
                 idempotency=secrets.token_hex(16))


@router.get("/web/teams/{team}")
async def team_page(team: str, request: Request) -> Response:
    return await run_in_threadpool(_team_page, request, team)


@router.post("/web/teams/{team}/challenges/{challenge_id}/upload")
async def upload(team: str, challenge_id: str, request: Request) -> Response:
    from ..service.app import STATUS

    who = _who(request, "participant")
    if who.team != team:
        raise HTTPException(404, f"no team {team!r}")
    rt = _rt(request)
    handle, path = rt.store.artifacts.temporary()
    try:
        try:
            with handle:
                form = await read_upload_form(
                    request, handle, limit=rt.settings.max_upload_bytes, file_field="file",
                    check_csrf=lambda t: csrf_valid(current(request), _key(request), t))
            assert form.received is not None
            if form.received.size == 0 and not form.filename:
                raise FormError("choose a file to upload")
            name = _CONTROL.sub(" ", form.fields.get("name") or form.filename or "").strip()
            key = form.fields.get("idempotency") or None
            sub, created = await run_in_threadpool(
                submit, rt, who, challenge_id, path, form.received, name=name[:200] or None,
                idempotency_key=f"web:{key[:64]}" if key else None)
        except CsrfError as exc:
            raise HTTPException(403, "This form has expired or was not sent from this site: "
                                     "reload the page and try again.") from exc
        except AdjudicatorError as exc:
            code = next(c for kind, c in STATUS if isinstance(exc, kind))
            if code >= 500:
                raise
            error = {"challenge": challenge_id, "message": str(exc), "kind": type(exc).__name__}
            return await run_in_threadpool(_team_page, request, team, error=error,
                                           status=code)
    finally:
        path.unlink(missing_ok=True)
    request.app.state.worker_wake()
    flag = "received" if created else "again"
    return RedirectResponse(f"/web/submissions/{sub.id}?{flag}=1", status_code=303)


# -- one submission -------------------------------------------------------------------------


@router.get("/web/submissions/{submission_id}")
async def submission(request: Request, submission_id: int = SubmissionId) -> Response:
    who = _who(request, "participant", "admin", "auditor")
    data = await run_in_threadpool(views.submission_page, _rt(request), who, submission_id)
    notice = None
    if request.query_params.get("received"):
        notice = "Your file was accepted and recorded in the ledger."
    elif request.query_params.get("again"):
        notice = "This form was sent before: here is the submission it made."
    return _page(request, "submission.html.j2", data, notice=notice)


@router.get("/web/submissions/{submission_id}/status")
def submission_status(request: Request, submission_id: int = SubmissionId) -> Response:
    who = _who(request, "participant", "admin", "auditor")
    data = views.submission_status(_rt(request), who, submission_id)
    response = JSONResponse(data)
    response.headers.update(SECURITY_HEADERS)
    return response


@router.get("/web/submissions/{submission_id}/report.pdf")
def report_pdf(request: Request, submission_id: int = SubmissionId) -> Response:
    who = _who(request, "participant", "admin", "auditor")
    return api.download_report(request, submission_id, who)


@router.post("/web/submissions/{submission_id}/adjudication")
async def adjudication(request: Request, submission_id: int = SubmissionId) -> Response:
    who = _who(request, "participant", "admin")
    form = await _form(request)
    await run_in_threadpool(api.request_adjudication, request, submission_id, who)
    return _back(form, f"/web/submissions/{submission_id}")


@router.post("/web/submissions/{submission_id}/report")
async def issue_report(request: Request, submission_id: int = SubmissionId) -> Response:
    who = _who(request, "admin")
    form = await _form(request)
    await run_in_threadpool(api.issue_report, request, submission_id, who)
    return _back(form, f"/web/submissions/{submission_id}")


# -- the committee and the ledger -----------------------------------------------------------


@router.get("/web/committee")
async def committee(request: Request) -> Response:
    _who(request, "admin", "auditor")
    data = await run_in_threadpool(views.committee_page, _rt(request))
    return _page(request, "committee.html.j2", data)


def _checks(request: Request) -> LedgerChecks:
    checks = getattr(request.app.state, "web_ledger_checks", None)
    if checks is None:
        checks = request.app.state.web_ledger_checks = LedgerChecks(_rt(request))
    return checks


@router.get("/web/ledger")
async def ledger(request: Request,
                 start: int | None = Query(default=None, ge=0, le=2**40)) -> Response:
    who = _who(request)
    rt = _rt(request)
    data = await run_in_threadpool(_ledger_data, rt, who, start)
    data["verification"] = _checks(request).view()
    return _page(request, "ledger.html.j2", data)


def _ledger_data(rt: Runtime, who: Principal, start: int | None) -> dict[str, Any]:
    import json

    with rt.store.db.read() as session:
        size = rt.store.ledger.size(session)
        checkpoint = rt.store.ledger.latest_checkpoint(session)
        entries = None
        if who.role in ("admin", "auditor"):
            first = max(size - _LEDGER_PAGE, 0) if start is None else min(start, size)
            entries = [{"seq": r.seq, "event": json.loads(bytes(r.entry)),
                        "leaf_hash": bytes(r.leaf_hash).hex(), "created_at": r.created_at}
                       for r in rt.store.ledger.entries(session, first, _LEDGER_PAGE)]
        else:
            first = 0
    return {"title": "Ledger", "size": size, "checkpoint": checkpoint,
            "vkey": rt.store.ledger.signer.vkey, "entries": entries, "start": first,
            "page_size": _LEDGER_PAGE}


@router.post("/web/ledger/verification")
async def verify_ledger(request: Request) -> Response:
    _who(request, "admin", "auditor")
    form = await _form(request)
    _checks(request).start()
    return _back(form, "/web/ledger")


@router.get("/web/ledger/verification")
def ledger_verification(request: Request) -> Response:
    _who(request, "admin", "auditor")
    response = JSONResponse(_checks(request).view())
    response.headers.update(SECURITY_HEADERS)
    return response
