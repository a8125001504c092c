"""The record of a sandboxed run, and the plain reason a failed run failed.

:func:`explain` turns what the runner observed (:class:`Outcome`) into one sentence, in a
fixed order: the runner's own stops (wall time, log size), then the wheelhouse, then the
entry point (a signal: CPU time or another; an exit status, quoting the last line of
stderr with a hint at the limit it most likely hit), then background processes left
running, then the predictions file.
"""

from __future__ import annotations

import signal
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from ..errors import ConfigurationError
from ..protocol import Limits
from .seccomp import FILTER_NAME

__all__ = ["RUN_FORMAT", "RunRecord", "SandboxRun", "Outcome", "explain", "last_words",
           "sandbox_facts", "record_without_run"]

RUN_FORMAT = "adjudicator-run/v1"

_TAIL = 300  # characters of the team's last stderr line quoted in a reason


@dataclass(frozen=True)
class RunRecord:
    """What happened in one sandboxed run: the ledger and the report carry it.

    ``status`` is ``succeeded`` (the entry point exited 0, left nothing running and wrote
    one predictions file) or ``failed`` with ``reason``, one plain sentence. Whether the
    predictions are *valid* is decided afterwards by :func:`read_output`, exactly as for
    an uploaded file.

    ``reason`` never quotes the team's own output, so it can be shown to the team even
    when the inputs are sensitive: it says which limit or rule stopped the run (a few bits
    per run). The team's words (``last_words``, the last stderr line; ``stdout``,
    ``stderr``; the command lines of leftover processes) are for the committee, or for
    the team on a practice data set; ``to_dict(logs=False)`` leaves the logs out.
    """

    status: Literal["succeeded", "failed"]
    reason: str | None
    protocol_digest: str
    code_digest: str
    runtime_digest: str
    inputs_digest: str
    inputs_file_digest: str
    output_name: str | None
    output_digest: str | None
    output_bytes: int | None
    exit_status: int | None
    signal: str | None
    leftover_processes: tuple[str, ...]
    wall_seconds: float
    cpu_seconds: float
    max_rss_mb: float
    limits: Mapping[str, int]
    sandbox: Mapping[str, Any]
    started_at: str
    last_words: str = field(default="", repr=False)
    stdout: str = field(default="", repr=False)
    stderr: str = field(default="", repr=False)
    stdout_bytes: int = 0
    stderr_bytes: int = 0

    @property
    def succeeded(self) -> bool:
        """True when the run produced a predictions file and nothing went wrong."""
        return self.status == "succeeded"

    def to_dict(self, *, logs: bool = True) -> dict[str, Any]:
        """The ``adjudicator-run/v1`` document; ``logs=False`` for the ledger."""
        doc: dict[str, Any] = {
            "format": RUN_FORMAT,
            "status": self.status,
            "reason": self.reason,
            "digests": {"protocol": self.protocol_digest, "code": self.code_digest,
                        "runtime": self.runtime_digest, "inputs": self.inputs_digest,
                        "inputs_file": self.inputs_file_digest,
                        "output": self.output_digest},
            "output": {"name": self.output_name, "bytes": self.output_bytes},
            "exit_status": self.exit_status,
            "signal": self.signal,
            "leftover_processes": list(self.leftover_processes),
            "usage": {"wall_seconds": self.wall_seconds, "cpu_seconds": self.cpu_seconds,
                      "max_rss_mb": self.max_rss_mb},
            "limits": dict(self.limits),
            "sandbox": dict(self.sandbox),
            "started_at": self.started_at,
            "logs": {"stdout_bytes": self.stdout_bytes, "stderr_bytes": self.stderr_bytes},
        }
        if logs:
            doc["logs"].update(stdout=self.stdout, stderr=self.stderr,
                               last_words=self.last_words)
        return doc


@dataclass(frozen=True)
class SandboxRun:
    """A finished run: its record and, when it succeeded, the predictions file."""

    record: RunRecord
    predictions: Path | None


@dataclass
class Outcome:
    """What the runner observed of one sandbox: the harness's report and its own."""

    report: dict[str, Any] | None
    output: bytes
    stdout: bytes
    stderr: bytes
    stdout_bytes: int
    stderr_bytes: int
    killed: str | None  # "wall", "stdout", "stderr", "report"
    wall: float
    cpu: float
    max_rss_mb: float
    exit_status: int
    escaped: list[int]



def _signal_name(n: int) -> str:
    try:
        return signal.Signals(n).name
    except ValueError:
        return f"signal {n}"


def last_words(text: str) -> str:
    """The last non-empty line of a log, cut to a few hundred characters."""
    lines = [x.strip() for x in text.splitlines() if x.strip()]
    return lines[-1][:_TAIL] if lines else ""


