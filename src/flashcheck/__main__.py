"""``python -m flashcheck``: the same as the ``flashcheck`` command."""

from flashcheck.quick import run

run()
