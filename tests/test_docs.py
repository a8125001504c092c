"""Docs that can rot are tested (STYLE 14).

* docs/protocol-reference.md and docs/cli.md are exactly what scripts/gen_docs.py
  generates (run `make docs` after changing a protocol field or a command);
* every protocol field has a description;
* the CLI page is what the command line really prints;
* every relative link between the docs resolves, anchors included.
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from adjudicator.protocol import protocol_schema

from .conftest import ROOT

DOCS = ROOT / "docs"


def _load_generator():
    spec = importlib.util.spec_from_file_location("gen_docs", ROOT / "scripts" / "gen_docs.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


gen_docs = _load_generator()


@pytest.mark.parametrize("page", ["protocol-reference.md", "cli.md"])
def test_generated_page_is_up_to_date(page):
    path = DOCS / page
    generated = gen_docs.pages()[path]
    committed = path.read_text(encoding="utf-8")
    assert committed == generated, f"docs/{page} is stale: run `make docs` and commit it"


def test_every_protocol_field_has_a_description():
    assert gen_docs.missing_descriptions(protocol_schema()) == []


def test_a_field_without_a_description_is_caught():
    schema = {"properties": {"a": {"type": "integer", "description": "fine"},
                             "b": {"type": "integer"}},
              "$defs": {"X": {"properties": {"c": {"description": "  "}}}}}
    assert gen_docs.missing_descriptions(schema) == ["Protocol.b", "X.c"]


def test_every_field_of_every_block_is_in_the_reference():
    page = (DOCS / "protocol-reference.md").read_text(encoding="utf-8")
    schema = protocol_schema()
    blocks = [("Protocol", schema), *schema["$defs"].items()]
    for name, definition in blocks:
        for field, node in definition["properties"].items():
            row = f"| `{field}` |"
            assert row in page, f"{name}.{field} is missing from the reference"
            described = _words(node["description"].replace("``", "`").replace("|", "\\|"))
            assert described in _words(page), f"{name}.{field}: description not shown"


def _words(text: str) -> str:
    return " ".join(text.split())


def test_cli_page_is_what_the_command_line_prints():
    """One command through a real process: the page is its --help, not our rendering."""
    env = {**os.environ, "TYPER_USE_RICH": "0", "COLUMNS": "120"}
    page = (DOCS / "cli.md").read_text(encoding="utf-8")
    for argv in (["ledger", "verify"], ["adjudicate"]):
        out = subprocess.run([sys.executable, "-m", "adjudicator", *argv, "--help"],
                             capture_output=True, text=True, env=env, timeout=120)
        assert out.returncode == 0, out.stderr
        block = "```text\n" + out.stdout.rstrip("\n") + "\n```"
        assert block in page, f"adjudicator {' '.join(argv)} --help differs from docs/cli.md"


def test_cli_page_covers_the_core_and_the_service_commands():
    page = (DOCS / "cli.md").read_text(encoding="utf-8")
    headings = set(re.findall(r"^## (adjudicator.*)$", page, flags=re.M))
    for command in ("adjudicator", "adjudicator adjudicate", "adjudicator verify",
                    "adjudicator protocol validate", "adjudicator keys init",
                    "adjudicator report audit", "adjudicator serve", "adjudicator users add",
                    "adjudicator ledger verify", "adjudicator leaderboard"):
        assert command in headings, command


# -- links -------------------------------------------------------------------------------

_LINK = re.compile(r"\]\(([^)\s]+)\)")
_FENCE = re.compile(r"^```.*?^```", flags=re.S | re.M)
_CODE = re.compile(r"`[^`\n]*`")


def _anchors(text: str) -> set[str]:
    body = _FENCE.sub("", text)
    return {gen_docs.slug(h) for h in re.findall(r"^#{1,6} (.+)$", body, flags=re.M)}


def _pages():
    return [ROOT / "README.md", *sorted(DOCS.glob("*.md"))]


@pytest.mark.parametrize("page", _pages(), ids=lambda p: p.name)
def test_relative_links_resolve(page):
    text = _CODE.sub("", _FENCE.sub("", page.read_text(encoding="utf-8")))
    for target in _LINK.findall(text):
        if re.match(r"^[a-z]+:", target):
            continue  # an external address
        file, _, anchor = target.partition("#")
        dest = (page.parent / file).resolve() if file else page
        assert dest.exists(), f"{page.name}: link to a missing file {target}"
        if anchor and dest.suffix == ".md":
            assert anchor in _anchors(dest.read_text(encoding="utf-8")), (
                f"{page.name}: no heading for #{anchor} in {dest.name}")


def test_the_link_check_can_fail(tmp_path):
    page = tmp_path / "a.md"
    page.write_text("# Title\n\n[ok](#title) [bad](#nowhere)\n")
    assert "title" in _anchors(page.read_text())
    assert "nowhere" not in _anchors(page.read_text())


# -- docs/verifying.md: its commands run, on a report the service issues --------------------

_BLOCK = re.compile(r"^```(sh|python)\n(.*?)^```", flags=re.S | re.M)
_EXIT = re.compile(r"#\s*exit (\d+)")


def _doc_blocks(page: str) -> list[tuple[str, str]]:
    return _BLOCK.findall((DOCS / page).read_text(encoding="utf-8"))


def _expected_exit(line: str) -> int:
    match = _EXIT.search(line)
    return int(match.group(1)) if match else 0


def test_exit_annotations_are_read():
    assert _expected_exit("adjudicator verify x.pdf   # exit 1: INVALID") == 1
    assert _expected_exit("pdfdetach -list report.pdf   # 1: result.json") == 0


@pytest.fixture
def issued_report(tmp_path):
    """A certification report issued by the service (SQLite, in process), the public files
    a verifier holds and the closed challenge's results bundle, in one folder; plus the
    environment of the service's host."""
    import shutil

    from fastapi.testclient import TestClient

    from adjudicator.service import create_app

    from .service.conftest import Api, add_tokens, make_settings

    database = f"sqlite:///{tmp_path / 'db' / 'adjudicator.db'}"
    settings = make_settings(tmp_path, database)
    app = create_app(settings, worker=False)
    tokens = add_tokens(app.state.runtime)
    with TestClient(app) as client:
        api = Api(client=client, app=app, tokens=tokens)
        api.challenge()
        submission = api.submit("alice").json()
        assert api.drain() == 1
        admin = api.auth("admin")
        sid = submission["id"]
        assert client.post(f"/submissions/{sid}/report", headers=admin).status_code == 202
        assert api.drain() == 1
        work = tmp_path / "verify"
        work.mkdir()
        pdf = client.get(f"/submissions/{sid}/report", headers=admin)
        assert pdf.status_code == 200, pdf.text
        (work / "report.pdf").write_bytes(pdf.content)
        proof = client.get(f"/submissions/{sid}/report/proof", headers=admin).json()
        assert proof["minisig"], "the service signs every report with minisign too"
        (work / "report.pdf.minisig").write_text(proof["minisig"], encoding="utf-8")
        (work / "ledger.pub").write_text(client.get("/ledger/key").text, encoding="utf-8")
        for name in ("signing-cert.pem", "minisign.pub"):
            shutil.copy(settings.keys / name, work / name)
        # the window closes: the public results bundle of the challenge
        assert client.post("/challenges/c1/close", headers=admin).status_code == 200
        bundle = client.get("/challenges/c1/results/bundle")
        assert bundle.status_code == 200, bundle.text
        (work / "results.zip").write_bytes(bundle.content)
        env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}"
               f"{os.environ.get('PATH', '')}", "ADJUDICATOR_HOME": str(settings.home),
               "ADJUDICATOR_DATABASE_URL": database}
        yield work, env


