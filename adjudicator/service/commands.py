"""Service commands of the command line: ``serve``, ``users``, ``ledger``.

:func:`register` adds them to the ``adjudicator`` Typer app (``adjudicator.cli`` calls it).
Heavy imports (FastAPI, SQLAlchemy, uvicorn) happen inside the commands, so the rest of
the command line stays quick. Exit codes: 0 success, 2 bad input or usage, 1 internal
failure; ``ledger verify``: 0 valid, 1 the ledger fails verification, 2 unusable input.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Annotated, Any

import typer

from ..errors import AdjudicatorError, VerificationError
from ..exits import guard

__all__ = ["register", "verify_ledger"]


users_app = typer.Typer(help="Mint and revoke API tokens.", no_args_is_help=True)
ledger_app = typer.Typer(help="Verify and publish the signed ledger.", no_args_is_help=True)


def _runtime() -> Any:
    from ..settings import load_settings
    from ..store import open_store
    from .runtime import Runtime

    settings = load_settings()
    return Runtime(settings=settings, store=open_store(settings))


def serve(
    host: Annotated[str, typer.Option(help="address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port to listen on")] = 8000,
    job_lease: Annotated[float, typer.Option(
        help="seconds a job stays claimed without a heartbeat (a crashed worker's jobs "
             "are taken over after it)")] = 60.0,
    worker: Annotated[bool, typer.Option(help="run the background worker")] = True,
    service_workers: Annotated[int | None, typer.Option(
        min=1, max=64, metavar="N",
        help="jobs (adjudications, reports) the worker runs at once, each thread claiming "
             "on its own (default $ADJUDICATOR_SERVICE_WORKERS, else 1)")] = None,
    scheduler: Annotated[str | None, typer.Option(
        metavar="ADDRESS",
        help="a Dask scheduler (tcp://host:8786) for --compute blocks or adjudications "
             "(default $ADJUDICATOR_DASK_SCHEDULER)")] = None,
    compute: Annotated[str | None, typer.Option(
        metavar="WHERE",
        help="where the worker adjudicates: process (default), blocks (resample blocks on "
             "the cluster) or adjudications (each one a task on the cluster) "
             "(default $ADJUDICATOR_SERVICE_COMPUTE)")] = None,
) -> None:
    """Run the HTTP service (OpenAPI at /openapi.json); migrations run on start."""
    import uvicorn

    from ..settings import load_settings
    from .app import create_app

    settings = load_settings(dask_scheduler=scheduler, service_compute=compute,
                             service_workers=service_workers)
    app = create_app(settings, worker=worker, lease=job_lease)
    uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False)


@users_app.command("add")
@guard
def users_add(
    role: Annotated[str, typer.Option(help="admin | participant | auditor")],
    team: Annotated[str | None, typer.Option(help="the participant's team")] = None,
    name: Annotated[str | None, typer.Option(help="user name (default: role-<random>)")] = None,
) -> None:
    """Create a user and print its bearer token: the only time it is shown."""
    import secrets

    from .users import add_user

    rt = _runtime()
    try:
        user, token = add_user(rt, name or f"{role}-{secrets.token_hex(4)}", role, team)
    finally:
        rt.store.close()
    typer.echo(f"created {user.role} {user.name}" + (f" of team {team}" if team else ""),
               err=True)
    typer.echo(token)


@users_app.command("revoke")
@guard
def users_revoke(name: Annotated[str, typer.Argument(help="the user name")]) -> None:
    """Revoke a user's token (the user stays, for the record)."""
    from .users import revoke_user

    rt = _runtime()
    try:
        revoke_user(rt, name)
    finally:
        rt.store.close()
    typer.echo(f"revoked {name}")


