"""Model-to-data: code runs in a bubblewrap sandbox beside the sequestered inputs.

Every hostile submission is stopped with a clear reason, and the host is checked
afterwards: no process of the run's uid survives, no file appeared outside, the loopback
server heard nothing. An honest model gets exactly the result of uploading its predictions.
"""

from __future__ import annotations

import hashlib
import importlib.util
import io
import json
import os
import shutil
import socket
import subprocess
import sys
import tarfile
import threading
import zipfile
from datetime import datetime
from pathlib import Path

import pandas as pd
import pytest
import yaml

from adjudicator import (
    ConfigurationError,
    InputError,
    ProtocolError,
    VerificationError,
    parse_protocol,
)
from adjudicator.adjudication import adjudicate
from adjudicator.data import read_submission, read_truth
from adjudicator.demo_data import gbsg2_frames
from adjudicator.sandbox import (
    SandboxOptions,
    load_code,
    read_inputs,
    read_output,
    run_code,
    run_submission,
    runtime_info,
    sandbox_info,
)
from adjudicator.sandbox.seccomp import DENIED_SYSCALLS, build_filter

from .conftest import ASSETS, PROTOCOLS

NOW = datetime(2026, 11, 29, 12, 0, 0)
PROTOCOL_TEXT = (ASSETS / "sandbox_protocol.yaml").read_text()


def protocol_with(**submission):
    """The sandbox test protocol with parts of its submission block replaced."""
    doc = yaml.safe_load(PROTOCOL_TEXT)
    for key, value in submission.items():
        if key in ("limits", "runtime"):
            doc["submission"][key] = {**doc["submission"][key], **value}
        else:
            doc["submission"][key] = value
    return parse_protocol(yaml.safe_dump(doc))


def host_processes_of(uid):
    pids = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                if os.stat(f"/proc/{name}").st_uid == uid:
                    pids.append(int(name))
            except OSError:
                pass
    return pids


@pytest.fixture(scope="module")
def challenge(tmp_path_factory):
    """GBSG2 staged as a model-to-data challenge: truth, features, baseline, protocol."""
    from sksurv.datasets import load_gbsg2

    folder = tmp_path_factory.mktemp("m2d")
    truth, preds = gbsg2_frames()
    truth.to_csv(folder / "truth.csv", index=False)
    preds["clinical-cox"].to_csv(folder / "clinical-cox.csv", index=False)
    x, _ = load_gbsg2()
    features = x.reset_index(drop=True).copy()
    features.insert(0, "patient_id", truth["patient_id"].to_numpy())
    features.to_csv(folder / "features.csv", index=False)
    protocol = parse_protocol(PROTOCOL_TEXT)
    t = read_truth(protocol, folder / "truth.csv")
    inputs = read_inputs(protocol, folder / "features.csv", truth=t)
    baseline = read_submission(protocol, folder / "clinical-cox.csv", t)
    return {"folder": folder, "protocol": protocol, "truth": t, "inputs": inputs,
            "baseline": baseline, "features": features}


def team_code(tmp_path, asset, **config):
    """A copy of a named code asset, with ``config.json`` for what the test decides."""
    folder = tmp_path / asset
    shutil.copytree(ASSETS / asset, folder)
    if config:
        (folder / "config.json").write_text(json.dumps(config))
    return load_code(folder)


def run(challenge, code, tmp_path, protocol=None, **kw):
    result = run_code(protocol or challenge["protocol"], code, challenge["inputs"],
                      tmp_path / "out", now=NOW, **kw)
    uid = result.record.sandbox["uid"]
    if uid is not None:  # root isolation: the run's own uid must have nothing left
        assert host_processes_of(uid) == []
    return result


# -- the protocol block ---------------------------------------------------------------------


def test_submission_block_defaults_to_predictions_and_keeps_digests():
    base = (PROTOCOLS / "gbsg2-recurrence-free-survival.yaml").read_text()
    plain = parse_protocol(base)
    assert plain.submission.mode == "predictions"
    assert '"submission"' not in plain.canonical  # existing digests are unchanged
    explicit = parse_protocol(base + "submission: {mode: predictions}\n")
    assert explicit.digest == plain.digest
    code = parse_protocol(base + "submission: {mode: code, entry_point: {module: model}}\n")
    assert code.digest != plain.digest
    sub = code.submission
    assert sub.entry_point.function == "predict"  # defaults filled in, so digested
    assert sub.limits.wall_seconds == 900 and sub.runtime.python == "service"
    assert '"limits"' in code.canonical


