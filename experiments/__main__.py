"""``python -m experiments``: the ``zhudai`` command line."""

from experiments.cli.main import main

raise SystemExit(main())
