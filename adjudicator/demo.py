"""``make demo``: the main job end to end on the embedded default.

It grows with the project. Today it registers every preregistered protocol in
``protocols/`` and prints its digest: the identity a challenge publishes before it opens.
"""

from __future__ import annotations

from pathlib import Path

import typer

from .errors import ConfigurationError
from .protocol import load_protocol

__all__ = ["run_demo"]


def run_demo(folder: Path) -> None:
    """Register (load, validate, fingerprint) every protocol in ``folder``."""
    paths = sorted(folder.glob("*.yaml"))
    if not paths:
        raise ConfigurationError(f"{folder}: no protocol files (*.yaml) to register")
    typer.echo(f"Registering {len(paths)} preregistered protocols from {folder}/\n")
    width = max(len(p.stem) for p in paths)
    for path in paths:
        protocol = load_protocol(path)
        typer.echo(f"  {path.stem:<{width}}  v{protocol.version}  {protocol.digest}")
    typer.echo("\nEach digest is the protocol's identity: a changed field gives a new one.")
