"""Fixtures of the service tests: a real PostgreSQL server, a database per test on both
SQLite and PostgreSQL, and an in-process app with a token for every role.

PostgreSQL is started from the local binaries (``initdb``, ``pg_ctl``) in a temporary
directory, on a free loopback port, once per session. ``initdb`` refuses to run as root, so
as root it runs as an unprivileged user (``postgres`` when the Debian package made one, else
``nobody``) through ``runuser``. A missing server is a failure, never a skip (in CI and
locally alike): ``make system-deps`` installs it. The test cluster runs with ``fsync=off``:
the crash tests kill the service, not the database server.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from adjudicator.settings import Settings, load_settings

ASSETS = Path(__file__).resolve().parent.parent / "assets"
ROOT = Path(__file__).resolve().parents[2]
PROTOCOL = ASSETS / "service_binary.yaml"
GBSG2_PROTOCOL = ROOT / "protocols" / "gbsg2-recurrence-free-survival.yaml"


def _binary(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"),
                        key=lambda p: int(p.split("/")[4]) if p.split("/")[4].isdigit() else 0)
    return candidates[-1] if candidates else None


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _unprivileged() -> str:
    for name in ("postgres", "nobody"):
        try:
            pwd.getpwnam(name)
            return name
        except KeyError:
            continue
    subprocess.run(["useradd", "--system", "--no-create-home", "adjudicator-pg"], check=True)
    return "adjudicator-pg"


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """``postgresql://postgres@127.0.0.1:<port>`` of a server started for this session."""
    initdb, pg_ctl = _binary("initdb"), _binary("pg_ctl")
    if initdb is None or pg_ctl is None:
        pytest.fail("PostgreSQL's initdb/pg_ctl are not installed: run `make system-deps` "
                    "(scripts/ensure-system-packages installs postgresql)")
    base = Path(tempfile.mkdtemp(prefix="adjudicator-pg-"))
    prefix: list[str] = []
    if os.geteuid() == 0:
        user = _unprivileged()
        entry = pwd.getpwnam(user)
        os.chown(base, entry.pw_uid, entry.pw_gid)
        prefix = ["runuser", "-u", user, "--"]
    os.chmod(base, 0o700)
    data = base / "data"

    def run(*args: str) -> None:
        proc = subprocess.run([*prefix, *args], capture_output=True, text=True, cwd=base)
        if proc.returncode != 0:
            log = (base / "log").read_text() if (base / "log").exists() else ""
            pytest.fail(f"{' '.join(args[:2])} failed: {proc.stderr}{proc.stdout}{log}")

    run(initdb, "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8",
        "--no-locale", "--no-sync")
    port = free_port()
    options = (f"-p {port} -k {base} -c listen_addresses=127.0.0.1 -c fsync=off "
               "-c max_connections=400 -c shared_buffers=64MB")
    run(pg_ctl, "-D", str(data), "-l", str(base / "log"), "-w", "-t", "120", "-o", options,
        "start")
    try:
        yield f"postgresql://postgres@127.0.0.1:{port}"
    finally:
        subprocess.run([*prefix, pg_ctl, "-D", str(data), "-m", "immediate", "-w", "stop"],
                       capture_output=True, cwd=base)
        shutil.rmtree(base, ignore_errors=True)


