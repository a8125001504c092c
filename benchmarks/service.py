"""The service on loopback: accepted uploads per second, and read latency while adjudications
run, on SQLite and on PostgreSQL (started here from initdb/pg_ctl in a temporary folder).

For each database a real server (``python -m adjudicator serve``, one process, 127.0.0.1
only) is set up with the GBSG2 demo challenge (686 patients, the protocol in
``protocols/``), then:

1. *uploads*: ``TEAMS`` participants send ``PER_TEAM`` GBSG2 entries each from
   ``CLIENTS`` concurrent connections, worker off; every upload is validated against the
   truth, stored and recorded in the ledger before it is accepted. Reported: accepted
   uploads per second (wall clock of the whole burst).
2. *reads under load*: the server restarts with its worker on, so the queued adjudications
   (paired bootstrap + Bayesian bootstrap, 1-3 s each) run, while ``READERS`` clients make
   ``READS`` requests each (challenge page, a submission, the leaderboard, the ledger
   checkpoint). Reported: p50 and p99 latency, and how many adjudications finished
   meanwhile.

Every loop is bounded in count; nothing leaves the machine. Run: ``python benchmarks/service.py``.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
PROTOCOL = ROOT / "protocols" / "gbsg2-recurrence-free-survival.yaml"
TEAMS, PER_TEAM, CLIENTS = 20, 5, 8
READERS, READS = 4, 100


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _pg_binary(name: str) -> str:
    found = shutil.which(name)
    if found:
        return found
    for d in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
        if (d / name).exists():
            return str(d / name)
    raise SystemExit(f"{name} not found: run `make system-deps`")


class Postgres:
    """A throw-away PostgreSQL server on a loopback port (as an unprivileged user if root)."""

    def __init__(self) -> None:
        self.base = Path(tempfile.mkdtemp(prefix="adjudicator-bench-pg-"))
        self.prefix: list[str] = []
        if os.geteuid() == 0:
            user = "postgres" if _has_user("postgres") else "nobody"
            entry = pwd.getpwnam(user)
            os.chown(self.base, entry.pw_uid, entry.pw_gid)
            self.prefix = ["runuser", "-u", user, "--"]
        os.chmod(self.base, 0o700)
        self.data = self.base / "data"
        self.port = _port()
        self._run(_pg_binary("initdb"), "-D", str(self.data), "-U", "postgres",
                  "--auth=trust", "-E", "UTF8", "--no-locale", "--no-sync")
        self._run(_pg_binary("pg_ctl"), "-D", str(self.data), "-l", str(self.base / "log"),
                  "-w", "-o", f"-p {self.port} -k {self.base} -c listen_addresses=127.0.0.1 "
                  "-c max_connections=200", "start")
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *args: str) -> None:
        subprocess.run([*self.prefix, *args], check=True, capture_output=True, cwd=self.base)

    def stop(self) -> None:
        subprocess.run([*self.prefix, _pg_binary("pg_ctl"), "-D", str(self.data), "-m",
                        "fast", "-w", "stop"], capture_output=True, cwd=self.base)
        shutil.rmtree(self.base, ignore_errors=True)


def _has_user(name: str) -> bool:
    try:
        pwd.getpwnam(name)
        return True
    except KeyError:
        return False


def _serve(env: dict[str, str], port: int, worker: bool) -> subprocess.Popen[bytes]:
    args = [sys.executable, "-m", "adjudicator", "serve", "--port", str(port)]
    if not worker:
        args.append("--no-worker")
    proc = subprocess.Popen(args, env=env, cwd=ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    for _ in range(600):
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit("the server did not start")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    proc.wait(120)


def _setup(env: dict[str, str], folder: Path) -> dict[str, str]:
    """Tokens, and the GBSG2 challenge registered, committed and opened (in process)."""
    from fastapi.testclient import TestClient

    from adjudicator.demo_data import stage_gbsg2
    from adjudicator.service import create_app
    from adjudicator.service.users import add_user
    from adjudicator.settings import load_settings

    files = stage_gbsg2(folder / "data", n_variants=PER_TEAM)
    settings = load_settings(home=env["ADJUDICATOR_HOME"],
                             database_url=env["ADJUDICATOR_DATABASE_URL"])
    app = create_app(settings, worker=False)
    rt = app.state.runtime
    tokens = {"admin": add_user(rt, "admin", "admin")[1]}
    for i in range(TEAMS):
        tokens[f"p{i}"] = add_user(rt, f"p{i}", "participant", f"team-{i}")[1]
    admin = {"Authorization": f"Bearer {tokens['admin']}"}
    with TestClient(app) as c:
        digest = c.post("/protocols", content=PROTOCOL.read_bytes(), headers=admin).json()[
            "digest"]
        c.post("/challenges", json={"id": "gbsg2", "protocol": digest,
                                    "order": "retrospective"}, headers=admin)
        c.put("/challenges/gbsg2/truth", content=files.truth.read_bytes(), headers=admin)
        c.put("/challenges/gbsg2/baselines/clinical-cox", content=files.baseline.read_bytes(),
              headers=admin)
        r = c.post("/challenges/gbsg2/open", headers=admin)
        assert r.status_code == 200, r.text
    entries = [files.entries[f"variant-{j + 1}"].read_bytes() for j in range(PER_TEAM)]
    tokens["_entries"] = entries  # type: ignore[assignment]
    return tokens


def _uploads(base: str, tokens: dict) -> tuple[int, float]:
    work = [(f"p{i}", j) for j in range(PER_TEAM) for i in range(TEAMS)]
    lock = threading.Lock()
    accepted = 0

    def client() -> None:
        nonlocal accepted
        with httpx.Client(base_url=base, timeout=300) as http:
            while True:
                with lock:
                    if not work:
                        return
                    who, j = work.pop()
                r = http.post("/challenges/gbsg2/submissions", content=tokens["_entries"][j],
                              headers={"Authorization": f"Bearer {tokens[who]}"})
                if r.status_code == 201:
                    with lock:
                        accepted += 1

    threads = [threading.Thread(target=client) for _ in range(CLIENTS)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return accepted, time.perf_counter() - start


def _reads(base: str, tokens: dict) -> tuple[list[float], int]:
    admin = {"Authorization": f"Bearer {tokens['admin']}"}
    paths = ["/challenges/gbsg2", "/submissions/1", "/challenges/gbsg2/leaderboard",
             "/ledger/checkpoint"]
    latencies: list[float] = []
    lock = threading.Lock()

    def reader(k: int) -> None:
        with httpx.Client(base_url=base, timeout=300) as http:
            for i in range(READS):
                t0 = time.perf_counter()
                r = http.get(paths[(i + k) % len(paths)], headers=admin)
                dt = time.perf_counter() - t0
                assert r.status_code == 200, r.text
                with lock:
                    latencies.append(dt)

    threads = [threading.Thread(target=reader, args=(k,)) for k in range(READERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    subs = httpx.get(f"{base}/challenges/gbsg2/submissions", headers=admin, timeout=60).json()
    return latencies, sum(s["status"] == "adjudicated" for s in subs)


def run(name: str, url_for: callable) -> dict[str, float]:  # type: ignore[valid-type]
    folder = Path(tempfile.mkdtemp(prefix=f"adjudicator-bench-{name}-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("ADJUDICATOR_")}
    env.update(ADJUDICATOR_HOME=str(folder / "home"),
               ADJUDICATOR_DATABASE_URL=url_for(folder))
    try:
        tokens = _setup(env, folder)
        port = _port()
        base = f"http://127.0.0.1:{port}"
        server = _serve(env, port, worker=False)
        try:
            accepted, seconds = _uploads(base, tokens)
        finally:
            _stop(server)
        server = _serve(env, port, worker=True)
        try:
            latencies, adjudicated = _reads(base, tokens)
        finally:
            _stop(server)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    q = statistics.quantiles(latencies, n=100, method="inclusive")
    return {"accepted": accepted, "uploads_per_s": accepted / seconds,
            "p50_ms": 1000 * statistics.median(latencies), "p99_ms": 1000 * q[98],
            "reads": len(latencies), "adjudicated_meanwhile": adjudicated}


def main() -> None:
    rows = {"sqlite": run("sqlite", lambda f: f"sqlite:///{f / 'adjudicator.db'}")}
    pg = Postgres()
    try:
        def pg_url(folder: Path) -> str:
            import psycopg

            name = "bench_" + folder.name.replace("-", "_")[-12:]
            with psycopg.connect(pg.url, autocommit=True) as conn:
                conn.execute(f'CREATE DATABASE "{name}"')
            return pg.url.rsplit("/", 1)[0] + "/" + name

        rows["postgresql"] = run("postgresql", pg_url)
    finally:
        pg.stop()
    print(f"GBSG2 entries (686 rows), {TEAMS} teams x {PER_TEAM} uploads from {CLIENTS} "
          f"clients; then {READERS} readers x {READS} reads while the worker adjudicates")
    print(f"{'database':<12}{'accepted':>9}{'uploads/s':>11}{'read p50 ms':>13}"
          f"{'read p99 ms':>13}{'adjudicated':>13}")
    for name, r in rows.items():
        print(f"{name:<12}{r['accepted']:>9}{r['uploads_per_s']:>11.1f}{r['p50_ms']:>13.1f}"
              f"{r['p99_ms']:>13.1f}{r['adjudicated_meanwhile']:>13}")


if __name__ == "__main__":
    main()
