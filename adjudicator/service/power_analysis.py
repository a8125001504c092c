"""Power before launch, in the challenge's record (``POST /challenges/{c}/power``).

The committee runs :func:`adjudicator.power.minimum_detectable` on the challenge's
protocol before the window opens; the figure goes into the challenge's record. The steps,
in order (a failure at any of them writes nothing):

1. the challenge exists and is still a draft: a power analysis is a pre-launch figure
   (409 once the window has opened);
2. the ``family`` options are checked against the signature of ``minimum_detectable``:
   its keyword options other than the top-level ones, each of the type its annotation
   names, so an option added there works here without a change (422 naming an unknown
   key or a bad value);
3. the units: as given, else the committed truth's count, else the units manifest's
   (409 when neither is known);
4. the simulation runs, outside any transaction (it can take tens of seconds); the core
   refuses bad numbers with InputError (422);
5. one transaction: lock the ledger head, check the challenge is still a draft, append
   ``power_analysis`` (protocol digest, units, every keyword argument of the call and
   the digest of the result) and store the full result (``power_analyses``).

The digest is ``sha256:`` of the canonical JSON of ``PowerResult.to_dict()``, which is
what the row stores, so ``ledger verify`` can recompute it. Every call is recorded, the
same inputs twice included (the numbers are the same; the ledger shows both requests).
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import json
import math
import typing
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from ..errors import ComputationError, InputError
from ..power import minimum_detectable
from ..protocol import canonical_json
from ..store.errors import ConflictError
from ..store.models import Challenge, PowerAnalysis
from .runtime import Runtime

__all__ = ["PowerIn", "TOP_LEVEL", "family_options", "record_power", "power_view"]

#: the options of ``minimum_detectable`` the body names at its top level; every other
#: keyword option goes in ``family``
TOP_LEVEL = ("baseline_value", "baseline", "power", "simulations", "resamples", "seed")
_POSITIONAL = ("protocol", "units")

_Float = Annotated[float, Field(strict=True, allow_inf_nan=False)]


class PowerIn(BaseModel):
    """The body of ``POST /challenges/{c}/power``: what to pass to ``minimum_detectable``.

    Omitted options take the function's defaults (recorded as used). The upper bounds
    only keep a typo from occupying the service for hours; the core checks the rest.
    """

    model_config = ConfigDict(extra="forbid", strict=True)

    units: int | None = Field(default=None, le=1_000_000, description=(
        "planned test units (default: the committed truth's, or the units manifest's)"))
    baseline_value: _Float | None = Field(default=None, description=(
        "the baseline's true metric: also find the minimum detectable improvement"))
    baseline: str | None = Field(default=None, max_length=100,
                                 description="which baseline (default: the protocol's first)")
    power: _Float | None = Field(default=None, description="probability of certification")
    simulations: int | None = Field(default=None, le=10_000,
                                    description="simulated test sets per effect")
    resamples: int | None = Field(default=None, le=100_000,
                                  description="resamples per simulated test set")
    seed: str | None = Field(default=None, max_length=200)
    family: dict[str, Any] = Field(default_factory=dict, description=(
        "further keyword options of adjudicator.power.minimum_detectable (the synthetic "
        "family's: positive_share, censoring, score_sd, ...)"))


@functools.cache
def _keyword_options() -> dict[str, tuple[Any, Any]]:
    """Every keyword option of ``minimum_detectable``: name -> (annotation, default)."""
    hints = typing.get_type_hints(minimum_detectable)
    out = {}
    for name, p in inspect.signature(minimum_detectable).parameters.items():
        if name in _POSITIONAL or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        out[name] = (hints.get(name, Any), p.default)
    return out


def family_options() -> tuple[str, ...]:
    """The keys ``family`` accepts (the keyword options not named at the top level)."""
    return tuple(n for n in _keyword_options() if n not in TOP_LEVEL)


def _check_family(family: dict[str, Any]) -> dict[str, Any]:
    known = family_options()
    options = _keyword_options()
    out: dict[str, Any] = {}
    for key, value in family.items():
        if key in TOP_LEVEL:
            raise InputError(f"family.{key}: give `{key}` at the top level of the body")
        if key not in known:
            raise InputError(f"family.{key}: unknown option (known: {', '.join(known)})")
        if isinstance(value, float) and not math.isfinite(value):
            raise InputError(f"family.{key}: must be finite, got {value!r}")
        if not isinstance(value, (str, int, float, type(None))):  # bool is an int
            raise InputError(f"family.{key}: must be a number, a string or null")
        try:
            out[key] = TypeAdapter(options[key][0]).validate_python(value, strict=True)
        except ValidationError as exc:
            reason = exc.errors()[0]["msg"]
            raise InputError(f"family.{key}: {reason}, got {value!r}") from None
    return out


def _units(rt: Runtime, c: Challenge, protocol: Any) -> tuple[int, str]:
    """The units to plan for when the body gives none, and where the number came from."""
    if c.truth_n_units is not None:
        return int(c.truth_n_units), "truth"
    if c.units_sha256 is not None:
        return int(rt.validation_truth(c, protocol).n_units), "units manifest"
    raise ConflictError("give `units`: the challenge has neither a committed truth nor a "
                        "units manifest to count them from")


def _entry(a: PowerAnalysis) -> dict[str, Any]:
    return {"result": json.loads(a.result), "digest": a.digest, "units": a.units,
            "options": json.loads(a.options), "recorded_at": a.recorded_at,
            "ledger_seq": a.ledger_seq}


def power_view(session: Session, challenge_id: str) -> list[dict[str, Any]]:
    """The recorded power analyses of a challenge, oldest first."""
    return [_entry(a) for a in session.scalars(
        select(PowerAnalysis).where(PowerAnalysis.challenge_id == challenge_id)
        .order_by(PowerAnalysis.ledger_seq))]


def record_power(rt: Runtime, challenge_id: str, body: PowerIn) -> dict[str, Any]:
    """Run the power analysis of a draft challenge and record it (steps in the module
    docstring); return the recorded entry and the result's readable summary."""
    from .challenges import _fresh_phase, _protocol_record, get_challenge

    with rt.store.db.read() as session:  # (1)
        c = get_challenge(session, challenge_id)
        if c.phase != "draft":
            raise ConflictError(f"challenge {challenge_id!r} is {c.phase}: a power analysis "
                                "is recorded before the window opens")
        protocol = rt.protocol(_protocol_record(session, c.protocol_digest))
    family = _check_family(body.family)  # (2)
    if body.units is not None:  # (3)
        units, source = body.units, "request"
    else:
        units, source = _units(rt, c, protocol)
    given = {k: v for k in TOP_LEVEL if (v := getattr(body, k)) is not None}
    options = {name: default for name, (_, default) in _keyword_options().items()}
    options.update(given, **family)
    result = minimum_detectable(protocol, units, **options)  # (4)
    try:
        text = canonical_json(result.to_dict())
    except ValueError as exc:  # a NaN or infinity: JSON, and so the record, cannot hold it
        raise ComputationError(f"power: the result cannot be recorded ({exc})") from None
    digest = "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()
    recorded = json.loads(canonical_json(options))
    at = rt.stamp()
    with rt.store.db.write() as session:  # (5)
        rt.store.ledger.lock(session)
        phase = _fresh_phase(session, challenge_id)
        if phase != "draft":
            raise ConflictError(f"challenge {challenge_id!r} opened while the power analysis "
                                "ran: it is not recorded (a pre-launch figure)")
        seq, _ = rt.store.ledger.append(session, {
            "type": "power_analysis", "at": at, "challenge": challenge_id,
            "protocol": c.protocol_digest, "units": units, "units_from": source,
            "options": recorded, "result_digest": digest,
        }, at=at)
        row = PowerAnalysis(challenge_id=challenge_id, units=units,
                            options=canonical_json(recorded), result=text, digest=digest,
                            recorded_at=at, ledger_seq=seq)
        session.add(row)
        session.flush()
        entry = _entry(row)
    return {"challenge": challenge_id, **entry, "summary": result.summary()}
