"""``ledger verify`` on a long log: peak memory and time, reading the log in one query (the
code before the streaming change) against reading it in pages.

A SQLite store is set up in a temporary folder (``--keep DIR`` reuses one) and its
``ledger_entries`` table is filled directly with ``N`` synthetic ``submission_received``
events of 50 challenges, each with the checkpoint the service would have signed when it
was appended (the same bytes :meth:`LedgerStore.append` writes; appending one by one
through the service would only be slower). Then, for each approach:

* *time*: wall clock of ``LedgerStore.verify`` on the whole log, tracemalloc off;
* *peak memory*: tracemalloc's peak of Python allocations during a second run (SQLite's own
  page cache is C memory tracemalloc does not see; it is bounded by its ``cache_size``).

The old approach is ``adjudicator/store/ledger.py`` as of ``--old-rev`` (read with
``git show``); when git or that revision is not there it is skipped. Verifying costs one
Ed25519 signature check per entry (about 0.2 ms), so N = 10^6 takes minutes per run.

Run: ``python benchmarks/ledger.py [--n 1000000] [--page 10000]``.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
OLD_REV = "efe139e"  # the last commit whose verify read every entry in one query
CHALLENGES = 50
BATCH = 20_000


def build(home: Path, n: int) -> Any:
    """A store under ``home`` whose ledger holds ``n`` entries (reused when it already does)."""
    from sqlalchemy import func, insert, select

    from adjudicator.ledger import entry_bytes, leaf_hash
    from adjudicator.settings import load_settings
    from adjudicator.store import open_store
    from adjudicator.store.ledger import frontier_append, frontier_root
    from adjudicator.store.models import LedgerEntry, LedgerHead

    store = open_store(load_settings(home=home))
    with store.db.read() as s:
        have = int(s.scalar(select(func.count()).select_from(LedgerEntry)) or 0)
    if have == n:
        return store
    if have:
        raise SystemExit(f"{home} holds a ledger of {have} entries, not {n}: use another --keep")
    signer = store.ledger.signer
    frontier: list[bytes] = []
    last: dict[str, int] = {}
    rows: list[dict[str, Any]] = []
    started = time.perf_counter()
    for i in range(n):
        challenge = f"c{i % CHALLENGES}"
        data = entry_bytes({
            "type": "submission_received", "at": f"2026-01-01T00:00:{i % 60:02d}.000000Z",
            "challenge": challenge, "challenge_prev": last.get(challenge), "submission": i,
            "team": f"team-{i % 997}", "sequence": 1 + i // 997 % 5,
            "digest": "sha256:" + f"{i:064x}"})
        last[challenge] = i
        leaf = leaf_hash(data)
        frontier = frontier_append(frontier, i, leaf)
        rows.append({"seq": i, "entry": data, "leaf_hash": leaf, "created_at": "t",
                     "checkpoint": signer.checkpoint(i + 1, frontier_root(frontier)),
                     "challenge": challenge})
        if len(rows) == BATCH or i == n - 1:
            with store.db.write() as s:
                s.execute(insert(LedgerEntry), rows)
                if i == n - 1:
                    head = s.get(LedgerHead, 1)
                    head.size, head.frontier = n, json.dumps([h.hex() for h in frontier])
            rows = []
            print(f"  built {i + 1:,} entries ({time.perf_counter() - started:.0f} s)",
                  file=sys.stderr, end="\r")
    print(file=sys.stderr)
    return store


def old_ledger_module(rev: str) -> Any | None:
    """``adjudicator.store.ledger`` as of ``rev``, or None when git cannot show it."""
    try:
        source = subprocess.run(["git", "show", f"{rev}:adjudicator/store/ledger.py"],
                                cwd=ROOT, capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    name = "adjudicator.store._ledger_before_streaming"
    spec = importlib.util.spec_from_loader(name, loader=None)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    module.__package__ = "adjudicator.store"
    sys.modules[name] = module
    exec(compile(source, f"{rev}:adjudicator/store/ledger.py", "exec"), module.__dict__)
    return module


def measure(store: Any, ledger: Any, **kw: Any) -> tuple[float, int, int]:
    """(seconds, peak bytes of Python allocations, entries) of one verification."""
    with store.db.read(snapshot=True) as s:
        started = time.perf_counter()
        result = ledger.verify(s, **kw)
        seconds = time.perf_counter() - started
    tracemalloc.start()
    try:
        with store.db.read(snapshot=True) as s:
            ledger.verify(s, **kw)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return seconds, peak, result.size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=1_000_000, help="entries in the log")
    parser.add_argument("--page", type=int, default=None, help="rows per query (streaming)")
    parser.add_argument("--old-rev", default=OLD_REV, help="git revision of the old verify")
    parser.add_argument("--keep", type=Path, default=None,
                        help="build (or reuse) the store in this folder")
    args = parser.parse_args()

    from adjudicator.store.ledger import VERIFY_PAGE

    page = args.page or VERIFY_PAGE
    with tempfile.TemporaryDirectory(prefix="adjudicator-ledger-bench-") as tmp:
        home = args.keep or Path(tmp)
        print(f"ledger verify, N = {args.n:,} entries, SQLite at {home}", file=sys.stderr)
        store = build(home, args.n)
        try:
            new = measure(store, store.ledger, page=page)
            old_module = old_ledger_module(args.old_rev)
            old = None
            if old_module is not None:
                old = measure(store, old_module.LedgerStore(store.ledger.signer))
        finally:
            store.close()
    mib = 1024 * 1024
    print("| approach | entries | time (s) | peak Python memory (MiB) |")
    print("|---|---:|---:|---:|")
    if old is not None:
        print(f"| one query ({args.old_rev}) | {old[2]:,} | {old[0]:.1f} | {old[1] / mib:.1f} |")
    print(f"| pages of {page:,} | {new[2]:,} | {new[0]:.1f} | {new[1] / mib:.1f} |")
    if old is not None:
        print(f"\nold / streaming: time x{old[0] / new[0]:.2f}, "
              f"peak memory x{old[1] / max(new[1], 1):.1f}")
    else:
        print(f"\n(the old approach at {args.old_rev} is not reachable: git show failed)")


if __name__ == "__main__":
    main()