@pytest.mark.slow
def test_verifying_page_commands_run_on_an_issued_report(issued_report):
    work, env = issued_report
    blocks = _doc_blocks("verifying.md")
    assert {kind for kind, _ in blocks} == {"sh", "python"}, "the page shows both"
    ran = 0
    for kind, code in blocks:
        if kind == "python":
            out = subprocess.run([sys.executable, "-c", code], cwd=work, env=env,
                                 capture_output=True, text=True, timeout=300)
            assert out.returncode == 0, f"{code}\n{out.stderr}"
            assert "is in the signed checkpoint" in out.stdout, out.stdout
            ran += 1
            continue
        for line in code.splitlines():
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            out = subprocess.run(["bash", "-c", line], cwd=work, env=env,
                                 capture_output=True, text=True, timeout=300)
            assert out.returncode == _expected_exit(line), (
                f"{line}\nexit {out.returncode}\n{out.stdout}\n{out.stderr}")
            ran += 1
    assert ran >= 20

    # the ledger check of the page fails on an edited entry, not only passes
    import json

    result = json.loads((work / "result.json").read_text(encoding="utf-8"))
    result["ledger"]["entry"] = result["ledger"]["entry"].replace("\"verdict\":\"",
                                                                  "\"verdict\":\"X")
    (work / "result.json").write_text(json.dumps(result), encoding="utf-8")
    python = next(code for kind, code in blocks if kind == "python")
    out = subprocess.run([sys.executable, "-c", python], cwd=work, env=env,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode != 0 and "VerificationError" in out.stderr, out.stderr


def test_readme_protocol_example_is_the_demo_protocol():
    """The README's short tour shows protocols/gbsg2-recurrence-free-survival.yaml (all
    but its summary): the same meaning, field for field."""
    from adjudicator.protocol import load_protocol, parse_protocol

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    shown = next(b for b in re.findall(r"```yaml\n(.*?)```", readme, flags=re.S)
                 if "adjudicator: protocol/v1" in b)
    real = load_protocol(ROOT / "protocols" / "gbsg2-recurrence-free-survival.yaml")
    example = parse_protocol(shown, source="README.md")
    assert example.model_dump(exclude={"summary"}) == real.model_dump(exclude={"summary"})
