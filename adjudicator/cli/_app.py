"""The Typer application and the error mapping every command shares."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, TypeVar

import typer

from ..errors import AdjudicatorError

F = TypeVar("F", bound=Callable[..., Any])

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


def fail(exc: BaseException) -> None:
    if isinstance(exc, AdjudicatorError):
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(exc.exit_code)
    typer.echo(f"internal error ({type(exc).__name__}): {exc}", err=True)
    raise typer.Exit(1)


def guard(func: F) -> F:
    """Map our exceptions to exit codes; let typer's own exits through."""
    import functools

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except (typer.Exit, typer.Abort, SystemExit):
            raise
        except Exception as exc:  # noqa: BLE001 - the one place that reports everything
            fail(exc)

    return wrapper  # type: ignore[return-value]


def echo_json(value: Any) -> None:
    typer.echo(json.dumps(value, indent=2, sort_keys=False, ensure_ascii=False))
