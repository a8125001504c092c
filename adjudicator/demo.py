"""``make demo``: a real cancer challenge, end to end, through the HTTP service.

The challenge is GBSG2 (recurrence-free survival after breast-cancer surgery, 686 women,
as scikit-survival ships it; never copied into the repository). In a fresh home
(SQLite, local keys) the demo:

1. registers every protocol in ``protocols/`` (their digests are printed);
2. starts ``adjudicator serve`` in this process on a free loopback port;
3. as the committee: registers the GBSG2 protocol, creates the challenge, commits the
   truth, uploads the clinical Cox baseline, records the power before launch (the smallest
   C-index and improvement over the baseline that 686 women certify with 80% probability)
   and opens the window;
4. as three teams: ``strong-lab`` sends a Cox model on every covariate, ``weak-lab`` a model
   on age alone, ``variants-lab`` many small variants of the strong model, each charged
   its own alpha_k;
5. waits for every adjudication, issues a signed certification report for each, downloads
   them into ``reports/``, renders and signs the variants team's audit and the funders'
   progress report, closes the window;
6. verifies every report (signature, coverage, evidence) and the whole ledger, and prints
   a summary table.

Nothing here decides anything: the service does, by the protocol.
"""

from __future__ import annotations

import socket
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import typer

from .errors import ComputationError, ConfigurationError, VerificationError
from .protocol import load_protocol

__all__ = ["run_demo", "register_protocols", "DemoOutcome"]

CHALLENGE = "gbsg2"
PROTOCOL_FILE = "gbsg2-recurrence-free-survival.yaml"
N_VARIANTS = 5
#: power before launch: the clinical Cox model's C-index (about what GBSG2 gives it) and a
#: quick simulation (the committee would run more)
POWER_BASELINE_C = 0.65
POWER_CENSORING = 0.56  # GBSG2: 387 of 686 follow-ups censored
POWER_SIMULATIONS = 60
POWER_RESAMPLES = 200
TEAMS = {"strong-lab": ["strong"], "weak-lab": ["weak"],
         "variants-lab": [f"variant-{i}" for i in range(1, N_VARIANTS + 1)]}


@dataclass(frozen=True)
class DemoOutcome:
    """What the demo produced (the test reads it)."""

    home: Path
    reports: dict[str, Path]
    results: list[dict[str, Any]]
    ledger_size: int
    power: dict[str, Any]  # the power analysis recorded before the window opened


