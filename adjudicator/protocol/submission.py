"""The submission block: predictions, or code run beside sequestered inputs."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import (
    Field,
    field_validator,
    model_validator,
)

from ._common import (
    AsTuple,
    StrictModel,
)

# -- submission: predictions, or code run beside sequestered inputs ----------------------

_MODULE = r"^[A-Za-z_][A-Za-z0-9_]{0,99}(\.[A-Za-z_][A-Za-z0-9_]{0,99}){0,9}$"
_IDENTIFIER = r"^[A-Za-z_][A-Za-z0-9_]{0,99}$"
_PACKAGE = r"^[A-Za-z0-9]([A-Za-z0-9._-]{0,98}[A-Za-z0-9])?$"


class EntryPoint(StrictModel):
    """What runs in the sandbox: a function of a module of the code, or a command.

    ``module`` + ``function``: ``function(inputs: Path, output: Path)`` is called with the
    sequestered features file (``/inputs/features.csv`` or ``.parquet``, read-only) and the
    writable output directory (``/output``); it returns a pandas DataFrame of predictions
    (written as ``/output/predictions.csv``) or None after writing
    ``/output/predictions.csv`` or ``.parquet`` itself. ``command``: an argv run in
    ``/code`` (``python`` is the runtime's interpreter) with ``ADJUDICATOR_INPUTS`` and
    ``ADJUDICATOR_OUTPUT`` in its environment; it writes the predictions file itself.
    """

    module: Annotated[str, Field(pattern=_MODULE)] | None = Field(
        default=None, description="a module of the submitted code (model.py -> model)"
    )
    function: Annotated[str, Field(pattern=_IDENTIFIER)] | None = Field(
        default=None, description="module only: the function to call (default predict)"
    )
    command: Annotated[tuple[Annotated[str, Field(min_length=1, max_length=4096)], ...],
                       AsTuple] | None = Field(
        default=None, description="argv of a command run in /code, e.g. [python, run.py]"
    )

    @model_validator(mode="before")
    @classmethod
    def _default_function(cls, data: Any) -> Any:
        # fill the function in, so the digest covers the name actually called
        if isinstance(data, dict) and data.get("module") is not None:
            if data.get("function") is None:
                data = {**data, "function": "predict"}
        return data

    @model_validator(mode="after")
    def _one_kind(self) -> EntryPoint:
        if (self.module is None) == (self.command is None):
            raise ValueError("give either module (+ function) or command, not both")
        if self.command is not None:
            if not 1 <= len(self.command) <= 64:
                raise ValueError("command: between 1 and 64 arguments")
            if any("\x00" in a for a in self.command):
                raise ValueError("command: arguments must not contain NUL characters")
        if self.command is not None and self.function is not None:
            raise ValueError("function: only a module entry point names a function")
        return self


class Limits(StrictModel):
    """Resources of one sandboxed run; past any of them the run stops and fails."""

    cpu_seconds: int = Field(default=600, ge=1, le=86_400,
                             description="CPU time of each process (RLIMIT_CPU)")
    memory_mb: int = Field(default=4096, ge=64, le=1_048_576,
                           description="address space of each process (RLIMIT_AS), and the "
                           "size of the /tmp tmpfs")
    wall_seconds: int = Field(default=900, ge=1, le=172_800,
                              description="wall-clock time of the whole run; then the whole "
                              "process tree is killed")
    output_mb: int = Field(default=256, ge=1, le=65_536,
                           description="size of the output directory (a tmpfs) and of the "
                           "predictions file")
    processes: int = Field(default=64, ge=1, le=4096,
                           description="processes and threads at once (RLIMIT_NPROC)")
    log_kb: int = Field(default=1024, ge=1, le=1_048_576,
                        description="stdout and stderr kept, each; writing more stops the run")


class Runtime(StrictModel):
    """The software a submitted model runs on."""

    python: Literal["service"] = Field(
        default="service",
        description="service: the interpreter and packages of the service itself",
    )
    packages: Annotated[tuple[Annotated[str, Field(pattern=_PACKAGE)], ...], AsTuple] = Field(
        default=(),
        description="distributions the committee promises participants (checked installed "
        "before a run; the runtime digest records every installed version)",
    )
    wheelhouse: bool = Field(
        default=False,
        description="install the binary wheels in the code's wheelhouse/ offline, inside "
        "the sandbox, before the entry point runs",
    )

    @field_validator("packages")
    @classmethod
    def _distinct(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        names = [re.sub(r"[-_.]+", "-", n).lower() for n in v]
        if len(set(names)) != len(names):
            raise ValueError("package names must not repeat")
        return v


class SubmissionSpec(StrictModel):
    """How teams submit: a predictions file, or code run beside the sequestered inputs."""

    mode: Literal["predictions", "code"] = Field(
        default="predictions",
        description="predictions: teams upload a predictions file; code: teams send code "
        "that runs in a sandbox beside the sequestered inputs",
    )
    entry_point: EntryPoint | None = Field(default=None, description="code only: what runs")
    limits: Limits | None = Field(default=None, description="code only: resource limits")
    runtime: Runtime | None = Field(default=None, description="code only: the software")

    @model_validator(mode="before")
    @classmethod
    def _code_defaults(cls, data: Any) -> Any:
        # fill the limits and runtime in, so the digest covers the values actually used
        if isinstance(data, dict) and data.get("mode") == "code":
            data = {**data, "limits": data.get("limits") or {},
                    "runtime": data.get("runtime") or {}}
        return data

    @model_validator(mode="after")
    def _fits_mode(self) -> SubmissionSpec:
        if self.mode == "code" and self.entry_point is None:
            raise ValueError("entry_point: a code submission needs its entry point")
        if self.mode == "predictions":
            given = [n for n in ("entry_point", "limits", "runtime")
                     if getattr(self, n) is not None]
            if given:
                raise ValueError(f"{given[0]}: only a code submission (mode: code) takes it")
        return self
