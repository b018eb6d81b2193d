"""``zhudai dashboard``: serve the dashboard page locally with Solara.

Works offline: the page's JavaScript, fonts and chart libraries come from the ``solara-assets`` package
(pinned in ``pyproject.toml``), telemetry and the PyPI version check are off, and no browser is opened.
"""

from __future__ import annotations

import errno
import os
import socket
import sys
import warnings

APP = "experiments.dashboard.app"


class DashboardError(Exception):
    """A problem starting the server that the user can fix (bad host, port in use, missing package)."""


def check_port(host: str, port: int) -> int:
    """Bind-test ``host:port``; return the port (a free one if ``port`` is 0).

    Raises:
        DashboardError: if the host does not resolve or the port cannot be bound.
    """
    if not 0 <= port <= 65535:
        raise DashboardError(f"--port {port}: must be between 0 and 65535 (0 picks a free port)")
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise DashboardError(f"--host {host!r}: cannot be resolved ({exc})") from None
    family, _, _, _, address = infos[0]
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(address)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise DashboardError(f"--port {port}: already in use on {host}; pick another port") from None
            raise DashboardError(f"--host {host} --port {port}: cannot listen there ({exc.strerror})") from None
        return int(s.getsockname()[1])


def check_installed() -> None:
    """Fail early, with the fix, if the packages of the ``dashboard`` extra are missing.

    Raises:
        experiments.extras.MissingExtra: naming the extra, its install line and the missing modules.
    """
    from experiments.extras import require

    require("dashboard", what="zhudai dashboard")


def serve(host: str, port: int) -> int:
    """Run the server until interrupted. Returns an exit status."""
    # Mesa 3.3's SolaraViz trips Solara's hook linter (a use_state after an early return); harmless here.
    warnings.filterwarnings("ignore", module="solara.validate_hooks")
    os.environ.setdefault("SOLARA_TELEMETRY_MIXPANEL_ENABLE", "False")
    os.environ.setdefault("SOLARA_THEME_VARIANT", "light")
    check_installed()
    port = check_port(host, port)
    from solara.__main__ import cli

    url_host = "localhost" if host in ("0.0.0.0", "::", "") else host
    print(f"zhudai dashboard: open http://{url_host}:{port} in a browser (Ctrl-C stops the server)", flush=True)
    args = ["run", APP, "--host", host, "--port", str(port), "--production", "--no-open", "--no-check-version",
            "--no-access-log", "--log-level", "warning"]
    import click

    try:
        cli.main(args=args, prog_name="solara", standalone_mode=False)
    except (KeyboardInterrupt, click.exceptions.Abort):  # click turns Ctrl-C into Abort
        print("zhudai dashboard: stopped", file=sys.stderr)
        return 130
    return 0
