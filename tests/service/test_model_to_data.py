"""Model to data through the service, on both databases: the inputs commitment, code
uploads, runs in the worker's job, the run in the ledger, the result and the report, and
hostile code stopped with a reason while nothing else is affected.

The small challenge (``service_code.yaml``) is the binary service challenge taking code:
its sequestered feature ``x`` is the score of ``service_entry.csv``, so the honest model
(``service_code_model``) writes exactly that file. The GBSG2 test runs the sandbox tests'
honest Cox-type model on the real features.
"""

from __future__ import annotations

import hashlib
import importlib.util
import io
import json
import os
import socket
import tarfile
import zipfile
from datetime import datetime
from pathlib import Path

import pytest
import yaml

from adjudicator.service.commands import verify_ledger

from .conftest import ASSETS, PROTOCOL

CODE_PROTOCOL = ASSETS / "service_code.yaml"
FEATURES = ASSETS / "service_features.csv"
HONEST = ASSETS / "service_code_model"
TRUTH = ASSETS / "service_truth.csv"


def bundle(folder: Path, *, kind: str = "zip", **config: object) -> bytes:
    """A team's code archive: the folder's files, plus ``config.json`` when given."""
    files = {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}
    if config:
        files["config.json"] = json.dumps(config).encode()
    buf = io.BytesIO()
    if kind == "zip":
        with zipfile.ZipFile(buf, "w") as zf:
            for name, data in files.items():
                zf.writestr(name, data)
    else:
        with tarfile.open(fileobj=buf, mode="w:gz") as tf:
            for name, data in files.items():
                info = tarfile.TarInfo(name)
                info.size = len(data)
                tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def code_challenge(api, cid: str = "m2d", *, protocol: Path = CODE_PROTOCOL,
                   truth: Path = TRUTH, inputs: Path = FEATURES,
                   baselines: dict[str, Path] | None = None) -> str:
    api.challenge(cid, protocol=protocol, truth=truth, baselines=baselines, open=False)
    admin = api.auth("admin")
    r = api.client.put(f"/challenges/{cid}/inputs", content=inputs.read_bytes(),
                       headers=admin)
    assert r.status_code == 200, r.text
    r = api.client.post(f"/challenges/{cid}/open", headers=admin)
    assert r.status_code == 200, r.text
    return cid


def events(api) -> list[dict]:
    r = api.client.get("/ledger/entries?limit=1000", headers=api.auth("auditor"))
    assert r.status_code == 200
    return [e["event"] for e in r.json()["entries"]]


def view(api, sid: int, who: str = "admin") -> dict:
    r = api.client.get(f"/submissions/{sid}", headers=api.auth(who))
    assert r.status_code == 200, r.text
    return dict(r.json())


def result(api, sid: int, who: str = "admin") -> dict:
    r = api.client.get(f"/submissions/{sid}/result", headers=api.auth(who))
    assert r.status_code == 200, r.text
    return dict(json.loads(r.content))


# -- the inputs -------------------------------------------------------------------------------