@pytest.mark.parametrize("block, message", [
    ("{mode: code}", "submission.entry_point: a code submission needs its entry point"),
    ("{mode: predictions, limits: {}}", "submission.limits: only a code submission"),
    ("{mode: code, entry_point: {module: m, command: [python, x.py]}}",
     "submission.entry_point: give either module (+ function) or command"),
    ("{mode: code, entry_point: {command: [python], function: f}}",
     "submission.entry_point.function: only a module entry point names a function"),
    ("{mode: code, entry_point: {command: []}}", "between 1 and 64 arguments"),
    ("{mode: code, entry_point: {module: ../evil}}", "submission.entry_point.module"),
    ("{mode: code, entry_point: {module: m}, limits: {cpu_seconds: 0}}",
     "submission.limits.cpu_seconds"),
    ("{mode: code, entry_point: {module: m}, limits: {memory_mb: true}}",
     "submission.limits.memory_mb: must be an integer"),
    ("{mode: code, entry_point: {module: m}, limits: {gpus: 1}}",
     "submission.limits.gpus: unknown field"),
    ("{mode: code, entry_point: {module: m}, runtime: {python: /usr/bin/python2}}",
     "submission.runtime.python"),
    ("{mode: code, entry_point: {module: m}, runtime: {packages: [numpy, NumPy]}}",
     "package names must not repeat"),
    ("{mode: docker}", "submission.mode"),
])
def test_submission_block_is_strict(block, message):
    base = (PROTOCOLS / "gbsg2-recurrence-free-survival.yaml").read_text()
    with pytest.raises(ProtocolError) as err:
        parse_protocol(base + f"submission: {block}\n")
    assert message in str(err.value)


# -- inputs, code and runtime artifacts -----------------------------------------------------


def test_inputs_digest_is_a_commitment_independent_of_order_and_format(challenge, tmp_path):
    protocol, inputs, features = challenge["protocol"], challenge["inputs"], \
        challenge["features"]
    assert inputs.n_units == 686 and inputs.format == "csv"
    assert "rfs_days" not in inputs.columns and "tsize" in inputs.columns
    shuffled = features.sample(frac=1.0, random_state=1)[list(reversed(features.columns))]
    shuffled.to_parquet(tmp_path / "features.parquet", index=False)
    other = read_inputs(protocol, tmp_path / "features.parquet", truth=challenge["truth"])
    assert other.format == "parquet" and other.mount_name == "features.parquet"
    assert other.digest == inputs.digest
    assert other.file_digest != inputs.file_digest  # the exact bytes are bound separately
    changed = features.copy()
    changed.loc[3, "tsize"] = changed.loc[3, "tsize"] + 1
    changed.to_csv(tmp_path / "changed.csv", index=False)
    assert read_inputs(protocol, tmp_path / "changed.csv").digest != inputs.digest


def test_inputs_never_carry_the_truth_and_cover_exactly_its_units(challenge, tmp_path):
    protocol, features, truth = challenge["protocol"], challenge["features"], \
        challenge["truth"]
    leak = features.assign(rfs_days=1)
    leak.to_csv(tmp_path / "leak.csv", index=False)
    with pytest.raises(InputError, match="truth or strata column.*'rfs_days'"):
        read_inputs(protocol, tmp_path / "leak.csv")
    strata = features.assign(recurred=0)  # the strata column is the event itself here
    strata.to_csv(tmp_path / "strata.csv", index=False)
    with pytest.raises(InputError, match="'recurred'"):
        read_inputs(protocol, tmp_path / "strata.csv")
    features.iloc[:-1].to_csv(tmp_path / "short.csv", index=False)
    with pytest.raises(InputError, match="no inputs for 1 truth unit"):
        read_inputs(protocol, tmp_path / "short.csv", truth=truth)
    extra = pd.concat([features, features.iloc[:1].assign(patient_id="stranger")])
    extra.to_csv(tmp_path / "extra.csv", index=False)
    with pytest.raises(InputError, match="1 unit\\(s\\) not in the truth: 'stranger'"):
        read_inputs(protocol, tmp_path / "extra.csv", truth=truth)
    pd.concat([features, features.iloc[:1]]).to_csv(tmp_path / "dup.csv", index=False)
    with pytest.raises(InputError, match="1 duplicated row"):
        read_inputs(protocol, tmp_path / "dup.csv")


