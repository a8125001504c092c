"""Signed reports from the command line: keys init, adjudicate --out, verify, audit, progress."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from adjudicator.cli import app

from .conftest import ASSETS, PROTOCOLS

PROTOCOL = str(PROTOCOLS / "gbsg2-recurrence-free-survival.yaml")
runner = CliRunner()


def run(*args: str):
    return runner.invoke(app, [str(a) for a in args])


def adjudicate(files, entry: str, out: Path, *extra: str):
    return run("adjudicate", "-p", PROTOCOL, "-t", files.truth, "-s", files.entries[entry],
               "-b", f"clinical-cox={files.baseline}", "--out", out, *extra)


def test_adjudicate_without_keys_fails_before_computing(gbsg2_files, home, tmp_path):
    res = adjudicate(gbsg2_files, "weak", tmp_path / "out")
    assert res.exit_code == 2
    assert "run `adjudicator keys init` first" in res.output
    assert "resampled" not in res.output, "no work is done without a way to sign it"
    assert not (tmp_path / "out").exists()


def test_keys_init_then_signed_report_verifies(gbsg2_files, home, tmp_path):
    res = run("keys", "init", "--name", "Prize Committee")
    assert res.exit_code == 0, res.output
    key = home / "keys" / "signing-key.pem"
    assert key.stat().st_mode & 0o777 == 0o600
    assert run("keys", "init").exit_code == 2, "an identity is never replaced silently"

    out = tmp_path / "strong"
    res = adjudicate(gbsg2_files, "strong", out, "--team", "oncology-ml")
    assert res.exit_code == 0, res.output
    assert {p.name for p in out.iterdir()} >= {"result.json", "report.pdf",
                                               "report.pdf.minisig"}
    res = run("verify", out / "report.pdf")
    assert res.exit_code == 0, res.output
    assert "VALID" in res.output and "Prize Committee" in res.output

    # one changed byte anywhere: invalid, exit 1
    data = bytearray((out / "report.pdf").read_bytes())
    data[len(data) // 2] ^= 0x01
    bad = tmp_path / "tampered.pdf"
    bad.write_bytes(bytes(data))
    res = run("verify", bad)
    assert res.exit_code == 1, res.output
    # not a PDF at all, or a missing file: unusable, exit 2
    assert run("verify", tmp_path / "missing.pdf").exit_code == 2


def test_audit_and_progress_reports(gbsg2_files, home, tmp_path):
    assert run("keys", "init").exit_code == 0
    team = tmp_path / "team"
    history: list[dict] = []
    for k, entry in enumerate(["variant-1", "variant-2", "strong"], start=1):
        hist = tmp_path / f"history-{k}.json"
        hist.write_text(json.dumps(history))
        res = adjudicate(gbsg2_files, entry, team / f"s{k}", "--team", "many-variants",
                         "--history", hist, "--no-report")
        assert res.exit_code == 0, res.output
        doc = json.loads((team / f"s{k}" / "result.json").read_text())
        assert doc["submission"]["sequence"] == k
        history.append(doc)
    alphas = [d["multiplicity"]["alpha_k"] for d in history]
    assert alphas == sorted(alphas, reverse=True), "every try is charged: alpha_k shrinks"

    res = run("report", "audit", team, "--out", tmp_path / "audit.pdf")
    assert res.exit_code == 0, res.output
    assert run("verify", tmp_path / "audit.pdf").exit_code == 0

    res = run("report", "progress", team, "--baseline", "clinical-cox",
              "--out", tmp_path / "progress.pdf")
    assert res.exit_code == 0, res.output
    assert run("verify", tmp_path / "progress.pdf").exit_code == 0
    res = run("report", "progress", team, "--baseline", "nobody", "--out", tmp_path / "x.pdf")
    assert res.exit_code == 2 and "no result carries the baseline 'nobody'" in res.output


def test_a_degenerate_adjudication_exits_0_with_a_signed_inconclusive_report(home, tmp_path):
    """A perfectly separating entry: no interval and no p-value for its threshold. The
    adjudication still ran: exit 0, and every report renders the nulls and verifies."""
    from adjudicator.report import verify_report

    assert run("keys", "init").exit_code == 0
    out = tmp_path / "team" / "perfect"
    res = run("adjudicate", "-p", ASSETS / "service_binary.yaml",
              "-t", ASSETS / "service_truth.csv", "-s", ASSETS / "service_entry_perfect.csv",
              "-b", f"baseline={ASSETS / 'service_baseline.csv'}", "--team", "t", "--out", out)
    assert res.exit_code == 0, res.output
    assert "INCONCLUSIVE" in res.output and "cannot measure the sampling" in res.output
    doc = json.loads((out / "result.json").read_text())
    assert doc["interval"]["low"] is None and doc["criteria"][0]["p_value"] is None
    check = verify_report(out / "report.pdf", cert=home / "keys" / "signing-cert.pem")
    assert check.valid and check.verdict == "INCONCLUSIVE", check.summary()
    for kind, extra in (("audit", ()), ("progress", ("--baseline", "baseline"))):
        res = run("report", kind, tmp_path / "team", *extra, "--out", tmp_path / f"{kind}.pdf")
        assert res.exit_code == 0, res.output
        assert run("verify", tmp_path / f"{kind}.pdf").exit_code == 0
