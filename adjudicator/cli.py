"""The ``adjudicator`` command line.

Exit codes, for every command:

* ``0`` success (for ``adjudicate``: the adjudication ran, whatever the verdict);
* ``2`` bad input or usage: an invalid protocol, a refused file, a wrong flag;
* ``1`` internal failure: anything we did not foresee, reported with its type.

(``verify`` has its own: 0 valid, 1 invalid, 2 unusable input.)

Only this module and the HTTP error handler turn exceptions into exit codes and messages.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from .errors import AdjudicatorError
from .protocol import load_protocol, protocol_schema

__all__ = ["app", "main"]

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


def _fail(exc: BaseException) -> None:
    if isinstance(exc, AdjudicatorError):
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(exc.exit_code)
    typer.echo(f"internal error ({type(exc).__name__}): {exc}", err=True)
    raise typer.Exit(1)


def _guard(func: F) -> F:
    """Map our exceptions to exit codes; let typer's own exits through."""
    import functools

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except (typer.Exit, typer.Abort, SystemExit):
            raise
        except Exception as exc:  # noqa: BLE001 - the one place that reports everything
            _fail(exc)

    return wrapper  # type: ignore[return-value]


def _echo_json(value: Any) -> None:
    typer.echo(json.dumps(value, indent=2, sort_keys=False, ensure_ascii=False))


# -- protocol ------------------------------------------------------------------------------

ProtocolPaths = Annotated[
    list[Path], typer.Argument(help="protocol YAML files", metavar="PATH...")
]
ProtocolPath = Annotated[Path, typer.Argument(help="a protocol YAML file", metavar="PATH")]


@protocol_app.command("validate")
@_guard
def protocol_validate(paths: ProtocolPaths) -> None:
    """Validate protocols strictly; print each digest. Exit 2 if any is invalid.

    Every problem of every file is listed with its field path, e.g.
    ``threshold.baselines[0].margin: must be a number``.
    """
    from .errors import ProtocolError

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
@_guard
def protocol_digest(path: ProtocolPath) -> None:
    """Print the protocol's digest (sha256 of its canonical form): its identity forever."""
    typer.echo(load_protocol(path).digest)


@protocol_app.command("show")
@_guard
def protocol_show(
    path: ProtocolPath,
    as_json: Annotated[
        bool, typer.Option("--json", help="print the canonical JSON instead of prose")
    ] = False,
) -> None:
    """Explain a protocol in plain words: task, metric, criteria, statistics."""
    from .describe import describe_protocol

    p = load_protocol(path)
    if as_json:
        _echo_json(json.loads(p.canonical))
        return
    typer.echo(describe_protocol(p))


@protocol_app.command("schema")
@_guard
def protocol_schema_cmd() -> None:
    """Print the JSON Schema of the protocol format (protocol/v1)."""
    _echo_json(protocol_schema())


# -- demo ----------------------------------------------------------------------------------


@app.command("demo")
@_guard
def demo(
    protocols: Annotated[
        Path, typer.Option(help="folder of preregistered protocols")
    ] = Path("protocols"),
) -> None:
    """Run the main job end to end on the embedded default.

    Today: register every example protocol in ``protocols/`` and print its digest.
    """
    from .demo import run_demo

    run_demo(protocols)


def main(argv: list[str] | None = None) -> None:
    """Console entry point (``adjudicator``)."""
    try:
        app(args=argv, prog_name="adjudicator")
    except SystemExit as exc:
        code = exc.code
        # click reports usage errors with exit code 2 already; keep every code as is
        sys.exit(code)


if __name__ == "__main__":  # pragma: no cover
    main()
