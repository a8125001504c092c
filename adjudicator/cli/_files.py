"""What several commands share: the signing identity, atomic writes, result bytes."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer

KeysOpt = Annotated[
    Path | None,
    typer.Option("--keys", help="identity folder (default $ADJUDICATOR_HOME/keys)"),
]


def utc_now() -> datetime:
    return datetime.now(UTC)


def signing_identity(keys: Path | None, pkcs12: Path | None = None) -> Any:
    from ..errors import ConfigurationError
    from ..report import default_keys_directory, load_signing_identity

    folder = keys or default_keys_directory()
    if pkcs12 is None and not (folder / "signing-key.pem").exists():
        raise ConfigurationError(
            f"no signing identity in {folder}: run `adjudicator keys init` first "
            "(or pass --no-report)"
        )
    try:
        return load_signing_identity(folder, pkcs12=pkcs12)
    except (OSError, ValueError) as exc:
        raise ConfigurationError(f"cannot load the signing identity in {folder}: {exc}") from None


def write_report(result_bytes: bytes, path: Path, identity: Any) -> None:
    from ..report import render_certification_report, write_signed_report

    report = render_certification_report(result_bytes)
    write_signed_report(report.pdf, path, identity, signing_time=utc_now())


def write_atomic(path: Path, data: bytes) -> None:
    """Write a file whole or not at all."""
    import os
    import tempfile

    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        os.fchmod(fd, 0o644)  # mkstemp makes 0600; results are meant to be read
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def result_bytes(doc: dict[str, Any]) -> bytes:
    return (json.dumps(doc, indent=2, ensure_ascii=False, allow_nan=False) + "\n").encode()
