"""The committee opens and closes a window from the challenge page (after a confirmation
step, through the API's own handlers), and the final rankings of a leaderboard challenge
have a page once it closes: nothing of them before, for anybody."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from tests.service.conftest import ASSETS, PROTOCOL

from .conftest import HOSTILE, board_protocol, csrf_of

OPEN_BUTTON = "Open the submission window…"
CLOSE_BUTTON = "Close the submission window…"


def _ledger(site):
    """The ledger's events, oldest first."""
    r = site.api.client.get("/ledger/entries?start=0&limit=1000",
                            headers=site.api.auth("auditor"))
    assert r.status_code == 200, r.text
    return [e["event"] for e in r.json()["entries"]]


def _phase(site, cid="c1"):
    return site.api.client.get(f"/challenges/{cid}").json()["phase"]


def _post(site, who, path, *, confirm=True, csrf=None):
    c = site.client(who)
    token = csrf if csrf is not None else csrf_of(c.get("/web/sign-in").text)
    data = {"csrf": token, **({"confirm": "yes"} if confirm else {})}
    return c.post(path, data=data)


def _strip(event):
    # what differs between two challenges: the time, the id, the link to its previous entry
    return {k: v for k, v in event.items() if k not in ("at", "challenge", "challenge_prev")}


def test_the_committee_opens_and_closes_the_window_after_confirming(site, tmp_path):
    site.api.challenge("c1", open=False)
    site.api.challenge("c2", open=False)  # opened and closed through the API, to compare
    admin = site.client("admin")
    page = admin.get("/web/challenges/c1").text
    assert OPEN_BUTTON in page and CLOSE_BUTTON not in page
    for who in (None, "alice", "auditor"):
        text = site.client(who).get("/web/challenges/c1").text
        assert OPEN_BUTTON not in text and 'action="/web/challenges/c1/open"' not in text

    # the first POST only says what will happen
    before = len(_ledger(site))
    confirm = _post(site, "admin", "/web/challenges/c1/open", confirm=False)
    assert confirm.status_code == 200
    assert "Teams can submit from now" in confirm.text and "window_opened" in confirm.text
    assert 'name="confirm" value="yes"' in confirm.text
    assert len(_ledger(site)) == before and _phase(site) == "draft"

    r = _post(site, "admin", "/web/challenges/c1/open")
    assert r.status_code == 303 and r.headers["location"] == "/web/challenges/c1?opened=1"
    assert _phase(site) == "open"
    shown = admin.get(r.headers["location"]).text
    assert "The submission window is open" in shown and CLOSE_BUTTON in shown
    assert site.api.client.post("/challenges/c2/open",
                                headers=site.api.auth("admin")).status_code == 200
    events = _ledger(site)
    web, api = (next(e for e in events if e["type"] == "window_opened" and
                     e["challenge"] == cid) for cid in ("c1", "c2"))
    assert _strip(web) == _strip(api)  # the same event as the API's

    assert site.api.submit("alice").status_code == 201
    confirm = _post(site, "admin", "/web/challenges/c1/close", confirm=False)
    assert confirm.status_code == 200
    assert "Closing is final" in confirm.text and "1 submission" in confirm.text
    assert "published at close" in confirm.text
    assert _phase(site) == "open"
    r = _post(site, "admin", "/web/challenges/c1/close")
    assert r.status_code == 303 and r.headers["location"] == "/web/challenges/c1?closed=1"
    assert _phase(site) == "closed"
    shown = admin.get(r.headers["location"]).text
    assert "The submission window is closed" in shown
    assert OPEN_BUTTON not in shown and CLOSE_BUTTON not in shown
    assert site.api.client.post("/challenges/c2/close",
                                headers=site.api.auth("admin")).status_code == 200
    events = _ledger(site)
    web, api = (next(e for e in events if e["type"] == "window_closed" and
                     e["challenge"] == cid) for cid in ("c1", "c2"))
    assert web["submissions"] == 1 and api["submissions"] == 0
    assert web.keys() == api.keys()
    # closing is final: a second close is refused and shown, not recorded
    again = _post(site, "admin", "/web/challenges/c1/close")
    assert again.status_code == 409 and 'id="window-error"' in again.text
    assert "is closed, not open" in again.text


@pytest.mark.parametrize("action", ["open", "close"])
def test_only_the_committee_may_and_only_with_the_form(site, action):
    site.api.challenge("c1", open=action == "close")
    phase, before = _phase(site), len(_ledger(site))
    path = f"/web/challenges/c1/{action}"
    for who, status in (("alice", 403), ("bob", 403), ("auditor", 403), (None, 401)):
        for confirm in (False, True):  # neither the confirmation nor the change
            r = _post(site, who, path, confirm=confirm)
            assert r.status_code == status, (who, confirm, r.status_code)
    admin = site.client("admin")
    assert admin.post(path, data={"confirm": "yes"}).status_code == 403  # no CSRF token
    assert _post(site, "admin", path, csrf="x" * 43).status_code == 403  # a forged one
    # another person's token does not fit the admin's session
    assert _post(site, "admin", path, csrf=csrf_of(site.client("alice").get("/web/").text)
                 ).status_code == 403
    assert _phase(site) == phase and len(_ledger(site)) == before


