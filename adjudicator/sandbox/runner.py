"""Run a team's code beside the sequestered inputs in a bubblewrap sandbox.

:func:`run_code` builds one sandbox per run and supervises it from outside:

1. Check the inputs file is still the committed one (its byte digest) and that the
   runtime has every package the protocol promises; stage the code (from memory, so the
   digested bytes are the ones that run), the harness and the seccomp filter.
2. Start ``bwrap`` with every namespace new (pid, network, ipc, uts, mount, cgroup; and a
   user namespace in ``userns`` isolation): no network interface but a private loopback,
   a read-only root built from ``/usr``, the runtime's directories and a stub ``/etc``,
   the code at ``/code`` and the inputs at ``/inputs/features.<csv|parquet>`` read-only,
   ``/tmp`` a tmpfs of ``memory_mb``, and ``/output``, the one writable directory, a tmpfs
   of ``output_mb``. The truth is never mounted: it is not an argument of this function.
3. The harness (:mod:`adjudicator.sandbox.harness`) is process 1 of the sandbox; it starts
   the entry point under rlimits, an unprivileged uid, no_new_privs and seccomp, and at the
   end kills whatever the entry point left behind before it reads the output.
4. Meanwhile the runner reads stdout and stderr (each kept up to ``log_kb``; more stops the
   run) and the harness's report, and kills the whole sandbox at ``wall_seconds``.
5. The outcome is a :class:`RunRecord` (digests of code, runtime, inputs and output,
   usage, a reason when it failed) and the predictions file, which :func:`read_output`
   validates exactly as an uploaded file (:func:`adjudicator.data.read_submission`).

Isolation
---------
``root`` (the default when the service runs as root): bwrap runs privileged, without a
user namespace, keeping only CAP_SETUID, CAP_SETGID and CAP_KILL for the harness; the
team's code runs as a fresh unprivileged host uid per run, so ``processes`` is exact and a
final sweep can prove that no process of that uid outlived the run. ``userns`` (the default
otherwise): bwrap runs unprivileged inside a new user namespace with further user
namespaces disabled; the code runs with the service's uid (or, when the service is root,
the run's fresh uid, and then every mounted path must be reachable by that uid).
"""

# ruff: noqa: S103, S108, S603 -- the sandbox's /tmp is its own tmpfs; staged files must be readable by the run's uid; bwrap is the process this module exists to start

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import selectors
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from ..data import Submission, Truth, read_submission
from ..errors import ConfigurationError, InputError, VerificationError
from ..protocol import Limits, Protocol
from .artifacts import (
    CodeBundle,
    Inputs,
    RuntimeInfo,
    file_digest,
    load_code,
    read_inputs,
    runtime_info,
)
from .record import (
    RUN_FORMAT,
    Outcome,
    RunRecord,
    SandboxRun,
    explain,
    last_words,
    record_without_run,
    sandbox_facts,
)
from .seccomp import build_filter

__all__ = [
    "RUN_FORMAT",
    "SandboxOptions",
    "RunRecord",
    "SandboxRun",
    "run_code",
    "run_submission",
    "read_output",
    "sandbox_info",
    "stage_prefix",
    "sweep_stale_stages",
]

_HARNESS = Path(__file__).with_name("harness.py")
_UID_BASE = 1_000_000_000  # fresh per-run uids come from [base, base + 2**24)
_UID_SPAN = 1 << 24
_IN_SANDBOX_UID = 1000  # the uid the code sees in userns isolation
_HEADER_MAX = 1 << 16
_GRACE = 10.0  # seconds to wait for pipes to close after a kill

Isolation = Literal["auto", "root", "userns"]


