"""The HTTP service: challenges, submissions, roles, the background worker, the ledger.

``create_app(settings)`` is the one entry point (``adjudicator serve`` runs it under
uvicorn); ``docs/service.md`` describes the routes, roles, phases and checkpoints.
"""

from __future__ import annotations

from .app import create_app

__all__ = ["create_app"]