def test_code_digest_is_the_same_for_a_directory_a_zip_and_a_tar(tmp_path):
    folder = ASSETS / "sandbox_honest"
    code = load_code(folder)
    with zipfile.ZipFile(tmp_path / "team.zip", "w") as zf:
        zf.write(folder / "model.py", "model.py")
    with tarfile.open(tmp_path / "team.tar.gz", "w:gz") as tf:
        tf.add(folder / "model.py", "./model.py")
    assert load_code(tmp_path / "team.zip").digest == code.digest
    assert load_code(tmp_path / "team.tar.gz").digest == code.digest
    assert code.has_module("model") and not code.has_module("other")


def test_hostile_code_bundles_are_refused(tmp_path):
    (tmp_path / "links").mkdir()
    (tmp_path / "links" / "model.py").symlink_to("/etc/passwd")
    with pytest.raises(InputError, match="only regular files"):
        load_code(tmp_path / "links")
    with zipfile.ZipFile(tmp_path / "slip.zip", "w") as zf:
        zf.writestr("../../etc/cron.d/evil", "x")
    with pytest.raises(InputError, match="unsafe path"):
        load_code(tmp_path / "slip.zip")
    buf = io.BytesIO(b"x")
    with tarfile.open(tmp_path / "abs.tar", "w") as tf:
        info = tarfile.TarInfo("/etc/evil")
        info.size = 1
        tf.addfile(info, buf)
    with pytest.raises(InputError, match="unsafe path"):
        load_code(tmp_path / "abs.tar")
    with tarfile.open(tmp_path / "link.tar", "w") as tf:
        info = tarfile.TarInfo("model.py")
        info.type = tarfile.SYMTYPE
        info.linkname = "/srv/truth.csv"
        tf.addfile(info)
    with pytest.raises(InputError, match="only regular files"):
        load_code(tmp_path / "link.tar")
    (tmp_path / "big").mkdir()
    (tmp_path / "big" / "weights.bin").write_bytes(b"\0" * 2048)
    with pytest.raises(InputError, match="larger than 1024 bytes"):
        load_code(tmp_path / "big", max_bytes=1024)
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="holds no files"):
        load_code(tmp_path / "empty")


def test_runtime_digest_names_the_installed_packages():
    rt = runtime_info()
    assert rt.digest.startswith("sha256:") and rt.packages["pandas"] == pd.__version__
    assert rt.missing(("numpy", "Scikit_Learn", "no-such-dist")) == ["no-such-dist"]


def test_seccomp_filter_is_well_formed():
    bpf = build_filter("x86_64")
    assert len(bpf) % 8 == 0 and len(bpf) // 8 == 4 + 3 + len(DENIED_SYSCALLS) + 6
    assert build_filter("riscv64") is None


def test_bubblewrap_is_installed():
    info = sandbox_info()
    assert info["disable_userns"] and info["size"] and info["perms"]


# -- an honest model ------------------------------------------------------------------------


