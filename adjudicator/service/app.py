"""The composition root: ``create_app(settings)`` wires the store, the worker and the routes.

Tests drive the app in process (``TestClient(create_app(settings))``) or through a real
server (``adjudicator serve``); the clock and the worker are injectable seams. On start
the app migrates the database, removes files a crash left unreferenced, and starts the
worker; on stop it stops the worker and closes the database.

Errors are answered by one handler: every :class:`~adjudicator.errors.AdjudicatorError`
becomes ``{"error": <type>, "detail": <message>}`` with the status of its branch.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy import select

from ..errors import (
    AdjudicatorError,
    ConfigurationError,
    InputError,
    MultiplicityError,
    ProtocolError,
    VerificationError,
)
from ..settings import Settings
from ..store import open_store
from ..store.errors import (
    ConflictError,
    NotFoundError,
    PayloadTooLargeError,
    WithdrawalRefusedError,
    WithheldError,
)
from ..store.models import Artifact
from .leaderboard_routes import router as leaderboard_router
from .results_routes import router as results_router
from .routes import router
from .runtime import Runtime, utc_now
from .worker import Worker

__all__ = ["create_app", "STATUS"]

#: HTTP status of each branch of the exception tree (the first match wins)
STATUS: tuple[tuple[type[AdjudicatorError], int], ...] = (
    (NotFoundError, 404),
    (WithheldError, 403),
    (WithdrawalRefusedError, 405),
    (PayloadTooLargeError, 413),
    (ConflictError, 409),
    (MultiplicityError, 409),
    (ProtocolError, 422),
    (InputError, 422),
    (VerificationError, 409),
    (ConfigurationError, 500),
    (AdjudicatorError, 500),
)


def _status(exc: AdjudicatorError) -> int:
    return next(code for kind, code in STATUS if isinstance(exc, kind))


def sweep_orphans(rt: Runtime, older_than: float) -> list[str]:
    """Remove stored files no row refers to (left by a crash between file and commit)."""
    with rt.store.db.read() as session:
        referenced = set(session.scalars(select(Artifact.sha256)))
    return rt.store.artifacts.sweep(referenced, older_than=older_than)


def create_app(
    settings: Settings,
    *,
    clock: Callable[[], datetime] = utc_now,
    worker: bool = True,
    lease: float = 60.0,
    poll: float = 0.5,
) -> FastAPI:
    """The adjudicator HTTP service for ``settings``.

    Parameters
    ----------
    settings
        Where the database, files and keys are.
    clock
        "now" for every timestamp (tests freeze it).
    worker
        Run the background worker in this process, ``settings.service_workers`` jobs at
        once (tests may drive ``app.state.worker`` with ``run_once()``/``drain()`` instead).
    lease, poll
        Seconds a claimed job is held without a heartbeat; seconds between polls.
    """
    started = time.time()
    store = open_store(settings)
    rt = Runtime(settings=settings, store=store, clock=clock)
    jobs = Worker(rt, lease=lease, poll=poll, threads=settings.service_workers)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        sweep_orphans(rt, older_than=started)
        if worker:
            jobs.start()
        try:
            yield
        finally:
            jobs.stop(timeout=30)
            store.close()

    app = FastAPI(
        title="adjudicator",
        version="1",
        summary="Preregistered adjudication of prize-challenge entries, with a signed ledger.",
        lifespan=lifespan,
    )
    app.state.runtime = rt
    app.state.worker = jobs
    app.state.worker_wake = jobs.wake
    app.include_router(router)
    app.include_router(leaderboard_router)  # /challenges/{c}/leaderboard/public, /final
    app.include_router(results_router)  # /challenges/{c}/results..., notes, refusals
    from ..web import mount as mount_pages  # the web pages: /web/..., and / redirecting there

    mount_pages(app)

    @app.middleware("http")
    async def _refuse_nul(request: Request, call_next: Any) -> Any:
        # PostgreSQL text cannot hold NUL, and no id, name or title of ours contains one:
        # refuse it at the door instead of failing deep in a query
        if "\x00" in request.url.path or b"%00" in request.scope.get("query_string", b""):
            return JSONResponse({"error": "InputError",
                                 "detail": "the request line contains a NUL character"},
                                status_code=422)
        return await call_next(request)

    @app.exception_handler(AdjudicatorError)
    async def _adjudicator_error(request: Request, exc: AdjudicatorError) -> JSONResponse:
        return JSONResponse({"error": type(exc).__name__, "detail": str(exc)},
                            status_code=_status(exc), headers=getattr(exc, "headers", None))

    return app
