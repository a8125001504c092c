"""A leaderboard challenge leaks nothing of its private part before the window closes.

Two services share one keys folder (so one challenge secret, hence one public/private
split) and differ only in the labels of private units. Everything a participant can read
before close is the same in both, byte for byte, except the truth commitment, which is
public by design. After close the results are there, and they differ: the check above had
something to find.
"""

from __future__ import annotations

import io
import json
import math
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest

from adjudicator import leaderboard as lb
from adjudicator.data import read_submission, read_truth
from adjudicator.metrics import get_kernel
from adjudicator.protocol import parse_protocol

from .conftest import ASSETS, Api, add_tokens, make_settings, new_postgres_database

BOARD = ASSETS / "service_board.yaml"
PARTICIPANTS = ("alice", "alice2", "bob")
FIXED = datetime(2026, 11, 29, 12, 0, 0, tzinfo=UTC)


@pytest.fixture
def second_database_url(request: pytest.FixtureRequest, database_url: str,
                        tmp_path: Path) -> str:
    """Another fresh database of the same kind as ``database_url``."""
    if database_url.startswith("sqlite"):
        return f"sqlite:///{tmp_path / 'db2' / 'adjudicator.db'}"
    return new_postgres_database(request.getfixturevalue("postgres_server"))


def _service(tmp_path: Path, name: str, url: str, keys: Path):
    from fastapi.testclient import TestClient

    from adjudicator.service import create_app

    settings = make_settings(tmp_path / name, url, keys_dir=keys)
    app = create_app(settings, worker=False, clock=lambda: FIXED)
    tokens = add_tokens(app.state.runtime)
    return TestClient(app), app, tokens


def _private_flipped(secret: str, truth_csv: bytes) -> tuple[bytes, list[str]]:
    """The truth with the labels of 16 private units flipped (both classes stay)."""
    protocol = parse_protocol(BOARD.read_bytes())
    truth = read_truth(protocol, ASSETS / "service_truth.csv")
    split = lb.split_units(protocol, truth, secret=secret)
    private = [str(u) for u in split.units[split.private]][:16]
    frame = pd.read_csv(io.BytesIO(truth_csv), dtype=str)
    rows = frame.unit_id.isin(private)
    frame.loc[rows, "outcome"] = frame.loc[rows, "outcome"].map({"0": "1", "1": "0"})
    return frame.to_csv(index=False).encode(), private


def _participant_reads(api: Api, subs: dict[str, int], jobs: dict[str, int]) -> dict[str, str]:
    """Everything a participant (or the public) can ask about the challenge, as text."""
    seen: dict[str, str] = {}

    def get(who: str | None, path: str, method: str = "GET") -> None:
        r = api.client.request(method, path, headers=api.auth(who))
        seen[f"{who} {method} {path}"] = f"{r.status_code} {r.text}"

    for who in (*PARTICIPANTS, None):
        get(who, "/challenges/c1")
        get(who, "/challenges")
        get(who, "/challenges/c1/leaderboard")
        get(who, "/challenges/c1/leaderboard/public")
        get(who, "/challenges/c1/leaderboard/final")
        get(who, "/challenges/c1/results")
        get(who, "/health")
    for who in PARTICIPANTS:
        get(who, "/challenges/c1/submissions")
        for sid in subs.values():
            for path in ("", "/result", "/report", "/report/proof"):
                get(who, f"/submissions/{sid}{path}")
            get(who, f"/submissions/{sid}/adjudication", "POST")
        for job in jobs.values():
            get(who, f"/jobs/{job}")
    return seen