@dataclass(frozen=True)
class SandboxOptions:
    """Where and how sandboxes run: runtime settings, never part of a verdict.

    Attributes
    ----------
    bwrap
        The bubblewrap executable.
    python
        The runtime interpreter (default: the service's own, ``sys.executable``).
    isolation
        ``root``, ``userns`` or ``auto`` (root when the service runs as root).
    tmp_dir
        Where the per-run staging directories go (default: the system's).
    """

    bwrap: str = "bwrap"
    python: str | None = None
    isolation: Isolation = "auto"
    tmp_dir: str | None = None


# -- what this machine offers -------------------------------------------------------------


@lru_cache(maxsize=4)
def sandbox_info(bwrap: str = "bwrap") -> dict[str, Any]:
    """The bubblewrap version and what it supports here.

    Raises
    ------
    ConfigurationError
        When bubblewrap is not installed (Debian: ``apt-get install bubblewrap``).
    """
    exe = shutil.which(bwrap)
    if exe is None:
        raise ConfigurationError(
            f"bubblewrap ({bwrap}) is not installed: code submissions need it "
            "(Debian/Ubuntu: apt-get install bubblewrap; make system-deps)"
        )
    out = subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=30)
    usage = subprocess.run([exe, "--help"], capture_output=True, text=True, timeout=30)
    text = usage.stdout + usage.stderr
    return {"bwrap": exe, "version": out.stdout.strip().split()[-1] if out.stdout else "?",
            "disable_userns": "--disable-userns" in text, "size": "--size" in text,
            "perms": "--perms" in text}


def _isolation(options: SandboxOptions) -> str:
    if options.isolation == "auto":
        return "root" if os.geteuid() == 0 else "userns"
    if options.isolation == "root" and os.geteuid() != 0:
        raise ConfigurationError("sandbox isolation 'root' needs the service to run as root")
    return options.isolation


def _fresh_uid() -> int:
    """A host uid no process uses now: the run's own, so its process count is exact."""
    used = _uids_in_use()
    while True:
        uid = _UID_BASE + secrets.randbelow(_UID_SPAN)
        if uid not in used:
            return uid


def _uids_in_use() -> set[int]:
    uids: set[int] = set()
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                uids.add(os.stat(f"/proc/{name}").st_uid)
            except OSError:
                pass
    return uids


def _processes_of(uid: int) -> list[int]:
    pids = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                if os.stat(f"/proc/{name}").st_uid == uid:
                    pids.append(int(name))
            except OSError:
                pass
    return pids


# -- one run ------------------------------------------------------------------------------


@dataclass
class _Plan:
    """Everything the bwrap command line is made of."""

    isolation: str
    uid: int | None  # the host uid the team's code runs as (None: the service's own)
    stage: Path
    runtime: RuntimeInfo
    inputs_src: Path
    inputs_dst: str
    limits: Limits
    seccomp: bool
    spec: dict[str, Any]
    info: dict[str, Any]


