"""Model-to-data challenges in the service: the committed inputs, code uploads, and runs.

A challenge whose protocol says ``submission: {mode: code}`` takes code, not predictions
(:mod:`adjudicator.sandbox`). The service side, in the order a challenge lives it:

1. **Inputs** (:func:`commit_inputs`, ``PUT /challenges/{c}/inputs``, admin, draft phase):
   the sequestered features are read by :func:`adjudicator.sandbox.read_inputs` against
   the truth (retrospective) or the units manifest (prospective), sealed at rest with the
   truth's key (AES-GCM, purpose ``adjudicator-inputs/v1``: the plaintext is only ever in
   memory or, during a run, in a private file under :attr:`Settings.sandbox_dir`), and
   committed: ``inputs_committed`` in the ledger with the canonical digest
   (``adjudicator-inputs/v1``), the file's sha256 and the feature columns. A code
   challenge opens only with its inputs committed.
2. **Submit** (:func:`check_code`): the upload is a zip or tar archive of the team's code,
   checked by :func:`adjudicator.sandbox.load_code` (no links, no unsafe paths, at most
   the upload limit unpacked) and refused if the entry point's module is missing; the
   submission's digest is the code digest (``adjudicator-code/v1``). Counting,
   idempotency and the body limits are those of a predictions upload.
3. **Run** (:func:`run_code_here`, called by the worker's adjudication job): the code runs
   in the sandbox beside the decrypted inputs, whose digest must still be the committed
   one. Only the code, the inputs and the protocol go in; the truth never does, not even
   to the process that supervises the sandbox. The predictions come back as bytes and
   the worker validates them against the truth exactly as an upload
   (:func:`adjudicator.sandbox.read_output`).

A failed run (or predictions the reader refuses) fails the submission with a reason that
never quotes the team's output: on sequestered inputs, output is a channel out. The full
record with the team's logs is sealed in the store for the committee
(``GET /submissions/{s}/run`` as an admin); everyone else sees the record without logs,
which is also what the ledger holds (``run_failed``, or inside ``adjudication_done``).

Where a run may happen: only on a machine with bubblewrap. :func:`run_code_here` takes and
returns plain values (protocol, code bytes, inputs bytes, digests; record and predictions
bytes), so a cluster runner can send it to such a machine: see :class:`CodeRunner`.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from typing import Protocol as TypingProtocol

from sqlalchemy.orm import Session

from ..errors import InputError, VerificationError
from ..protocol import Protocol
from ..sandbox import (
    RunRecord,
    SandboxOptions,
    load_code,
    read_inputs,
    run_code,
    stage_prefix,
)
from ..sandbox.artifacts import MAX_CODE_BYTES
from ..settings import Settings
from ..store.errors import ConflictError, PayloadTooLargeError
from ..store.models import Challenge
from ..store.rows import record_artifact
from ..store.sealing import INPUTS, RUN
from .runtime import Runtime

__all__ = [
    "CodeRun",
    "CodeRunner",
    "commit_inputs",
    "check_code",
    "run_code_here",
    "sandbox_base",
    "inputs_view",
    "seal_run",
    "open_run",
    "REFUSED_PREDICTIONS",
]

#: the reason a team is given when the reader refuses the predictions its code wrote (the
#: reader's own message may quote the file, i.e. the team's output: committee only)
REFUSED_PREDICTIONS = ("the predictions file the code wrote was refused: it does not have "
                       "the columns, units or values a predictions upload needs (the "
                       "committee can read the reader's message)")


def _is_code(protocol: Protocol) -> bool:
    return protocol.submission.mode == "code"


# -- 1. the inputs --------------------------------------------------------------------------


def commit_inputs(rt: Runtime, challenge_id: str, plaintext: bytes) -> Challenge:
    """Validate, seal and commit the sequestered inputs of a code challenge (draft only).

    They must cover exactly the units of the truth (retrospective: commit the truth
    first) or of the units manifest (prospective), and carry no truth or strata column.
    """
    from .challenges import _fresh_phase, _protocol_record, get_challenge
    from .validation import plaintext_file

    with rt.store.db.read() as session:
        c = get_challenge(session, challenge_id)
        protocol = rt.protocol(_protocol_record(session, c.protocol_digest))
    if not _is_code(protocol):
        raise ConflictError(f"challenge {challenge_id!r} takes predictions files "
                            "(submission.mode is predictions): it has no sequestered inputs")
    if c.inputs_digest is not None:
        raise ConflictError(f"challenge {challenge_id!r} has its inputs committed already")
    if c.order == "retrospective" and c.truth_sealed_sha256 is None:
        raise ConflictError("commit the truth first: the inputs must cover exactly its units")
    if c.order == "prospective" and c.units_sha256 is None:
        raise ConflictError("upload the units manifest first: the inputs must cover exactly "
                            "its units")
    truth = rt.validation_truth(c, protocol)
    with plaintext_file(plaintext, "inputs") as path:
        try:
            inputs = read_inputs(protocol, path, truth=truth,
                                 max_bytes=rt.settings.max_upload_bytes)
        except InputError as exc:
            text = str(exc).removeprefix(f"{path}: ").replace(str(path), "inputs")
            raise InputError(text, source="inputs") from None
    blob = rt.store.sealer.seal(plaintext, purpose=INPUTS)
    at = rt.stamp()
    with rt.store.db.write() as session:
        rt.store.ledger.lock(session)
        c = get_challenge(session, challenge_id)
        if _fresh_phase(session, challenge_id) != "draft":
            raise ConflictError("the inputs are committed before the window opens")
        if c.inputs_digest is not None:
            raise ConflictError(f"challenge {challenge_id!r} has its inputs committed already")
        sha = rt.store.artifacts.put_bytes(blob)
        record_artifact(session, sha, "inputs-sealed", len(blob), at)
        seq, _ = rt.store.ledger.append(session, {
            "type": "inputs_committed", "at": at, "challenge": challenge_id,
            "inputs": inputs.digest, "file": inputs.file_digest, "format": inputs.format,
            "n_units": inputs.n_units, "n_rows": inputs.n_rows,
            "columns": list(inputs.columns),
        }, at=at)
        c.inputs_sha256, c.inputs_digest = sha, inputs.digest
        c.inputs_columns = json.dumps(list(inputs.columns))
        c.inputs_committed_at, c.inputs_seq = at, seq
    return c


def inputs_view(c: Challenge) -> dict[str, Any] | None:
    """The public part of a challenge's inputs commitment (None for a predictions one)."""
    if c.inputs_digest is None:
        return None
    return {"digest": c.inputs_digest,
            "columns": json.loads(c.inputs_columns) if c.inputs_columns else [],
            "committed_at": c.inputs_committed_at, "ledger_seq": c.inputs_seq}


