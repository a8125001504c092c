"""End to end in headless Chromium (Debian's, driven by Playwright) against a real server on
loopback: a team signs in, uploads, watches its adjudication, downloads a signed report that
verifies; a bad file shows why; one team cannot open another's page; the public board shows
no private score; user text never runs as markup; every page passes axe-core's serious and
critical rules. Each page is photographed (see ``screenshots`` in conftest)."""

from __future__ import annotations

import hashlib
import json
import re
from concurrent.futures import ThreadPoolExecutor

import pytest
from playwright.sync_api import expect

from adjudicator import leaderboard as lb
from adjudicator.data import read_submission, read_truth
from adjudicator.metrics import get_kernel
from adjudicator.protocol import parse_protocol
from adjudicator.report.format import num
from adjudicator.report.verify import verify_report
from tests.service.conftest import ASSETS

from .conftest import HOSTILE, VENDOR, board_protocol

pytestmark = pytest.mark.browser

AXE = VENDOR / "axe.min.js"
AXE_SHA256 = "29348999450cdf2849a8e70b7912fc2da85a849da39c0d0d5394f51d4a9ed95c"
LONG = 90_000  # ms: the longest any step may wait for the worker


def _sign_in(ctx, server, who):
    page = ctx.new_page()
    page.goto(server.url + "/web/sign-in")
    page.get_by_label("Token").fill(server.api.tokens[who])
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state()
    expect(page.get_by_text(f"Signed in as {who}")).to_be_visible()
    return page


def _shot(page, screenshots, name):
    page.screenshot(path=str(screenshots / f"{name}.png"), full_page=True)


def _upload(page, cid, path, name=None):
    form = page.locator(f'form[action$="/challenges/{cid}/upload"]')
    form.get_by_label("Predictions file (CSV or Parquet)").set_input_files(str(path))
    if name is not None:
        form.get_by_label("Name of this submission (optional)").fill(name)
    form.get_by_role("button", name="Upload").click()
    page.wait_for_load_state()


def test_team_uploads_watches_and_downloads_a_report_that_verifies(server, browser,
                                                                    screenshots, tmp_path):
    alice = _sign_in(browser(), server, "alice")
    assert alice.url.endswith("/web/teams/team-a")
    _shot(alice, screenshots, "team-page")
    # the worker is paused, so the page shows the job waiting, then live progress
    worker = server.app.state.worker
    worker.stop(timeout=60)
    try:
        _upload(alice, "c1", ASSETS / "service_entry.csv", name="gradient boosting v1")
        expect(alice.get_by_text("Your file was accepted")).to_be_visible()
        live = alice.locator("[role=status].live")
        expect(live).to_contain_text("received")
        _shot(alice, screenshots, "submission-waiting")
        alice.evaluate("window.__same_page = true")
    finally:
        worker.start()
    verdict = alice.locator(".verdict .label")
    expect(verdict).to_have_text(re.compile("^(CERTIFIED|NOT CERTIFIED|INCONCLUSIVE)$"),
                                 timeout=LONG)
    assert alice.evaluate("window.__same_page") is True  # updated without a reload
    sid = int(re.search(r"/web/submissions/(\d+)", alice.url).group(1))
    result = json.loads(server.api.client.get(
        f"/submissions/{sid}/result", headers=server.api.auth("admin")).content)
    expect(verdict).to_have_text(result["verdict"].replace("_", " "))
    expect(alice.get_by_role("heading", name="Preregistered criteria")).to_be_visible()
    expect(alice.get_by_role("img", name=re.compile("Bootstrap distribution"))).to_be_visible()
    expect(alice.get_by_text("the family has spent")).to_be_visible()
    _shot(alice, screenshots, "submission-adjudicated")

    # the committee issues the signed report; its row shows the job until the PDF is there
    admin = _sign_in(browser(), server, "admin")
    assert admin.url.endswith("/web/committee")
    admin.get_by_role("button", name=f"Issue report for submission {sid}").click()
    admin.wait_for_load_state()
    expect(admin.get_by_role("link", name=f"PDF report of submission {sid}")).to_be_visible(
        timeout=LONG)
    _shot(admin, screenshots, "committee")

    alice.reload()
    with alice.expect_download() as download:
        alice.get_by_role("link", name="Download the signed report (PDF)").click()
    path = tmp_path / "report.pdf"
    download.value.save_as(path)
    # pyHanko runs its own event loop: not in this thread, where Playwright's runs
    with ThreadPoolExecutor(1) as pool:
        check = pool.submit(verify_report, path,
                            server.rt.settings.keys / "signing-cert.pem").result()
    assert check.reasons == () and check.verdict == result["verdict"], check
    # the team page lists it, with its alpha and the report
    alice.goto(server.url + "/web/teams/team-a")
    expect(alice.get_by_role("link", name=re.compile("PDF report of submission"))).to_have_count(1)
    expect(alice.get_by_text("alpha spent so far")).to_have_count(2)  # c1 and x1
    expect(alice.get_by_text("alpha spent: withheld")).to_have_count(1)  # b1 has a board
    _shot(alice, screenshots, "team-page-with-results")