def _run(api: Api, truth: bytes) -> tuple[dict[str, str], dict[str, int]]:
    admin = api.auth("admin")
    digest = api.register(BOARD)
    assert api.client.post("/challenges", json={"id": "c1", "protocol": digest,
                                                "order": "retrospective"},
                           headers=admin).status_code == 201
    r = api.client.put("/challenges/c1/truth", content=truth, headers=admin)
    assert r.status_code == 200, r.text
    r = api.client.put("/challenges/c1/baselines/baseline",
                       content=(ASSETS / "service_baseline.csv").read_bytes(), headers=admin)
    assert r.status_code == 200, r.text
    assert api.client.post("/challenges/c1/open", headers=admin).status_code == 200
    subs, jobs = {}, {}
    # middling entries: on no random split is a private half perfectly separated (which
    # leaves no bootstrap spread to adjudicate)
    for who, body in (("alice", "service_entry_middle.csv"),
                      ("alice2", "service_entry_weak.csv"), ("bob", "service_entry_middle.csv")):
        r = api.submit(who, body=ASSETS / body)
        assert r.status_code == 201, r.text
        subs[who], jobs[who] = r.json()["id"], r.json()["job"]["id"]
    assert api.drain() == 3
    # a report issued before close, by the committee: still not for the team's eyes
    r = api.client.post(f"/submissions/{subs['alice']}/report", headers=admin)
    assert r.status_code == 202, r.text
    assert api.drain() == 1
    reads = _participant_reads(api, subs, jobs)
    commitment = api.client.get("/challenges/c1").json()["truth"]["digest"]
    return {k: v.replace(commitment, "<truth commitment>") for k, v in reads.items()}, subs


def test_private_labels_change_nothing_a_participant_reads_before_close(
        tmp_path, database_url, second_database_url):
    keys = tmp_path / "keys"
    truth_a = (ASSETS / "service_truth.csv").read_bytes()
    client_a, app_a, tokens_a = _service(tmp_path, "a", database_url, keys)
    client_b, app_b, tokens_b = _service(tmp_path, "b", second_database_url, keys)
    from adjudicator.service.boards import secret_for

    secret = secret_for(app_a.state.runtime, "c1")
    assert secret == secret_for(app_b.state.runtime, "c1")  # one keys folder, one secret
    truth_b, flipped = _private_flipped(secret, truth_a)
    assert truth_b != truth_a and len(flipped) == 16
    with client_a, client_b:
        a = Api(client=client_a, app=app_a, tokens=tokens_a)
        b = Api(client=client_b, app=app_b, tokens=tokens_b)
        reads_a, subs = _run(a, truth_a)
        reads_b, _ = _run(b, truth_b)
        assert reads_a.keys() == reads_b.keys()
        differ = [k for k in reads_a if reads_a[k] != reads_b[k]]
        assert not differ, "\n".join(f"{k}:\n  {reads_a[k][:300]}\n  {reads_b[k][:300]}"
                                     for k in differ[:5])
        # what they read is the withholding, not an accident of timing
        alice = a.auth("alice")
        view = a.client.get(f"/submissions/{subs['alice']}", headers=alice).json()
        assert view["status"] == "withheld" and view["estimate"] is None
        assert view["verdict"] is None and "withheld" in view["withheld"]
        r = a.client.get(f"/submissions/{subs['alice']}/result", headers=alice)
        assert r.status_code == 403 and r.json()["error"] == "WithheldError"
        assert a.client.get(f"/submissions/{subs['alice']}/report",
                            headers=alice).status_code == 403
        # the committee and auditors read the results before close
        for who in ("admin", "auditor"):
            r = a.client.get(f"/submissions/{subs['alice']}/result", headers=a.auth(who))
            assert r.status_code == 200
        # the board itself is the same in both (it reads only public units)
        board = json.loads(reads_a["alice GET /challenges/c1/leaderboard/public"]
                           .split(" ", 1)[1])
        assert board["teams"] and board["split"]["units"] == {
            "private": 40, "public": 40, "holdout": 0}

        # after close everything is there, and the private labels now show
        results = {}
        for name, api in (("a", a), ("b", b)):
            assert api.client.post("/challenges/c1/close",
                                   headers=api.auth("admin")).status_code == 200
            r = api.client.get(f"/submissions/{subs['alice']}/result",
                               headers=api.auth("alice"))
            assert r.status_code == 200, r.text
            results[name] = r.json()
            view = api.client.get(f"/submissions/{subs['alice']}",
                                  headers=api.auth("alice")).json()
            assert view["status"] == "adjudicated" and view["estimate"] is not None
            assert api.client.get(f"/submissions/{subs['alice']}/report",
                                  headers=api.auth("alice")).status_code == 200
        ra, rb = results["a"], results["b"]
        assert ra["estimate"] != rb["estimate"]
        # (a): the estimate is the AUROC of the private units only, for the entry and the
        # baseline; the result says which units it read
        protocol = parse_protocol(BOARD.read_bytes())
        truth = read_truth(protocol, ASSETS / "service_truth.csv")
        split = lb.split_units(protocol, truth, secret=secret)
        kernel = get_kernel(protocol.metric)
        entry = read_submission(protocol, ASSETS / "service_entry_middle.csv", truth)
        base = read_submission(protocol, ASSETS / "service_baseline.csv", truth)
        assert math.isclose(ra["estimate"], kernel(lb.restrict(entry.table, split.private)),
                            rel_tol=0, abs_tol=1e-15)
        assert math.isclose(ra["baselines"][0]["estimate"],
                            kernel(lb.restrict(base.table, split.private)),
                            rel_tol=0, abs_tol=1e-15)
        assert ra["certification"] == {"part": "private", "split_digest": split.digest,
                                       "n_units": 40, "units_total": 80}
        assert ra["truth"]["n_units"] == 40 and ra["truth"]["summary"]["units"] == 40