def test_honest_model_in_the_sandbox_equals_uploading_its_predictions(challenge, tmp_path):
    protocol, truth, base = challenge["protocol"], challenge["truth"], challenge["baseline"]
    # the upload: the team runs its model at home and sends the file
    spec = importlib.util.spec_from_file_location("honest_model",
                                                  ASSETS / "sandbox_honest" / "model.py")
    model = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(model)
    model.predict(challenge["inputs"].path, tmp_path).to_csv(tmp_path / "upload.csv",
                                                             index=False)
    uploaded = read_submission(protocol, tmp_path / "upload.csv", truth)
    # model to data: the same code runs beside the sequestered inputs
    code = load_code(ASSETS / "sandbox_honest")
    result = run(challenge, code, tmp_path)
    record = result.record
    assert record.succeeded, record.reason
    assert record.output_digest == "sha256:" + hashlib.sha256(
        (tmp_path / "upload.csv").read_bytes()).hexdigest()
    sandboxed = read_output(protocol, result, truth)
    assert sandboxed.digest == uploaded.digest
    a = adjudicate(protocol, truth, uploaded, baselines={"clinical-cox": base}, now=NOW)
    b = adjudicate(protocol, truth, sandboxed, baselines={"clinical-cox": base},
                   now=datetime(2027, 1, 1))
    da, db = a.to_dict(), b.to_dict()
    assert da.pop("timestamps") != db.pop("timestamps")
    assert json.dumps(da) == json.dumps(db)
    # the record carries every digest a ledger entry needs, and no logs there
    doc = record.to_dict(logs=False)
    assert doc["digests"] == {
        "protocol": protocol.digest, "code": code.digest,
        "runtime": runtime_info().digest, "inputs": challenge["inputs"].digest,
        "inputs_file": challenge["inputs"].file_digest, "output": record.output_digest}
    assert "stdout" not in doc["logs"] and doc["limits"]["processes"] == 16
    assert doc["sandbox"]["seccomp"] and doc["sandbox"]["network"].startswith("none")


def test_command_entry_point(challenge, tmp_path):
    protocol = protocol_with(entry_point={"command": ["python", "run.py"]})
    result = run(challenge, load_code(ASSETS / "sandbox_command"), tmp_path, protocol)
    assert result.record.succeeded, result.record.reason
    assert result.record.stdout.startswith("predicted 686 patients as uid ")
    truth = read_truth(protocol, challenge["folder"] / "truth.csv")  # bound to a protocol
    sub = read_output(protocol, result, truth)
    assert sub.table.n_units == 686


def test_user_namespace_isolation_runs_the_same_code(challenge, tmp_path):
    """The other isolation: bwrap unprivileged in a user namespace (as a non-root service
    runs it). As root the run's fresh uid starts it, so the runtime must be reachable by
    that uid: the system's Python (standard library only) when the service's is not."""
    python = sys.executable
    probe = os.path.realpath(python)
    if any(not (os.stat(p).st_mode & 0o001) for p in Path(probe).parents):
        python = shutil.which("python3", path="/usr/bin:/bin")
    assert python, "no interpreter reachable by an unprivileged uid"
    protocol = protocol_with(entry_point={"command": ["python", "run.py"]},
                             runtime={"packages": []})
    options = SandboxOptions(isolation="userns", python=python)
    result = run(challenge, load_code(ASSETS / "sandbox_command"), tmp_path, protocol,
                 options=options)
    assert result.record.succeeded, result.record.reason
    assert result.record.sandbox["isolation"] == "userns"
    assert "as uid 1000" in result.record.stdout  # the uid inside the user namespace
    bomb = run(challenge, team_code(tmp_path, "sandbox_namespaces"), tmp_path,
               protocol_with(runtime={"packages": []}), options=options)
    assert "'user': 'EPERM'" in bomb.record.stdout


@pytest.mark.slow
def test_wheelhouse_is_installed_offline_inside_the_sandbox(challenge, tmp_path):
    folder = tmp_path / "team"
    shutil.copytree(ASSETS / "sandbox_honest", folder)
    _write_wheel(folder / "wheelhouse" / "teamfeat-1.0-py3-none-any.whl")
    (folder / "model.py").write_text(
        "import pandas as pd\nimport teamfeat\n\n\ndef predict(inputs, output):\n"
        "    x = pd.read_csv(inputs)\n"
        "    return pd.DataFrame({'patient_id': x.patient_id, "
        "'risk': x.tsize.map(teamfeat.scale)})\n")
    protocol = protocol_with(runtime={"wheelhouse": True})
    result = run(challenge, load_code(folder), tmp_path, protocol)
    assert result.record.succeeded, result.record.reason + result.record.stderr
    without = run(challenge, load_code(folder), tmp_path / "no", protocol_with())
    assert "No module named 'teamfeat'" in without.record.last_words


