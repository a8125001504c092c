"""Who may do what: every route x every role, on both databases.

Roles: the public (no token), an admin, alice (participant of team-a, who owns the
submission), bob (participant of team-b) and an auditor. Refusals are 401 (no token), 403
(wrong role) and 404 (another team's object: its existence is not revealed). The table
must name every route the app serves, so a new route cannot escape the matrix.
"""

from __future__ import annotations

import re

from .conftest import ASSETS, PROTOCOL

ROLES = ("public", "admin", "alice", "bob", "auditor")
ANY = -1  # readable by this role: any answer but 401, 403 or a server error
ENTRY = (ASSETS / "service_entry.csv").read_bytes()
FEATURES = (ASSETS / "service_features.csv").read_bytes()


def _matrix(sid: int, job: int, digest: str) -> list[tuple[str, str, bytes | None, dict]]:
    """(method, path, body, {role: expected status}); requests run in this order, the
    refused roles first."""
    everyone = dict.fromkeys(ROLES, 200)
    owner_read = {"public": 401, "admin": 200, "alice": 200, "bob": 404, "auditor": 200}
    audit = {"public": 401, "admin": 200, "alice": 403, "bob": 403, "auditor": 200}

    before_close = {"public": 409, "admin": 200, "alice": 409, "bob": 409, "auditor": 200}
    refused = {"public": 401, "admin": 405, "alice": 405, "bob": 404, "auditor": 403}

    def admin_only(ok: int) -> dict:
        return {"public": 401, "admin": ok, "alice": 403, "bob": 403, "auditor": 403}

    return [
        ("GET", "/health", None, everyone),
        ("GET", "/me", None, {**everyone, "public": 401}),
        ("GET", "/challenges", None, everyone),
        ("GET", "/challenges/c1", None, everyone),
        ("GET", "/challenges/c1/leaderboard", None, everyone),
        # the leaderboard mechanisms (adjudicator.service.boards) answer by the protocol
        ("GET", "/challenges/c1/leaderboard/public", None, dict.fromkeys(ROLES, ANY)),
        ("GET", "/challenges/c1/leaderboard/final", None, dict.fromkeys(ROLES, ANY)),
        ("GET", f"/protocols/{digest}", None, everyone),
        ("GET", "/ledger/checkpoint", None, everyone),
        ("GET", "/ledger/key", None, everyone),
        ("GET", "/ledger/consistency?first=1", None, everyone),
        ("GET", "/ledger/entries", None, audit),
        ("GET", "/ledger/entries/0/proof", None, audit),
        ("GET", "/challenges/c1/submissions", None,
         {"public": 401, "admin": 200, "alice": 200, "bob": 200, "auditor": 200}),
        ("GET", f"/submissions/{sid}", None, owner_read),
        ("GET", f"/submissions/{sid}/result", None, owner_read),
        ("GET", f"/submissions/{sid}/report", None, owner_read),
        ("GET", f"/submissions/{sid}/report/proof", None, owner_read),
        # a predictions submission has no run: answered alike for everyone who may read it
        # (a code submission's run: test_model_to_data_routes_for_every_role)
        ("GET", f"/submissions/{sid}/run", None,
         {"public": 401, "admin": 404, "alice": 404, "bob": 404, "auditor": 404}),
        ("GET", f"/jobs/{job}", None, owner_read),
        ("POST", f"/submissions/{sid}/adjudication", None,
         {"public": 401, "admin": 202, "alice": 202, "bob": 404, "auditor": 403}),
        ("POST", f"/submissions/{sid}/report", None, admin_only(202)),
        ("POST", "/protocols", PROTOCOL.read_bytes(), admin_only(200)),
        ("POST", "/challenges", b'{"id": "c1", "protocol": "%s", "order": "prospective"}'
         % digest.encode(), admin_only(409)),
        ("PUT", "/challenges/c1/units", b"unit_id\nu1\n", admin_only(409)),
        ("PUT", "/challenges/c1/truth", (ASSETS / "service_truth.csv").read_bytes(),
         admin_only(409)),
        ("PUT", "/challenges/c1/inputs", FEATURES, admin_only(409)),  # takes predictions
        ("PUT", "/challenges/c1/baselines/baseline",
         (ASSETS / "service_baseline.csv").read_bytes(), admin_only(409)),
        ("POST", "/challenges/c1/submissions", ENTRY,
         {"public": 401, "admin": 403, "alice": 201, "bob": 201, "auditor": 403}),
        # a power analysis is a pre-launch figure: c1 is open (draft: test_power_analysis)
        ("POST", "/challenges/c1/power", b'{"units": 60, "simulations": 20, "resamples": 100}',
         admin_only(409)),
        ("POST", "/challenges/c1/open", None, admin_only(409)),
        # open results (adjudicator.service.open_results): published at close; before it
        # the committee and auditors preview them (test_open_results_routes_after_close)
        ("GET", "/challenges/c1/results", None, before_close),
        ("GET", "/challenges/c1/results.csv", None, before_close),
        ("GET", "/challenges/c1/results.parquet", None, before_close),
        ("GET", "/challenges/c1/results/progress", None, before_close),
        ("GET", "/challenges/c1/results/schema", None, everyone),
        ("GET", "/challenges/c1/results/bundle", None, dict.fromkeys(ROLES, 409)),
        ("PUT", f"/submissions/{sid}/note", b'{"note": "our first try"}',
         {"public": 401, "admin": 403, "alice": 200, "bob": 404, "auditor": 403}),
        # nothing is withdrawn: refused for everyone, recorded for who may see it
        ("DELETE", f"/submissions/{sid}", None, refused),
        ("PATCH", f"/submissions/{sid}", b'{"hidden": true}', refused),
        ("POST", "/challenges/c1/close", None, admin_only(200)),
    ]


