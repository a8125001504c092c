"""Rendering pages: the Jinja2 environment, the response headers, errors as pages, assets.

Templates are autoescaped whatever their name and strict about undefined names, as the
reports' are; they use the reports' formatting filters and macros (``report/macros.html.j2``)
and the reports' stylesheet, so a page and a PDF of the same result look alike. No
template marks input as safe: a team called ``<script>`` is shown as those characters.

Every page is sent with a Content-Security-Policy that allows only this origin's own
stylesheets and script and ``data:`` images (the figures), so even markup that slipped
through could not run a script or send a form elsewhere.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Mapping
from importlib import resources
from typing import Any

from fastapi import HTTPException
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse
from fastapi.routing import APIRoute
from jinja2 import ChoiceLoader, Environment, PackageLoader, PrefixLoader, StrictUndefined
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from .. import __version__
from ..errors import AdjudicatorError
from ..report.format import FILTERS

__all__ = ["environment", "page", "HtmlRoute", "SignInRequired", "asset", "SECURITY_HEADERS",
           "ASSETS"]

SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}

#: the static files pages load: name -> (package, path in it, media type)
ASSETS = {
    "report.css": ("adjudicator.report", "templates/report.css", "text/css"),
    "web.css": ("adjudicator.web", "static/web.css", "text/css"),
    "web.js": ("adjudicator.web", "static/web.js", "text/javascript"),
}

_ENV: Environment | None = None


def environment() -> Environment:
    """The pages' Jinja2 environment (built once)."""
    global _ENV
    if _ENV is None:
        env = Environment(
            loader=ChoiceLoader([
                PackageLoader("adjudicator.web", "templates"),
                PrefixLoader({"report": PackageLoader("adjudicator.report", "templates")}),
            ]),
            autoescape=True, undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
        env.filters.update(FILTERS)
        env.globals["version"] = __version__
        _ENV = env
    return _ENV


def page(request: Request, template: str, data: Mapping[str, Any], chrome: Mapping[str, Any],
         *, status: int = 200) -> Response:
    """A page: ``data`` rendered through ``template`` inside the site's chrome (who is
    signed in, the CSRF token, the navigation); with ``?format=json``, ``data`` itself."""
    if request.query_params.get("format") == "json":
        response: Response = JSONResponse(dict(data), status_code=status)
    else:
        html = environment().get_template(template).render(page=data, **chrome)
        response = HTMLResponse(html, status_code=status)
    response.headers.update(SECURITY_HEADERS)
    return response


def asset(name: str) -> Response:
    """One of :data:`ASSETS` (anything else is a 404)."""
    entry = ASSETS.get(name)
    if entry is None:
        return Response("not found", status_code=404, media_type="text/plain")
    package, path, media = entry
    body = resources.files(package).joinpath(path).read_bytes()
    return Response(body, media_type=media, headers={
        "Cache-Control": "public, max-age=3600", "X-Content-Type-Options": "nosniff"})


class SignInRequired(HTTPException):
    """A page that needs a signed-in user, asked for by the public: GET goes to sign-in."""

    def __init__(self) -> None:
        super().__init__(401, "Sign in to see this page.")


Handler = Callable[[Request], Coroutine[Any, Any, Response]]


class HtmlRoute(APIRoute):
    """A route whose errors are answered as pages, not as the API's JSON.

    The status is the API's (:data:`adjudicator.service.app.STATUS`), and the message is
    the error's own, escaped like everything else.
    """

    def get_route_handler(self) -> Handler:
        handler = super().get_route_handler()

        async def html_errors(request: Request) -> Response:
            try:
                return await handler(request)
            except AdjudicatorError as exc:
                from ..service.app import STATUS

                code = next(c for kind, c in STATUS if isinstance(exc, kind))
                return error_page(request, code, str(exc))
            except SignInRequired as exc:
                if request.method == "GET":
                    from urllib.parse import quote

                    return RedirectResponse("/web/sign-in?next=" + quote(request.url.path),
                                            status_code=303)
                return error_page(request, exc.status_code, str(exc.detail))
            except HTTPException as exc:
                return error_page(request, exc.status_code, str(exc.detail))
            except RequestValidationError as exc:
                where = ", ".join(".".join(str(p) for p in e.get("loc", ())) for e in exc.errors())
                return error_page(request, 422, f"This address is not valid ({where}).")

        return html_errors


_TITLES = {400: "Bad request", 401: "Sign in first", 403: "Not allowed", 404: "Not found",
           405: "Not allowed", 409: "Not now", 413: "Too large", 422: "Not accepted",
           500: "Server error"}


def error_page(request: Request, status: int, message: str) -> Response:
    from .routes import chrome_for

    data = {"title": _TITLES.get(status, "Error"), "status": status, "message": message}
    return page(request, "error.html.j2", data, chrome_for(request), status=status)
