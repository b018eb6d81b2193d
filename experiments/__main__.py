"""``python -m experiments``: the ``zhudai`` command line."""

from experiments.cli import main

raise SystemExit(main())
