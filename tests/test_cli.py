"""The command line: exit codes, messages, help that teaches."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from adjudicator.cli import app

from .conftest import PROTOCOLS

runner = CliRunner()
GBSG2 = str(PROTOCOLS / "gbsg2-recurrence-free-survival.yaml")


def run(*args: str):
    return runner.invoke(app, list(args))


def test_validate_prints_digests_and_exits_0():
    paths = [str(p) for p in sorted(PROTOCOLS.glob("*.yaml"))]
    res = run("protocol", "validate", *paths)
    assert res.exit_code == 0, res.output
    assert res.output.count("sha256:") == len(paths)


def test_validate_exits_2_and_names_field(tmp_path: Path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(Path(GBSG2).read_text().replace("absolute: 0.65", "absolute: .nan"))
    res = run("protocol", "validate", GBSG2, str(bad))
    assert res.exit_code == 2
    assert "threshold.absolute: must be a finite number" in res.output
    assert str(bad) in res.output


def test_digest_matches_library():
    from adjudicator import load_protocol

    res = run("protocol", "digest", GBSG2)
    assert res.exit_code == 0
    assert res.output.strip() == load_protocol(GBSG2).digest


def test_show_explains_in_plain_words():
    res = run("protocol", "show", GBSG2)
    assert res.exit_code == 0
    assert "Harrell's concordance index" in res.output
    assert "beat the baseline 'clinical-cox' by more than 0.01" in res.output
    as_json = run("protocol", "show", "--json", GBSG2)
    assert json.loads(as_json.output)["id"] == "gbsg2-recurrence-free-survival"


def test_schema_is_json():
    res = run("protocol", "schema")
    assert res.exit_code == 0
    assert json.loads(res.output)["title"] == "adjudicator protocol/v1"


def test_usage_error_exits_2():
    assert run("protocol", "digest").exit_code == 2
    assert run("no-such-command").exit_code == 2


def test_missing_file_exits_2(tmp_path: Path):
    res = run("protocol", "digest", str(tmp_path / "nope.yaml"))
    assert res.exit_code == 2
    assert "cannot read" in res.output


def test_console_script_runs_in_a_subprocess():
    out = subprocess.run(
        [sys.executable, "-m", "adjudicator", "protocol", "digest", GBSG2],
        capture_output=True, text=True, check=False,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("sha256:")


@pytest.mark.parametrize("command", [[], ["protocol"]])
def test_help_lists_commands(command):
    res = run(*command, "--help")
    assert res.exit_code == 0
    assert "Usage" in res.output
