"""The web pages in process: who may open what, sessions and CSRF, uploads through the form,
escaping, and that a page shows the same context the reports use."""

from __future__ import annotations

import json
import re
from urllib.parse import quote

from sqlalchemy import select

from adjudicator.report import certification_context
from adjudicator.web.routes import router
from tests.service.conftest import ASSETS

from .conftest import HOSTILE, board_protocol, csrf_of

ROLES = ("public", "admin", "alice", "bob", "auditor")
ENTRY = (ASSETS / "service_entry.csv").read_bytes()


def _upload(site, who, body=ENTRY, *, team="team-a", cid="c1", name="entry", csrf=None,
            key=None):
    c = site.client(who)
    page = c.get(f"/web/teams/{team}")
    token = csrf if csrf is not None else csrf_of(page.text)
    key = key or re.search(r'name="idempotency" value="([^"]+)"', page.text).group(1)
    files = [("csrf", (None, token)), ("idempotency", (None, key)), ("name", (None, name)),
             ("file", ("entry.csv", body, "text/csv"))]
    return c.post(f"/web/teams/{team}/challenges/{cid}/upload", files=files)


def _setup(site):
    site.api.challenge()
    r = _upload(site, "alice")
    assert r.status_code == 303, r.text
    sid = int(r.headers["location"].split("/")[3].split("?")[0])
    site.api.drain()
    admin = site.api.auth("admin")
    assert site.api.client.post(f"/submissions/{sid}/report", headers=admin).status_code == 202
    site.api.drain()
    return sid


def test_every_page_for_every_role(site):
    """Each route of the web router, each role: the page, a sign-in redirect, 403 or 404.

    The table must name every route the router serves, so a new page cannot escape it."""
    sid = _setup(site)
    ok, signin = 200, 303
    own = {"public": signin, "admin": ok, "alice": ok, "bob": 404, "auditor": ok}
    committee = {"public": signin, "admin": ok, "alice": 403, "bob": 403, "auditor": ok}
    gets = [
        ("/", dict.fromkeys(ROLES, 303)),
        ("/web/static/web.css", dict.fromkeys(ROLES, ok)),
        ("/web/", dict.fromkeys(ROLES, ok)),
        ("/web/challenges/c1", dict.fromkeys(ROLES, ok)),
        ("/web/challenges/c1/board", dict.fromkeys(ROLES, ok)),
        # c1 has no public board, so no final rankings: a board challenge's page is
        # tested in test_window_and_rankings
        ("/web/challenges/c1/rankings", dict.fromkeys(ROLES, 404)),
        ("/web/challenges/c1/progress", committee),
        # the open results are published at close; the committee and auditors read them before
        ("/web/challenges/c1/results", {"public": 409, "admin": ok, "alice": 409, "bob": 409,
                                        "auditor": ok}),
        ("/web/sign-in", dict.fromkeys(ROLES, ok)),
        ("/web/home", dict.fromkeys(ROLES, 303)),
        ("/web/teams/team-a", own),
        (f"/web/submissions/{sid}", own),
        (f"/web/submissions/{sid}/status", own),
        (f"/web/submissions/{sid}/report.pdf", own),
        ("/web/committee", committee),
        ("/web/ledger", dict.fromkeys(ROLES, ok)),
        ("/web/ledger/verification", committee),
    ]
    posts = [  # without a valid CSRF token first: every one is refused
        ("/web/sign-in", {}),
        ("/web/sign-out", {}),
        ("/web/challenges/c1/open", {}),
        ("/web/challenges/c1/close", {}),
        ("/web/teams/team-a/challenges/c1/upload", {}),
        (f"/web/submissions/{sid}/adjudication", {}),
        (f"/web/submissions/{sid}/report", {}),
        (f"/web/submissions/{sid}/note", {}),
        ("/web/ledger/verification", {}),
    ]
    served = {(m, r.path) for r in router.routes for m in r.methods if m != "HEAD"}
    named = {("GET", p) for p, _ in gets} | {("POST", p) for p, _ in posts}

    def template(method, path):
        hits = [t for m, t in served if m == method and re.fullmatch(
            re.sub(r"\\{[^}]+\\}", "[^/]+", re.escape(t)), path)]
        assert len(hits) == 1, (method, path, hits)
        return (method, hits[0])

    assert {template(m, p) for m, p in named} == served
    failures = []
    for path, expected in gets:
        for role in ROLES:
            r = site.client(None if role == "public" else role).get(path)
            if r.status_code != expected[role]:
                failures.append(f"GET {path} as {role}: {r.status_code}, not {expected[role]}")
            if r.status_code == 303 and expected[role] == 303 and path not in ("/", "/web/home"):
                assert r.headers["location"].startswith("/web/sign-in?next=")
    for path, _ in posts:
        for role in ROLES:
            c = site.client(None if role == "public" else role)
            r = c.post(path, data={"csrf": "forged"})
            if r.status_code not in (401, 403, 404, 422):
                failures.append(f"POST {path} as {role} with a forged token: {r.status_code}")
    assert not failures, "\n".join(failures)


