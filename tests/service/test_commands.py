"""The service's commands: users add prints a working token once; ledger verify/checkpoint."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from adjudicator.cli import app


@pytest.fixture
def env(monkeypatch, tmp_path, database_url):
    monkeypatch.setenv("ADJUDICATOR_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("ADJUDICATOR_DATABASE_URL", database_url)
    return tmp_path


def _run(*args):
    return CliRunner().invoke(app, list(args))


def test_users_add_prints_the_token_once(env):
    r = _run("users", "add", "--role", "participant", "--team", "t1", "--name", "ann")
    assert r.exit_code == 0, r.output
    token = r.stdout.strip().splitlines()[-1]
    assert token.startswith("adj_") and len(token) > 40
    from adjudicator.service.users import authenticate
    from adjudicator.settings import load_settings
    from adjudicator.store import open_store

    store = open_store(load_settings())
    try:
        with store.db.read() as s:
            who = authenticate(s, token)
        assert (who.name, who.role, who.team) == ("ann", "participant", "t1")
    finally:
        store.close()
    listed = _run("users", "list")
    assert "ann\tparticipant\tt1" in listed.stdout and token not in listed.stdout
    assert _run("users", "add", "--role", "participant").exit_code == 2  # no team
    assert _run("users", "add", "--role", "auditor", "--team", "t1").exit_code == 2
    assert _run("users", "add", "--role", "king").exit_code == 2
    assert _run("users", "add", "--role", "admin", "--name", "ann").exit_code == 2  # exists
    assert _run("users", "revoke", "ann").exit_code == 0
    assert _run("users", "revoke", "nobody-here").exit_code == 2


def test_ledger_commands(env):
    r = _run("ledger", "verify")
    assert r.exit_code == 0 and "ok: 0 entries" in r.stdout
    note = env / "cp.note"
    assert _run("ledger", "checkpoint", "--out", str(note)).exit_code == 0
    key = env / "ledger.vkey"
    key.write_text(_run("ledger", "key").stdout)
    r = _run("ledger", "verify", "--checkpoint", str(note), "--key", str(key))
    assert r.exit_code == 0, r.output
    assert _run("ledger", "verify", "--checkpoint", str(env / "missing")).exit_code == 2
    note.write_text(note.read_text().replace("\n0\n", "\n1\n"))
    assert _run("ledger", "verify", "--checkpoint", str(note)).exit_code == 1
