"""Render and sign a certification report, warm: the issue's target is under 5 s.

Run: ``.venv/bin/python benchmarks/report.py`` (``make bench`` runs every benchmark).
The first round warms imports, templates and fonts and is reported apart; then each
round renders the PDF from ``result.json`` bytes (figures, WeasyPrint, embedded evidence),
signs it with PAdES, writes the minisign signature and verifies the result.
"""

from __future__ import annotations

import datetime as dt
import statistics
import sys
import tempfile
import time
from pathlib import Path

from adjudicator.report import (
    create_signing_identity,
    render_certification_report,
    verify_report,
    write_signed_report,
)

ROUNDS = 5
TARGET_SECONDS = 5.0
RESULT = Path(__file__).resolve().parent.parent / "tests" / "assets" / "result_certified.json"
SIGNING_TIME = dt.datetime(2026, 11, 29, 6, 5, tzinfo=dt.UTC)


def one_round(folder: Path, identity, data: bytes) -> tuple[float, float, float]:
    t0 = time.perf_counter()
    report = render_certification_report(data)
    t1 = time.perf_counter()
    pdf, _ = write_signed_report(report.pdf, folder / "report.pdf", identity,
                                 signing_time=SIGNING_TIME)
    t2 = time.perf_counter()
    result = verify_report(pdf, identity.directory / "signing-cert.pem")
    t3 = time.perf_counter()
    if not result.valid:
        raise SystemExit(f"the benchmark's report does not verify: {result.reasons}")
    return t1 - t0, t2 - t1, t3 - t2


def main() -> int:
    data = RESULT.read_bytes()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        identity = create_signing_identity(folder / "keys", valid_from=SIGNING_TIME,
                                           name="Benchmark Committee")
        cold = one_round(folder, identity, data)
        rounds = [one_round(folder, identity, data) for _ in range(ROUNDS)]
    render = [r[0] for r in rounds]
    sign = [r[1] for r in rounds]
    verify = [r[2] for r in rounds]
    total = [r[0] + r[1] for r in rounds]
    print(f"cold (first) render + sign: {cold[0] + cold[1]:.2f} s")
    print(f"warm, {ROUNDS} rounds (median / min / max):")
    for name, values in (("render", render), ("sign + minisign", sign),
                         ("render + sign", total), ("verify", verify)):
        print(f"  {name:16s} {statistics.median(values):6.2f} / {min(values):5.2f} / "
              f"{max(values):5.2f} s")
    median = statistics.median(total)
    verdict = "within" if median < TARGET_SECONDS else "OVER"
    print(f"render + sign median {median:.2f} s: {verdict} the {TARGET_SECONDS:.0f} s target")
    return 0


if __name__ == "__main__":
    sys.exit(main())
