"""Hostile and mistaken input through the command line (issue 14): each
input that used to hang, blow up memory or end in a traceback, and a
property test over every command's inputs where the only outcomes allowed
are a verdict (exit 0, 1, 3) or one line and exit 2 (bad input) or 4
(hardware).

Inputs that used to take minutes run here in a subprocess with a generous
timeout: a guard against a hang coming back, not a speed target (figures:
the report of issue 14 and ``benchmarks/``)."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import flashcheck
from flashcheck.cli import main

SRC = str(Path(flashcheck.__file__).resolve().parent.parent)
ROOT = Path(__file__).resolve().parent.parent
TESTCO = (ROOT / "tests" / "data" / "parts" / "testco.yaml").read_text(encoding="utf-8")
IMP003 = (ROOT / "hw" / "boards" / "imp003.yaml").read_text(encoding="utf-8")
HANG_GUARD_S = 120


@pytest.fixture(scope="module", autouse=True)
def _private_cache(tmp_path_factory):
    mp = pytest.MonkeyPatch()
    mp.chdir(tmp_path_factory.mktemp("cwd"))  # whatever a relative path in an input names lands here
    mp.setenv("FLASHCHECK_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))
    mp.setenv("FLASHCHECK_DATA_DIR", str(tmp_path_factory.mktemp("data")))
    yield
    mp.undo()


def cli(*args, timeout=HANG_GUARD_S):
    env = dict(os.environ, PYTHONPATH=SRC)
    res = subprocess.run([sys.executable, "-m", "flashcheck.cli", *map(str, args)], capture_output=True, text=True,
                         env=env, timeout=timeout)
    return res.returncode, res.stdout, res.stderr


def one_line_error(code: int, err: str, *words: str) -> None:
    assert code == 2, err
    assert "Traceback" not in err
    lines = [x for x in err.splitlines() if x.strip()]
    assert len(lines) == 1 and lines[0].startswith("flashcheck: error:"), err
    for w in words:
        assert w in lines[0], (w, lines[0])


# -- hangs and memory blow-ups, each a few lines of input -------------------------


def test_a_long_flash_looking_code_is_refused_at_once():
    code, out, err = cli("check", "W25Q128" + "JVSIQ" * 3200, "--board", "imp003")
    one_line_error(code, err, "16007 characters", "too long")


def test_a_long_code_in_a_bom_cell_names_the_line(tmp_path):
    bom = tmp_path / "b.csv"
    bom.write_text("Ref,MPN\nU1,W25Q128JVSIQ\nU2,W25Q128" + "J" * 300 + "\n")
    code, out, err = cli("bom", bom, "--board", "imp003")
    one_line_error(code, err, f"{bom}:3:", "too long")
    bom.write_text("Ref,MPN\nU1,W25Q" + "1" * (100 * 1024) + "\n")
    code, out, err = cli("bom", bom, "--board", "imp003")
    one_line_error(code, err, f"{bom}:2:", "order-code cell")
    bom.write_text("Ref,MPN\nU1,W25Q" + "1" * (128 * 1024) + "\n")  # past csv's own field bound
    code, out, err = cli("bom", bom, "--board", "imp003")
    one_line_error(code, err, f"{bom}:2:", "cell of over 131,072 characters")


@pytest.mark.parametrize("mb", [5, 50])
def test_one_long_csv_line_is_an_error_naming_it(tmp_path, mb):
    bom = tmp_path / "long.csv"
    with open(bom, "w") as f:
        f.write("Ref,MPN\nU1,W25Q128JVSIQ\n")
        f.write("A" * (mb << 20) + "\n")
    code, out, err = cli("bom", bom, "--board", "imp003")
    one_line_error(code, err, f"{bom}:3:", "line longer than")


def test_a_line_just_under_the_bound_is_read(tmp_path):
    from flashcheck.workflows.bom.sheet import MAX_LINE

    bom = tmp_path / "ok.csv"
    bom.write_text("Ref,MPN,Description\nU1,W25Q128JVSIQ," + "x" * (MAX_LINE - 100) + "\n")
    code, out, err = cli("bom", bom, "--board", "imp003", "--json")
    assert "line longer" not in err
    assert code == 2 and "cell of over 131,072 characters" in err  # csv's own 128 KiB field bound, one line


def test_xlsx_zip_bomb_is_refused_before_unpacking(tmp_path):
    bomb = tmp_path / "bomb.xlsx"
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml", "<Types/>")
        z.writestr("xl/worksheets/sheet1.xml", "<row/>" * (30 << 20))  # 180 MiB unpacked
    assert bomb.stat().st_size < 2 << 20
    code, out, err = cli("bom", bomb, "--board", "imp003")
    one_line_error(code, err, "unpacks to", "MiB")
    assert "PASS" not in out


@pytest.mark.parametrize("pattern, why", [
    ("TC25Z(A+)+B", "repeat inside a repeat"),
    ("TC25Z(?:A|AA)*B", "alternation inside a repeat"),
    ("TC25Z.*.*.*B", "unbounded repeats"),
])
def test_a_backtracking_order_code_pattern_is_refused_at_load(tmp_path, pattern, why):
    d = tmp_path / "parts"
    d.mkdir()
    text = TESTCO.replace("'TC25U128(?P<package>S|W)(?P<temp>I|E)(?P<packing>T)?'", repr(pattern))
    assert pattern in text
    (d / "testco.yaml").write_text(text)
    code, out, err = cli("--parts", d, "check", "TC25Z" + "A" * 40 + "C", "--board", "imp003")
    one_line_error(code, err, "testco.yaml:", "order code pattern refused", why)


def test_the_shipped_patterns_pass_the_backtracking_check():
    from flashcheck.app import App
    from flashcheck.data.parts import check_pattern

    app = App()
    patterns = [oc.text for p in app.parts.parts for oc in p.order_codes]
    assert len(patterns) > 50
    assert [p for p in patterns if check_pattern(p)] == []


BILLION_LAUGHS = "".join(
    f"{a}: &{a} [{', '.join([f'*{b}'] * 9) if b else ', '.join(['lol'] * 9)}]\n"
    for a, b in zip("abcdefghij", [None, *"abcdefghi"]))


@pytest.mark.parametrize("where", ["--parts", "--boards"])
def test_billion_laughs_yaml_is_refused(tmp_path, where):
    d = tmp_path / "d"
    d.mkdir()
    (d / "bomb.yaml").write_text(BILLION_LAUGHS)
    code, out, err = cli(where, d, "check", "W25Q128JVSIQ", "--board", "imp003")
    one_line_error(code, err, "bomb.yaml:", "aliases expand")


def test_a_board_given_as_a_file_is_bounded_too(tmp_path):
    b = tmp_path / "b.yaml"
    b.write_text(BILLION_LAUGHS)
    code, out, err = cli("check", "W25Q128JVSIQ", "--board", b)
    one_line_error(code, err, "aliases expand")


# -- smaller things: duplicate keys, schema bounds ------------------------------------


def test_a_duplicate_key_in_a_part_file_is_refused_with_its_line(tmp_path):
    d = tmp_path / "parts"
    d.mkdir()
    lines = TESTCO.splitlines()
    i = next(k for k, x in enumerate(lines) if x.strip() == "- name: TC25U128")
    lines.insert(i + 1, "    name: W25Q128JV")  # would override the built-in W25Q128JV
    (d / "testco.yaml").write_text("\n".join(lines) + "\n")
    code, out, err = cli("--parts", d, "check", "W25Q128JVSIQ", "--board", "imp003")
    one_line_error(code, err, f"testco.yaml:{i + 2}:", "duplicate key 'name'", f"first at line {i + 1}")


@pytest.mark.parametrize("old, new, field", [
    ("supply: 3.3", "supply: -3.3", "supply"),
    ("sizes: [4096", "sizes: [0", "sizes"),
    ("sizes: [4096", "sizes: ['0 KiB'", "sizes"),
    ("capacity: ", None, "capacity"),
])
def test_board_schema_bounds(tmp_path, old, new, field):
    from flashcheck.data.boards import BoardsDB  # noqa: F401 - the loader the CLI uses

    text = IMP003
    if field == "capacity":
        text = text.rstrip("\n") + "\n  - {rule: capacity, min: 6e23, source: " + _first_source(text) + "}\n"
    else:
        if old not in text:
            pytest.skip(f"imp003 has no {old!r} to bend")
        text = text.replace(old, new, 1)
    b = tmp_path / "imp003x.yaml"
    b.write_text(text)
    code, out, err = cli("check", "W25Q128JVSIQ", "--board", b)
    one_line_error(code, err, "imp003x.yaml:")


def _first_source(text: str) -> str:
    import yaml

    return next(iter(yaml.safe_load(text)["sources"]))


# -- the property test: any bytes through every door -----------------------------------

ALLOWED = {0, 1, 3}  # verdicts
ERRORS = {2, 4}  # bad input, hardware


def run_cli(args: list[str]):
    res = CliRunner().invoke(main, args, catch_exceptions=True)
    exc = res.exception
    if exc is not None and not isinstance(exc, SystemExit):
        import traceback

        raise AssertionError(f"{args[:6]}: traceback:\n" + "".join(traceback.format_exception(exc)))
    code = res.exit_code
    assert code in ALLOWED | ERRORS, (args[:6], code, res.stderr)
    if code in ERRORS:
        lines = [x for x in res.stderr.splitlines() if x.strip() and not x.startswith("note:")]
        assert len(lines) == 1, (args[:6], res.stderr)
        assert lines[0].startswith(("flashcheck: error:", "Error:")), (args[:6], res.stderr)
    return code


def _mutations(base: str):
    """A valid file, bent: lines dropped, doubled or swapped, text spliced in."""
    lines = base.splitlines()
    n = len(lines)
    junk = st.one_of(st.text(max_size=40), st.sampled_from(
        ["&a [*a]", "*x", "!!python/object:os.system", "- {", "name: x", "0x", "-1e999", "'", '"\\x', "\t", ": :",
         "capacity: 1e30", "<<: *a", "~", "[[[[[[[[[[", "\x00", "\ufeff", "\x1b[2J"]))
    edit = st.tuples(st.sampled_from(["drop", "dup", "junk", "cut"]), st.integers(0, max(n - 1, 0)), junk)

    def apply(edits):
        out = list(lines)
        for kind, i, text in edits:
            i = min(i, len(out) - 1)
            if i < 0:
                break
            if kind == "drop":
                del out[i]
            elif kind == "dup":
                out.insert(i, out[i])
            elif kind == "junk":
                out[i] = out[i][: len(out[i]) // 2] + text
            else:
                out = out[: i + 1]
        return "\n".join(out) + "\n"

    return st.lists(edit, min_size=1, max_size=4).map(apply)


def _as_bytes(text_strategy):
    return st.one_of(text_strategy.map(lambda t: t.encode("utf-8", "surrogatepass")), st.binary(max_size=600))


BOM_CELL = st.one_of(
    st.sampled_from(["MPN", "Mfr. Part #", "Value", "W25Q128JVSIQ", "S25FL127SABMFI101", "W25Q12XJVSIQ", "SPI NOR flash",
                     "", '"', "=1+1", "\x1b[31m", "a,b", "W25Q128JVSIQ / GD25Q128ESIG", "MX25" + "9" * 70]),
    st.text(max_size=12))
BOM_TEXT = st.lists(st.lists(BOM_CELL, max_size=6), max_size=8).map(lambda rows: "\n".join(st_join(r) for r in rows))


def st_join(row: list[str]) -> str:
    return ",".join(row)


SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), database=None)


@SETTINGS
@given(data=_as_bytes(BOM_TEXT), suffix=st.sampled_from([".csv", ".tsv", ".xlsx"]))
def test_any_bytes_as_a_bom(tmp_path_factory, data, suffix):
    p = tmp_path_factory.mktemp("bom") / f"b{suffix}"
    p.write_bytes(data)
    run_cli(["bom", str(p), "--board", "imp003"])


@SETTINGS
@given(data=_as_bytes(_mutations(TESTCO)))
def test_any_bytes_as_a_part_file(tmp_path_factory, data):
    d = tmp_path_factory.mktemp("parts")
    (d / "testco.yaml").write_bytes(data)
    run_cli(["--parts", str(d), "check", "TC25U128SI", "W25Q128JVSIQ", "--board", "imp003"])


@SETTINGS
@given(data=_as_bytes(_mutations(IMP003)))
def test_any_bytes_as_a_board_file(tmp_path_factory, data):
    p = tmp_path_factory.mktemp("board") / "myboard.yaml"
    p.write_bytes(data)
    run_cli(["check", "W25Q128JVSIQ", "S25FL127SABMFI101", "--board", str(p)])


def _sfdp_text() -> str:
    from flashcheck.sim import get_model
    from flashcheck.sim.sfdp_image import build_sfdp

    data = build_sfdp(get_model("SST26VF064B"), 0) + b"\xff" * 64
    lines, prev = [], None
    for off in range(0, len(data), 16):
        chunk = data[off:off + 16]
        if chunk == prev:
            if lines[-1] != "*":
                lines.append("*")
            continue
        prev = chunk
        lines.append(f"{off:08x}  {' '.join(f'{b:02x}' for b in chunk)}  |{'.' * len(chunk)}|")
    lines.append(f"{len(data):08x}")
    return "\n".join(lines) + "\n"


@SETTINGS
@given(data=_as_bytes(_mutations(_sfdp_text())))
def test_any_bytes_as_an_sfdp_dump(tmp_path_factory, data):
    p = tmp_path_factory.mktemp("sfdp") / "dump.txt"
    p.write_bytes(data)
    run_cli(["sfdp", str(p)])


@SETTINGS
@given(data=st.binary(max_size=3000))
def test_any_bytes_as_a_journal(tmp_path_factory, data):
    d = tmp_path_factory.mktemp("journal")
    (d / "x.jsonl").write_bytes(data)
    run_cli(["recover", "--url", "sim://W25Q128JV", "--journal-dir", str(d)])


URL_TEXT = st.text(alphabet=st.characters(blacklist_categories=["Cs"], blacklist_characters="\x00"), max_size=30)


@SETTINGS
@given(prefix=st.sampled_from(["sim://", "sim://W25Q128JV?", "sim://W25Q128JV?image=", "serprog://127.0.0.1:",
                                "spidev:///nonexistent/spidev", "ftdi://", "nope://", "", "sim:"]),
       rest=URL_TEXT)
def test_any_url(tmp_path_factory, prefix, rest):
    if prefix == "sim:" and rest and not rest.startswith("/"):
        rest = "/nonexistent/" + rest  # a sim file path: no files made on the fly (the sim reader is not ours)
    if prefix.endswith("image="):  # the image file is created: only ever inside a temporary directory
        rest = f"{tmp_path_factory.mktemp('img')}/{rest.replace('/', '_').replace('&', '_')}"
    elif "?" in prefix:
        rest = rest.replace("image", "imag")
    run_cli(["probe", "--url", prefix + rest, "--board", "imp003"])


@SETTINGS
@given(prefix=st.sampled_from(["sqlite:///", "sqlite://", "postgresql+psycopg://u@127.0.0.1:", "postgresql://u@[",
                                "mysql://", "", "postgresql+psycopg://u@127.0.0.1:1/db?"]),
       rest=URL_TEXT, since=st.one_of(st.none(), st.text(max_size=12), st.sampled_from(["99999999d", "1e9w", "-1d"])))
def test_any_db_url(tmp_path_factory, prefix, rest, since):
    if prefix == "sqlite:///":
        rest = str(tmp_path_factory.mktemp("db")) + "/" + rest  # never near a real file
    args = ["report", f"--db={prefix + rest}"]
    if since is not None:
        args.append(f"--since={since}")
    run_cli(args)


# -- the README's smaller things ---------------------------------------------------------------


def test_the_readme_part_example_is_the_shipped_file_and_works_as_written(run):
    import re

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = re.search(r"```yaml\n(# yaml-language-server: \$schema=\.\./\.\./parts/schema\.json\n.*?)```", readme,
                      re.S).group(1)
    shipped = ROOT / "examples" / "my-parts" / "my-winbond.yaml"
    assert shipped.read_text(encoding="utf-8") == block
    assert "jedec_manufacturer: 'ef'" in block  # the quoted form the README tells users to write
    cmd = re.search(r"\$ flashcheck (--parts examples/my-parts check \S+ --board \S+)", readme).group(1).split()
    cmd[1] = str(ROOT / cmd[1])
    code, out, err = run(*cmd)
    assert code == 0, out + err
    assert out.startswith("PASS")


@pytest.mark.parametrize("mid", ["'ef'", "'0xEF'", "0xEF", "239"])
def test_jedec_manufacturer_quoted_or_not(tmp_path, run, mid):
    d = tmp_path / "p"
    d.mkdir()
    text = (ROOT / "examples" / "my-parts" / "my-winbond.yaml").read_text(encoding="utf-8")
    (d / "w.yaml").write_text(text.replace("jedec_manufacturer: 'ef'", f"jedec_manufacturer: {mid}"))
    code, out, err = run("--parts", d, "check", "W25Q128JVSIQ", "--board", "imp003")
    assert code == 0, err


def test_the_readme_bom_example_is_shipped(run):
    import re

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    path = re.search(r"\$ flashcheck bom (\S+) --board", readme).group(1)
    assert (ROOT / path).is_file()
    code, out, err = run("bom", ROOT / path, "--board", "imp003")
    assert code == 0 and "1 flash lines: 1 pass" in out


def test_readme_first_command_works_on_a_pep668_python():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    first = readme.split("```sh\n", 1)[1].splitlines()[0]
    assert first.startswith("python3 -m venv .venv && .venv/bin/pip install .")
    assert "PEP 668" in readme and "pipx" in readme


def test_test_help_documents_the_sim_parameters(run):
    code, out, err = run("test", "--help")
    assert code == 0 and "fail_after=N" in out and "time_scale=F" in out
