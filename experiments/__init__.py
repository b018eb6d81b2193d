"""Experiments: scenarios, runner, CLI."""
