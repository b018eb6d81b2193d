"""The ``zhudai`` command line (also ``python -m experiments``).

Modules: :mod:`~experiments.cli.main` (entry point), :mod:`~experiments.cli.parser` (subcommands and options),
:mod:`~experiments.cli.exits` (exit statuses and error printing every command shares), and the commands:
:mod:`~experiments.cli.commands`, :mod:`~experiments.cli.run`, :mod:`~experiments.cli.batch`,
:mod:`~experiments.cli.validate`.
"""