def test_truth_commitment_records_the_split_and_the_secret(api):
    import hashlib

    from adjudicator.service.boards import secret_for

    cid = api.challenge(protocol=BOARD)
    page = api.client.get(f"/challenges/{cid}").json()
    secret = secret_for(api.rt, cid)
    assert page["truth"]["secret_sha256"] == hashlib.sha256(secret.encode()).hexdigest()
    assert page["truth"]["split"].startswith("sha256:")
    r = api.client.get(f"/ledger/entries/{page['truth']['ledger_seq']}/proof",
                       headers=api.auth("auditor"))
    event = json.loads(r.json()["entry"])
    assert event["type"] == "truth_committed"
    assert (event["split"], event["secret_sha256"]) == (page["truth"]["split"],
                                                        page["truth"]["secret_sha256"])
    # the public board shows the split the ledger committed to
    board = api.client.get(f"/challenges/{cid}/leaderboard/public").json()
    assert board["split"]["digest"] == page["truth"]["split"]
    # a challenge without a board records neither
    plain = api.challenge("c2")
    assert api.client.get(f"/challenges/{plain}").json()["truth"]["split"] is None


def test_results_of_a_plain_challenge_are_readable_at_once(api):
    api.challenge()
    sub = api.submit("alice").json()
    api.drain()
    view = api.client.get(f"/submissions/{sub['id']}", headers=api.auth("alice")).json()
    assert view["status"] == "adjudicated" and "withheld" not in view
    r = api.client.get(f"/submissions/{sub['id']}/result", headers=api.auth("alice"))
    assert r.status_code == 200 and "certification" not in r.json()


def test_an_auditor_reproduces_a_board_adjudication_offline(api, tmp_path):
    """After close the secret is published; with it the command line adjudicates on the
    same certification units and gets the service's numbers."""
    from typer.testing import CliRunner

    from adjudicator.cli import app as cli_app

    cid = api.challenge(protocol=BOARD)
    sub = api.submit("alice", body=ASSETS / "service_entry_middle.csv").json()
    api.drain()
    assert api.client.post(f"/challenges/{cid}/close",
                           headers=api.auth("admin")).status_code == 200
    served = api.client.get(f"/submissions/{sub['id']}/result",
                            headers=api.auth("alice")).json()
    secret = api.client.get(f"/challenges/{cid}/leaderboard/final").json()["secret"]
    args = ["adjudicate", "-p", str(BOARD), "-t", str(ASSETS / "service_truth.csv"),
            "-s", str(ASSETS / "service_entry_middle.csv"), "-b",
            f"baseline={ASSETS / 'service_baseline.csv'}", "--team", "team-a", "--no-report"]
    runner = CliRunner()
    refused = runner.invoke(cli_app, [*args, "-o", str(tmp_path / "x")])
    assert refused.exit_code == 2 and "--split-secret" in refused.output
    out = runner.invoke(cli_app, [*args, "-o", str(tmp_path / "r"), "--split-secret", secret])
    assert out.exit_code == 0, out.output
    offline = json.loads((tmp_path / "r" / "result.json").read_text())
    for key in ("verdict", "estimate", "interval", "criteria", "baselines", "certification",
                "truth"):
        assert offline[key] == served[key], key