def run_code(
    protocol: Protocol,
    code: CodeBundle,
    inputs: Inputs,
    out_dir: str | Path,
    *,
    options: SandboxOptions | None = None,
    now: datetime | None = None,
) -> SandboxRun:
    """Run a team's ``code`` on the sequestered ``inputs`` as ``protocol`` prescribes.

    The predictions file, when there is one, is written into ``out_dir``. A failure of the
    team's code (a limit, an error, a missing or leftover anything) is a failed
    :class:`RunRecord`, not an exception.

    Raises
    ------
    InputError
        The protocol takes predictions files, not code; or the inputs file changed since
        it was read.
    ConfigurationError
        The sandbox cannot run here (no bubblewrap, namespaces refused, a promised package
        missing from the runtime).
    """
    options = options or SandboxOptions()
    sub = protocol.submission
    if sub.mode != "code" or sub.entry_point is None or sub.limits is None \
            or sub.runtime is None:
        raise InputError(f"protocol {protocol.id} takes predictions files, not code "
                         "(submission.mode is predictions)")
    out_dir = Path(out_dir)
    started = (now or datetime.now(UTC)).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    info = sandbox_info(options.bwrap)
    isolation = _isolation(options)
    runtime = runtime_info(options.python)
    missing = runtime.missing(sub.runtime.packages)
    if missing:
        raise ConfigurationError(
            f"the runtime {runtime.executable} lacks package(s) the protocol promises: "
            + ", ".join(missing))
    # (1) the inputs are still the committed file
    if file_digest(inputs.path) != inputs.file_digest:
        raise InputError("the inputs file changed since it was read and committed; read "
                         "it again", source=inputs.source)
    limits = sub.limits
    base = dict(protocol_digest=protocol.digest, code_digest=code.digest,
                runtime_digest=runtime.digest, inputs_digest=inputs.digest,
                inputs_file_digest=inputs.file_digest, limits=limits.model_dump(),
                started_at=started)
    entry = sub.entry_point
    if entry.module is not None and not code.has_module(entry.module):
        return SandboxRun(record_without_run(
            base, f"the code has no module {entry.module!r} (expected "
            f"{entry.module.replace('.', '/')}.py or a package of that name)",
            isolation, info), None)
    uid = _fresh_uid() if os.geteuid() == 0 else None
    stage = Path(tempfile.mkdtemp(prefix=stage_prefix("run"), dir=options.tmp_dir))
    try:
        plan = _stage(stage, protocol, code, inputs, runtime, isolation, uid, info)
        outcome = _supervise(plan)
    finally:
        _remove(stage)
    return _finish(plan, outcome, base, out_dir)


def read_output(protocol: Protocol, run: SandboxRun, truth: Truth) -> Submission:
    """Validate and join a run's predictions exactly as an uploaded predictions file.

    Raises
    ------
    InputError
        When the run failed (its reason), or the predictions are refused.
    """
    if not run.record.succeeded or run.predictions is None:
        raise InputError(f"the submitted code failed: {run.record.reason}",
                         source="sandbox run " + run.record.code_digest[:19])
    return read_submission(protocol, run.predictions, truth)


def run_submission(
    protocol: Protocol,
    code_path: str | Path,
    inputs_path: str | Path,
    truth: Truth,
    out_dir: str | Path,
    *,
    inputs_digest: str | None = None,
    options: SandboxOptions | None = None,
    now: datetime | None = None,
) -> tuple[RunRecord, Submission | None]:
    """A code submission from stored files to a validated entry: the worker's one call.

    Loads the code (a directory or an archive, as uploaded), reads the inputs and checks
    them against the truth's units and, when given, against the committed
    ``inputs_digest``, runs the code (:func:`run_code`) and reads its predictions exactly
    as an upload (:func:`read_output`). A failed run is ``(record, None)``: the
    submission failed for ``record.reason``, which is safe to show the team.

    Raises
    ------
    InputError
        The code bundle or the predictions are refused (as an upload would be).
    VerificationError
        The inputs are not the committed ones.
    ConfigurationError
        The sandbox cannot run here.
    """
    code = load_code(code_path)
    inputs = read_inputs(protocol, inputs_path, truth=truth)
    if inputs_digest is not None and inputs.digest != inputs_digest:
        raise VerificationError(f"the stored inputs have digest {inputs.digest}, the "
                                f"committed one is {inputs_digest}")
    run = run_code(protocol, code, inputs, out_dir, options=options, now=now)
    if not run.record.succeeded:
        return run.record, None
    return run.record, read_output(protocol, run, truth)