def test_a_bad_file_shows_the_error(server, browser, screenshots):
    alice = _sign_in(browser(), server, "alice")
    before = server.api.client.get("/challenges/c1/submissions",
                                   headers=server.api.auth("admin")).json()
    _upload(alice, "c1", ASSETS / "service_entry_missing_unit.csv")
    alert = alice.get_by_role("alert")
    expect(alert).to_contain_text("The file was not accepted")
    expect(alert).to_contain_text("u0")  # the message names the missing unit
    expect(alert).to_contain_text("Nothing was recorded")
    expect(alert).to_be_focused()  # brought into view on a long page
    _shot(alice, screenshots, "upload-error")
    after = server.api.client.get("/challenges/c1/submissions",
                                  headers=server.api.auth("admin")).json()
    assert len(after) == len(before)


def test_team_a_cannot_open_team_b(server, browser, screenshots):
    r = server.api.submit("bob", "c1", key="bob-browser-1",
                          headers={"Content-Type": "text/csv"})
    assert r.status_code in (200, 201), r.text
    bob_sub = r.json()["id"]
    alice = _sign_in(browser(), server, "alice")
    for path in ("/web/teams/team-b", f"/web/submissions/{bob_sub}",
                 f"/web/submissions/{bob_sub}/report.pdf"):
        response = alice.goto(server.url + path)
        assert response.status == 404, path
        expect(alice.get_by_role("heading", level=1)).to_have_text("Not found")
    _shot(alice, screenshots, "other-team-not-found")
    assert "team-b" not in alice.locator("main").inner_text().replace("'team-b'", "")


def _adjudicated(server):
    """Wait until every submission to c1 is adjudicated (sending one first if there is none)."""
    import time

    admin = server.api.auth("admin")
    if not server.api.client.get("/challenges/c1/submissions", headers=admin).json():
        r = server.api.submit("alice2", "c1", key="alice2-first")
        assert r.status_code in (200, 201), r.text
    deadline = time.monotonic() + LONG / 1000
    while time.monotonic() < deadline:
        subs = server.api.client.get("/challenges/c1/submissions", headers=admin).json()
        if all(s["status"] not in ("received", "running") for s in subs):
            assert any(s["status"] == "adjudicated" for s in subs), subs
            return subs
        time.sleep(0.2)
    pytest.fail("the worker did not adjudicate in time")


def test_the_public_board_shows_no_private_score(server, browser, screenshots, tmp_path):
    for who, body, key in (("alice2", "service_entry.csv", "a2-board"),
                           ("bob", "service_entry_weak.csv", "bob-board")):
        r = server.api.submit(who, "b1", ASSETS / body, key=key)
        assert r.status_code in (200, 201), r.text
    page = browser().new_page()
    response = page.goto(server.url + "/web/challenges/b1/board")
    assert response.status == 200
    expect(page.get_by_role("heading", name="Public board")).to_be_visible()
    _shot(page, screenshots, "public-board")
    text = page.locator("main").inner_text()
    # every decimal number on the board is a value the ladder showed, nothing else
    shown = server.api.client.get("/challenges/b1/leaderboard/public").json()
    allowed = {num(t["shown"]) for t in shown["teams"] if t["shown"] is not None}
    assert len(allowed) == 2, shown
    board = page.locator("table.data").first.inner_text()
    assert set(re.findall(r"\d+\.\d+", board)) == allowed
    # the scores on the whole test set and on its private part appear in no form
    protocol = parse_protocol(board_protocol(tmp_path).read_bytes())
    truth = read_truth(protocol, ASSETS / "service_truth.csv")
    from adjudicator.service.boards import leaderboard_secret
    from adjudicator.store.models import Challenge

    with server.rt.store.db.read() as session:
        secret = leaderboard_secret(server.rt, session.get(Challenge, "b1"))
    split = lb.split_units(protocol, truth, secret=secret)
    kernel = get_kernel(protocol.metric)
    hidden = []
    for body in ("service_entry.csv", "service_entry_weak.csv"):
        table = read_submission(protocol, ASSETS / body, truth).table
        hidden += [float(kernel(table)), float(kernel(lb.restrict(table, split.private)))]
    for value in hidden:
        for digits in (3, 4, 6):
            assert f"{value:.{digits}f}" not in text, value
    assert secret not in page.content()
    assert "estimate" not in json.dumps(page.evaluate(
        "async () => (await fetch('/web/challenges/b1/board?format=json')).json()"))


