"""The Typer application the commands register on, and what they share."""

from __future__ import annotations

import json
from typing import Any

import typer

from ..exits import guard

__all__ = ["app", "echo_json", "guard", "protocol_app"]

app = typer.Typer(
    name="adjudicator",
    help=(
        "Decide, by preregistered statistics, whether a prize-challenge entry crossed its "
        "threshold, and prove it with a signed audit report.\n\n"
        "Exit codes: 0 success, 2 bad input or usage, 1 internal failure."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
protocol_app = typer.Typer(
    help="Validate, fingerprint and explain preregistered protocols.", no_args_is_help=True
)
app.add_typer(protocol_app, name="protocol")


def echo_json(value: Any) -> None:
    typer.echo(json.dumps(value, indent=2, sort_keys=False, ensure_ascii=False))
