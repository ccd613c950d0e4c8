"""The quick path of `flashcheck check` (flashcheck.quick) against the click
command it stands in for: the same lines, colours and exit codes for every
command line it takes, and every other command line left to click."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flashcheck import quick
from flashcheck.cli import main

CODES = ["W25Q128FVSIG", "S25FL127SABMFI101", "0e4015", "ef4018", "GD25Q64CSIG TR", "W25Q128JVSIQ-ND",
         "MX25L3233FM2I-08G", "N25Q256A", "NOSUCHPART1", "W25Q128XXXX", "c22016", ""]
BOARDS = ["imp003", "cc3200", "generic-3v3", "imp006", "nosuch"]


def click_check(argv: list[str], color: bool = False) -> tuple[int, str, str]:
    res = CliRunner().invoke(main, argv, color=color, catch_exceptions=False)
    return res.exit_code, res.stdout, res.stderr


def quick_check(argv: list[str], color: bool = False) -> tuple[int | None, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = quick.try_check(argv, out=out, err=err, color=color)
    return code, out.getvalue(), err.getvalue()


@pytest.mark.parametrize("argv,expect", [
    (["check", "W25Q128FVSIG", "--board", "imp003"], (["W25Q128FVSIG"], "imp003")),
    (["check", "--board=imp003", "A", "B"], (["A", "B"], "imp003")),
    (["check", "-b", "imp003", "A"], (["A"], "imp003")),
    (["check", "-bimp003", "A"], (["A"], "imp003")),
    (["check", "A", "-b", "x.yaml", "B"], (["A", "B"], "x.yaml")),
])
def test_plain_checks_are_taken(argv, expect):
    assert quick.parse(argv) == expect


@pytest.mark.parametrize("argv", [
    [], ["check"], ["lookup", "W25Q128FV"], ["check", "A"],  # no board
    ["check", "A", "--board"],  # board option without its value
    ["check", "A", "--board", "imp003", "--json"], ["check", "A", "-b", "imp003", "--explain"],
    ["check", "A", "-b", "imp003", "-e"], ["check", "-h"], ["check", "--help"],
    ["check", "A", "-b", "imp003", "-b", "cc3200"],  # repeated: click's rule
    ["check", "--", "A", "-b", "imp003"], ["check", "-", "-b", "imp003"],
    ["check", "A", "--board", "--json"], ["check", "A", "--board="],
    ["--parts", "d", "check", "A", "-b", "imp003"], ["--no-fallback", "check", "A", "-b", "imp003"],
    ["--version"], ["check", "A", "--boards", "imp003"],
])
def test_everything_else_goes_to_click(argv):
    assert quick.parse(argv) is None
    code, out, err = quick_check(argv)
    assert (code, out, err) == (None, "", "")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(codes=st.lists(st.one_of(st.sampled_from(CODES),
                                st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=12)
                                .filter(lambda s: not s.startswith("-"))), min_size=1, max_size=4),
       board=st.sampled_from(BOARDS), form=st.sampled_from([("--board", False), ("--board=", True),
                                                            ("-b", False), ("-b", True)]),
       at=st.integers(0, 4), color=st.booleans())
def test_quick_path_prints_what_click_prints(codes, board, form, at, color):
    flag, joined = form
    opt = [flag + board] if joined else [flag, board]
    argv = ["check", *codes[:at], *opt, *codes[at:]]
    if quick.parse(argv) is None:
        return  # not a form the quick path takes (checked above)
    assert quick_check(argv, color) == click_check(argv, color)


def test_colours_are_click_colours():
    from click import style

    from flashcheck.output.checklines import ansi_style

    for fg in ("red", "green", "yellow", "magenta"):
        for bold in (None, False, True):
            assert ansi_style("PASS   ", fg=fg, bold=bold) == style("PASS   ", fg=fg, bold=bold)


def test_error_line_and_exit_code_as_click(tmp_path):
    bad = tmp_path / "board.yaml"
    bad.write_text("name: [unclosed\n")
    for argv in (["check", "W25Q128FVSIG", "-b", "nosuch"], ["check", "W25Q128FVSIG", "-b", str(bad)],
                 ["check", "x" * 300, "-b", "imp003"]):
        got = quick_check(argv)
        assert got[0] == 2 and got[1] == "" and got[2].startswith("flashcheck: error: ")
        assert got == click_check(argv)


def test_the_command_takes_the_quick_path_without_click_or_dataclasses(tmp_path):
    """The plain check imports neither click nor the modules that make it
    slow (what it saves is measured by benchmarks/bench_check.py)."""
    probe = ("import sys, io\nfrom flashcheck.quick import try_check\n"
             "code = try_check(['check', 'W25Q128FVSIG', 'S25FL127SABMFI101', '0e4015', '-b', 'imp003'], "
             "out=io.StringIO())\n"
             "print(code, sorted(m for m in ('click', 'dataclasses', 'inspect', 'typing', 'json', 'yaml', "
             "'jsonschema', 'spiflash', 'rich', 'tempfile') if m in sys.modules))\n")
    env = dict(os.environ, PYTHONPATH=str(Path(quick.__file__).parent.parent), FLASHCHECK_CACHE_DIR=str(tmp_path))
    first = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env, check=True)
    assert first.stdout.startswith("1 ")  # the first run validates the files and fills the cache
    again = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env, check=True)
    assert again.stdout == "1 []\n"


def test_console_script_and_module_use_the_quick_path():
    import tomllib

    assert "from flashcheck.quick import run" in Path(quick.__file__).with_name("__main__.py").read_text()
    pyproject = Path(__file__).parent.parent / "pyproject.toml"
    assert tomllib.loads(pyproject.read_text())["project"]["scripts"]["flashcheck"] == "flashcheck.quick:run"
