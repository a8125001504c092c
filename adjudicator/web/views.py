"""What each page shows: one plain, JSON-serialisable dict per page, built from the store.

Where a page shows a report, its dict *is* the report's context
(:func:`~adjudicator.report.certification_context`, :func:`~adjudicator.report.audit_context`,
:func:`~adjudicator.report.progress_context`), so the PDF, the page and the page's JSON
(``?format=json``) are three renderings of one structure (STYLE 12). Who may see what is
decided by the service's own rules (:func:`adjudicator.service.submissions.visible`, the
leaderboard mechanisms of :mod:`adjudicator.service.boards`): a page never shows more than
the JSON API would give the same person.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from sqlalchemy import select

from ..describe import describe_criteria, describe_protocol
from ..report import audit_context, certification_context, progress_context
from ..report import figures as fig
from ..service import boards
from ..service import challenges as ops
from ..service.disclosure import WITHHELD, mask_submission, withheld_for
from ..service.runtime import Runtime
from ..service.submissions import get_submission, submission_view, visible
from ..service.users import Principal
from ..store.errors import ConflictError, NotFoundError
from ..store.models import Challenge, Job, ProtocolRecord, Report, Submission, Team

__all__ = [
    "challenge_list", "challenge_page", "board_page", "rankings_page", "window_page",
    "team_page", "submission_page", "submission_status", "committee_page", "progress_page",
    "ACTIVE",
]

#: job and submission states that are still moving (the page polls them)
ACTIVE = ("queued", "running", "received")


class _Memo:
    """A small LRU of values derived from content-addressed inputs (they cannot go stale)."""

    def __init__(self, size: int) -> None:
        self._items: OrderedDict[Any, Any] = OrderedDict()
        self._size = size
        self._lock = threading.Lock()

    def get(self, key: Any, make: Callable[[], Any]) -> Any:
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
        value = make()
        with self._lock:
            self._items[key] = value
            while len(self._items) > self._size:
                self._items.popitem(last=False)
        return value


_RESULTS = _Memo(512)  # result sha256 -> parsed result.json
_FIGURES = _Memo(256)  # (kind, input digests) -> {name: data URI or None}


def _result(rt: Runtime, sha: str) -> dict[str, Any]:
    return _RESULTS.get(sha, lambda: json.loads(rt.store.artifacts.read(sha)))  # type: ignore[no-any-return]


def _protocol(rt: Runtime, session: Any, c: Challenge) -> Any:
    rec = session.get(ProtocolRecord, c.protocol_digest)
    if rec is None:
        raise NotFoundError(f"no registered protocol {c.protocol_digest!r}")
    return rt.protocol(rec)


# -- public pages -------------------------------------------------------------------------


def challenge_list(rt: Runtime) -> dict[str, Any]:
    with rt.store.db.read() as session:
        rows = [ops.challenge_view(session, c) for c in
                session.scalars(select(Challenge).order_by(Challenge.created_at))]
    return {"title": "Challenges", "challenges": rows}


def _plain_words(protocol: Any) -> list[dict[str, Any]]:
    """The protocol in plain words (:func:`describe_protocol`) from its task on, as
    sentences, each with the indented lines below it as a list."""
    lines = describe_protocol(protocol).splitlines()
    start = next((i for i, line in enumerate(lines) if line.startswith("Task:")), len(lines))
    blocks: list[dict[str, Any]] = []
    for line in lines[start:]:
        if not line.strip():
            continue
        if line.startswith(" ") and blocks:
            blocks[-1]["items"].append(line.strip().removeprefix("- "))
        else:
            blocks.append({"text": line.strip(), "items": []})
    return blocks


def challenge_page(rt: Runtime, challenge_id: str) -> dict[str, Any]:
    with rt.store.db.read() as session:
        c = ops.get_challenge(session, challenge_id)
        view = ops.challenge_view(session, c)
        p = _protocol(rt, session, c)
    view.update(
        title=c.title,
        protocol_title=p.title, summary=" ".join((p.summary or "").split()) or None,
        plain=_plain_words(p), criteria=describe_criteria(p),
        metric=p.metric.name, higher_is_better=p.higher_is_better,
        threshold={"absolute": p.threshold.absolute,
                   "baselines": [{"name": b.name, "margin": b.margin}
                                 for b in p.threshold.baselines]},
        multiplicity={"alpha": p.multiplicity.alpha, "family": p.multiplicity.family,
                      "rule": p.multiplicity.rule,
                      "max_submissions": p.multiplicity.max_submissions},
        has_public_board=p.leaderboard is not None,
    )
    return view


def board_page(rt: Runtime, challenge_id: str, counts: dict[str, Any]) -> dict[str, Any]:
    """The board: per team counts and certification (``counts``, the JSON route's answer),
    and the preregistered feedback mechanism's public board when the protocol has one."""
    with rt.store.db.read() as session:
        c = ops.get_challenge(session, challenge_id)
        title, has_board = c.title, _protocol(rt, session, c).leaderboard is not None
    public = boards.public_board(rt, challenge_id) if has_board else None
    return {"title": title, "challenge": challenge_id, "counts": counts["teams"],
            "public": public}


def rankings_page(rt: Runtime, challenge_id: str) -> dict[str, Any]:
    """The final rankings (:func:`boards.final_ranking`, the JSON route's answer) with, per
    team, the interval its last submission's adjudication computed (published at close).

    Whether the rankings may be shown is :func:`boards.final_ranking`'s decision alone:
    while it refuses (before close, before the truth), the page shows its reason and
    nothing computed, to everybody, the committee included, as the JSON route does.
    """
    from ..service.open_results import results_rows

    with rt.store.db.read() as session:
        c = ops.get_challenge(session, challenge_id)
        title, phase = c.title, c.phase
    base: dict[str, Any] = {
        "title": f"Final rankings: {title}",
        "challenge": {"id": challenge_id, "title": title, "phase": phase},
        "final": None, "entries": [], "reason": None}
    try:
        final = boards.final_ranking(rt, challenge_id)
    except ConflictError as exc:
        return {**base, "reason": str(exc)}
    rows = {r["submission"]: r for r in results_rows(rt, challenge_id)}
    entries = []
    for e in final["ranking"]["entries"]:
        sub = final["submissions"].get(e["name"])
        row = rows.get(sub["submission"]) if sub else None
        entries.append({**e, "baseline": sub is None,
                        "interval": None if row is None or row["interval_low"] is None
                        or row["interval_high"] is None else
                        {"low": row["interval_low"], "high": row["interval_high"],
                         "confidence": row["confidence"], "method": row["interval_method"]}})
    return {**base, "final": final, "entries": entries}


def window_page(rt: Runtime, challenge_id: str, action: str) -> dict[str, Any]:
    """What the committee confirms before it opens (``action="open"``) or closes a window."""
    with rt.store.db.read() as session:
        c = ops.get_challenge(session, challenge_id)
        view = ops.challenge_view(session, c)
        board = _protocol(rt, session, c).leaderboard is not None
    verb = "Open" if action == "open" else "Close"
    return {"title": f"{verb} the submission window of {view['title']}?", "action": action,
            "challenge": view, "has_public_board": board}


# -- a team's page ------------------------------------------------------------------------


def _team(session: Any, who: Principal, name: str) -> Team:
    team = session.scalars(select(Team).where(Team.name == name)).first()
    # another team's page answers as if it did not exist
    if team is None or (who.role == "participant" and who.team_id != team.id) or \
            who.role not in ("participant", "admin", "auditor"):
        raise NotFoundError(f"no team {name!r}")
    return team  # type: ignore[no-any-return]


def _reports(session: Any, ids: list[int]) -> dict[int, dict[str, Any]]:
    if not ids:
        return {}
    return {r.submission_id: {"issued_at": r.issued_at, "sha256": r.sha256}
            for r in session.scalars(select(Report).where(Report.submission_id.in_(ids)))}


def team_page(rt: Runtime, who: Principal, name: str) -> dict[str, Any]:
    """Per challenge (open ones, and those the team sent to): the team's submissions, the
    alpha they spent, the participant audit of the adjudicated ones, an upload form."""
    with rt.store.db.read() as session:
        team = _team(session, who, name)
        subs = list(session.scalars(select(Submission).where(Submission.team_id == team.id)
                                    .order_by(Submission.id)))
        views = {s.id: submission_view(session, s) for s in subs}
        reports = _reports(session, [s.id for s in subs])
        wanted = {s.challenge_id for s in subs}
        challenges = [c for c in session.scalars(select(Challenge)
                                                 .order_by(Challenge.created_at))
                      if c.id in wanted or c.phase == "open"]
        protocols = {c.id: _protocol(rt, session, c) for c in challenges}
        hidden = {c.id: withheld_for(rt, session, who, c.id) for c in challenges}
        team_name = team.name
    sections = []
    for c in challenges:
        p = protocols[c.id]
        mine = [s for s in subs if s.challenge_id == c.id]
        # a leaderboard challenge withholds what adjudications computed until it closes
        if hidden[c.id]:
            rows = [{**mask_submission(views[s.id]), "alpha_spent": None, "report": None,
                     "active": False} for s in mine]
            audit, figures, spent = None, {}, None
        else:
            results = [_result(rt, s.result_sha256) for s in mine
                       if s.status == "adjudicated" and s.result_sha256]
            audit = audit_context(results) if results else None
            rows, spent = [], 0.0
            for s in mine:
                spent += s.alpha_k or 0.0
                rows.append({**views[s.id], "alpha_spent": spent if s.alpha_k is not None
                             else None, "report": reports.get(s.id),
                             "active": s.status in ACTIVE})
            figures = (_audit_figures(audit, [s.result_sha256 for s in mine]) if audit
                       else {})
        sections.append({
            "id": c.id, "title": c.title, "phase": c.phase,
            "can_upload": c.phase == "open" and who.role == "participant",
            "metric": p.metric.name,
            "family": {"alpha": p.multiplicity.alpha, "rule": p.multiplicity.rule,
                       "family": p.multiplicity.family,
                       "max_submissions": p.multiplicity.max_submissions},
            "used": len(mine), "alpha_spent": spent, "rows": rows, "audit": audit,
            "figures": figures, "withheld": WITHHELD if hidden[c.id] else None,
        })
    return {"title": f"Team {team_name}", "team": team_name, "challenges": sections}


def _audit_figures(audit: dict[str, Any], shas: list[str | None]) -> dict[str, str | None]:
    def make() -> dict[str, str | None]:
        rows = audit["rows"]
        alphas = [r for r in rows if r["alpha_k"] is not None]
        return {
            "estimates": fig.audit_estimates_figure(
                rows, threshold=audit["threshold"], metric_label=audit["metric"]["label"]),
            "alpha": fig.alpha_bars_figure(
                [str(r["submission"]["sequence"]) for r in alphas],
                [r["alpha_k"] for r in alphas], [r["verdict"]["code"] for r in alphas],
                audit["family"]["alpha"]) if alphas else None,
        }
    return _FIGURES.get(("audit", tuple(shas)), make)  # type: ignore[no-any-return]


# -- one submission -----------------------------------------------------------------------


def _job(session: Any, submission_id: int) -> dict[str, Any] | None:
    job = session.scalars(select(Job).where(Job.submission_id == submission_id)
                          .order_by(Job.id.desc()).limit(1)).first()
    if job is None:
        return None
    return {"id": job.id, "kind": job.kind, "status": job.status, "error": job.error,
            "attempts": job.attempts}


def submission_status(rt: Runtime, who: Principal, submission_id: int) -> dict[str, Any]:
    """What the page polls while work is under way: the submission's and its last job's state."""
    with rt.store.db.read() as session:
        s = get_submission(session, submission_id)
        if not visible(who, s):
            raise NotFoundError(f"no submission {submission_id}")
        job = _job(session, s.id)
        report = _reports(session, [s.id]).get(s.id)
        status, verdict, error = s.status, s.verdict, s.error
        truth = session.scalar(select(Challenge.truth_digest)
                               .where(Challenge.id == s.challenge_id))
        if withheld_for(rt, session, who, s.challenge_id):
            # not even whether the work is still running: it would tell a failure apart
            return {"submission": submission_id, "status": "withheld", "verdict": None,
                    "error": None, "job": None, "report": False, "done": True,
                    "withheld": WITHHELD}
    # a prospective submission waits, locked, for the truth: nothing moves until then
    moving = (status == "received" and truth is not None) or (
        job is not None and job["status"] in ACTIVE)
    return {"submission": submission_id, "status": status, "verdict": verdict,
            "error": error, "job": job, "report": report is not None, "done": not moving}


def submission_page(rt: Runtime, who: Principal, submission_id: int) -> dict[str, Any]:
    """The submission, and once adjudicated its certification context and figures."""
    with rt.store.db.read() as session:
        s = get_submission(session, submission_id)
        if not visible(who, s):
            raise NotFoundError(f"no submission {submission_id}")
        view = submission_view(session, s)
        report = _reports(session, [s.id]).get(s.id)
        c = ops.get_challenge(session, s.challenge_id)
        truth_ready = c.truth_digest is not None
        challenge_title = c.title
        hidden = withheld_for(rt, session, who, s.challenge_id)
    status = submission_status(rt, who, submission_id)
    context = figures = None
    if hidden:
        return {"title": f"Submission {submission_id}", "submission": mask_submission(view),
                "challenge_title": challenge_title, "status": status, "report": None,
                "truth_ready": truth_ready, "result": None, "figures": {},
                "withheld": WITHHELD}
    if s.status == "adjudicated" and s.result_sha256:
        data = rt.store.artifacts.read(s.result_sha256)  # the exact bytes: their digest shows
        result = json.loads(data)
        context = certification_context(result, evidence=data)
        figures = _certification_figures(s.result_sha256, result, context)
    return {"title": f"Submission {submission_id}", "submission": view,
            "challenge_title": challenge_title, "status": status, "report": report,
            "truth_ready": truth_ready, "result": context, "figures": figures or {},
            "withheld": None}


def _certification_figures(sha: str, result: dict[str, Any], context: dict[str, Any]
                           ) -> dict[str, str | None]:
    # the figures render_certification_report draws, from the same result and context
    def make() -> dict[str, str | None]:
        absolute = next((c for c in context["criteria"] if c["kind"] == "absolute"), None)
        replicates = result.get("replicates")
        return {
            "bootstrap": fig.bootstrap_figure(
                replicates.get("estimate") if isinstance(replicates, dict) else None,
                estimate=context["estimate"], interval=context["interval"],
                threshold=absolute["bound"] if absolute else None,
                metric_label=context["metric"]["label"]),
            "alpha": fig.alpha_spending_figure(context["multiplicity"]),
            "posterior": fig.posterior_figure(_with_draws(context["bayes"], result)),
        }
    return _FIGURES.get(("certification", sha), make)  # type: ignore[no-any-return]


def _with_draws(bayes: list[dict[str, Any]], result: dict[str, Any]) -> list[dict[str, Any]]:
    # the context keeps no posterior draws; the figure uses them when the result has them
    raw = [c for c in result.get("criteria") or []
           if isinstance(c, dict) and c.get("kind") == "bayes"]
    return [{**c, "posterior": r.get("posterior")} for c, r in zip(bayes, raw, strict=False)]


# -- the committee ------------------------------------------------------------------------


def committee_page(rt: Runtime) -> dict[str, Any]:
    """Every submission of every challenge, newest first, with its job and report."""
    with rt.store.db.read() as session:
        subs = list(session.scalars(select(Submission).order_by(Submission.id.desc())
                                    .limit(500)))
        reports = _reports(session, [s.id for s in subs])
        truths = {c.id: c.truth_digest is not None for c in session.scalars(select(Challenge))}
        rows = []
        for s in subs:
            job = _job(session, s.id)
            rows.append({**submission_view(session, s), "report": reports.get(s.id),
                         "last_job": job, "truth_ready": truths.get(s.challenge_id, False),
                         "active": s.status == "received" and truths.get(s.challenge_id, False)
                         or (job is not None and job["status"] in ACTIVE)})
        challenges = [{"id": c.id, "title": c.title, "phase": c.phase} for c in
                      session.scalars(select(Challenge).order_by(Challenge.created_at))]
    return {"title": "Committee", "submissions": rows, "challenges": challenges}


# -- funders' progress --------------------------------------------------------------------


def progress_page(rt: Runtime, challenge_id: str, as_of: str) -> dict[str, Any]:
    """The progress report's context for a challenge, from its adjudicated submissions.

    The baseline is the protocol's first baseline (its value on the whole test set, as the
    results record it); the prize threshold is the value an entry must reach to certify:
    the stricter of the absolute threshold and the baseline plus its margin.
    """
    with rt.store.db.read() as session:
        c = ops.get_challenge(session, challenge_id)
        p = _protocol(rt, session, c)
        rows = session.execute(
            select(Submission.id, Submission.sequence, Submission.name,
                   Submission.result_sha256, Submission.adjudicated_at, Team.name)
            .join(Team, Team.id == Submission.team_id)
            .where(Submission.challenge_id == challenge_id,
                   Submission.status == "adjudicated")
            .order_by(Submission.id)).all()
        title = c.title
    base = {"title": title, "challenge": challenge_id, "progress": None, "figure": None,
            "reason": None}
    if not p.threshold.baselines:
        return {**base, "reason": "the protocol names no baseline, so there is no gap to "
                "measure progress on"}
    baseline = p.threshold.baselines[0]
    points, value = [], None
    for _sid, seq, name, sha, at, team in rows:
        if not sha:
            continue
        r = _result(rt, sha)
        b = next((x for x in r.get("baselines") or [] if x.get("name") == baseline.name), None)
        if b is not None and value is None:
            value = b.get("estimate")
        interval = r.get("interval") or {}
        points.append({"date": str(at)[:10], "estimate": r.get("estimate"),
                       "low": interval.get("low"), "high": interval.get("high"),
                       "team": team, "submission": f"#{seq} {name or ''}".strip(),
                       "verdict": r.get("verdict")})
    if value is None:
        return {**base, "reason": "no submission has been adjudicated yet"}
    # the value an entry must reach to certify: past the absolute threshold *and* past
    # the baseline by its margin (both criteria must hold)
    sign = 1 if p.higher_is_better else -1
    candidates = [value + sign * baseline.margin]
    if p.threshold.absolute is not None:
        candidates.append(p.threshold.absolute)
    threshold = max(candidates) if p.higher_is_better else min(candidates)
    if threshold == value:
        raise ConflictError("the baseline already sits at the threshold: no gap to close")
    context = progress_context(points, challenge={
        "title": title, "metric": {"name": p.metric.name,
                                   "higher_is_better": p.higher_is_better},
        "baseline": {"name": baseline.name, "value": value}, "threshold": threshold,
        "protocol": {"id": p.id, "digest": p.digest},
        "confidence": p.resampling.confidence}, as_of=as_of)
    figure = _FIGURES.get(("progress", tuple(r[3] for r in rows), as_of),
                          lambda: fig.progress_figure(context))
    return {**base, "progress": context, "figure": figure}