# -- 2. submitting code ---------------------------------------------------------------------


def check_code(protocol: Protocol, path: Path, *, max_bytes: int, source: str) -> str:
    """Validate an uploaded code archive for ``protocol``; return the code digest.

    Raises
    ------
    PayloadTooLargeError
        It unpacks to more than ``max_bytes`` (or the sandbox's own cap), or holds too
        many files: refused like a compression bomb.
    InputError
        Not a zip or tar archive, unsafe entries, or no module for the entry point.
    """
    limit = min(max_bytes, MAX_CODE_BYTES)
    if not (path.is_file() and _is_archive(path)):
        raise InputError("a code submission is a zip or tar archive of the team's code "
                         "(the protocol's submission.mode is code)", source=source)
    try:
        code = load_code(path, max_bytes=limit)
    except InputError as exc:
        text = str(exc).removeprefix(f"{path}: ").replace(str(path), source)
        if "is larger than" in text or "holds more than" in text:
            raise PayloadTooLargeError(text) from None
        raise InputError(text, source=source) from None
    entry = protocol.submission.entry_point
    if entry is not None and entry.module is not None and not code.has_module(entry.module):
        raise InputError(f"the code has no module {entry.module!r} (expected "
                         f"{entry.module.replace('.', '/')}.py or a package of that name at "
                         "the top of the archive)", source=source)
    return code.digest


def _is_archive(path: Path) -> bool:
    import tarfile
    import zipfile

    try:
        return zipfile.is_zipfile(path) or tarfile.is_tarfile(path)
    except OSError:
        return False


# -- 3. running it --------------------------------------------------------------------------


@dataclass(frozen=True)
class CodeRun:
    """What a run gives back to the service: its record and, if it succeeded, the bytes
    of the predictions file (validated by the worker, against the truth, afterwards)."""

    record: RunRecord
    predictions: bytes | None


