"""Drive the dashboard from Python: ``zhudai dashboard`` in a child process, opened in Debian's Chromium.

Shared by the browser tests (``tests/browser``), the benchmark (``benchmarks/bench_dashboard.py``) and the
dashboard screenshots (``docs/images/take_screenshots.py``). Playwright cannot download browsers here, so it
drives the system's Chromium (Debian package ``chromium``; ``.ci/run`` installs it).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("ZHUDAI_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
#: Headless flags that keep Chromium off the network (this machine's closed network refuses its calls home).
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]
VIEWPORT = {"width": 1440, "height": 900}
DASHBOARD = [sys.executable, "-m", "experiments", "dashboard"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class DashboardProcess:
    """A dashboard server in its own process on a free local port, its output in ``log`` (or discarded).

    Use as a context manager, or call :meth:`stop`. ``command`` defaults to ``python -m experiments
    dashboard``; ``--host 127.0.0.1 --port P`` is appended.
    """

    def __init__(self, command: list[str] | None = None, log: Path | None = None, timeout: float = 120.0):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log
        self._log = open(log, "w") if log else subprocess.DEVNULL  # noqa: SIM115 - closed in stop()
        env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
        self.proc = subprocess.Popen([*(command or DASHBOARD), "--host", "127.0.0.1", "--port", str(self.port)],
                                     cwd=ROOT, stdout=self._log, stderr=subprocess.STDOUT, env=env)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self.stop()
                raise RuntimeError(f"dashboard exited with {self.proc.returncode}:\n{self.log()}")
            try:
                with urllib.request.urlopen(self.url, timeout=2) as r:
                    if r.status == 200:
                        return
            except OSError:
                time.sleep(0.3)
        self.stop()
        raise RuntimeError(f"dashboard did not answer within {timeout:g} s:\n{self.log()}")

    def log(self) -> str:
        """What the server printed so far ("" without a log file)."""
        if self.log_path is None:
            return ""
        if not self._log.closed:
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
        if self.log_path is not None and not self._log.closed:
            self._log.close()

    def __enter__(self) -> DashboardProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def launch_chromium(playwright):
    """Debian's Chromium, headless and offline, through Playwright."""
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)


def open_page(browser, url: str, timeout_ms: float = 120_000):
    """A new 1440x900 page on the dashboard at ``url``, returned once the Run card shows a date."""
    from playwright.sync_api import expect

    page = browser.new_page(viewport=VIEWPORT)
    page.goto(url)
    expect(page.locator(".zhudai-date")).to_be_visible(timeout=timeout_ms)
    return page


def month_index(text: str) -> int:
    """``YYYY-MM`` as a month count, for differences between dates shown on the page."""
    y, m = text.split("-")
    return int(y) * 12 + int(m)
