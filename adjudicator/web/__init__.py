"""Web pages for committees, teams, funders and the public, served by ``adjudicator serve``.

Server-rendered (Jinja2, autoescaped), in the reports' look, with one small script that
polls job status so long work shows progress without a reload. People sign in with the
token ``adjudicator users add`` gave them; the browser then holds a signed session
cookie (:mod:`.sessions`) and every form carries a CSRF token. The pages use the
service's own operations and visibility rules, so they show and do nothing the JSON API
would not for the same person. ``docs/service.md`` lists the pages.
"""

from __future__ import annotations

from fastapi import FastAPI

__all__ = ["mount"]


def mount(app: FastAPI) -> None:
    """Serve the pages (``/web/...``, and ``/`` redirecting to ``/web/``) from ``app``."""
    from .routes import router

    app.include_router(router)
