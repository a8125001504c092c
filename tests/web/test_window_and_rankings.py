"""The committee opens and closes a window from the challenge page (after a confirmation
step, through the API's own handlers)."""

from __future__ import annotations

import pytest

from tests.service.conftest import PROTOCOL

from .conftest import csrf_of

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