def test_every_route_for_every_role(api):
    api.challenge()
    sub = api.submit("alice").json()
    api.drain()
    admin = api.auth("admin")
    job = api.client.post(f"/submissions/{sub['id']}/report", headers=admin).json()["id"]
    api.drain()
    digest = api.client.get("/challenges/c1").json()["protocol"]["digest"]
    matrix = _matrix(sub["id"], job, digest)

    served = {(m.upper(), p) for p, ops in api.app.openapi()["paths"].items() for m in ops}
    # the leaderboard mechanisms are another package's routes: checked when it serves them
    matrix = [row for row in matrix if "/leaderboard/" not in row[1] or (
        "GET", "/challenges/{challenge_id}" + row[1][len("/challenges/c1"):]) in served]

    def template(method: str, path: str) -> tuple[str, str]:
        bare = path.split("?")[0]
        hits = [(m, t) for m, t in served if m == method and re.fullmatch(
            re.sub(r"\\{[^}]+\\}", "[^/]+", re.escape(t)), bare)]
        assert len(hits) == 1, (method, path, hits)
        return hits[0]

    assert {template(m, p) for m, p, _, _ in matrix} == served
    assert len(matrix) == len(served)

    failures = []
    for method, path, body, expected in matrix:
        order = sorted(ROLES, key=lambda r: 0 <= expected[r] < 300)  # refusals first
        for role in order:
            headers = {} if role == "public" else api.auth(role)
            if path == "/challenges" or path.endswith(("/note", "/power")) or \
                    method == "PATCH":
                headers["Content-Type"] = "application/json"
            r = api.client.request(method, path, content=body, headers=headers)
            if expected[role] == ANY:
                if r.status_code in (401, 403) or r.status_code >= 500:
                    failures.append(f"{method} {path} as {role}: {r.status_code}")
            elif r.status_code != expected[role]:
                failures.append(f"{method} {path} as {role}: {r.status_code} "
                                f"(expected {expected[role]}) {r.text[:120]}")
    assert not failures, "\n".join(failures)


def _expect(api, method, path, body, expected):
    failures = []
    for role in sorted(ROLES, key=lambda r: 0 <= expected[r] < 300):  # refusals first
        headers = {} if role == "public" else api.auth(role)
        r = api.client.request(method, path, content=body, headers=headers)
        if r.status_code != expected[role]:
            failures.append(f"{method} {path} as {role}: {r.status_code} "
                            f"(expected {expected[role]}) {r.text[:120]}")
    return failures