def test_user_text_never_runs(server, browser, screenshots):
    page = _sign_in(browser(), server, "alice")
    dialogs = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    for path in ("/web/", "/web/challenges/x1", "/web/challenges/x1/board",
                 "/web/teams/team-a"):
        page.goto(server.url + path)
        assert page.evaluate("window.__pwned") is None, path
        expect(page.locator("main")).to_contain_text(HOSTILE)  # shown, as text
    _shot(page, screenshots, "hostile-challenge")
    assert dialogs == []


def test_ledger_viewer_verifies_in_the_background(server, browser, screenshots):
    auditor = _sign_in(browser(), server, "auditor")
    auditor.goto(server.url + "/web/ledger")
    expect(auditor.get_by_role("heading", name=re.compile(r"^Entries"))).to_be_visible()
    auditor.evaluate("window.__same_page = true")
    auditor.get_by_role("button", name="Verify the ledger now").click()
    auditor.wait_for_load_state()
    expect(auditor.locator("#ledger-status")).to_have_text("valid", timeout=LONG)
    expect(auditor.get_by_text("stored files check out")).to_be_visible()
    _shot(auditor, screenshots, "ledger")
    public = browser().new_page()
    public.goto(server.url + "/web/ledger")
    expect(public.get_by_text("The entries themselves are shown to auditors")).to_be_visible()
    assert public.locator("table.data").count() == 0


def test_progress_chart_for_funders(server, browser, screenshots):
    _adjudicated(server)
    auditor = _sign_in(browser(), server, "auditor")
    auditor.goto(server.url + "/web/challenges/c1/progress")
    expect(auditor.locator(".verdict .label")).to_have_text(re.compile(
        r"^-?\d+\s% of the gap closed$"))
    expect(auditor.get_by_role("img", name=re.compile("Share of the gap"))).to_be_visible()
    _shot(auditor, screenshots, "progress")


def test_the_committee_opens_and_closes_a_window_through_the_confirmation(server, browser,
                                                                          screenshots, tmp_path):
    server.api.challenge("w1", protocol=board_protocol(tmp_path), open=False)
    admin = _sign_in(browser(), server, "admin")
    admin.goto(server.url + "/web/challenges/w1")
    admin.get_by_role("button", name="Open the submission window").click()
    expect(admin.get_by_role("heading", level=1)).to_have_text(
        "Open the submission window?")
    expect(admin.get_by_text("Teams can submit from now")).to_be_visible()
    _shot(admin, screenshots, "window-open-confirm")
    admin.get_by_role("button", name="Yes, open the window now").click()
    expect(admin.get_by_role("status")).to_contain_text("The submission window is open")
    assert admin.url.endswith("/web/challenges/w1?opened=1")

    r = server.api.submit("bob", "w1", key="bob-window")
    assert r.status_code in (200, 201), r.text
    admin.goto(server.url + "/web/challenges/w1")
    admin.get_by_role("button", name="Close the submission window").click()
    expect(admin.get_by_text("Closing is final.")).to_be_visible()
    _shot(admin, screenshots, "window-close-confirm")
    admin.get_by_role("button", name="Yes, close the window for good").click()
    expect(admin.get_by_role("status")).to_contain_text("The submission window is closed")
    events = [e["event"] for e in server.api.client.get(
        "/ledger/entries?start=0&limit=1000", headers=server.api.auth("auditor")
    ).json()["entries"] if e["event"].get("challenge") == "w1"
        and e["event"]["type"].startswith("window_")]
    assert [e["type"] for e in events] == ["window_opened", "window_closed"]
    assert events[-1]["submissions"] == 1

    admin.get_by_role("link", name="final rankings").click()
    expect(admin.get_by_role("heading", level=1)).to_contain_text("Service test")
    table = admin.get_by_role("table", name="Final rankings with tie groups")
    expect(table.get_by_role("row")).to_have_count(3)  # the header, team-b, the baseline
    expect(table).to_contain_text("team-b")
    expect(table).to_contain_text("baseline/baseline")
    _shot(admin, screenshots, "final-rankings")