def test_buttons_do_what_the_api_allows(site):
    sid = _setup(site)
    admin, alice, auditor = site.client("admin"), site.client("alice"), site.client("auditor")
    page = admin.get(f"/web/submissions/{sid}")
    r = admin.post(f"/web/submissions/{sid}/report", data={"csrf": csrf_of(page.text)})
    assert r.status_code == 303 and r.headers["location"] == f"/web/submissions/{sid}"
    assert site.api.drain() == 1
    # a participant may not issue reports, an auditor may not adjudicate (the API's rules)
    r = alice.post(f"/web/submissions/{sid}/report",
                   data={"csrf": csrf_of(alice.get("/web/").text)})
    assert r.status_code == 403
    r = auditor.post(f"/web/submissions/{sid}/adjudication",
                     data={"csrf": csrf_of(auditor.get("/web/").text)})
    assert r.status_code == 403
    # a redirect target must be one of our pages
    r = admin.post(f"/web/submissions/{sid}/report",
                   data={"csrf": csrf_of(page.text), "next": "https://evil.example/"})
    assert r.headers["location"] == f"/web/submissions/{sid}"


def test_sessions_and_cookies(site):
    c = site.client(None)
    form = c.get("/web/sign-in")
    cookie = form.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Secure" not in cookie
    assert cookie.startswith("adj_session=")
    # the token never goes into the cookie
    r = c.post("/web/sign-in", data={"csrf": csrf_of(form.text), "token": "adj_nope"})
    assert r.status_code == 401 and "unknown or has been revoked" in r.text
    r = c.post("/web/sign-in", data={"csrf": "x" * 43, "token": site.api.tokens["alice"]})
    assert r.status_code == 403  # a forged form does not sign anybody in (login CSRF)
    r = c.post("/web/sign-in", data={"csrf": csrf_of(form.text),
                                     "token": site.api.tokens["alice"]})
    assert r.status_code == 303 and r.headers["location"] == "/web/home"
    assert site.api.tokens["alice"] not in r.headers["set-cookie"]
    assert c.get("/web/home").headers["location"] == "/web/teams/team-a"
    # the CSRF token changes with the session (a new nonce at sign-in)
    assert csrf_of(c.get("/web/").text) != csrf_of(form.text)
    # revoking the user ends the session
    from adjudicator.service.users import revoke_user

    revoke_user(site.api.rt, "alice")
    assert c.get("/web/teams/team-a").status_code == 303
    # behind https the cookie is Secure and __Host- prefixed
    from fastapi.testclient import TestClient

    https = TestClient(site.app, base_url="https://testserver", follow_redirects=False)
    cookie = https.get("/web/sign-in").headers["set-cookie"]
    assert cookie.startswith("__Host-adj_session=") and "Secure" in cookie
    # a cookie edited by hand is not accepted
    bob = site.client("bob")
    value = bob.cookies["adj_session"]
    bob.cookies.set("adj_session", value[:-2] + ("A" if value[-2] != "A" else "B") + value[-1])
    assert bob.get("/web/teams/team-b").status_code == 303