def new_postgres_database(server: str) -> str:
    import psycopg

    name = "t_" + uuid.uuid4().hex[:16]
    with psycopg.connect(f"{server}/postgres", autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return f"{server}/{name}"


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, empty database: SQLite in the test's folder, or one on the session server."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'db' / 'adjudicator.db'}"
    return new_postgres_database(request.getfixturevalue("postgres_server"))


#: the truth key of every test service: a leaderboard challenge's split is an HMAC of it,
#: so a fixed key gives every test the same split on every run (a random one made a test's
#: outcome depend on which units fell into the private part)
TEST_TRUTH_KEY = bytes(range(32))


def make_settings(tmp_path: Path, database_url: str, **overrides: Any) -> Settings:
    from adjudicator.store.keys import TRUTH_KEY_FILE, _create_private, _private_dir

    settings = load_settings(home=tmp_path / "home", database_url=database_url, **overrides)
    _private_dir(settings.keys)
    _create_private(settings.keys / TRUTH_KEY_FILE, TEST_TRUTH_KEY)  # kept if it exists
    return settings


@contextmanager
def serving(app: Any) -> Iterator[str]:
    """Run ``app`` under uvicorn on a free loopback port in a thread; yield its URL."""
    import threading

    import uvicorn

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port,
                                           log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        if not thread.is_alive():
            pytest.fail("the test server did not start")
        threading.Event().wait(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(60)


@dataclass
class Api:
    """An in-process app with one token per role and helpers to set a challenge up."""

    client: Any
    app: Any
    tokens: dict[str, str] = field(default_factory=dict)

    @property
    def rt(self) -> Any:
        return self.app.state.runtime

    def auth(self, who: str | None) -> dict[str, str]:
        return {} if who is None else {"Authorization": f"Bearer {self.tokens[who]}"}

    def drain(self) -> int:
        return int(self.app.state.worker.drain())

    def register(self, protocol: Path = PROTOCOL) -> str:
        r = self.client.post("/protocols", content=protocol.read_bytes(),
                             headers=self.auth("admin") | {"Content-Type": "application/yaml"})
        assert r.status_code in (200, 201), r.text
        return str(r.json()["digest"])

    def challenge(self, cid: str = "c1", order: str = "retrospective", *, open: bool = True,
                  protocol: Path = PROTOCOL, truth: Path = ASSETS / "service_truth.csv",
                  baselines: dict[str, Path] | None = None) -> str:
        digest = self.register(protocol)
        admin = self.auth("admin")
        r = self.client.post("/challenges", json={"id": cid, "protocol": digest,
                                                  "order": order}, headers=admin)
        assert r.status_code == 201, r.text
        if order == "retrospective":
            r = self.client.put(f"/challenges/{cid}/truth", content=truth.read_bytes(),
                                headers=admin)
        else:
            r = self.client.put(f"/challenges/{cid}/units",
                                content=(ASSETS / "service_units.csv").read_bytes(),
                                headers=admin)
        assert r.status_code == 200, r.text
        for name, path in (baselines or {"baseline": ASSETS / "service_baseline.csv"}).items():
            r = self.client.put(f"/challenges/{cid}/baselines/{name}",
                                content=path.read_bytes(), headers=admin)
            assert r.status_code == 200, r.text
        if open:
            r = self.client.post(f"/challenges/{cid}/open", headers=admin)
            assert r.status_code == 200, r.text
        return cid

    def submit(self, who: str, cid: str = "c1", body: bytes | Path = ASSETS / "service_entry.csv",
               *, key: str | None = None, headers: dict[str, str] | None = None) -> Any:
        data = body.read_bytes() if isinstance(body, Path) else body
        h = self.auth(who) | (headers or {})
        if key is not None:
            h["Idempotency-Key"] = key
        return self.client.post(f"/challenges/{cid}/submissions", content=data, headers=h)


def add_tokens(rt: Any) -> dict[str, str]:
    from adjudicator.service.users import add_user

    tokens = {}
    for name, role, team in (("admin", "admin", None), ("alice", "participant", "team-a"),
                             ("alice2", "participant", "team-a"),
                             ("bob", "participant", "team-b"), ("auditor", "auditor", None)):
        tokens[name] = add_user(rt, name, role, team)[1]
    return tokens


@pytest.fixture
def api(tmp_path: Path, database_url: str) -> Iterator[Api]:
    """The service in process (worker not started: tests call ``api.drain()``)."""
    from fastapi.testclient import TestClient

    from adjudicator.service import create_app

    app = create_app(make_settings(tmp_path, database_url, max_upload_bytes=256 * 1024),
                     worker=False)
    tokens = add_tokens(app.state.runtime)
    with TestClient(app) as client:
        yield Api(client=client, app=app, tokens=tokens)


@dataclass
class Live:
    """A real uvicorn server on loopback, in a thread of the test process."""

    url: str
    app: Any
    tokens: dict[str, str]

    def auth(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[who]}"}


@pytest.fixture
def live(tmp_path: Path, database_url: str) -> Iterator[Live]:
    from fastapi.testclient import TestClient

    from adjudicator.service import create_app

    app = create_app(make_settings(tmp_path, database_url), worker=False)
    tokens = add_tokens(app.state.runtime)
    with TestClient(app) as client:  # set a challenge up through the API
        helper = Api(client=client, app=app, tokens=tokens)
        helper.challenge()
    app = create_app(make_settings(tmp_path, database_url), worker=False)
    with serving(app) as url:
        yield Live(url=url, app=app, tokens=tokens)
