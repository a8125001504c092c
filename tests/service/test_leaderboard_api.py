"""The leaderboard routes and command: what the public board shows, final rankings after
the window closes, the secret that makes both replayable."""

from __future__ import annotations

import hashlib
import json
import math

import pandas as pd
import yaml
from typer.testing import CliRunner

from adjudicator import leaderboard as lb
from adjudicator.cli import app as cli_app
from adjudicator.data import read_submission, read_truth
from adjudicator.metrics import get_kernel
from adjudicator.protocol import parse_protocol

from .conftest import ASSETS, PROTOCOL


def _protocol(tmp_path, strata=("outcome",), **board):
    data = yaml.safe_load(PROTOCOL.read_text())
    data["id"] = "service-test-board"
    data["task"]["strata"] = list(strata)
    data["leaderboard"] = {"public_fraction": 0.5, **board}
    path = tmp_path / "board.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_public_board_shows_the_ladder_with_ties_then_final_rankings(api, tmp_path,
                                                                     monkeypatch):
    path = _protocol(tmp_path, feedback={"mechanism": "ladder", "step": 0.01})
    cid = api.challenge(protocol=path)
    protocol = parse_protocol(path.read_bytes())
    # before any submission: an empty board
    empty = api.client.get(f"/challenges/{cid}/leaderboard/public")
    assert empty.status_code == 200 and empty.json()["teams"] == []
    assert api.submit("alice").status_code == 201
    assert api.submit("bob").status_code == 201  # the same predictions as alice
    assert api.submit("alice2", body=ASSETS / "service_entry_weak.csv").status_code == 201

    board = api.client.get(f"/challenges/{cid}/leaderboard/public")  # the public may read
    assert board.status_code == 200, board.text
    view = board.json()
    assert (view["scope"], view["feedback"]) == ("team", {"mechanism": "ladder", "step": 0.01})
    assert view["split"]["units"] == {"private": 40, "public": 40, "holdout": 0}
    teams = {t["team"]: t for t in view["teams"]}
    assert teams["team-a"]["rank"] == teams["team-b"]["rank"] == 1  # a tie shown as a tie
    assert teams["team-a"]["submissions"] == 2 and teams["team-b"]["submissions"] == 1
    # the shown value is the public AUROC rounded to the step, on the split the secret fixes
    truth = read_truth(protocol, ASSETS / "service_truth.csv")
    with api.rt.store.db.read() as session:
        from adjudicator.service.boards import leaderboard_secret
        from adjudicator.store.models import Challenge

        secret = leaderboard_secret(api.rt, session.get(Challenge, cid))
    split = lb.split_units(protocol, truth, secret=secret)
    assert split.digest == view["split"]["digest"]
    entry = read_submission(protocol, ASSETS / "service_entry.csv", truth)
    public = get_kernel(protocol.metric)(lb.restrict(entry.table, split.public))
    assert teams["team-b"]["shown"] == lb.Ladder(step=0.01, higher_is_better=True).respond(
        lb.PublicScore(public)).shown
    # nothing of the private part or of the estimates is in the view
    text = json.dumps(view)
    assert "estimate" not in text and secret not in text and "u000" not in text

    # final rankings wait for the window to close
    final = api.client.get(f"/challenges/{cid}/leaderboard/final")
    assert final.status_code == 409 and "closed" in final.json()["detail"]
    assert api.client.post(f"/challenges/{cid}/close", headers=api.auth("admin")).status_code \
        == 200
    final = api.client.get(f"/challenges/{cid}/leaderboard/final?resamples=400")
    assert final.status_code == 200, final.text
    doc = final.json()
    ranking = doc["ranking"]
    assert (ranking["part"], ranking["n_units"], ranking["resamples"]) == ("private", 40, 400)
    names = [e["name"] for e in ranking["entries"]]
    assert sorted(names) == ["baseline/baseline", "team-a", "team-b"]
    by = {e["name"]: e for e in ranking["entries"]}
    assert by["team-b"]["rank"] == 1  # the strong entry; team-a's last one is the weak one
    assert by["team-a"]["rank"] > 1 and by["team-a"]["rank_interval"][1] >= 2
    # the estimates are the metric on the private units only
    private = get_kernel(protocol.metric)(lb.restrict(entry.table, split.private))
    assert math.isclose(by["team-b"]["estimate"], private, rel_tol=0, abs_tol=0)
    # the secret is published with its commitment: anyone can now replay the board
    assert doc["secret"] == secret
    assert doc["secret_sha256"] == hashlib.sha256(secret.encode()).hexdigest()

    # the command line reads the same store
    settings = api.rt.settings
    monkeypatch.setenv("ADJUDICATOR_HOME", str(settings.home))
    monkeypatch.setenv("ADJUDICATOR_DATABASE_URL", settings.database)
    runner = CliRunner()
    out = runner.invoke(cli_app, ["leaderboard", cid])
    assert out.exit_code == 0, out.output
    lines = out.output.splitlines()
    assert "feedback ladder, scope team" in lines[0]
    assert lines[1].split() == ["rank", "team", "shown", "submissions"]
    assert [line.split()[:2] for line in lines[2:]] == [["1", "team-a"], ["1", "team-b"]]
    as_json = runner.invoke(cli_app, ["leaderboard", cid, "--final", "--json",
                                      "--resamples", "400"])
    assert as_json.exit_code == 0, as_json.output
    assert json.loads(as_json.output)["ranking"] == ranking
    missing = runner.invoke(cli_app, ["leaderboard", "no-such-challenge"])
    assert missing.exit_code == 2 and "no challenge" in missing.output


