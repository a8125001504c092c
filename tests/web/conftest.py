"""Fixtures of the web page tests: a site in process (TestClient), a real server on loopback
with its worker running, and headless Chromium driven by Playwright.

The browser is Debian's ``chromium`` (``/usr/bin/chromium``; ``make system-deps``
installs it), never a browser Playwright downloads. Each browser context is a new
Chromium process with a fresh ``--user-data-dir`` under the test's tmp folder, started as
root in a sandbox with the flags below. Screenshots go to ``$ADJUDICATOR_SCREENSHOTS``
when set, else to ``screenshots/`` in pytest's base temporary folder (its path is printed
at the end of the run).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.service.conftest import PROTOCOL, Api, add_tokens, make_settings, serving

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
VENDOR = Path(__file__).resolve().parent / "vendor"
HOSTILE = "<script>window.__pwned = 1</script>"


def board_protocol(tmp: Path, *, title: str | None = None, summary: str | None = None,
                   pid: str = "service-test-board", board: bool = True) -> Path:
    """The service test protocol, with a public board (ladder, half the units public)."""
    data = yaml.safe_load(PROTOCOL.read_text())
    data["id"] = pid
    if board:
        data["task"]["strata"] = ["outcome"]
        data["leaderboard"] = {"public_fraction": 0.5,
                               "feedback": {"mechanism": "ladder", "step": 0.01}}
    if title is not None:
        data["title"] = title
    if summary is not None:
        data["summary"] = summary
    path = tmp / f"{pid}.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def csrf_of(html: str) -> str:
    found = CSRF.search(html)
    assert found, "the page has no CSRF field"
    return found.group(1)


@dataclass
class Site:
    """The app in process, with the JSON API helper and a browser-like client per person."""

    api: Api
    clients: dict[str, Any] = field(default_factory=dict)

    @property
    def app(self) -> Any:
        return self.api.app

    def client(self, who: str | None) -> Any:
        """A TestClient with its own cookie jar, signed in as ``who`` (None: the public)."""
        from fastapi.testclient import TestClient

        key = who or "public"
        if key not in self.clients:
            c = TestClient(self.app, follow_redirects=False)
            if who is not None:
                form = c.get("/web/sign-in")
                r = c.post("/web/sign-in", data={"csrf": csrf_of(form.text),
                                                 "token": self.api.tokens[who]})
                assert r.status_code == 303, r.text
            self.clients[key] = c
        return self.clients[key]


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    """The service in process on SQLite (worker not started: tests call ``api.drain()``)."""
    from fastapi.testclient import TestClient

    from adjudicator.service import create_app

    app = create_app(make_settings(tmp_path, f"sqlite:///{tmp_path / 'adjudicator.db'}",
                                   max_upload_bytes=256 * 1024), worker=False)
    tokens = add_tokens(app.state.runtime)
    with TestClient(app) as client:
        yield Site(api=Api(client=client, app=app, tokens=tokens))


# -- a real server and a real browser -------------------------------------------------------


@dataclass
class Server:
    url: str
    app: Any
    api: Api  # the same store, through an in-process client (for setting up)

    @property
    def rt(self) -> Any:
        return self.app.state.runtime


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """``adjudicator serve`` on 127.0.0.1 and a free port, worker running, SQLite under tmp.

    Set up with three open challenges: ``c1`` (the service test protocol), ``b1`` (the
    same with a public board) and ``x1`` (a hostile title and protocol text).
    """
    from fastapi.testclient import TestClient

    from adjudicator.service import create_app

    tmp = tmp_path_factory.mktemp("web-server")
    settings = make_settings(tmp, f"sqlite:///{tmp / 'adjudicator.db'}",
                             max_upload_bytes=256 * 1024)
    app = create_app(settings, worker=True, poll=0.2)
    tokens = add_tokens(app.state.runtime)
    # a second app object on the same store drives the JSON API in process, for set-up
    helper_app = create_app(settings, worker=False)
    with serving(app) as url, TestClient(helper_app) as client:
        api = Api(client=client, app=helper_app, tokens=tokens)
        api.challenge("c1")
        api.challenge("b1", protocol=board_protocol(tmp))
        api.challenge("x1", protocol=board_protocol(
            tmp, title=f"Hostile {HOSTILE}", summary=f"Protocol text {HOSTILE}",
            pid="hostile-protocol", board=False))
        _retitle(api, "x1", f"Challenge {HOSTILE}")
        yield Server(url=url, app=app, api=api)


def _retitle(api: Api, cid: str, title: str) -> None:
    from adjudicator.store.models import Challenge

    with api.rt.store.db.write() as session:
        session.get(Challenge, cid).title = title


@pytest.fixture(scope="session")
def screenshots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = Path(os.environ.get("ADJUDICATOR_SCREENSHOTS") or
                  tmp_path_factory.getbasetemp() / "screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture(scope="module")
def playwright() -> Iterator[Any]:
    # module-scoped: Playwright's sync API keeps an event loop running in this thread, in
    # which nothing else may call asyncio.run (pyHanko does, when a test drains the worker)
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: run `make system-deps` (installs Debian's chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        yield p


@pytest.fixture
def browser(playwright: Any, tmp_path: Path) -> Iterator[Any]:
    """``browser()`` opens a new Chromium (fresh profile) and returns its context."""
    contexts: list[Any] = []

    def open_context(**options: Any) -> Any:
        profile = tmp_path / f"chromium-profile-{len(contexts)}"
        profile.mkdir()
        ctx = playwright.chromium.launch_persistent_context(
            str(profile), executable_path=CHROMIUM, headless=True, args=CHROMIUM_FLAGS,
            accept_downloads=True, viewport={"width": 1280, "height": 900}, **options)
        ctx.set_default_timeout(30_000)
        contexts.append(ctx)
        return ctx

    yield open_context
    for ctx in contexts:
        ctx.close()