# -- accessibility ----------------------------------------------------------------------------


def _axe(page):
    source = AXE.read_text(encoding="utf-8")
    page.evaluate(source)  # evaluated by the debugger protocol: the page's CSP stays on
    return page.evaluate("""async () => {
        const r = await axe.run(document, {resultTypes: ['violations']});
        return r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
                                      nodes: v.nodes.map(n => n.target.join(' ')).slice(0, 5)}));
    }""")


def test_every_page_passes_axe(server, browser, screenshots, tmp_path):
    assert hashlib.sha256(AXE.read_bytes()).hexdigest() == AXE_SHA256
    _adjudicated(server)
    sid = server.api.client.get("/challenges/c1/submissions",
                                headers=server.api.auth("admin")).json()[0]["id"]
    # a closed board challenge (its final rankings) and a draft without a truth (the
    # confirmation of opening it, and the refusal shown on the challenge page)
    server.api.challenge("r1", protocol=board_protocol(tmp_path))
    r = server.api.submit("bob", "r1", key="bob-r1")
    assert r.status_code in (200, 201), r.text
    admin = server.api.auth("admin")
    assert server.api.client.post("/challenges/r1/close", headers=admin).status_code == 200
    r = server.api.client.post("/challenges", headers=admin, json={
        "id": "d1", "protocol": server.api.register(), "order": "retrospective"})
    assert r.status_code == 201, r.text
    pages = {
        None: ["/web/", "/web/challenges/c1", "/web/challenges/b1/board", "/web/sign-in",
               "/web/ledger", "/web/challenges/x1", "/web/challenges/b1/rankings",
               "/web/challenges/r1/rankings"],
        "alice": ["/web/teams/team-a", f"/web/submissions/{sid}", "/web/teams/team-b"],
        "admin": ["/web/committee", f"/web/submissions/{sid}",
                  "/web/challenges/c1/progress", "/web/ledger", "/web/challenges/c1/results",
                  "/web/challenges/nope", "/web/challenges/r1"],
    }
    serious, seen = [], {}

    def check(page, who, label):
        name = f"axe-{who or 'public'}-" + re.sub(r"[^a-z0-9]+", "-", label).strip("-")
        _shot(page, screenshots, name)
        for v in _axe(page):
            seen.setdefault(f"{v['id']} ({v['impact']})", []).append(
                f"{who or 'public'} {label}: {v['nodes']}")
            if v["impact"] in ("serious", "critical"):
                serious.append(f"{who or 'public'} {label}: {v['id']} ({v['impact']}): "
                               f"{v['help']} at {v['nodes']}")

    for who, paths in pages.items():
        page = _sign_in(browser(), server, who) if who else browser().new_page()
        for path in paths:
            page.goto(server.url + path)
            check(page, who, path)
    # the pages a POST answers: the confirmation, then the refusal (d1 has no truth)
    page.goto(server.url + "/web/challenges/d1")
    page.get_by_role("button", name="Open the submission window").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Open the submission window?")
    check(page, "admin", "/web/challenges/d1/open (confirm)")
    page.get_by_role("button", name="Yes, open the window now").click()
    expect(page.get_by_role("alert")).to_contain_text("commit the truth before opening")
    expect(page.get_by_role("alert")).to_be_focused()
    check(page, "admin", "/web/challenges/d1/open (refused)")
    (screenshots / "axe-summary.json").write_text(json.dumps(seen, indent=2))
    assert not serious, "\n".join(serious)


def test_axe_finds_what_it_must(server, browser):
    """The check can fail: a page with an unlabelled field and low contrast is caught."""
    page = browser().new_page()
    page.goto(server.url + "/web/sign-in")
    page.evaluate("""() => {
        const i = document.createElement('input'); i.type = 'text';
        document.querySelector('main').appendChild(i);
        const p = document.createElement('p'); p.textContent = 'faint';
        p.style.color = '#dddddd'; document.querySelector('main').appendChild(p);
    }""")
    ids = {v["id"] for v in _axe(page) if v["impact"] in ("serious", "critical")}
    assert {"label", "color-contrast"} <= ids, ids