def _stage(
    stage: Path, protocol: Protocol, code: CodeBundle, inputs: Inputs, runtime: RuntimeInfo,
    isolation: str, uid: int | None, info: dict[str, Any],
) -> _Plan:
    sub = protocol.submission
    assert sub.entry_point is not None and sub.limits is not None and sub.runtime is not None
    os.chmod(stage, 0o755)
    code.write_to(stage / "code")
    os.chmod(stage / "code", 0o555)
    shutil.copyfile(_HARNESS, stage / "harness.py")
    bpf = build_filter()
    if bpf is not None:
        (stage / "seccomp.bpf").write_bytes(bpf)
    etc = stage / "etc"
    etc.mkdir(mode=0o755)
    who = uid if isolation == "root" else _IN_SANDBOX_UID
    (etc / "passwd").write_text(
        f"root:x:0:0:root:/root:/usr/sbin/nologin\nsandbox:x:{who}:{who}:submitted code:"
        "/tmp:/usr/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n")
    (etc / "group").write_text(f"root:x:0:\nsandbox:x:{who}:\nnogroup:x:65534:\n")
    for f in (stage / "harness.py", stage / "seccomp.bpf", etc / "passwd", etc / "group"):
        if f.exists():
            os.chmod(f, 0o444)
    inputs_src = inputs.path
    if isolation == "userns" and os.geteuid() == 0:
        # bwrap runs as the run's uid, which may not reach the service's files: copy
        inputs_src = stage / inputs.mount_name
        shutil.copyfile(inputs.path, inputs_src)
        os.chmod(inputs_src, 0o444)
        if file_digest(inputs_src) != inputs.file_digest:
            raise InputError("the inputs file changed while it was staged",
                             source=inputs.source)
    limits = sub.limits
    entry = sub.entry_point
    mb = 1024 * 1024
    spec: dict[str, Any] = {
        "entry": ({"module": entry.module, "function": entry.function}
                  if entry.module is not None else
                  {"command": [runtime.executable if a == "python" else a
                               for a in (entry.command or ())]}),
        "inputs": f"/inputs/{inputs.mount_name}",
        "output": "/output",
        "code": "/code",
        "uid": uid if isolation == "root" else None,
        "limits": {
            "cpu_seconds": limits.cpu_seconds,
            "memory_bytes": limits.memory_mb * mb,
            "file_bytes": limits.output_mb * mb,
            "output_bytes": limits.output_mb * mb,
            # in a user namespace the harness shares the code's uid and counts too
            "processes": limits.processes + (1 if isolation == "userns" else 0),
        },
        "seccomp": "/sandbox/seccomp.bpf" if bpf is not None else None,
        "wheelhouse": None,
        "wheels": None,
    }
    if sub.runtime.wheelhouse and code.wheels():
        spec["wheelhouse"] = [f"/code/{w}" for w in code.wheels()]
        spec["wheels"] = "/tmp/wheels"
    return _Plan(isolation=isolation, uid=uid, stage=stage, runtime=runtime,
                 inputs_src=inputs_src, inputs_dst=f"/inputs/{inputs.mount_name}",
                 limits=limits, seccomp=bpf is not None, spec=spec, info=info)


def _ancestors(path: str) -> list[str]:
    parts = Path(path).parts[1:-1]
    return ["/" + "/".join(parts[: i + 1]) for i in range(len(parts))]