def test_upload_form_results_and_errors(site):
    site.api.challenge()
    r = _upload(site, "alice", name="first")
    assert r.status_code == 303
    page = site.client("alice").get(r.headers["location"])
    assert "Your file was accepted" in page.text and 'data-poll="/web/submissions/' in page.text
    # the same form sent twice makes one submission
    key = "k" * 32
    a, b = _upload(site, "alice", key=key), _upload(site, "alice", key=key)
    assert a.headers["location"].split("?")[0] == b.headers["location"].split("?")[0]
    assert "again=1" in b.headers["location"]
    # a file that does not fit the protocol: the page says why, nothing is recorded
    bad = _upload(site, "alice", (ASSETS / "service_entry_missing_unit.csv").read_bytes())
    assert bad.status_code == 422 and 'role="alert"' in bad.text
    assert "The file was not accepted" in bad.text and "u0" in bad.text  # names the unit
    big = _upload(site, "alice", b"unit_id,score\n" + b"u000,1\n" * 60_000)
    assert big.status_code == 413 and "larger than the limit" in big.text
    # a forged form writes nothing
    forged = _upload(site, "alice", csrf="forged")
    assert forged.status_code == 403
    # another team's upload address does not exist for alice
    assert _upload(site, "alice", team="team-b", key="b" * 32).status_code == 404
    subs = site.api.client.get("/challenges/c1/submissions", headers=site.api.auth("admin"))
    assert len(subs.json()) == 2
    site.api.drain()
    team = site.client("alice").get("/web/teams/team-a").text
    assert "Criteria of each adjudicated submission" in team and "alpha spent so far" in team


def test_pages_are_renderings_of_the_report_context(site):
    sid = _setup(site)
    c = site.client("alice")
    data = c.get(f"/web/submissions/{sid}?format=json").json()
    raw = site.api.client.get(f"/submissions/{sid}/result", headers=site.api.auth("alice"))
    expected = certification_context(json.loads(raw.content), evidence=raw.content)
    assert data["result"] == json.loads(json.dumps(expected))
    page = c.get(f"/web/submissions/{sid}").text
    assert expected["evidence"]["sha256"] in page
    assert expected["verdict"]["label"].upper() in page
    status = c.get(f"/web/submissions/{sid}/status").json()
    assert status["status"] == "adjudicated" and status["done"] and status["report"]
    pdf = c.get(f"/web/submissions/{sid}/report.pdf")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")


def test_team_a_cannot_open_team_b(site):
    sid = _setup(site)
    bob = site.client("bob")
    for path in ("/web/teams/team-a", f"/web/submissions/{sid}",
                 f"/web/submissions/{sid}/status", f"/web/submissions/{sid}/report.pdf"):
        r = bob.get(path)
        assert r.status_code == 404, path
        assert "team-a" not in r.text or path == "/web/teams/team-a" and "no team" in r.text
    # a team that does not exist looks the same
    assert bob.get("/web/teams/team-zz").text.replace("team-zz", "X") == \
        bob.get("/web/teams/team-a").text.replace("team-a", "X")


def test_user_text_is_escaped_everywhere(site, tmp_path):
    """A script tag in a protocol's title and text, a challenge title, a submission name and
    a team name (stored behind the service's back: names are restricted) shows as text."""
    from adjudicator.store.models import Challenge, Team

    path = board_protocol(tmp_path, title=f"T {HOSTILE}", summary=f"S {HOSTILE}")
    site.api.challenge("c1", protocol=path)
    r = _upload(site, "alice", name=f"N {HOSTILE}")
    sid = int(r.headers["location"].split("/")[3].split("?")[0])
    site.api.drain()
    img = "A<img src=x onerror=window.__pwned=1>"  # no slash: it must fit in a URL segment
    with site.api.rt.store.db.write() as session:
        session.get(Challenge, "c1").title = f"C {HOSTILE}"
        session.scalars(select(Team).where(Team.name == "team-a")).one().name = img
    pages = ["/web/", "/web/challenges/c1", "/web/challenges/c1/board",
             "/web/challenges/c1/progress", f"/web/submissions/{sid}", "/web/committee",
             "/web/ledger", f"/web/teams/{quote(img, safe='')}"]
    escaped = "&lt;script&gt;window.__pwned = 1&lt;/script&gt;"
    for who in ("admin", "auditor"):
        for p in pages:
            r = site.client(who).get(p)
            assert r.status_code == 200, (who, p)
            assert "<script>window" not in r.text and "<img src=x" not in r.text, (who, p)
        assert escaped in site.client(who).get(f"/web/submissions/{sid}").text
        assert "A&lt;img src=x onerror=window.__pwned=1&gt;" in site.client(who).get(
            "/web/committee").text
    for p in ("/web/challenges/c1", "/web/"):
        assert escaped in site.client(None).get(p).text
    # and every page forbids inline scripts anyway
    assert "script-src 'self'" in site.client(None).get("/web/").headers[
        "content-security-policy"]


