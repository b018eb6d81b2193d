"""``zhudai dashboard`` start-up: bad ports and hosts get one message and exit 2, before any server starts."""

from __future__ import annotations

import socket
import sys

import pytest

from experiments.cli.main import main
from experiments.dashboard.server import DashboardError, check_installed, check_port


def test_a_free_port_is_accepted_and_zero_picks_one():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    assert check_port("127.0.0.1", port) == port
    picked = check_port("127.0.0.1", 0)
    assert 0 < picked <= 65535


def test_a_port_in_use_is_refused():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        with pytest.raises(DashboardError, match=f"--port {port}: already in use"):
            check_port("127.0.0.1", port)


@pytest.mark.parametrize(("argv", "message"), [
    (["--port", "70000"], "--port 70000: must be between 0 and 65535"),
    (["--host", "no-such-host.invalid"], "--host 'no-such-host.invalid': cannot be resolved"),
    (["--port", "x"], "argument --port: must be an integer"),
    (["--port", "-1"], "argument --port: must be a non-negative integer"),
])
def test_bad_arguments_exit_2_with_one_message(argv, message, capsys):
    assert main(["dashboard", *argv]) == 2
    err = capsys.readouterr().err
    assert message in err
    assert "Traceback" not in err


def test_port_in_use_exits_2_through_the_cli(capsys):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        assert main(["dashboard", "--host", "127.0.0.1", "--port", str(port)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"zhudai: --port {port}: already in use on 127.0.0.1; pick another port"]


def test_missing_packages_are_named(monkeypatch):
    from experiments.extras import MissingExtra

    monkeypatch.setitem(sys.modules, "solara_assets", None)  # None in sys.modules: the module cannot be imported
    with pytest.raises(MissingExtra, match=r"zhudai dashboard needs the optional 'dashboard' dependencies: .*"
                                           r"\(not installed: solara_assets\)"):
        check_installed()


def test_ctrl_c_stops_the_server_quietly_with_status_130():
    """The normal way to stop the server: exit 130 and one line, no traceback."""
    import signal
    import subprocess
    import sys
    import time
    import urllib.request

    from experiments.dashboard.browser import ROOT, free_port

    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "experiments", "dashboard", "--host", "127.0.0.1", "--port",
                             str(port)], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}", timeout=2)
                break
            except OSError:
                time.sleep(0.3)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130
    assert f"open http://127.0.0.1:{port}" in out
    assert "zhudai dashboard: stopped" in err
    assert "Traceback" not in err
