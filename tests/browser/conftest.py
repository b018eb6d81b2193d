"""Browser tests of ``zhudai dashboard``: a real server process, driven by Playwright in Debian's Chromium.

Chromium comes from the system (``.ci/run`` installs the Debian package); Playwright cannot download its
own browsers here. Without Chromium the tests are skipped locally and fail under CI (``CI`` set), so a
CI machine that lost its browser cannot pass silently.

Screenshots go to ``tests/artifacts/dashboard/`` (or ``$ZHUDAI_ARTIFACTS``) for a person to look at. The
server process and the browser launch come from :mod:`experiments.dashboard.browser`.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from experiments.dashboard.browser import CHROMIUM, ROOT, VIEWPORT, DashboardProcess, launch_chromium


def _require_chromium() -> None:
    if Path(CHROMIUM).exists():
        return
    message = f"Chromium not found at {CHROMIUM}: install Debian's chromium package (apt-get install -y chromium)"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="session")
def artifacts() -> Path:
    folder = Path(os.environ.get("ZHUDAI_ARTIFACTS", ROOT / "tests" / "artifacts" / "dashboard"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture(scope="module")
def server(artifacts: Path) -> Iterator[DashboardProcess]:
    """``zhudai dashboard`` as a user starts it (``python -m experiments dashboard``)."""
    _require_chromium()
    with DashboardProcess(log=artifacts / "server.log") as srv:
        yield srv


@pytest.fixture(scope="module")
def faulty_server(artifacts: Path) -> Iterator[DashboardProcess]:
    """The dashboard with a model fault injected in a known month (see ``faulty_dashboard.py``)."""
    _require_chromium()
    command = [sys.executable, str(Path(__file__).with_name("faulty_dashboard.py"))]
    with DashboardProcess(command, log=artifacts / "faulty-server.log") as srv:
        yield srv


#: Longest wait (ms) for the page to react to a click or a new month. Playwright's default of 5 s is too short
#: on a busy 2-core machine (the server, Chromium and other work share the cores); a wait that ends early
#: only costs time, so a generous bound keeps the tests deterministic under load.
EXPECT_TIMEOUT_MS = 30_000


@pytest.fixture(scope="session")
def browser():
    _require_chromium()
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=EXPECT_TIMEOUT_MS)

    with sync_playwright() as pw:
        b = launch_chromium(pw)
        yield b
        b.close()


@pytest.fixture
def page(browser):
    """A fresh browser context (its own dashboard session) at 1440x900 that accepts downloads.

    Requests to any host but the local server are recorded: the page must work offline.
    """
    context = browser.new_context(viewport=VIEWPORT, accept_downloads=True)
    pg = context.new_page()
    pg.external_requests = []

    def _on_request(request):
        if not request.url.startswith(("http://127.0.0.1", "ws://127.0.0.1", "data:", "blob:", "about:")):
            pg.external_requests.append(request.url)

    pg.on("request", _on_request)
    yield pg
    context.close()
