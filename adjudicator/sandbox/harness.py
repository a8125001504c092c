"""The supervisor inside the sandbox: process 1 of the sandbox's pid namespace.

Standard library only: it runs under the runtime's interpreter, as
``python -I /sandbox/harness.py SPEC`` (``SPEC`` a JSON object written by
:mod:`adjudicator.sandbox.runner`), never imports adjudicator, and is the only code in the
sandbox the service trusts. In order:

1. Make itself hard to touch: not dumpable (no ptrace, no ``/proc/1/fd``), default signal
   dispositions (the kernel drops signals sent to a namespace's process 1 from inside it
   unless it installed a handler; Python's SIGINT handler is removed for that reason).
2. Optionally install the team's wheelhouse offline (``pip --no-index --only-binary``),
   in a child process under the same limits as the entry point.
3. Fork the entry point. The child sets the resource limits (rlimits), drops to the run's
   unprivileged uid when the harness runs as root, sets no_new_privs, installs the seccomp
   filter, and then calls ``module.function(inputs, output)`` or executes the command.
4. Reap every process until the entry point has exited; then list what is still running
   (background processes the entry point left behind), kill everything (``kill(-1)``) and
   reap again, so no code of the team runs any more.
5. Only then read ``/output/predictions.csv`` or ``.parquet`` (a regular file, not a
   link) and send a one-line JSON report followed by the file's bytes over the status
   pipe, a descriptor the team's code never had.
"""

# ruff: noqa: S606 -- the harness starts the team's command without a shell, inside the sandbox

from __future__ import annotations

import ctypes
import json
import os
import resource
import signal
import stat
import sys
import traceback
from typing import Any

Spec = dict[str, Any]  # the JSON objects of the runner's spec and of our report

_PR_SET_DUMPABLE = 4
_PR_SET_NO_NEW_PRIVS = 38
_PR_SET_SECCOMP = 22
_SECCOMP_MODE_FILTER = 2
_OUTPUTS = ("predictions.csv", "predictions.parquet")
_CHUNK = 1 << 20


class _Fprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


def _prctl(libc: ctypes.CDLL, option: int, arg: int = 0) -> None:
    if libc.prctl(ctypes.c_int(option), ctypes.c_ulong(arg), ctypes.c_ulong(0),
                  ctypes.c_ulong(0), ctypes.c_ulong(0)) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"prctl({option}): {os.strerror(err)}")


def _confine(spec: Spec, libc: ctypes.CDLL) -> None:
    """In a child: limits, unprivileged uid, no_new_privs, seccomp. Irreversible."""
    lim = spec["limits"]
    cpu = lim["cpu_seconds"]
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))  # SIGXCPU, then SIGKILL
    resource.setrlimit(resource.RLIMIT_AS, (lim["memory_bytes"],) * 2)
    resource.setrlimit(resource.RLIMIT_FSIZE, (lim["file_bytes"],) * 2)
    resource.setrlimit(resource.RLIMIT_NPROC, (lim["processes"],) * 2)
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    cap = 4096 if hard == resource.RLIM_INFINITY else min(4096, hard)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(soft, cap), cap))
    uid = spec.get("uid")
    if uid is not None and os.getuid() == 0:
        os.setgroups([])
        os.setresgid(uid, uid, uid)
        os.setresuid(uid, uid, uid)
        if os.getuid() != uid or os.geteuid() != uid:  # fail closed
            raise OSError("could not drop to the run's uid")
    _prctl(libc, _PR_SET_NO_NEW_PRIVS, 1)
    if spec.get("seccomp"):
        _install_filter(libc, spec["seccomp"])


def _install_filter(libc: ctypes.CDLL, path: str) -> None:
    with open(path, "rb") as fh:
        data = fh.read()
    buf = ctypes.create_string_buffer(data, len(data))
    prog = _Fprog(len(data) // 8, ctypes.cast(buf, ctypes.c_void_p))
    rc = libc.prctl(ctypes.c_int(_PR_SET_SECCOMP), ctypes.c_ulong(_SECCOMP_MODE_FILTER),
                    ctypes.byref(prog), ctypes.c_ulong(0), ctypes.c_ulong(0))
    if rc != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"cannot install the seccomp filter: {os.strerror(err)}")


def _child(spec: Spec, libc: ctypes.CDLL, argv: list[str] | None) -> None:
    """Runs in the forked child; never returns."""
    code = 1
    try:
        os.close(spec["status_fd"])
        _confine(spec, libc)
        _prctl(libc, _PR_SET_DUMPABLE, 1)
        os.chdir(spec["code"])
        command = argv if argv is not None else spec["entry"].get("command")
        if command is not None:
            for sig in (signal.SIGPIPE, signal.SIGXFSZ):  # as subprocess does before exec
                signal.signal(sig, signal.SIG_DFL)
            os.execvpe(command[0], command, _env(spec))
        code = _call(spec)
    except SystemExit as exc:  # as the interpreter would: a message goes to stderr
        if exc.code is None or isinstance(exc.code, int):
            code = exc.code or 0
        else:
            print(exc.code, file=sys.stderr)
            code = 1
    except BaseException:  # the team's traceback, on the team's stderr
        traceback.print_exc()
        code = 1
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)