def test_thresholdout_board_scope_shows_the_budget_and_replays(api, tmp_path):
    path = _protocol(tmp_path, scope="board",
                     feedback={"mechanism": "thresholdout", "threshold": 0.02, "noise": 0.01,
                               "budget": 2})
    cid = api.challenge(protocol=path)
    entry = pd.read_csv(ASSETS / "service_entry.csv")
    for i, who in enumerate(["alice", "bob", "alice", "bob"]):
        shaken = entry.assign(score=entry.score + 0.3 * i * (entry.index % 3 - 1))
        r = api.submit(who, body=shaken.to_csv(index=False).encode())
        assert r.status_code == 201, r.text
    first = api.client.get(f"/challenges/{cid}/leaderboard/public").json()
    again = api.client.get(f"/challenges/{cid}/leaderboard/public").json()
    assert first == again  # replayed, bit for bit
    assert first["split"]["units"] == {"private": 40, "public": 20, "holdout": 20}
    budgets = {t["budget_left"] for t in first["teams"]}
    assert len(budgets) == 1 and budgets.pop() in (0, 1, 2)  # one budget for the board


def test_no_board_without_a_leaderboard_block_and_no_scores_before_the_truth(api, tmp_path):
    cid = api.challenge()  # the service protocol has no leaderboard block
    r = api.client.get(f"/challenges/{cid}/leaderboard/public")
    assert r.status_code == 404 and "no public leaderboard" in r.json()["detail"]
    # (no strata here: a units manifest cannot stand in for a stratum that is the label)
    path = _protocol(tmp_path, strata=(), feedback={"mechanism": "exact"})
    pid = api.challenge("p1", order="prospective", protocol=path)
    assert api.submit("alice", pid).status_code == 201
    view = api.client.get(f"/challenges/{pid}/leaderboard/public").json()
    assert view["split"] is None and "no truth" in view["note"]
    assert view["teams"] == [{"team": "team-a", "shown": None, "rank": None,
                              "submissions": 1}]
    bad = api.client.get(f"/challenges/{pid}/leaderboard/public",
                         headers={"Authorization": "Bearer wrong"})
    assert bad.status_code == 401