def test_inputs_are_committed_sealed_and_before_the_window(api):
    from adjudicator.protocol import load_protocol
    from adjudicator.sandbox import read_inputs

    admin = api.auth("admin")
    digest = api.register(CODE_PROTOCOL)
    r = api.client.post("/challenges", json={"id": "m2d", "protocol": digest,
                                             "order": "retrospective"}, headers=admin)
    assert r.status_code == 201, r.text
    plain = FEATURES.read_bytes()

    def put(body: bytes) -> object:
        return api.client.put("/challenges/m2d/inputs", content=body, headers=admin)

    # the inputs must cover exactly the truth's units: the truth comes first
    r = put(plain)
    assert r.status_code == 409 and "commit the truth first" in r.json()["detail"]
    assert api.client.put("/challenges/m2d/truth", content=TRUTH.read_bytes(),
                          headers=admin).status_code == 200
    # refused: a truth column (the truth never reaches submitted code), missing units
    leak = b"unit_id,x,outcome\n" + b"".join(
        line + b",1\n" for line in plain.splitlines()[1:])
    r = put(leak)
    assert r.status_code == 422 and "truth or strata column" in r.json()["detail"]
    assert "/proc/" not in r.json()["detail"]  # the server's in-memory file is not named
    r = put(b"\n".join(plain.splitlines()[:-3]) + b"\n")
    assert r.status_code == 422 and "no inputs for 3 truth unit(s)" in r.json()["detail"]
    assert api.client.put("/challenges/m2d/baselines/baseline",
                          content=(ASSETS / "service_baseline.csv").read_bytes(),
                          headers=admin).status_code == 200
    # a code challenge does not open without its inputs
    r = api.client.post("/challenges/m2d/open", headers=admin)
    assert r.status_code == 409 and "sequestered inputs" in r.json()["detail"]
    r = put(plain)
    assert r.status_code == 200, r.text
    expected = read_inputs(load_protocol(CODE_PROTOCOL), FEATURES)
    assert r.json()["inputs"]["digest"] == expected.digest
    assert r.json()["inputs"]["columns"] == ["x"]
    assert put(plain).status_code == 409  # a commitment is made once
    assert api.client.post("/challenges/m2d/open", headers=admin).status_code == 200
    assert put(plain).status_code == 409  # and before the window
    # the ledger proves the order and binds the exact file
    kinds = [e["type"] for e in events(api)]
    assert kinds == ["protocol_registered", "truth_committed", "inputs_committed",
                     "window_opened"]
    committed, opened = events(api)[2], events(api)[3]
    assert committed["inputs"] == expected.digest and committed["columns"] == ["x"]
    assert committed["file"] == "sha256:" + hashlib.sha256(plain).hexdigest()
    assert (committed["n_units"], committed["n_rows"]) == (80, 80)
    assert opened["inputs"] == expected.digest
    page = api.client.get("/challenges/m2d").json()
    assert page["inputs"]["ledger_seq"] == 2
    # sealed at rest: no stored file holds the features in clear
    store = api.rt.store.artifacts
    line = plain.splitlines()[1]
    assert not any(line in store.path(sha).read_bytes() for sha in store.addresses())
    # a challenge that takes predictions has no inputs
    api.challenge("c1", protocol=PROTOCOL, open=False)
    r = api.client.put("/challenges/c1/inputs", content=plain, headers=admin)
    assert r.status_code == 409 and "takes predictions files" in r.json()["detail"]
    assert api.client.get("/challenges/c1").json()["inputs"] is None
    verify_ledger(api.rt)


# -- submitting code --------------------------------------------------------------------------