def _env(spec: Spec) -> dict[str, str]:
    env = dict(os.environ)
    if spec.get("wheels"):
        env["PYTHONPATH"] = spec["wheels"]
    return env


def _call(spec: Spec) -> int:
    import importlib
    import pathlib

    entry = spec["entry"]
    sys.path.insert(0, spec["code"])
    if spec.get("wheels"):
        sys.path.insert(1, spec["wheels"])
    module = importlib.import_module(entry["module"])
    function = getattr(module, entry["function"], None)
    if not callable(function):
        print(f"adjudicator: {entry['module']} has no function {entry['function']!r}",
              file=sys.stderr)
        return 1
    result = function(pathlib.Path(spec["inputs"]), pathlib.Path(spec["output"]))
    if result is not None:
        if not hasattr(result, "to_csv"):
            print(f"adjudicator: {entry['module']}.{entry['function']} returned "
                  f"{type(result).__name__}; expected a pandas DataFrame or None",
                  file=sys.stderr)
            return 1
        result.to_csv(os.path.join(spec["output"], "predictions.csv"), index=False)
    return 0


def _spawn(spec: Spec, libc: ctypes.CDLL, argv: list[str] | None = None) -> int:
    pid = os.fork()
    if pid == 0:
        _child(spec, libc, argv)
    return pid


def _wait_for(pid: int) -> int:
    """Reap every child (orphans are ours as process 1) until ``pid`` has exited."""
    while True:
        try:
            done, status = os.waitpid(-1, 0)
        except InterruptedError:
            continue
        if done == pid:
            return status


def _describe(status: int) -> Spec:
    if os.WIFSIGNALED(status):
        return {"signal": os.WTERMSIG(status)}
    return {"exit": os.WEXITSTATUS(status)}


def _sweep() -> list[str]:
    """List the processes still running besides process 1, then kill and reap them all."""
    left: list[str] = []
    for name in os.listdir("/proc"):
        if not name.isdigit() or name == "1":
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as fh:
                state = fh.read().rsplit(b")", 1)[1].split()[0]
            if state in (b"Z", b"X"):
                continue
            with open(f"/proc/{name}/cmdline", "rb") as fh:
                cmd = fh.read(200).replace(b"\0", b" ").decode("utf-8", "replace").strip()
        except (OSError, IndexError):
            continue  # gone meanwhile
        left.append(cmd or f"pid {name}")
    try:
        os.kill(-1, signal.SIGKILL)  # from process 1: every other process of the namespace
    except ProcessLookupError:
        pass
    while True:
        try:
            os.waitpid(-1, 0)
        except ChildProcessError:
            return left
        except InterruptedError:
            continue


def _output(spec: Spec) -> tuple[Spec, int | None]:
    found = [n for n in _OUTPUTS if os.path.lexists(os.path.join(spec["output"], n))]
    if not found:
        return {"error": "wrote no predictions file: write /output/predictions.csv or "
                         "/output/predictions.parquet"}, None
    if len(found) > 1:
        return {"error": "wrote both predictions.csv and predictions.parquet; write one"}, None
    name = found[0]
    try:
        fd = os.open(os.path.join(spec["output"], name),
                     os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        return {"error": f"{name}: cannot be read ({exc.strerror}; a link is refused)"}, None
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        return {"error": f"{name} is not a regular file"}, None
    if st.st_size > spec["limits"]["output_bytes"]:
        os.close(fd)
        return {"error": f"{name} is larger than the output limit"}, None
    return {"name": name, "size": st.st_size}, fd


def _send(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


def main() -> int:
    spec = json.loads(sys.argv[1])
    status_fd = spec["status_fd"]
    os.set_inheritable(status_fd, False)
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGUSR1, signal.SIGUSR2):
        signal.signal(sig, signal.SIG_DFL)
    libc = ctypes.CDLL(None, use_errno=True)
    # (1) nobody in the sandbox may ptrace us or read our descriptors
    _prctl(libc, _PR_SET_DUMPABLE, 0)
    report: Spec = {"harness": "adjudicator-harness/v1"}
    # (2) the team's wheelhouse, offline, under the same confinement
    if spec.get("wheelhouse"):
        argv = [sys.executable, "-m", "pip", "install", "--no-index", "--no-deps",
                "--only-binary", ":all:", "--no-cache-dir", "--disable-pip-version-check",
                "--no-warn-script-location", "--quiet", "--target", spec["wheels"],
                *spec["wheelhouse"]]
        status = _wait_for(_spawn(spec, libc, argv))
        left = _sweep()
        if status != 0 or left:
            report["wheelhouse"] = {**_describe(status), "leftover": left}
            _send(status_fd, (json.dumps(report) + "\n").encode())
            return 0
        report["wheelhouse"] = {"exit": 0}
    # (3) the entry point
    entry = _spawn(spec, libc)
    # (4) wait, then make sure nothing of the team's runs any more
    report["entry"] = _describe(_wait_for(entry))
    report["leftover"] = _sweep()
    # (5) the output, read by us alone
    out, fd = _output(spec)
    report["output"] = out
    _send(status_fd, (json.dumps(report) + "\n").encode())
    if fd is not None:
        while True:
            chunk = os.read(fd, _CHUNK)
            if not chunk:
                break
            _send(status_fd, chunk)
        os.close(fd)
    os.close(status_fd)
    return 0


if __name__ == "__main__":
    sys.exit(main())