def _argv(plan: _Plan, status_fd: int, json_fd: int) -> list[str]:
    mb = 1024 * 1024
    a: list[str] = [plan.info["bwrap"]]
    if plan.isolation == "root":
        a += ["--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts",
              "--unshare-cgroup-try",
              "--cap-drop", "ALL", "--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID",
              "--cap-add", "CAP_KILL"]
    else:
        a += ["--unshare-all", "--unshare-user", "--uid", str(_IN_SANDBOX_UID),
              "--gid", str(_IN_SANDBOX_UID)]
        if plan.info["disable_userns"]:
            a += ["--disable-userns"]
    a += ["--die-with-parent", "--new-session", "--as-pid-1", "--hostname", "sandbox",
          "--json-status-fd", str(json_fd)]
    # the read-only system
    a += ["--ro-bind", "/usr", "/usr"]
    for top in ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"):
        if os.path.islink(top):
            a += ["--symlink", os.readlink(top), top]
        elif os.path.isdir(top):
            a += ["--ro-bind", top, top]
    a += ["--perms", "0755", "--dir", "/etc",
          "--ro-bind", str(plan.stage / "etc" / "passwd"), "/etc/passwd",
          "--ro-bind", str(plan.stage / "etc" / "group"), "/etc/group",
          "--ro-bind-try", "/etc/ld.so.cache", "/etc/ld.so.cache",
          "--ro-bind-try", "/etc/localtime", "/etc/localtime"]
    a += ["--proc", "/proc", "--dev", "/dev"]
    a += ["--perms", "1777", "--size", str(plan.limits.memory_mb * mb), "--tmpfs", "/tmp",
          "--perms", "0777", "--size", str(plan.limits.output_mb * mb), "--tmpfs", "/output"]
    # the runtime's own prefixes (a virtual environment, pyenv), bound after the tmpfs
    # mounts so that a runtime living under /tmp (a CI checkout) is not hidden by them
    made: set[str] = set()
    for prefix in plan.runtime.prefixes:
        if prefix == "/usr" or prefix.startswith("/usr/"):
            continue
        for d in _ancestors(prefix):
            if d not in made:
                made.add(d)
                a += ["--perms", "0755", "--dir", d]
        a += ["--ro-bind", os.path.realpath(prefix), prefix]
    a += ["--ro-bind", str(plan.stage / "code"), "/code",
          "--perms", "0755", "--dir", "/inputs",
          "--ro-bind", str(plan.inputs_src), plan.inputs_dst,
          "--perms", "0755", "--dir", "/sandbox",
          "--ro-bind", str(plan.stage / "harness.py"), "/sandbox/harness.py"]
    if plan.seccomp:
        a += ["--ro-bind", str(plan.stage / "seccomp.bpf"), "/sandbox/seccomp.bpf"]
    a += ["--remount-ro", "/", "--chdir", "/code", "--clearenv"]
    exe_dir = os.path.dirname(plan.runtime.executable)
    env = {
        "PATH": f"{exe_dir}:/usr/local/bin:/usr/bin:/bin", "HOME": "/tmp", "TMPDIR": "/tmp",
        "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8", "PYTHONHASHSEED": "0",
        "PYTHONDONTWRITEBYTECODE": "1", "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1", "NUMEXPR_NUM_THREADS": "1", "MPLCONFIGDIR": "/tmp",
        "NUMBA_CACHE_DIR": "/tmp", "ADJUDICATOR_INPUTS": plan.inputs_dst,
        "ADJUDICATOR_OUTPUT": "/output",
    }
    for k, v in env.items():
        a += ["--setenv", k, v]
    spec = {**plan.spec, "status_fd": status_fd}
    a += ["--", plan.runtime.executable, "-s", "-B", "-P", "/sandbox/harness.py",
          json.dumps(spec)]
    return a


