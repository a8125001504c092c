"""``adjudicator protocol ...``: validate, fingerprint, explain, schema, power."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from ..protocol import load_protocol, protocol_schema
from ._app import echo_json, guard, protocol_app

# -- protocol ------------------------------------------------------------------------------

ProtocolPaths = Annotated[
    list[Path], typer.Argument(help="protocol YAML files", metavar="PATH...")
]
ProtocolPath = Annotated[Path, typer.Argument(help="a protocol YAML file", metavar="PATH")]


@protocol_app.command("validate")
@guard
def protocol_validate(paths: ProtocolPaths) -> None:
    """Validate protocols strictly; print each digest. Exit 2 if any is invalid.

    Every problem of every file is listed with its field path, e.g.
    ``threshold.baselines[0].margin: must be a number``.
    """
    from ..errors import ProtocolError

    failed = 0
    for path in paths:
        try:
            p = load_protocol(path)
        except ProtocolError as exc:
            failed += 1
            typer.echo(f"invalid {exc}", err=True)
            continue
        typer.echo(f"ok      {path}  {p.digest}")
    if failed:
        raise typer.Exit(2)


@protocol_app.command("digest")
@guard
def protocol_digest(path: ProtocolPath) -> None:
    """Print the protocol's digest (sha256 of its canonical form): its identity forever."""
    typer.echo(load_protocol(path).digest)


@protocol_app.command("show")
@guard
def protocol_show(
    path: ProtocolPath,
    as_json: Annotated[
        bool, typer.Option("--json", help="print the canonical JSON instead of prose")
    ] = False,
) -> None:
    """Explain a protocol in plain words: task, metric, criteria, statistics."""
    from ..describe import describe_protocol

    p = load_protocol(path)
    if as_json:
        echo_json(json.loads(p.canonical))
        return
    typer.echo(describe_protocol(p))


@protocol_app.command("schema")
@guard
def protocol_schema_cmd() -> None:
    """Print the JSON Schema of the protocol format (protocol/v1)."""
    echo_json(protocol_schema())


@protocol_app.command("power")
@guard
def protocol_power(
    protocol: Annotated[Path, typer.Option("--protocol", help="the protocol YAML file")],
    units: Annotated[int, typer.Option("--units", help="planned number of test units")],
    baseline_value: Annotated[
        float | None,
        typer.Option("--baseline-value", help="the baseline's true metric (also find the "
                     "minimum detectable improvement over it)"),
    ] = None,
    power: Annotated[float, typer.Option("--power", help="required probability of "
                                         "certification")] = 0.8,
    simulations: Annotated[
        int, typer.Option("--simulations", help="simulated test sets per effect")
    ] = 200,
    resamples: Annotated[
        int | None,
        typer.Option("--resamples", help="resamples per simulated test set (default: the "
                     "protocol's, at most 1000)"),
    ] = None,
    positive_share: Annotated[
        float | None, typer.Option("--positive-share", help="binary: share of positives "
                                   "in the synthetic test sets (default 0.5)")
    ] = None,
    censoring: Annotated[
        float, typer.Option("--censoring", help="survival: censored share")
    ] = 0.3,
    score_sd: Annotated[
        float, typer.Option("--score-sd", help="scores: per-unit standard deviation")
    ] = 1.0,
    hazard_strength: Annotated[
        float | None,
        typer.Option("--hazard-strength", help="survival: log-hazard per unit of the latent "
                     "risk; sets the C-index ceiling (default: the smallest of 4, 8, 16 "
                     "whose ceiling clears the targets)"),
    ] = None,
    rows_per_unit: Annotated[
        int, typer.Option("--rows-per-unit", help="per_unit_pearson_mean: rows per unit")
    ] = 20,
    set_size: Annotated[
        float, typer.Option("--set-size", help="sets: mean size of a true set")
    ] = 10.0,
    sequence: Annotated[
        int, typer.Option("--sequence", help="use alpha_k of this submission in its family "
                          "(1 = the first; later ones are stricter under most rules)")
    ] = 1,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
) -> None:
    """Minimum detectable metric (and improvement) at alpha_k, by simulation.

    The smallest true metric, and with --baseline-value the smallest true improvement over
    the protocol's first baseline, that this protocol certifies with probability --power
    on --units units, simulated from a synthetic family of the task kind with the
    protocol's own metric and resampling. Flags a threshold that cannot be certified.
    Exit 2 for bad input.
    """
    from ..power import minimum_detectable

    result = minimum_detectable(
        load_protocol(protocol), units, baseline_value=baseline_value, power=power,
        simulations=simulations, resamples=resamples, positive_share=positive_share,
        censoring=censoring, score_sd=score_sd, hazard_strength=hazard_strength,
        rows_per_unit=rows_per_unit, set_size=set_size, sequence=sequence,
    )
    if as_json:
        echo_json(result.to_dict())
        return
    typer.echo(result.summary())