def test_opening_without_the_truth_says_why(site):
    digest = site.api.register(PROTOCOL)
    r = site.api.client.post("/challenges", json={"id": "c1", "protocol": digest,
                                                  "order": "retrospective"},
                             headers=site.api.auth("admin"))
    assert r.status_code == 201, r.text
    before = len(_ledger(site))
    r = _post(site, "admin", "/web/challenges/c1/open")
    assert r.status_code == 409
    alert = r.text[r.text.index('id="window-error"'):]
    alert = alert[:alert.index("</div>")]
    assert "The window was not opened" in alert
    assert "commit the truth before opening a retrospective challenge" in alert
    assert "Nothing was recorded" in alert
    assert 'role="alert"' in r.text and OPEN_BUTTON in r.text  # the page, to try again
    assert _phase(site) == "draft" and len(_ledger(site)) == before


def _board_challenge(site, tmp_path):
    # entries that never reach AUROC 1 on half the units: the strong test entry separates
    # the classes perfectly on some private halves (the split changes with each test's
    # key), and its adjudication then fails for want of bootstrap variation
    site.api.challenge("c1", protocol=board_protocol(tmp_path))
    assert site.api.submit("alice", body=ASSETS / "service_entry_middle.csv").status_code \
        == 201
    assert site.api.submit("bob", body=ASSETS / "service_entry_weak.csv").status_code == 201
    site.api.drain()
    subs = site.api.client.get("/challenges/c1/submissions",
                               headers=site.api.auth("admin")).json()
    assert [s["status"] for s in subs] == ["adjudicated", "adjudicated"], subs
    return [s["estimate"] for s in subs]


def test_final_rankings_appear_at_close_and_not_before(site, tmp_path):
    estimates = _board_challenge(site, tmp_path)
    assert site.api.client.get("/challenges/c1/leaderboard/final").status_code == 409
    for who in (None, "alice", "bob", "auditor", "admin"):  # the committee too: as the API
        c = site.client(who)
        page = c.get("/web/challenges/c1/rankings")
        assert page.status_code == 200
        assert "The final rankings appear here when the submission window closes" in page.text
        assert "<table" not in page.text
        for value in estimates:
            for digits in (2, 3, 4):
                assert f"{value:.{digits}f}" not in page.text, (who, value)
        data = c.get("/web/challenges/c1/rankings?format=json").json()
        assert data["final"] is None and data["entries"] == []
        assert "/rankings" not in c.get("/web/challenges/c1").text

    assert site.api.client.post("/challenges/c1/close",
                                headers=site.api.auth("admin")).status_code == 200
    doc = site.api.client.get("/challenges/c1/leaderboard/final").json()
    public = site.client(None)
    assert '/web/challenges/c1/rankings"' in public.get("/web/challenges/c1").text
    assert '/web/challenges/c1/rankings"' in public.get("/web/challenges/c1/board").text
    data = public.get("/web/challenges/c1/rankings?format=json").json()
    assert data["final"] == doc  # one context: the JSON route's answer
    page = public.get("/web/challenges/c1/rankings").text
    assert "A <strong>tie group</strong> holds entries that cannot be told apart" in page
    assert "<strong>rank interval</strong> is where its rank falls in 95%" in page
    assert "at most 3, the convention of the DREAM challenges" in page
    results = {r["team"]: r for r in public.get("/challenges/c1/results").json()["results"]}
    body = page[page.index("<tbody>"):page.index("</tbody>")]
    rows = body.split("<tr>")[1:]
    assert len(rows) == len(doc["ranking"]["entries"]) == 3
    for row, entry in zip(rows, doc["ranking"]["entries"], strict=True):
        low, high = entry["rank_interval"]
        assert f">{entry['rank']}<" in row and entry["name"] in row
        assert f"{entry['estimate']:.4f}" in row and f"{low}–{high}" in row
        assert f">{entry['group']}<" in row
        team = results.get(entry["name"])
        if team is None:  # a baseline: no adjudication, no interval
            assert "(baseline)" in row
        else:
            assert f"[{team['interval_low']:.4f}, {team['interval_high']:.4f}]" in row
    assert doc["secret"] in page


def test_rankings_of_a_challenge_without_a_board_do_not_exist(site):
    site.api.challenge("c1")
    assert site.client(None).get("/web/challenges/c1/rankings").status_code == 404
    assert site.client("admin").get("/web/challenges/nope/rankings").status_code == 404


def test_team_names_in_the_rankings_are_escaped(site, tmp_path):
    from adjudicator.store.models import Team

    _board_challenge(site, tmp_path)
    with site.api.rt.store.db.write() as session:
        session.scalars(select(Team).where(Team.name == "team-b")).one().name = HOSTILE
    assert site.api.client.post("/challenges/c1/close",
                                headers=site.api.auth("admin")).status_code == 200
    page = site.client(None).get("/web/challenges/c1/rankings")
    assert page.status_code == 200
    assert "<script>window" not in page.text
    assert "&lt;script&gt;window.__pwned = 1&lt;/script&gt;" in page.text
    data = site.client(None).get("/web/challenges/c1/rankings?format=json").json()
    assert HOSTILE in [e["name"] for e in data["entries"]]