def test_code_uploads_count_repeat_and_stop_like_predictions(api):
    cid = code_challenge(api)
    good = bundle(HONEST)
    # refused before anything counts: not an archive, no entry point module
    r = api.submit("alice", cid, ASSETS / "service_entry.csv")
    assert r.status_code == 422 and "zip or tar archive" in r.json()["detail"]
    empty = io.BytesIO()
    with zipfile.ZipFile(empty, "w") as zf:
        zf.writestr("other.py", "x = 1\n")
    r = api.submit("alice", cid, empty.getvalue())
    assert r.status_code == 422 and "no module 'model'" in r.json()["detail"]
    # the submission digest is the code's: the same for a zip and a tar of the same files
    from adjudicator.sandbox import load_code

    r = api.submit("alice", cid, good, key="zip-1")
    assert r.status_code == 201, r.text
    first = r.json()
    assert first["digest"] == load_code(HONEST).digest and first["sequence"] == 1
    again = api.submit("alice", cid, good, key="zip-1")
    assert again.status_code == 200 and again.json()["id"] == first["id"]
    assert api.submit("alice", cid, bundle(HONEST, kind="tar"),
                      key="zip-1").status_code == 422  # the key with another body
    r = api.submit("alice", cid, bundle(HONEST, kind="tar"))
    assert r.status_code == 201 and r.json()["digest"] == first["digest"]
    assert r.json()["sequence"] == 2
    # the body limit (256 KiB in these tests), on the wire and unpacked (a zip bomb)
    big = io.BytesIO()
    with zipfile.ZipFile(big, "w", compression=zipfile.ZIP_STORED) as zf:
        zf.writestr("model.py", "x = 1\n")
        zf.writestr("weights.bin", os.urandom(300 * 1024))
    assert api.submit("alice", cid, big.getvalue()).status_code == 413
    bomb = io.BytesIO()
    with zipfile.ZipFile(bomb, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("model.py", "x = 1\n")
        zf.writestr("zeros.bin", bytes(4 * 1024 * 1024))
    assert len(bomb.getvalue()) < 64 * 1024
    r = api.submit("alice", cid, bomb.getvalue())
    assert r.status_code == 413 and "larger than" in r.json()["detail"]
    # max_submissions (3): the third is accepted, the fourth refused
    assert api.submit("alice2", cid, good).json()["sequence"] == 3
    r = api.submit("alice", cid, good)
    assert r.status_code == 409 and r.json()["error"] == "MultiplicityError"
    assert api.drain() == 3
    done = [view(api, i) for i in (first["id"], first["id"] + 1, first["id"] + 2)]
    assert [d["status"] for d in done] == ["adjudicated"] * 3, done


# -- an honest model --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def gbsg2_m2d(tmp_path_factory):
    """GBSG2 as a model-to-data challenge: truth, features, the baseline, the protocol with
    and without its code block, and the honest model's predictions as a team would upload."""
    from sksurv.datasets import load_gbsg2

    from adjudicator.demo_data import gbsg2_frames

    folder = tmp_path_factory.mktemp("gbsg2-m2d")
    truth, preds = gbsg2_frames()
    truth.to_csv(folder / "truth.csv", index=False)
    preds["clinical-cox"].to_csv(folder / "clinical-cox.csv", index=False)
    x, _ = load_gbsg2()
    features = x.reset_index(drop=True).copy()
    features.insert(0, "patient_id", truth["patient_id"].to_numpy())
    features.to_csv(folder / "features.csv", index=False)
    code = ASSETS / "sandbox_protocol.yaml"
    doc = yaml.safe_load(code.read_text())
    del doc["submission"]
    (folder / "predictions.yaml").write_text(yaml.safe_dump(doc))
    spec = importlib.util.spec_from_file_location("honest_gbsg2",
                                                  ASSETS / "sandbox_honest" / "model.py")
    model = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(model)
    model.predict(folder / "features.csv", folder).to_csv(folder / "upload.csv", index=False)
    return {"folder": folder, "code_protocol": code,
            "predictions_protocol": folder / "predictions.yaml"}


@pytest.mark.slow
def test_honest_gbsg2_model_as_code_gets_exactly_the_result_of_its_predictions(
        api, gbsg2_m2d, tmp_path):
    from adjudicator import adjudicate, load_protocol, read_submission, read_truth
    from adjudicator.report import certification_context
    from adjudicator.report.verify import verify_report
    from adjudicator.sandbox import load_code, runtime_info

    f = gbsg2_m2d["folder"]
    base = {"clinical-cox": f / "clinical-cox.csv"}
    code_challenge(api, "gbsg2-code", protocol=gbsg2_m2d["code_protocol"],
                   truth=f / "truth.csv", inputs=f / "features.csv", baselines=base)
    api.challenge("gbsg2-files", protocol=gbsg2_m2d["predictions_protocol"],
                  truth=f / "truth.csv", baselines=base)
    code = api.submit("alice", "gbsg2-code", bundle(ASSETS / "sandbox_honest")).json()
    upload = api.submit("bob", "gbsg2-files", f / "upload.csv").json()
    assert api.drain() == 2
    by_code, by_file = result(api, code["id"]), result(api, upload["id"])
    # what the model wrote in the sandbox is what the team would have uploaded
    assert by_code["submission"]["digest"] == by_file["submission"]["digest"]
    assert by_code["estimate"] == by_file["estimate"]
    assert by_code["verdict"] == by_file["verdict"] == "CERTIFIED"
    # and bit for bit the adjudication of the uploaded file under the code protocol
    p = load_protocol(gbsg2_m2d["code_protocol"])
    t = read_truth(p, f / "truth.csv")
    direct = adjudicate(p, t, read_submission(p, f / "upload.csv", t),
                        baselines={"clinical-cox": read_submission(p, base["clinical-cox"], t)},
                        sequence=1, team="team-a", now=datetime(2026, 1, 1)).to_dict()
    run = by_code.pop("run")
    for doc in (by_code, direct):
        doc.pop("timestamps")
    assert by_code == direct
    from adjudicator.result_schema import validate_result

    validate_result({**by_code, "timestamps": {}, "run": run})
    # the run: every digest, the usage, no logs; in the result and in the ledger
    page = api.client.get("/challenges/gbsg2-code").json()
    assert run["status"] == "succeeded" and run["reason"] is None
    assert run["digests"]["code"] == code["digest"] == load_code(
        ASSETS / "sandbox_honest").digest
    assert run["digests"]["inputs"] == page["inputs"]["digest"]
    assert run["digests"]["runtime"] == runtime_info().digest
    assert run["digests"]["output"] == "sha256:" + hashlib.sha256(
        (f / "upload.csv").read_bytes()).hexdigest()
    assert "stdout" not in run["logs"] and run["usage"]["wall_seconds"] > 0
    done = [e for e in events(api) if e["type"] == "adjudication_done"
            and e["submission"] == code["id"]]
    assert len(done) == 1 and done[0]["run"] == run
    assert done[0]["submission_digest"] == code["digest"]
    # the predictions the run wrote are kept, at the address of their bytes
    store = api.rt.store.artifacts
    assert store.read(run["digests"]["output"].removeprefix("sha256:")) == (
        f / "upload.csv").read_bytes()
    # the run record: the team and auditors without logs, the committee with them
    mine = api.client.get(f"/submissions/{code['id']}/run", headers=api.auth("alice")).json()
    assert mine["digests"] == run["digests"] and set(mine["logs"]) == {
        "stdout_bytes", "stderr_bytes"}
    committee = api.client.get(f"/submissions/{code['id']}/run",
                               headers=api.auth("admin")).json()
    assert "stderr" in committee["logs"] and committee["refused"] is None
    assert api.client.get(f"/submissions/{upload['id']}/run",
                          headers=api.auth("bob")).status_code == 404
    # the signed report shows the run and verifies offline
    assert api.client.post(f"/submissions/{code['id']}/report",
                           headers=api.auth("admin")).status_code == 202
    assert api.drain() == 1
    pdf = api.client.get(f"/submissions/{code['id']}/report", headers=api.auth("alice"))
    path = tmp_path / "report.pdf"
    path.write_bytes(pdf.content)
    check = verify_report(path, api.rt.settings.keys / "signing-cert.pem")
    assert check.reasons == () and check.verdict == "CERTIFIED", check
    ctx = certification_context(result(api, code["id"]))
    assert [d["name"] for d in ctx["run"]["digests"]] == [
        "code", "runtime", "inputs", "inputs file", "predictions file"]
    verify_ledger(api.rt)


# -- hostile code -----------------------------------------------------------------------------


def _processes_running(argv: list[str]) -> list[int]:
    want = "\0".join(argv).encode()
    found = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open(f"/proc/{name}/cmdline", "rb") as fh:
                    if fh.read().rstrip(b"\0") == want:
                        found.append(int(name))
            except OSError:
                pass
    return found


def test_hostile_code_fails_with_a_reason_and_nothing_else_is_affected(api):
    cid = code_challenge(api)
    truth_path = str(TRUTH.resolve())  # the plaintext the committee uploaded, on this host
    sealed = api.rt.store.artifacts.path(_truth_blob(api, cid))  # where the service keeps it
    server = socket.create_server(("127.0.0.1", 0))
    server.setblocking(False)
    port = server.getsockname()[1]
    try:
        reads = api.submit("alice", cid, bundle(ASSETS / "sandbox_reads_truth",
                                                truth=truth_path)).json()
        reads_sealed = api.submit("alice", cid, bundle(ASSETS / "sandbox_reads_truth",
                                                       truth=str(sealed))).json()
        phones = api.submit("alice2", cid, bundle(ASSETS / "sandbox_opens_socket",
                                                  port=port)).json()
        forever = api.submit("bob", cid, bundle(ASSETS / "sandbox_runs_forever")).json()
        honest = api.submit("bob", cid, bundle(HONEST)).json()
        assert api.drain() == 5
        with pytest.raises(BlockingIOError):
            server.accept()  # the host's loopback heard nothing
    finally:
        server.close()
    not_here = ("the entry point exited with status 1: a file it looked for does not exist "
                "here (the sandbox holds /code, /inputs, /output, /tmp and the runtime)")
    expected = {
        reads["id"]: not_here,
        reads_sealed["id"]: not_here,
        phones["id"]: "the entry point exited with status 1: a network connection failed "
                      "(the sandbox has no network)",
        forever["id"]: "exceeded the wall-time limit of 4 s; the whole process tree was "
                       "killed",
    }
    for sid, reason in expected.items():
        owner = "bob" if sid == forever["id"] else "alice"
        v = view(api, sid, owner)
        assert (v["status"], v["error"], v["verdict"]) == ("failed", reason, None), v
        job = api.client.get(f"/jobs/{v['job']['id']}", headers=api.auth(owner)).json()
        assert (job["status"], job["error"]) == ("failed", reason)
        assert api.client.get(f"/submissions/{sid}/result",
                              headers=api.auth(owner)).status_code == 404
        run = api.client.get(f"/submissions/{sid}/run", headers=api.auth(owner)).json()
        assert run["reason"] == reason and set(run["logs"]) == {"stdout_bytes",
                                                                "stderr_bytes"}
    assert _processes_running(["sleep", "3600"]) == []  # the whole tree went
    # the team's own output reaches nobody but the committee
    committee = api.client.get(f"/submissions/{reads['id']}/run",
                               headers=api.auth("admin")).json()
    assert truth_path in committee["logs"]["last_words"]
    ledger_text = json.dumps(events(api))
    for secret in (truth_path, str(sealed), "LEAKED", "Traceback", "No such file"):
        assert secret not in ledger_text
        for sid in expected:
            assert secret not in json.dumps(view(api, sid))
    failed = [e for e in events(api) if e["type"] == "run_failed"]
    assert {e["submission"]: e["reason"] for e in failed} == expected
    assert all(e["run"]["digests"]["inputs"] == failed[0]["inputs"] for e in failed)
    # nothing else is affected: the other team's honest model is adjudicated as an upload
    assert view(api, honest["id"], "bob")["status"] == "adjudicated"
    api.challenge("c1", protocol=PROTOCOL)
    upload = api.submit("bob", "c1").json()
    assert api.drain() == 1
    assert result(api, honest["id"])["estimate"] == result(api, upload["id"])["estimate"]
    # a team cannot run failed code again (each run can carry bits out); the committee can
    r = api.client.post(f"/submissions/{reads['id']}/adjudication", headers=api.auth("alice"))
    assert r.status_code == 409 and "cannot run it again" in r.json()["detail"]
    r = api.client.post(f"/submissions/{reads['id']}/adjudication", headers=api.auth("admin"))
    assert r.status_code == 202
    assert api.drain() == 1
    assert view(api, reads["id"])["error"] == not_here
    assert len([e for e in events(api) if e["type"] == "run_failed"]) == 5
    verify_ledger(api.rt)


def _truth_blob(api, cid: str) -> str:
    from adjudicator.store.models import Challenge

    with api.rt.store.db.read() as s:
        return str(s.get(Challenge, cid).truth_sealed_sha256)


def test_service_start_sweeps_stages_a_crashed_run_left(tmp_path, database_url):
    """A SIGKILLed run leaves decrypted inputs in its staging folder; the next start
    removes it, and leaves a live process's folder alone."""
    import subprocess
    import sys

    from fastapi.testclient import TestClient

    from adjudicator.service import create_app

    from .conftest import make_settings

    stage = tmp_path / "stage"
    dead = int(subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                              capture_output=True, text=True, check=True).stdout)
    left = stage / f"adjudicator-code-{dead}-k1"
    left.mkdir(parents=True)
    (left / "features.csv").write_text("unit,x\nu1,1\n")
    live = stage / f"adjudicator-run-{os.getpid()}-k2"
    live.mkdir()
    app = create_app(make_settings(tmp_path, database_url, sandbox_dir=stage), worker=True)
    with TestClient(app):
        assert not left.exists()
        assert live.exists()
