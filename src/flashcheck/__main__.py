"""``python -m flashcheck``: the same as the ``flashcheck`` command."""

from flashcheck.cli import run

run()
