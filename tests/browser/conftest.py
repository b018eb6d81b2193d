"""Browser tests of ``zhudai dashboard``: a real server process, driven by Playwright in Debian's Chromium.

Chromium comes from the system (``.ci/run`` installs the Debian package); Playwright cannot download its
own browsers here. Without Chromium the tests are skipped locally and fail under CI (``CI`` set), so a
CI machine that lost its browser cannot pass silently.

Screenshots go to ``tests/artifacts/dashboard/`` (or ``$ZHUDAI_ARTIFACTS``) for a person to look at.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("ZHUDAI_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]
VIEWPORT = {"width": 1440, "height": 900}
STARTUP_TIMEOUT = 120.0


def _require_chromium() -> None:
    if Path(CHROMIUM).exists():
        return
    message = f"Chromium not found at {CHROMIUM}: install Debian's chromium package (apt-get install -y chromium)"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def artifacts() -> Path:
    folder = Path(os.environ.get("ZHUDAI_ARTIFACTS", ROOT / "tests" / "artifacts" / "dashboard"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


class Server:
    """A dashboard server in its own process, logging to a file."""

    def __init__(self, command: list[str], log: Path):
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log
        self._log = open(log, "w")  # noqa: SIM115 - closed in stop()
        env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
        self.proc = subprocess.Popen([*command, "--host", "127.0.0.1", "--port", str(self.port)], cwd=ROOT,
                                     stdout=self._log, stderr=subprocess.STDOUT, env=env)
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"dashboard exited with {self.proc.returncode}:\n{self.log()}")
            try:
                with urllib.request.urlopen(self.url, timeout=2) as r:
                    if r.status == 200:
                        return
            except OSError:
                time.sleep(0.3)
        self.stop()
        raise RuntimeError(f"dashboard did not answer within {STARTUP_TIMEOUT} s:\n{self.log()}")

    def log(self) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()


@pytest.fixture(scope="module")
def server(artifacts: Path) -> Iterator[Server]:
    """``zhudai dashboard`` as a user starts it (``python -m experiments dashboard``)."""
    _require_chromium()
    srv = Server([sys.executable, "-m", "experiments", "dashboard"], artifacts / "server.log")
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def faulty_server(artifacts: Path) -> Iterator[Server]:
    """The dashboard with a model fault injected in a known month (see ``faulty_dashboard.py``)."""
    _require_chromium()
    srv = Server([sys.executable, str(Path(__file__).with_name("faulty_dashboard.py"))],
                 artifacts / "faulty-server.log")
    yield srv
    srv.stop()


@pytest.fixture(scope="session")
def browser():
    _require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser, tmp_path):
    """A fresh browser context (its own dashboard session) at 1440x900 that accepts downloads.

    Requests to any host but the local server are recorded: the page must work offline.
    """
    context = browser.new_context(viewport=VIEWPORT, accept_downloads=True)
    pg = context.new_page()
    pg.external_requests = []
    pg.console_errors = []

    def _on_request(request):
        url = request.url
        if not url.startswith(("http://127.0.0.1", "ws://127.0.0.1", "data:", "blob:", "about:")):
            pg.external_requests.append(url)

    pg.on("request", _on_request)
    pg.on("console", lambda m: pg.console_errors.append(m.text) if m.type == "error" else None)
    yield pg
    context.close()