def _hint(line: str, limits: Limits) -> str:
    """A pointer to the limit a failure most likely hit, read from the last stderr line."""
    low = line.lower()
    if "memoryerror" in low or "cannot allocate memory" in low or "bad_alloc" in low:
        return f": out of memory (the memory limit is {limits.memory_mb} MB per process)"
    if "resource temporarily unavailable" in low or "blockingioerror" in low:
        return (f": could not start a process (the process limit is {limits.processes} "
                "processes and threads)")
    if "read-only file system" in low:
        return ": a write to a read-only place (only /output and /tmp are writable)"
    if "permission denied" in low or "operation not permitted" in low:
        return ": an operation was refused (the sandbox allows reading /code, /inputs and the "\
            "runtime, writing /output and /tmp, and no privileged calls)"
    if "file too large" in low or "no space left" in low:
        return (f": a file grew too large (the output limit is {limits.output_mb} MB; /tmp "
                f"holds {limits.memory_mb} MB)")
    if "no such file or directory" in low:
        return (": a file it looked for does not exist here (the sandbox holds /code, /inputs, "
                "/output, /tmp and the runtime)")
    if "network is unreachable" in low or "connection refused" in low:
        return ": a network connection failed (the sandbox has no network)"
    return ""


def explain(lim: Limits, o: Outcome, stderr: str) -> tuple[str | None, int | None, str | None,
                                                          tuple[str, ...]]:
    """(reason or None, exit status, signal name, leftover processes), in a fixed order."""
    r = o.report or {}
    entry = r.get("entry") or {}
    exit_status = entry.get("exit")
    sig = _signal_name(entry["signal"]) if "signal" in entry else None
    left = tuple(str(x)[:200] for x in r.get("leftover") or ())
    # the team's own words (stderr, command lines) stay out of the reason: on sequestered
    # inputs they are a channel out (see RunRecord.last_words); a hint costs ~2 bits
    said = _hint(last_words(stderr), lim)
    # (1) the runner stopped it
    if o.killed == "wall":
        return (f"exceeded the wall-time limit of {lim.wall_seconds} s; the whole process "
                "tree was killed", exit_status, sig, left)
    if o.killed in ("stdout", "stderr"):
        return (f"wrote more than {lim.log_kb} KiB to {o.killed}; the run was stopped",
                exit_status, sig, left)
    if o.escaped:
        return (f"{len(o.escaped)} process(es) outlived the sandbox and were killed",
                exit_status, sig, left)
    if o.report is None:
        raise ConfigurationError(
            f"the sandbox ended without a report (bwrap exit status {o.exit_status}): "
            f"{stderr.strip()[-_TAIL:] or 'no message'}")
    # (2) the wheelhouse, when there is one
    wh = r.get("wheelhouse") or {}
    if wh and wh.get("exit") != 0:
        how = (f"was killed by {_signal_name(wh['signal'])}" if "signal" in wh
               else f"exited with status {wh.get('exit')}")
        return (f"installing the wheelhouse failed: pip {how}{said}", None, None,
                tuple(wh.get("leftover") or ()))
    # (3) the entry point itself
    if sig is not None:
        if sig == "SIGXCPU" or (sig == "SIGKILL" and o.cpu >= lim.cpu_seconds):
            return (f"exceeded the CPU-time limit of {lim.cpu_seconds} s", None, sig, left)
        return f"the entry point was killed by {sig}{said}", None, sig, left
    if exit_status != 0:
        return f"the entry point exited with status {exit_status}{said}", exit_status, \
            None, left
    # (4) nothing may outlive the entry point
    if left:
        return (f"left {len(left)} background process(es) running after the entry point "
                "exited (all were killed)", exit_status, None, left)
    # (5) one predictions file
    out = r.get("output") or {}
    if "error" in out:
        return str(out["error"]), exit_status, None, left
    if len(o.output) != out.get("size"):
        return "the predictions file arrived incomplete", exit_status, None, left
    return None, exit_status, None, left


def sandbox_facts(isolation: str, info: Mapping[str, Any], seccomp: bool,
                   uid: int | None) -> dict[str, Any]:
    return {"isolation": isolation, "bwrap": info.get("version"),
            "seccomp": FILTER_NAME if seccomp else None,
            "network": "none (private loopback only)", "uid": uid}


def record_without_run(base: dict[str, Any], reason: str, isolation: str,
                        info: Mapping[str, Any]) -> RunRecord:
    return RunRecord(
        status="failed", reason=reason, output_name=None, output_digest=None,
        output_bytes=None, exit_status=None, signal=None, leftover_processes=(),
        wall_seconds=0.0, cpu_seconds=0.0, max_rss_mb=0.0,
        sandbox=sandbox_facts(isolation, info, False, None), **base,
    )
