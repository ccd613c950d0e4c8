import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner

DATA = Path(__file__).parent / "data"
ROOT = Path(__file__).parent.parent

# Never share a validated-file cache with the user running the tests.
os.environ.setdefault("FLASHCHECK_CACHE_DIR", "off")


@pytest.fixture
def run():
    """Run the CLI in-process: run(*args) -> (exit_code, stdout, stderr)."""
    from flashcheck.cli import main

    def _run(*args: str):
        runner = CliRunner()
        res = runner.invoke(main, [str(a) for a in args], catch_exceptions=False)
        return res.exit_code, res.stdout, res.stderr

    return _run


@pytest.fixture
def run_test_data(run):
    """The CLI with the fictional test parts and boards added."""

    def _run(*args: str):
        return run("--parts", DATA / "parts", "--boards", DATA / "boards", *args)

    return _run


@pytest.fixture
def check_json(run_test_data):
    def _check(board: str, *queries: str, extra=()):
        code, out, err = run_test_data(*extra, "check", "--json", "--board", board, *queries)
        return code, json.loads(out)["results"]

    return _check