def register_protocols(folder: Path) -> dict[str, str]:
    """Load, validate and fingerprint every protocol in ``folder``; id -> digest."""
    paths = sorted(folder.glob("*.yaml"))
    if not paths:
        raise ConfigurationError(f"{folder}: no protocol files (*.yaml) to register")
    typer.echo(f"Registering {len(paths)} preregistered protocols from {folder}/")
    width = max(len(p.stem) for p in paths)
    digests = {}
    for path in paths:
        protocol = load_protocol(path)
        digests[protocol.id] = protocol.digest
        typer.echo(f"  {path.stem:<{width}}  v{protocol.version}  {protocol.digest}")
    return digests


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def _server(settings: Any) -> Iterator[str]:
    """``adjudicator serve`` in a thread of this process, on loopback; yields its URL."""
    import uvicorn

    from .service.app import create_app

    port = _free_port()
    config = uvicorn.Config(create_app(settings, poll=0.1), host="127.0.0.1", port=port,
                            log_level="warning", access_log=False, lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="adjudicator-serve", daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise ComputationError("the demo server did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=60)


class _Api:
    """A thin HTTP client: one bearer token, errors raised with the service's message."""

    def __init__(self, base: str, token: str | None = None) -> None:
        import httpx

        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.http = httpx.Client(base_url=base, headers=headers, timeout=120)

    def call(self, method: str, path: str, **kw: Any) -> Any:
        r = self.http.request(method, path, **kw)
        if r.status_code >= 400:
            raise ComputationError(f"{method} {path}: {r.status_code} {r.text[:300]}")
        if r.headers.get("content-type", "").startswith("application/json"):
            return r.json()
        return r.content


def _wait(api: _Api, ids: list[int], done: set[str], label: str) -> list[dict[str, Any]]:
    """Poll submissions until each reaches a state in ``done``, with a progress bar."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    views: dict[int, dict[str, Any]] = {}
    with Progress(TextColumn(f"  {label}"), BarColumn(), MofNCompleteColumn(),
                  transient=False) as bar:
        task = bar.add_task(label, total=len(ids))
        deadline = time.monotonic() + 600
        while len(views) < len(ids):
            for i in ids:
                if i not in views:
                    v = api.call("GET", f"/submissions/{i}")
                    if v["status"] in done:
                        views[i] = v
                        bar.advance(task)
            if time.monotonic() > deadline:
                raise ComputationError(f"{label}: timed out waiting for the worker")
            time.sleep(0.2)
    return [views[i] for i in ids]


def _wait_reports(api: _Api, ids: list[int]) -> None:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    with Progress(TextColumn("  signing reports"), BarColumn(), MofNCompleteColumn()) as bar:
        task = bar.add_task("reports", total=len(ids))
        pending = set(ids)
        deadline = time.monotonic() + 600
        while pending:
            for i in sorted(pending):
                r = api.http.get(f"/submissions/{i}/report")
                if r.status_code == 200:
                    pending.discard(i)
                    bar.advance(task)
            if time.monotonic() > deadline:
                raise ComputationError("timed out waiting for reports")
            time.sleep(0.2)


def run_demo(
    protocols: Path = Path("protocols"),
    *,
    home: Path | None = None,
    reports: Path = Path("reports"),
) -> DemoOutcome:
    """Run the demo challenge end to end (see the module docstring)."""
    from rich.console import Console
    from rich.table import Table as RichTable

    from .demo_data import stage_gbsg2
    from .report import (
        load_signing_identity,
        render_audit_report,
        render_progress_report,
        verify_report,
        write_signed_report,
    )
    from .service.commands import verify_ledger
    from .service.runtime import Runtime
    from .service.users import add_user
    from .settings import load_settings
    from .store import open_store

    started = time.monotonic()
    register_protocols(protocols)
    home = home or Path(tempfile.mkdtemp(prefix="adjudicator-demo-"))
    settings = load_settings(home=home, database_url=f"sqlite:///{home / 'adjudicator.db'}")
    out = reports / CHALLENGE
    out.mkdir(parents=True, exist_ok=True)
    typer.echo(f"\nHome of this run: {home} (SQLite, local keys); reports go to {out}/")

    typer.echo("Staging GBSG2 from scikit-survival (cross-fitted team models)...")
    files = stage_gbsg2(home / "data", n_variants=N_VARIANTS)

    # users are created the way `adjudicator users add` does it
    rt = Runtime(settings=settings, store=open_store(settings))
    try:
        tokens = {"admin": add_user(rt, "committee", "admin")[1],
                  "auditor": add_user(rt, "funder", "auditor")[1]}
        for team in TEAMS:
            tokens[team] = add_user(rt, f"{team}-member", "participant", team)[1]
    finally:
        rt.store.close()

    results: list[dict[str, Any]] = []
    with _server(settings) as base:
        typer.echo(f"Service running at {base}\n")
        admin = _Api(base, tokens["admin"])
        text = (protocols / PROTOCOL_FILE).read_bytes()
        digest = admin.call("POST", "/protocols", content=text,
                            headers={"Content-Type": "application/yaml"})["digest"]
        admin.call("POST", "/challenges", json={
            "id": CHALLENGE, "protocol": digest, "order": "retrospective",
            "title": "GBSG2 recurrence-free survival"})
        admin.call("PUT", f"/challenges/{CHALLENGE}/truth", content=files.truth.read_bytes())
        admin.call("PUT", f"/challenges/{CHALLENGE}/baselines/clinical-cox",
                   content=files.baseline.read_bytes())
        typer.echo(f"Committee: protocol {digest[:19]}..., truth committed, baseline "
                   "clinical-cox uploaded.")
        # before the window opens: what this test set can certify, into the record
        power = admin.call("POST", f"/challenges/{CHALLENGE}/power", json={
            "family": {"censoring": POWER_CENSORING},
            "baseline_value": POWER_BASELINE_C, "simulations": POWER_SIMULATIONS,
            "resamples": POWER_RESAMPLES})
        typer.echo("Power before launch (recorded in the ledger, entry "
                   f"{power['ledger_seq']}):\n{power['summary']}")
        admin.call("POST", f"/challenges/{CHALLENGE}/open")
        typer.echo("Window open.")

        ids: list[int] = []
        for team, entries in TEAMS.items():
            api = _Api(base, tokens[team])
            for entry in entries:
                view = api.call("POST", f"/challenges/{CHALLENGE}/submissions",
                                params={"name": entry},
                                content=files.entries[entry].read_bytes(),
                                headers={"Idempotency-Key": f"demo-{team}-{entry}"})
                ids.append(view["id"])
        typer.echo(f"Teams sent {len(ids)} submissions; the worker adjudicates them:")
        views = _wait(admin, ids, {"adjudicated", "failed"}, "adjudicating")
        failed = [v for v in views if v["status"] == "failed"]
        if failed:
            raise ComputationError(f"adjudication failed: {failed[0]['error']}")
        for i in ids:
            admin.call("POST", f"/submissions/{i}/report")
        _wait_reports(admin, ids)
        paths: dict[str, Path] = {}
        for v in views:
            name = f"certification-{v['team']}-{v['sequence']}-{v['name']}.pdf"
            paths[name] = out / name
            paths[name].write_bytes(admin.call("GET", f"/submissions/{v['id']}/report"))
            results.append(admin.call("GET", f"/submissions/{v['id']}/result"))
        admin.call("POST", f"/challenges/{CHALLENGE}/close")
        checkpoint = admin.call("GET", "/ledger/checkpoint")
        if isinstance(checkpoint, bytes):
            checkpoint = checkpoint.decode()

    # the audit of the many-variants team and the funders' progress report
    identity = load_signing_identity(settings.keys)
    now = datetime.now(UTC)
    team_results = [r for r in results if r["submission"]["team"] == "variants-lab"]
    audit = render_audit_report(team_results)
    paths["audit-variants-lab.pdf"] = out / "audit-variants-lab.pdf"
    write_signed_report(audit.pdf, paths["audit-variants-lab.pdf"], identity,
                        signing_time=now)
    points = [{"date": r["timestamps"]["adjudicated_at"][:10], "estimate": r["estimate"],
               "low": r["interval"]["low"], "high": r["interval"]["high"],
               "team": r["submission"]["team"], "submission": r["submission"]["name"],
               "verdict": r["verdict"]} for r in results]
    first = results[0]
    challenge = {"title": first["protocol"]["title"], "metric": first["metric"],
                 "baseline": {"name": "clinical-cox",
                              "value": first["baselines"][0]["estimate"]},
                 "threshold": next(c["bound"] for c in first["criteria"]
                                   if c["kind"] == "absolute"),
                 "protocol": {"id": first["protocol"]["id"],
                              "digest": first["protocol"]["digest"]},
                 "confidence": first["interval"]["confidence"]}
    progress = render_progress_report(points, challenge=challenge,
                                      as_of=max(p["date"] for p in points))
    paths["progress-gbsg2.pdf"] = out / "progress-gbsg2.pdf"
    write_signed_report(progress.pdf, paths["progress-gbsg2.pdf"], identity,
                        signing_time=now)
    (out / "ledger-checkpoint.txt").write_text(checkpoint)

    # verify everything, offline
    typer.echo("\nVerifying every report and the ledger, offline:")
    cert = settings.keys / "signing-cert.pem"
    for _name, path in sorted(paths.items()):
        check = verify_report(path, cert=cert)
        if not check.valid:
            raise VerificationError(f"{path}: {'; '.join(check.reasons)}")
        typer.echo(f"  valid  {path}")
    rt = Runtime(settings=settings, store=open_store(settings))
    try:
        ledger, _records, n_files = verify_ledger(rt, checkpoint=checkpoint)
    finally:
        rt.store.close()
    size = getattr(ledger, "size", None) or len(results)
    typer.echo(f"  valid  ledger: {size} entries, {n_files} stored files, checkpoint in "
               f"{out / 'ledger-checkpoint.txt'}")

    table = RichTable(title=f"GBSG2: Harrell's C, threshold {challenge['threshold']}, "
                            f"baseline clinical-cox {challenge['baseline']['value']:.3f}")
    for col in ("team", "k", "entry", "C-index", "95% interval", "alpha_k", "verdict"):
        table.add_column(col, no_wrap=True,
                         justify="right" if col in ("k", "C-index", "alpha_k") else "left")
    for r in sorted(results, key=lambda r: (r["submission"]["team"],
                                            r["submission"]["sequence"])):
        iv = r["interval"]
        table.add_row(r["submission"]["team"], str(r["submission"]["sequence"]),
                      r["submission"]["name"] or "", f"{r['estimate']:.3f}",
                      f"{iv['low']:.3f} - {iv['high']:.3f}",
                      f"{r['multiplicity']['alpha_k']:.4g}", r["verdict"])
    Console(width=max(Console().width, 100)).print(table)
    typer.echo(f"Done in {time.monotonic() - started:.0f} s. Verify any report yourself:\n"
               f"  adjudicator verify {paths[sorted(paths)[0]]} --cert {cert}")
    return DemoOutcome(home=home, reports=paths, results=results, ledger_size=size,
                       power=power)
