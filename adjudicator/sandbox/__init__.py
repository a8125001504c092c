"""Model-to-data submissions: a team's code runs beside sequestered inputs, in a sandbox.

When a protocol says ``submission: {mode: code, ...}``, teams send code, not predictions.
The committee commits the *inputs* (features) as an artifact of their own, digested like
the truth; a run mounts them read-only next to the code in a bubblewrap sandbox (no
network, read-only system, resource limits, the truth never mounted), and the predictions
the code writes are validated and scored exactly like an uploaded file::

    inputs = read_inputs(protocol, "features.csv", truth=truth)   # digest: a commitment
    code = load_code("team.zip")                                  # digest of the files
    run = run_code(protocol, code, inputs, out_dir)               # RunRecord + predictions
    submission = read_output(protocol, run, truth)                # = read_submission(...)
    result = adjudicate(protocol, truth, submission, ...)

    # or in one call, from stored files (what the service's worker does per job):
    record, submission = run_submission(protocol, "team.zip", "features.csv", truth, out_dir,
                                        inputs_digest=committed_inputs_digest)

The entry point contract (``submission.entry_point``):

* ``module: model`` (+ ``function: predict``, the default): the harness imports
  ``/code/model.py`` and calls ``predict(inputs, output)`` with ``inputs`` the features
  file (:class:`pathlib.Path` ``/inputs/features.csv`` or ``.parquet``) and ``output`` the
  writable directory ``/output``. It returns a pandas DataFrame (written as
  ``/output/predictions.csv``) or None after writing ``/output/predictions.csv`` or
  ``/output/predictions.parquet`` itself.
* ``command: [python, run.py]``: the command runs in ``/code`` (``python`` is the runtime's
  interpreter) with ``ADJUDICATOR_INPUTS`` and ``ADJUDICATOR_OUTPUT`` set, and writes
  the predictions file itself.

Either way: exit 0, leave no process running, write exactly one predictions file with
the columns an uploaded file would have. The environment has ``HOME=/tmp``,
``PYTHONHASHSEED=0`` and one BLAS/OpenMP thread. Nothing else is writable; there is no
network; ``/tmp`` is a tmpfs of ``memory_mb``.

The limits (``submission.limits``) and what exceeding each one does: ``cpu_seconds`` per
process (SIGXCPU), ``memory_mb`` of address space per process (allocation fails),
``processes`` counting threads (fork fails), ``output_mb`` for the output directory and
any file, ``log_kb`` for stdout and for stderr (the run is stopped), ``wall_seconds`` for
the whole run (the whole process tree is killed). The threat model and its limits are in
the README ("Model-to-data submissions").
"""

from __future__ import annotations

from .artifacts import (
    CodeBundle,
    Inputs,
    RuntimeInfo,
    file_digest,
    load_code,
    read_inputs,
    runtime_info,
)
from .runner import (
    RUN_FORMAT,
    RunRecord,
    SandboxOptions,
    SandboxRun,
    read_output,
    run_code,
    run_submission,
    sandbox_info,
    stage_prefix,
    sweep_stale_stages,
)

__all__ = [
    "RUN_FORMAT",
    "CodeBundle",
    "Inputs",
    "RuntimeInfo",
    "RunRecord",
    "SandboxOptions",
    "SandboxRun",
    "file_digest",
    "load_code",
    "read_inputs",
    "read_output",
    "run_code",
    "run_submission",
    "runtime_info",
    "sandbox_info",
    "stage_prefix",
    "sweep_stale_stages",
]