@users_app.command("list")
@guard
def users_list() -> None:
    """List users: name, role, team, revoked."""
    from sqlalchemy import select

    from ..store.models import Team, User

    rt = _runtime()
    try:
        with rt.store.db.read() as session:
            rows = session.execute(select(User.name, User.role, Team.name, User.revoked_at)
                                   .outerjoin(Team, Team.id == User.team_id)
                                   .order_by(User.id)).all()
    finally:
        rt.store.close()
    for name, role, team, revoked in rows:
        typer.echo(f"{name}\t{role}\t{team or '-'}\t{'revoked ' + revoked if revoked else ''}")


def verify_ledger(rt: Any, checkpoint: str | None = None, vkey: str | None = None) -> Any:
    """Verify the log, the domain rows against it, and every stored file against its address.

    Raises VerificationError naming the first entry, row or file that does not match.
    """
    from sqlalchemy import select

    from ..store import NoteVerifier, verify_records
    from ..store.models import Artifact

    verifier = NoteVerifier(vkey) if vkey else None
    # one snapshot: the entries (read in pages), the head and the rows agree with each other
    # even while the service appends
    with rt.store.db.read(snapshot=True) as session:
        result = rt.store.ledger.verify(session, checkpoint=checkpoint, verifier=verifier)
        records = verify_records(session)
        shas = list(session.scalars(select(Artifact.sha256).order_by(Artifact.sha256)))
    for sha in shas:
        path = rt.store.artifacts.path(sha)
        if not path.is_file():
            raise VerificationError(f"artifacts row {sha}: the file is missing from the store")
        h = hashlib.sha256()
        with path.open("rb") as fh:
            while chunk := fh.read(1 << 20):
                h.update(chunk)
        if h.hexdigest() != sha:
            raise VerificationError(f"artifacts row {sha}: the stored file was altered")
    return result, records, len(shas)


@ledger_app.command("verify")
def ledger_verify(
    checkpoint: Annotated[Path | None, typer.Option(
        help="a checkpoint published earlier (signed note): the log must extend it")] = None,
    key: Annotated[Path | None, typer.Option(
        help="the verifier key file (default: the service's own key)")] = None,
) -> None:
    """Check the whole ledger and name the first bad entry. Exit 0 valid, 1 invalid, 2 unusable."""
    try:
        note = checkpoint.read_text(encoding="utf-8") if checkpoint else None
        vkey = key.read_text(encoding="utf-8") if key else None
        rt = _runtime()
    except (OSError, UnicodeDecodeError, AdjudicatorError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    try:
        result, records, files = verify_ledger(rt, note, vkey)
    except VerificationError as exc:
        typer.echo(f"INVALID: {exc}", err=True)
        raise typer.Exit(1) from None
    except Exception as exc:  # noqa: BLE001 - anything else: not verified
        typer.echo(f"error ({type(exc).__name__}): {exc}", err=True)
        raise typer.Exit(2) from None
    finally:
        rt.store.close()
    typer.echo(f"ok: {result.size} entries, root {result.head}; {records} rows and {files} "
               "files match the ledger"
               + (f"; extends the checkpoint of size {result.extends.size}"
                  if result.extends is not None else ""))


@ledger_app.command("checkpoint")
@guard
def ledger_checkpoint(
    out: Annotated[Path | None, typer.Option(help="write the note to this file")] = None,
) -> None:
    """Print (or write) the latest signed checkpoint, to publish outside the service."""
    rt = _runtime()
    try:
        with rt.store.db.read() as session:
            note = rt.store.ledger.latest_checkpoint(session)
    finally:
        rt.store.close()
    if out is None:
        typer.echo(note, nl=False)
    else:
        out.write_text(note, encoding="utf-8")


@ledger_app.command("key")
@guard
def ledger_key_cmd() -> None:
    """Print the checkpoints' verifier key."""
    rt = _runtime()
    try:
        typer.echo(rt.store.ledger.signer.vkey)
    finally:
        rt.store.close()


def register(app: typer.Typer) -> None:
    """Add ``serve``, ``users`` and ``ledger`` to the command line."""
    app.command("serve")(guard(serve))
    app.add_typer(users_app, name="users")
    app.add_typer(ledger_app, name="ledger")