def _write_wheel(path):
    import base64

    def rec(data):
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
        return "sha256=" + digest.decode()

    files = {
        "teamfeat/__init__.py": b"def scale(v):\n    return v / 100.0\n",
        "teamfeat-1.0.dist-info/METADATA":
            b"Metadata-Version: 2.1\nName: teamfeat\nVersion: 1.0\n",
        "teamfeat-1.0.dist-info/WHEEL":
            b"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = "".join(f"{k},{rec(v)},{len(v)}\n" for k, v in files.items())
    files["teamfeat-1.0.dist-info/RECORD"] = (record
                                              + "teamfeat-1.0.dist-info/RECORD,,\n").encode()
    path.parent.mkdir(parents=True)
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in files.items():
            zf.writestr(name, data)


# -- hostile submissions --------------------------------------------------------------------


def test_reading_the_truth_finds_nothing(challenge, tmp_path):
    truth_path = str((challenge["folder"] / "truth.csv").resolve())
    result = run(challenge, team_code(tmp_path, "sandbox_reads_truth", truth=truth_path),
                 tmp_path)
    r = result.record
    assert not r.succeeded
    assert r.reason == ("the entry point exited with status 1: a file it looked for does "
                        "not exist here (the sandbox holds /code, /inputs, /output, /tmp and "
                        "the runtime)")
    assert truth_path in r.last_words and "No such file or directory" in r.last_words
    assert "LEAKED" not in r.stdout and result.predictions is None
    assert "last_words" not in r.to_dict(logs=False)["logs"]
    with pytest.raises(InputError, match="the submitted code failed: the entry point"):
        read_output(challenge["protocol"], result, challenge["truth"])


def test_no_network_not_even_the_hosts_loopback(challenge, tmp_path):
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(0.2)
    heard = []

    def listen():
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                continue
            heard.append(conn.recv(100))
            conn.close()

    stop = threading.Event()
    thread = threading.Thread(target=listen)
    thread.start()
    try:
        port = server.getsockname()[1]
        result = run(challenge, team_code(tmp_path, "sandbox_opens_socket", port=port),
                     tmp_path)
        # the host itself can connect: the server was listening all along
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
            s.sendall(b"host")
    finally:
        stop.set()
        thread.join()
        server.close()
    r = result.record
    assert not r.succeeded and "Connection refused" in r.last_words
    assert r.reason == ("the entry point exited with status 1: a network connection failed "
                        "(the sandbox has no network)")
    assert "CONNECTED" not in r.stdout
    assert heard == [b"host"]


def test_writing_outside_the_output_directory_fails_everywhere(challenge, tmp_path):
    outside = tmp_path / "planted.txt"
    before = (challenge["inputs"].path.read_bytes(), Path("/etc/passwd").read_bytes())
    result = run(challenge, team_code(tmp_path, "sandbox_writes_outside",
                                      outside=str(outside)), tmp_path)
    r = result.record
    assert r.reason == "the entry point exited with status 1"
    assert "no write outside /output succeeded (7 refused)" in r.last_words
    assert "WROTE" not in r.stdout
    assert "Read-only file system" in r.stdout and "No such file" in r.stdout
    assert not outside.exists()
    assert (challenge["inputs"].path.read_bytes(), Path("/etc/passwd").read_bytes()) == before


def test_a_fork_bomb_hits_the_process_limit_and_leaves_nothing(challenge, tmp_path):
    result = run(challenge, team_code(tmp_path, "sandbox_fork_bomb"), tmp_path)
    r = result.record
    assert not r.succeeded
    assert r.reason == ("the entry point exited with status 1: could not start a process "
                        "(the process limit is 16 processes and threads)")
    made = int(r.stdout.split()[1])
    assert 0 < made < 16  # the children, each holding a slot, never exceeded the limit
    assert subprocess.run(["true"]).returncode == 0  # the host can still start processes


def test_allocating_10_gb_fails_at_the_memory_limit(challenge, tmp_path):
    r = run(challenge, team_code(tmp_path, "sandbox_allocates"), tmp_path).record
    assert not r.succeeded
    assert r.reason == ("the entry point exited with status 1: out of memory (the memory "
                        "limit is 1024 MB per process)")
    assert r.last_words == "MemoryError"


def test_running_forever_is_killed_at_the_wall_time_limit(challenge, tmp_path):
    protocol = protocol_with(limits={"wall_seconds": 3})
    r = run(challenge, team_code(tmp_path, "sandbox_runs_forever"), tmp_path, protocol).record
    assert not r.succeeded
    assert r.reason == ("exceeded the wall-time limit of 3 s; the whole process tree was "
                        "killed")
    assert r.wall_seconds >= 3


@pytest.mark.slow
def test_spinning_is_stopped_at_the_cpu_limit(challenge, tmp_path):
    protocol = protocol_with(limits={"cpu_seconds": 1, "wall_seconds": 120})
    r = run(challenge, team_code(tmp_path, "sandbox_spins"), tmp_path, protocol).record
    assert not r.succeeded
    assert r.reason == "exceeded the CPU-time limit of 1 s" and r.signal == "SIGXCPU"


def test_printing_1_gb_is_stopped_at_the_log_limit(challenge, tmp_path):
    r = run(challenge, team_code(tmp_path, "sandbox_prints"), tmp_path).record
    assert not r.succeeded
    assert r.reason == "wrote more than 64 KiB to stdout; the run was stopped"
    assert len(r.stdout) == 64 * 1024 and r.stdout_bytes > 64 * 1024


def test_a_background_process_left_behind_fails_the_run(challenge, tmp_path):
    result = run(challenge, team_code(tmp_path, "sandbox_background"), tmp_path)
    r = result.record
    assert not r.succeeded and result.predictions is None
    assert r.reason == ("left 1 background process(es) running after the entry point "
                        "exited (all were killed)")
    assert r.exit_status == 0 and r.leftover_processes == ("sleep 3600",)


def test_new_namespaces_and_ptrace_are_refused(challenge, tmp_path):
    r = run(challenge, team_code(tmp_path, "sandbox_namespaces"), tmp_path).record
    assert not r.succeeded
    assert ("{'user': 'EPERM', 'mount': 'EPERM', 'net': 'EPERM', 'clone3': 'ENOSYS', "
            "'ptrace': 'EPERM'}") in r.stdout


def test_output_that_is_not_one_regular_file_is_refused(challenge, tmp_path):
    folder = tmp_path / "team"
    folder.mkdir()
    (folder / "model.py").write_text(
        "import os\n\ndef predict(inputs, output):\n"
        "    os.symlink(inputs, output / 'predictions.csv')\n")
    r = run(challenge, load_code(folder), tmp_path).record
    assert r.reason == ("predictions.csv: cannot be read (Too many levels of symbolic links; "
                        "a link is refused)")
    (folder / "model.py").write_text("def predict(inputs, output):\n    pass\n")
    r = run(challenge, load_code(folder), tmp_path).record
    assert r.reason == ("wrote no predictions file: write /output/predictions.csv or "
                        "/output/predictions.parquet")
    (folder / "model.py").write_text(
        "def predict(inputs, output):\n    (output / 'predictions.csv').write_bytes("
        "b'x' * 5 * 1024 * 1024)\n")
    r = run(challenge, load_code(folder), tmp_path).record
    assert "File too large" in r.last_words and "output limit is 4 MB" in r.reason


def test_invalid_predictions_are_refused_like_an_upload(challenge, tmp_path):
    folder = tmp_path / "team"
    folder.mkdir()
    (folder / "model.py").write_text(
        "import pandas as pd\n\ndef predict(inputs, output):\n"
        "    x = pd.read_csv(inputs)\n"
        "    return pd.DataFrame({'patient_id': x.patient_id, 'rfs_days': 1.0, 'risk': 1.0})\n")
    result = run(challenge, load_code(folder), tmp_path)
    assert result.record.succeeded
    with pytest.raises(InputError, match="leak attempt"):
        read_output(challenge["protocol"], result, challenge["truth"])


def test_refusals_before_any_run(challenge, tmp_path):
    folder = tmp_path / "team"
    folder.mkdir()
    (folder / "other.py").write_text("x = 1\n")
    r = run(challenge, load_code(folder), tmp_path).record
    assert r.reason == "the code has no module 'model' (expected model.py or a package of " \
                       "that name)"
    plain = parse_protocol((PROTOCOLS / "gbsg2-recurrence-free-survival.yaml").read_text())
    with pytest.raises(InputError, match="takes predictions files, not code"):
        run_code(plain, load_code(folder), challenge["inputs"], tmp_path)
    with pytest.raises(ConfigurationError, match="lacks package\\(s\\) the protocol "
                                                 "promises: no-such-dist"):
        run_code(protocol_with(runtime={"packages": ["no-such-dist"]}), load_code(folder),
                 challenge["inputs"], tmp_path)
    copy = tmp_path / "features.csv"
    shutil.copyfile(challenge["inputs"].path, copy)
    inputs = read_inputs(challenge["protocol"], copy)
    with copy.open("a") as fh:
        fh.write("\n")
    with pytest.raises(InputError, match="changed since it was read"):
        run_code(challenge["protocol"], load_code(ASSETS / "sandbox_honest"), inputs,
                 tmp_path)


def test_run_submission_from_stored_files_is_the_workers_one_call(challenge, tmp_path):
    protocol, truth = challenge["protocol"], challenge["truth"]
    archive = tmp_path / "team.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.write(ASSETS / "sandbox_honest" / "model.py", "model.py")
    features = challenge["inputs"].path
    record, entry = run_submission(protocol, archive, features, truth, tmp_path / "a",
                                   inputs_digest=challenge["inputs"].digest, now=NOW)
    assert record.succeeded and entry.table.n_units == 686
    assert record.code_digest == load_code(ASSETS / "sandbox_honest").digest
    with pytest.raises(VerificationError, match="the committed one is sha256:0"):
        run_submission(protocol, archive, features, truth, tmp_path / "b",
                       inputs_digest="sha256:" + "0" * 64)
    with zipfile.ZipFile(tmp_path / "bad.zip", "w") as zf:
        zf.write(ASSETS / "sandbox_runs_forever" / "model.py", "model.py")
    record, entry = run_submission(protocol_with(limits={"wall_seconds": 1}),
                                   tmp_path / "bad.zip", features,
                                   read_truth(protocol_with(limits={"wall_seconds": 1}),
                                              challenge["folder"] / "truth.csv"),
                                   tmp_path / "c")
    assert entry is None and record.reason.startswith("exceeded the wall-time limit of 1 s")


def _dead_pid() -> int:
    proc = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    return int(proc.stdout)


def _stage(base: Path, name: str) -> Path:
    """A staging folder as a run leaves it: decrypted inputs, a read-only subfolder."""
    folder = base / name
    (folder / "inputs").mkdir(parents=True)
    (folder / "inputs" / "features.csv").write_text("unit,x\nu1,1\n")
    (folder / "inputs").chmod(0o555)
    return folder


def test_sweep_removes_only_the_stages_of_dead_processes(tmp_path, monkeypatch):
    from adjudicator.sandbox import stage_prefix, sweep_stale_stages

    dead = _dead_pid()
    crashed_run = _stage(tmp_path, f"adjudicator-run-{dead}-abc123")
    crashed_code = _stage(tmp_path, f"adjudicator-code-{dead}-x_y9")
    mine = _stage(tmp_path, stage_prefix("run") + "live")
    assert mine.name.startswith(f"adjudicator-run-{os.getpid()}-")
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        running = _stage(tmp_path, f"adjudicator-code-{sleeper.pid}-q")
        other = _stage(tmp_path, "adjudicator-run-notapid")
        unrelated = _stage(tmp_path, f"something-{dead}-else")
        target = _stage(tmp_path, "target")
        link = tmp_path / f"adjudicator-run-{dead}-link"
        link.symlink_to(target, target_is_directory=True)
        removed = sweep_stale_stages(tmp_path)
        assert sorted(removed) == sorted([crashed_run, crashed_code])
        assert not crashed_run.exists() and not crashed_code.exists()
        for kept in (mine, running, other, unrelated, target, link):
            assert kept.exists(), kept
        assert (target / "inputs" / "features.csv").exists()  # not followed through the link
        # a folder another user owns is left to that user
        again = _stage(tmp_path, f"adjudicator-run-{dead}-again")
        monkeypatch.setattr(os, "geteuid", lambda: os.stat(again).st_uid + 1)
        assert sweep_stale_stages(tmp_path) == []
        assert again.exists()
    finally:
        sleeper.kill()
        sleeper.wait()
    assert sweep_stale_stages(tmp_path / "missing") == []