def _supervise(plan: _Plan) -> Outcome:
    status_r, status_w = os.pipe()
    json_r, json_w = os.pipe()
    argv = _argv(plan, status_w, json_w)
    kwargs: dict[str, Any] = {}
    if plan.isolation == "userns" and plan.uid is not None:
        kwargs = {"user": plan.uid, "group": plan.uid, "extra_groups": []}
    log_limit = plan.limits.log_kb * 1024
    out_limit = plan.limits.output_mb * 1024 * 1024 + _HEADER_MAX
    t0 = time.monotonic()
    try:
        proc = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            pass_fds=(status_w, json_w), start_new_session=True, **kwargs,
        )
    except OSError as exc:
        for fd in (status_r, status_w, json_r, json_w):
            os.close(fd)
        raise ConfigurationError(f"cannot start bubblewrap: {exc}") from None
    os.close(status_w)
    os.close(json_w)
    assert proc.stdout is not None and proc.stderr is not None
    bufs = {"stdout": bytearray(), "stderr": bytearray(), "status": bytearray(),
            "json": bytearray()}
    totals = {"stdout": 0, "stderr": 0, "status": 0, "json": 0}
    caps = {"stdout": log_limit, "stderr": log_limit, "status": out_limit,
            "json": _HEADER_MAX}
    sel = selectors.DefaultSelector()
    for name, fd in (("stdout", proc.stdout.fileno()), ("stderr", proc.stderr.fileno()),
                     ("status", status_r), ("json", json_r)):
        os.set_blocking(fd, False)
        sel.register(fd, selectors.EVENT_READ, name)
    killed: str | None = None
    sandbox_ns: str | None = None
    deadline = t0 + plan.limits.wall_seconds
    hard_stop: float | None = None

    def kill(why: str) -> None:
        # Killing the sandbox's process 1 makes the kernel kill every process of its pid
        # namespace before process 1 is reaped, and bwrap exits once it is: when wait4
        # below returns, nothing of the run is left. Without process 1's pid (bwrap has not
        # reported it yet) bwrap itself is killed and --die-with-parent does the rest.
        nonlocal killed, hard_stop
        if killed is None:
            killed = why
        hard_stop = time.monotonic() + _GRACE
        pid = _child_pid(bufs["json"]) or proc.pid
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass

    while sel.get_map():
        now = time.monotonic()
        if killed is None and now >= deadline:
            kill("wall")
        if hard_stop is not None and now >= hard_stop:
            break  # pipes held open past a kill: give up on them (cannot happen in a pid ns)
        limit_at = hard_stop if hard_stop is not None else deadline
        for key, _ in sel.select(timeout=max(0.0, min(limit_at - now, 1.0))):
            name = key.data
            try:
                chunk = os.read(key.fd, 1 << 16)
            except BlockingIOError:
                continue
            if not chunk:
                sel.unregister(key.fd)
                continue
            totals[name] += len(chunk)
            if name == "json" and sandbox_ns is None:
                sandbox_ns = _namespace_of(_child_pid(bufs["json"] + chunk))
            room = caps[name] - len(bufs[name])
            if room > 0:
                bufs[name] += chunk[:room]
            if totals[name] > caps[name] and killed is None:
                kill(name if name in ("stdout", "stderr") else "report")
    sel.close()
    for fd in (status_r, json_r):
        os.close(fd)
    proc.stdout.close()
    proc.stderr.close()
    if killed is not None:
        kill(killed)
    _, wait_status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(wait_status)
    wall = time.monotonic() - t0
    escaped: list[int] = []
    if plan.isolation == "root" and plan.uid is not None:
        escaped = _reap_uid(plan.uid, sandbox_ns)  # (a pid namespace keeps it empty)
    report, output = _parse_report(bytes(bufs["status"]))
    return Outcome(
        report=report, output=output, stdout=bytes(bufs["stdout"]),
        stderr=bytes(bufs["stderr"]), stdout_bytes=totals["stdout"],
        stderr_bytes=totals["stderr"], killed=killed, wall=wall,
        cpu=usage.ru_utime + usage.ru_stime, max_rss_mb=usage.ru_maxrss / 1024,
        exit_status=proc.returncode, escaped=escaped,
    )


def _reap_uid(uid: int, sandbox_ns: str | None) -> list[int]:
    """Kill whatever still runs as the run's uid (processes of a killed sandbox may take a
    moment to die); return those that were outside the sandbox's pid namespace."""
    escaped: set[int] = set()
    stop = time.monotonic() + _GRACE
    while (left := _processes_of(uid)) and time.monotonic() < stop:
        for pid in left:
            try:
                if sandbox_ns is None or os.readlink(f"/proc/{pid}/ns/pid") != sandbox_ns:
                    escaped.add(pid)
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        time.sleep(0.02)
    return sorted(escaped)


def _namespace_of(pid: int | None) -> str | None:
    try:
        return os.readlink(f"/proc/{pid}/ns/pid") if pid else None
    except OSError:
        return None


def _child_pid(data: bytearray | bytes) -> int | None:
    for line in bytes(data).splitlines():
        try:
            doc = json.loads(line)
        except ValueError:
            continue
        if isinstance(doc, dict) and isinstance(doc.get("child-pid"), int):
            return int(doc["child-pid"])
    return None