def test_model_to_data_routes_for_every_role(api):
    from .test_model_to_data import HONEST, bundle, code_challenge

    cid = code_challenge(api)
    sub = api.submit("alice", cid, bundle(HONEST)).json()
    assert api.drain() == 1
    api.challenge("draft", protocol=ASSETS / "service_code.yaml", open=False)
    failures = _expect(api, "GET", f"/submissions/{sub['id']}/run", None,
                       {"public": 401, "admin": 200, "alice": 200, "bob": 404,
                        "auditor": 200})
    failures += _expect(api, "PUT", "/challenges/draft/inputs", FEATURES,
                        {"public": 401, "admin": 200, "alice": 403, "bob": 403,
                         "auditor": 403})
    assert not failures, "\n".join(failures)
    # the team's logs: the committee's alone
    for role, logs in (("admin", True), ("alice", False), ("alice2", False),
                       ("auditor", False)):
        run = api.client.get(f"/submissions/{sub['id']}/run", headers=api.auth(role)).json()
        assert ("stderr" in run["logs"]) is logs, role


def test_open_results_routes_after_close(api):
    """Once the window closes the open results are everyone's; notes and refusals keep
    their rules."""
    api.challenge()
    sub = api.submit("alice").json()
    api.drain()
    assert api.client.post("/challenges/c1/close", headers=api.auth("admin")).status_code \
        == 200
    failures = []
    for method, path, expected in (
        ("GET", "/challenges/c1/results", dict.fromkeys(ROLES, 200)),
        ("GET", "/challenges/c1/results.csv", dict.fromkeys(ROLES, 200)),
        ("GET", "/challenges/c1/results.parquet", dict.fromkeys(ROLES, 200)),
        ("GET", "/challenges/c1/results/bundle", dict.fromkeys(ROLES, 200)),
        ("GET", "/challenges/c1/results/progress", dict.fromkeys(ROLES, 200)),
        ("DELETE", f"/submissions/{sub['id']}",
         {"public": 401, "admin": 405, "alice": 405, "bob": 404, "auditor": 403}),
    ):
        for role in ROLES:
            headers = {} if role == "public" else api.auth(role)
            r = api.client.request(method, path, headers=headers)
            if r.status_code != expected[role]:
                failures.append(f"{method} {path} as {role}: {r.status_code} "
                                f"(expected {expected[role]}) {r.text[:120]}")
    assert not failures, "\n".join(failures)


def test_team_isolation_and_the_truth(api):
    api.challenge()
    a = api.submit("alice").json()
    api.drain()
    bob = api.auth("bob")
    # team B sees none of team A's submissions, results or jobs
    assert api.client.get("/challenges/c1/submissions", headers=bob).json() == []
    for path in (f"/submissions/{a['id']}", f"/submissions/{a['id']}/result",
                 f"/jobs/{a['job']['id']}"):
        assert api.client.get(path, headers=bob).status_code == 404
    # the same member of team A sees them (another user of the team too)
    assert api.client.get(f"/submissions/{a['id']}/result",
                          headers=api.auth("alice2")).status_code == 200
    # nobody can read the truth back: there is no such route
    for role in ROLES:
        headers = {} if role == "public" else api.auth(role)
        for path in ("/challenges/c1/truth", "/challenges/c1/truth.csv"):
            assert api.client.get(path, headers=headers).status_code in (404, 405)
    page = api.client.get("/challenges/c1", headers=api.auth("alice")).text
    assert "u000" not in page  # no unit of the truth on the page
    # an auditor reads everything and writes nothing
    auditor = api.auth("auditor")
    assert api.client.get(f"/submissions/{a['id']}/result", headers=auditor).status_code == 200
    for method, path in (("POST", "/challenges/c1/close"), ("POST", "/protocols"),
                         ("POST", "/challenges/c1/submissions"),
                         ("POST", f"/submissions/{a['id']}/adjudication")):
        assert api.client.request(method, path, content=b"x",
                                  headers=auditor).status_code == 403


def test_revoked_token_is_refused(api):
    from adjudicator.service.users import revoke_user

    assert api.client.get("/me", headers=api.auth("bob")).status_code == 200
    revoke_user(api.rt, "bob")
    assert api.client.get("/me", headers=api.auth("bob")).status_code == 401
    assert api.client.get("/challenges", headers=api.auth("bob")).status_code == 401


def test_tokens_are_stored_hashed(api):
    from sqlalchemy import select

    from adjudicator.store.models import User

    with api.rt.store.db.read() as s:
        stored = set(s.scalars(select(User.token_sha256)))
    assert not set(api.tokens.values()) & stored
    assert all(len(h) == 64 for h in stored)