def test_a_board_challenge_withholds_results_from_teams_until_close(site, tmp_path):
    """The service's disclosure rule holds on the pages: before close a team sees what it
    sent, not what the adjudication computed; the committee sees everything."""
    site.api.challenge("c1", protocol=board_protocol(tmp_path))
    # a middling entry: whatever the random split, its private half is not perfectly
    # separated (the strong entry's is, in about one split in fifteen, and then has no
    # bootstrap spread to adjudicate)
    r = _upload(site, "alice", (ASSETS / "service_entry_middle.csv").read_bytes(),
                name="boarded")
    sid = int(r.headers["location"].split("/")[3].split("?")[0])
    site.api.drain()
    estimate = site.api.client.get(f"/submissions/{sid}",
                                   headers=site.api.auth("admin")).json()["estimate"]
    assert estimate is not None
    alice = site.client("alice")
    team = alice.get("/web/teams/team-a?format=json").json()["challenges"][0]
    assert team["withheld"] and team["audit"] is None and team["alpha_spent"] is None
    assert {row["status"] for row in team["rows"]} == {"withheld"}
    assert all(row["estimate"] is None and row["verdict"] is None for row in team["rows"])
    for path in ("/web/teams/team-a", f"/web/submissions/{sid}"):
        text = alice.get(path).text
        assert "withheld until the window closes" in text
        for digits in (3, 4, 5):
            assert f"{estimate:.{digits}f}" not in text, path
        assert "CERTIFIED" not in text.upper().replace("NOT CERTIFIED", "")
    status = alice.get(f"/web/submissions/{sid}/status").json()
    assert status["status"] == "withheld" and status["verdict"] is None
    assert alice.get(f"/web/submissions/{sid}/report.pdf").status_code == 403
    board = site.client(None).get("/web/challenges/c1/board").text
    assert "withheld" in board
    admin = site.client("admin").get(f"/web/submissions/{sid}?format=json").json()
    assert admin["result"]["estimate"] == estimate
    # once the window closes, the team reads its results
    assert site.api.client.post("/challenges/c1/close",
                                headers=site.api.auth("admin")).status_code == 200
    after = alice.get(f"/web/submissions/{sid}?format=json").json()
    assert after["withheld"] is None and after["result"]["estimate"] == estimate


def test_open_results_page_and_public_note(site):
    sid = _setup(site)
    alice = site.client("alice")
    page = alice.get(f"/web/submissions/{sid}")
    r = alice.post(f"/web/submissions/{sid}/note",
                   data={"csrf": csrf_of(page.text), "note": "tried <b>boosting</b> first"})
    assert r.status_code == 303
    assert "tried &lt;b&gt;boosting&lt;/b&gt; first" in alice.get(f"/web/submissions/{sid}").text
    again = alice.post(f"/web/submissions/{sid}/note",
                       data={"csrf": csrf_of(page.text), "note": "changed my mind"})
    assert again.status_code == 409 and "not changed" in again.text
    bob = site.client("bob")
    assert bob.post(f"/web/submissions/{sid}/note", data={
        "csrf": csrf_of(bob.get("/web/").text), "note": "x"}).status_code == 404
    assert "Not published yet" in site.client("auditor").get("/web/challenges/c1/results").text
    assert site.api.client.post("/challenges/c1/close",
                                headers=site.api.auth("admin")).status_code == 200
    public = site.client(None).get("/web/challenges/c1/results")
    assert public.status_code == 200
    assert "tried &lt;b&gt;boosting&lt;/b&gt; first" in public.text
    data = site.client(None).get("/web/challenges/c1/results?format=json").json()
    expected = site.api.client.get("/challenges/c1/results").json()
    assert data["results"] == expected["results"] and data["published"] is True
