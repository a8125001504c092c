"""The ``result/v1`` document (``result.json``), described as pydantic models.

``adjudicator result schema`` prints the JSON Schema generated from these models, and the
tests validate every result the code writes against them, so the schema cannot drift from
what is written. Named fields are the contract; blocks that carry engine details
(``interval``, ``reproducibility.conventions``) may hold more fields than listed.

A *degenerate* bootstrap (every replicate equal, e.g. perfectly separated classes, or
undefined) keeps its estimate but has no interval and no p-value: its interval's ``low``
and ``high`` are null and ``degenerate`` says why, ``standard_error`` is null for the
entry, and the criterion it decides is undecided (``passed`` null, ``p_value`` null,
``degenerate`` set), so the verdict cannot be CERTIFIED.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["ResultV1", "result_schema", "validate_result"]


class _Closed(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")


class ProtocolRef(_Closed):
    id: str
    version: int
    title: str
    summary: str
    digest: str = Field(pattern=r"^sha256:[0-9a-f]{64}$")


class TruthRef(_Closed):
    digest: str = Field(description="the truth commitment, sha256:...")
    n_units: int
    summary: dict[str, Any] = Field(description="class balance, censoring share, rows, ...")


class SubmissionRef(_Closed):
    digest: str
    team: str | None
    sequence: int = Field(ge=1, description="k: the submission's number in its family")
    name: str | None


class MetricRef(_Closed):
    name: str
    higher_is_better: bool


class Interval(_Open):
    method: Literal["bca", "percentile", "basic"]
    confidence: float
    low: float | str | None = Field(description="null when the bootstrap is degenerate")
    high: float | str | None = Field(description="null when the bootstrap is degenerate")
    degenerate: str | None = Field(
        default=None, description="present when the bootstrap is degenerate (every "
        "replicate equal, or undefined): why there is no interval")


class Criterion(_Open):
    name: str
    kind: Literal["absolute", "baseline", "bayes"]
    statistic: float = Field(description="estimate, improvement over a baseline, or "
                             "posterior mean of the difference")
    bound: float = Field(description="tau or the margin")
    passed: bool | None = Field(description="None: undecided")
    reason: str
    p_value: float | None = None
    alpha: float | None = None
    mc_error: float | None = None
    degenerate: str | None = Field(
        default=None, description="present when the criterion's bootstrap (or Bayesian "
        "comparison) is degenerate: why it has no p-value and is undecided")


class BaselineResult(_Closed):
    name: str
    estimate: float
    difference: float = Field(description="entry minus baseline")
    interval: Interval


class Multiplicity(_Closed):
    rule: str
    family: Literal["team", "challenge"]
    alpha: float
    alpha_k: float
    sequence: int
    max_submissions: int
    spent_before: float
    remaining: float
    split: str
    history: list[dict[str, Any]]


class Reproducibility(_Closed):
    seed: Any = Field(description="the seed's entropy and spawn key (derive_seed)")
    resamples: int
    block_size: int
    scheme: str | None
    acceleration: str | None = Field(description="exact-loo, jackknife or grouped-jackknife")
    conventions: dict[str, Any]
    packages: dict[str, str]
    code_version: str


class CertificationPart(_Closed):
    part: Literal["private", "all"] = Field(description="the units adjudicated: the "
                                            "private part, or all (leaderboard.certify_on)")
    split_digest: str = Field(pattern=r"^sha256:[0-9a-f]{64}$",
                              description="the public/private split (its ledger digest)")
    n_units: int = Field(description="units adjudicated")
    units_total: int = Field(description="units of the committed truth")


class ResultV1(_Closed):
    """One adjudication: verdict, evidence and everything needed to reproduce it."""

    adjudicator: Literal["result/v1"]
    verdict: Literal["CERTIFIED", "NOT_CERTIFIED", "INCONCLUSIVE"]
    reasons: list[str]
    protocol: ProtocolRef
    truth: TruthRef
    submission: SubmissionRef
    metric: MetricRef
    estimate: float
    standard_error: float | None = Field(
        description="of the bootstrap replicates; null when the bootstrap is degenerate")
    interval: Interval
    criteria: list[Criterion] = Field(min_length=1)
    baselines: list[BaselineResult]
    replicates: dict[str, Any] = Field(description="histogram of the bootstrap replicates")
    multiplicity: Multiplicity
    bayes: dict[str, Any] | None
    reproducibility: Reproducibility
    timestamps: dict[str, str] = Field(description="the only fields that change on re-run")
    run: dict[str, Any] | None = Field(
        default=None, description="model to data: the sandboxed run that wrote the "
        "predictions (adjudicator-run/v1 without logs: digests of protocol, code, runtime, "
        "inputs and output, usage, limits); its usage and start time differ between runs")
    certification: CertificationPart | None = Field(
        default=None, description="present for a protocol with a leaderboard block: "
        "estimate, interval and verdict read only these units")


def result_schema() -> dict[str, Any]:
    """The JSON Schema of ``result/v1``."""
    schema = ResultV1.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "adjudicator result/v1"
    return schema


def validate_result(doc: dict[str, Any]) -> ResultV1:
    """Validate a result document (raises pydantic's ValidationError)."""
    return ResultV1.model_validate(doc)