def _parse_report(data: bytes) -> tuple[dict[str, Any] | None, bytes]:
    head, sep, rest = data.partition(b"\n")
    if not sep:
        return None, b""
    try:
        report = json.loads(head)
    except ValueError:
        return None, b""
    return (report if isinstance(report, dict) else None), rest


def _finish(plan: _Plan, o: Outcome, base: dict[str, Any], out_dir: Path) -> SandboxRun:
    stdout = o.stdout.decode("utf-8", "replace")
    stderr = o.stderr.decode("utf-8", "replace")
    reason, exit_status, sig, left = explain(plan.limits, o, stderr)
    predictions: Path | None = None
    name = digest = size = None
    if reason is None:
        name = str((o.report or {})["output"]["name"])
        size = len(o.output)
        digest = "sha256:" + hashlib.sha256(o.output).hexdigest()
        out_dir.mkdir(parents=True, exist_ok=True)
        predictions = out_dir / name
        tmp = out_dir / f".{name}.partial"
        tmp.write_bytes(o.output)
        os.replace(tmp, predictions)
    record = RunRecord(
        status="succeeded" if reason is None else "failed", reason=reason,
        output_name=name, output_digest=digest, output_bytes=size,
        exit_status=exit_status, signal=sig, leftover_processes=left,
        wall_seconds=round(o.wall, 3), cpu_seconds=round(o.cpu, 3),
        max_rss_mb=round(o.max_rss_mb, 1),
        sandbox=sandbox_facts(plan.isolation, plan.info, plan.seccomp, plan.uid),
        last_words=last_words(stderr) if reason is not None else "",
        stdout=stdout, stderr=stderr, stdout_bytes=o.stdout_bytes,
        stderr_bytes=o.stderr_bytes, **base,
    )
    return SandboxRun(record=record, predictions=predictions)


_STAGE = re.compile(r"adjudicator-(run|code)-(\d+)-[^/]+")


def stage_prefix(what: Literal["run", "code"]) -> str:
    """Prefix of a staging folder: names this process, so a sweep can tell a dead one's."""
    return f"adjudicator-{what}-{os.getpid()}-"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    return True


def sweep_stale_stages(base: str | Path) -> list[Path]:
    """Remove the staging folders that dead processes left under ``base``.

    A run stages the decrypted inputs (and the team's code) in a private folder that it
    removes when it ends; a crash (SIGKILL, power loss of a disk-backed ``base``) leaves it.
    This removes every folder named by :func:`stage_prefix` whose process no longer
    exists and that this user owns; a live process's folder, a symbolic link, anything
    else in ``base`` is left alone. Returns what it removed. Call it when a service starts.
    """
    base = Path(base)
    removed: list[Path] = []
    try:
        entries = list(os.scandir(base))
    except FileNotFoundError:
        return removed
    me = os.geteuid()
    for entry in entries:
        m = _STAGE.fullmatch(entry.name)
        if m is None or not entry.is_dir(follow_symlinks=False):
            continue
        pid = int(m.group(2))
        if pid == os.getpid() or _alive(pid):
            continue
        if entry.stat(follow_symlinks=False).st_uid != me:
            continue
        _remove(Path(entry.path))
        removed.append(Path(entry.path))
    return removed


def _remove(stage: Path) -> None:
    def unlock(func: Any, path: str, exc: Any) -> None:
        # read-only staged directories: make writable and retry once
        parent = os.path.dirname(path)
        os.chmod(parent, 0o755)
        if os.path.isdir(path) and not os.path.islink(path):
            os.chmod(path, 0o755)
        func(path)

    for d, dirs, _ in os.walk(stage):
        for x in dirs:
            try:
                os.chmod(os.path.join(d, x), 0o755)
            except OSError:
                pass
    shutil.rmtree(stage, onerror=unlock)