class CodeRunner(TypingProtocol):
    """Runs one code submission somewhere bubblewrap is installed (the worker's hook).

    The default is :func:`run_code_here`, in the worker's own process. A cluster runner
    (``adjudicator.compute``) must send the call only to machines where
    :func:`adjudicator.sandbox.sandbox_info` succeeds (e.g. Dask workers started with
    ``--resources sandbox=1`` and the submit call asking for that resource), never fall
    back to a machine without it, and never send the truth: the arguments are all a run
    needs.
    """

    def __call__(self, protocol: Protocol, code: bytes, inputs: bytes, inputs_digest: str,
                 *, base: Path, now: datetime) -> CodeRun: ...


def sandbox_base(settings: Settings) -> Path:
    """Where runs stage files: the setting, else ``/dev/shm`` (memory), else the temp dir."""
    if settings.sandbox_dir is not None:
        return settings.sandbox_dir
    shm = Path("/dev/shm")  # noqa: S108 - memory, not disk; each run makes a 0700 folder
    if shm.is_dir() and os.access(shm, os.W_OK | os.X_OK):
        return shm
    return Path(tempfile.gettempdir())


@contextlib.contextmanager
def _private_dir(base: Path) -> Iterator[Path]:
    base.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix=stage_prefix("code"), dir=base))  # mode 0700
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def run_code_here(protocol: Protocol, code: bytes, inputs: bytes, inputs_digest: str,
                  *, base: Path, now: datetime) -> CodeRun:
    """Run a code submission in a sandbox on this machine (the default :class:`CodeRunner`).

    ``code`` is the stored archive, ``inputs`` the decrypted inputs; both go to a private
    folder (mode 0700) under ``base`` that is removed when the run ends; one a crash left
    behind is removed when the service starts again (:func:`sweep_stale_stages`).

    Raises
    ------
    VerificationError
        The inputs are not the committed ones.
    ConfigurationError
        The sandbox cannot run here.
    """
    with _private_dir(base) as folder:
        archive = folder / "code"
        archive.write_bytes(code)
        name = "features.parquet" if inputs[:4] == b"PAR1" else "features.csv"
        features = folder / name
        # readable by the run's own uid once mounted; the folder (0700) keeps it from
        # everyone else on the host
        fd = os.open(features, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(inputs)
        os.chmod(features, 0o444)
        bundle = load_code(archive)
        read = read_inputs(protocol, features, max_bytes=max(len(inputs), 1))
        if read.digest != inputs_digest:
            raise VerificationError(f"the stored inputs have digest {read.digest}, the "
                                    f"committed one is {inputs_digest}")
        run = run_code(protocol, bundle, read, folder / "out",
                       options=SandboxOptions(tmp_dir=str(base)), now=now)
        data = run.predictions.read_bytes() if run.predictions is not None else None
    return CodeRun(record=run.record, predictions=data)


# -- the sealed record, for the committee ---------------------------------------------------


def seal_run(rt: Runtime, record: RunRecord, refused: str | None) -> tuple[str, int]:
    """Store the full run record (with the team's logs) sealed; return (address, size)."""
    doc = {"record": record.to_dict(logs=True), "refused": refused}
    blob = rt.store.sealer.seal(json.dumps(doc, ensure_ascii=False, sort_keys=True).encode(),
                                purpose=RUN)
    return rt.store.artifacts.put_bytes(blob), len(blob)


def open_run(rt: Runtime, sha256: str, *, logs: bool) -> dict[str, Any]:
    """A submission's run record; the team's logs and the reader's message only with
    ``logs`` (the committee)."""
    doc = json.loads(rt.store.sealer.open(rt.store.artifacts.read(sha256), purpose=RUN))
    record: dict[str, Any] = doc["record"]
    if not logs:
        record["logs"] = {k: v for k, v in record.get("logs", {}).items()
                          if k in ("stdout_bytes", "stderr_bytes")}
        return record
    record["refused"] = doc.get("refused")
    return record


def record_run_artifacts(session: Session, at: str, run_sha: tuple[str, int],
                         predictions: tuple[str, int] | None) -> None:
    """Record the sealed run record and the predictions the run wrote, in the store."""
    record_artifact(session, run_sha[0], "run-sealed", run_sha[1], at)
    if predictions is not None:
        record_artifact(session, predictions[0], "run-output", predictions[1], at)
