"""``zhudai dashboard``: an interactive page on Mesa's SolaraViz for moving a lever and comparing two runs.

Modules:
    levers: the lever fields and the scenario overrides they mean (pure).
    session: :class:`~experiments.dashboard.session.DashboardModel`, runs A and B in lockstep on one seed.
    views: the figures (matplotlib), framed once and re-filled each month; PNG/SVG output.
    app: the Solara page (Mesa's SolaraViz with our cards).
    server: the ``zhudai dashboard`` command (start-up checks, offline Solara server).
    browser: start the server and Debian's Chromium from Python (tests, benchmark, screenshots).
"""
