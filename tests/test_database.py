"""Loading the data files: schema and semantic errors name file and line
(exit 2), order-code decoding, user directories overriding built-ins."""

import json
import shutil
import textwrap
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from flashcheck.data.database import PartsDB, normalise
from flashcheck.errors import InputError

DATA = Path(__file__).parent / "data"

GOOD = """\
manufacturer: Mine
jedec_manufacturer: 0x7D
families:
  - name: MY25Q128
    jedec_id: 7d4018
    capacity: 16 MiB
    voltage: {min: 2.7, max: 3.6}
    erase:
      - {opcode: 0x20, size: 4 KiB}
    datasheet: {title: mine, revision: A}
"""


def write(tmp_path: Path, text: str, name: str = "mine.yaml") -> Path:
    d = tmp_path / "parts"
    d.mkdir(exist_ok=True)
    (d / name).write_text(textwrap.dedent(text))
    return d


def load_error(tmp_path, text) -> str:
    d = write(tmp_path, text)
    with pytest.raises(InputError) as exc:
        PartsDB.load((d,))
    return str(exc.value)


def test_good_file_loads(tmp_path):
    db = PartsDB.load((write(tmp_path, GOOD),))
    assert db.resolve("MY25Q128").parts[0].capacity == 16 << 20


@pytest.mark.parametrize(
    "change,line,words",
    [
        (("capacity: 16 MiB", "capacity: lots"), 6, "'lots' is not valid here: expected a size"),
        (("voltage: {min: 2.7, max: 3.6}", "voltage: {min: 2.7}"), 7, "'max' is a required property"),
        (("    datasheet: {title: mine, revision: A}", "    datasheet: {title: mine, revision: A}\n    colour: red"), 11, "unknown field"),
        (("{opcode: 0x20, size: 4 KiB}", "{opcode: 0x20, size: 3 KiB}"), 9, "does not divide"),
        (("jedec_id: 7d4018", "jedec_id: ef4018"), 5, "does not start with the file's manufacturer ID"),
        (("{min: 2.7, max: 3.6}", "{min: 3.6, max: 2.7}"), 7, "above max"),
        (("capacity: 16 MiB", "capacity: 12 MiB"), 6, "power of two"),
    ],
)
def test_schema_and_semantic_errors_name_file_and_line(tmp_path, change, line, words):
    msg = load_error(tmp_path, GOOD.replace(*change))
    assert f"mine.yaml:{line}:" in msg, msg
    assert words in msg, msg
    assert "\n" not in msg


def test_yaml_syntax_error_names_line(tmp_path):
    msg = load_error(tmp_path, GOOD.replace("    capacity: 16 MiB", "    capacity: [16 MiB"))
    assert "mine.yaml:" in msg and "YAML syntax error" in msg
    assert int(msg.split("mine.yaml:")[1].split(":")[0]) >= 6


def test_bad_regex_and_regions(tmp_path):
    msg = load_error(tmp_path, GOOD.replace("    capacity:", "    order_codes:\n      - pattern: 'MY25Q128(['\n    capacity:"))
    assert "mine.yaml:7:" in msg and "does not compile" in msg
    hybrid = GOOD.replace(
        "- {opcode: 0x20, size: 4 KiB}",
        "- opcode: 0x20\n        regions: [{from: 0, to: 6 KiB, size: 4 KiB}]",
    )
    msg = load_error(tmp_path, hybrid)
    assert "not a whole number of aligned 4 KiB blocks" in msg
    overlap = GOOD.replace(
        "- {opcode: 0x20, size: 4 KiB}",
        "- opcode: 0x20\n        regions: [{from: 0, to: 64 KiB, size: 4 KiB}, {from: 32 KiB, to: 128 KiB, size: 32 KiB}]",
    )
    assert "overlap" in load_error(tmp_path, overlap)


def test_duplicate_family_in_one_directory(tmp_path):
    d = write(tmp_path, GOOD)
    (d / "again.yaml").write_text(GOOD)
    with pytest.raises(InputError, match="already defined at"):
        PartsDB.load((d,))


def test_cli_exit_2_on_bad_parts_file(run, tmp_path):
    d = write(tmp_path, GOOD.replace("capacity: 16 MiB", "capacity: lots"))
    code, out, err = run("--parts", d, "check", "--board", "generic-3v3", "W25Q128FVSIG")
    assert code == 2
    assert "mine.yaml:6:" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_cli_exit_2_on_bad_board(run, tmp_path):
    b = tmp_path / "b.yaml"
    b.write_text("name: b\ntitle: t\nsources: {s: {title: x}}\nrules:\n  - {rule: erase, sizes: [4 KiB], source: nope}\n")
    code, _, err = run("check", "--board", b, "W25Q128FVSIG")
    assert code == 2 and "b.yaml:5:" in err and "nope" in err
    code, _, err = run("check", "--board", "no-such-board", "W25Q128FVSIG")
    assert code == 2 and "unknown board" in err and "imp003" in err


def test_user_parts_override_builtin_family(run, tmp_path):
    # A user's W25Q128FV without 4 KiB erase must replace the built-in one.
    d = write(tmp_path, GOOD.replace("jedec_manufacturer: 0x7D", "jedec_manufacturer: 0xEF")
              .replace("MY25Q128", "W25Q128FV").replace("7d4018", "ef4018")
              .replace("{opcode: 0x20, size: 4 KiB}", "{opcode: 0xD8, size: 64 KiB}"))
    code, out, _ = run("--parts", d, "check", "--json", "--board", "imp003", "W25Q128FV")
    (r,) = json.loads(out)["results"]
    assert r["verdict"] == "fail"
    assert any("mine.yaml" in s for c in r["checks"] for s in c["sources"])


def test_user_board_overrides_builtin(run, tmp_path):
    d = tmp_path / "boards"
    d.mkdir()
    (d / "imp003.yaml").write_text(
        "name: imp003\ntitle: my imp003\nsources: {s: {title: x}}\nrules:\n  - {rule: capacity, max: 1 MiB, source: s}\n"
    )
    code, out, _ = run("--boards", d, "check", "--json", "--board", "imp003", "W25Q128FVSIG")
    (r,) = json.loads(out)["results"]
    assert [c["rule"] for c in r["checks"]][:3] == ["command set", "page program", "capacity"] and r["verdict"] == "fail"
    assert "erase 4 KiB" not in [c["rule"] for c in r["checks"]]  # the built-in imp003's rules are gone


def test_board_file_name_must_match(tmp_path, run):
    d = tmp_path / "boards"
    d.mkdir()
    (d / "x.yaml").write_text("name: y\ntitle: t\nsources: {s: {title: x}}\nrules:\n  - {rule: capacity, max: 1 MiB, source: s}\n")
    code, _, err = run("--boards", d, "boards")
    assert code == 2 and "x.yaml:1:" in err and "does not match the file name" in err


# -- order codes ------------------------------------------------------------

@pytest.fixture(scope="module")
def testdb():
    return PartsDB.load((DATA / "parts",))


def test_order_code_decodes_fields(testdb):
    m = testdb.resolve("tc25u128 wi t")
    assert m.how == "order code" and [p.name for p in m.parts] == ["TC25U128"]
    assert m.fields == {"package": "W", "temp": "I", "packing": "T"}


@pytest.mark.parametrize("suffix", ["-TR", "/TR", "(TR)", "-REEL"])
def test_distributor_packing_suffixes(testdb, suffix):
    m = testdb.resolve("TC25U128SI" + suffix)
    assert [p.name for p in m.parts] == ["TC25U128"]


def test_order_code_fixes_configuration(testdb):
    assert testdb.resolve("TC25H128BS").configurations == {"TC25H128": ("bottom",)}
    assert testdb.resolve("TC25H128XS").configurations == {}


def test_unknown_suffix_is_not_guessed(testdb):
    m = testdb.resolve("TC25U128QQ")  # family prefix, but the code does not decode
    assert m.parts == []
    assert m.suggestions[0] == "TC25U128"


def test_jedec_queries(testdb):
    assert {p.name for p in testdb.resolve("7E4018").parts} == {"TC25U128", "TC25V128"}
    assert [p.name for p in testdb.resolve("0x7e401801").parts] == ["TC25V128"]
    assert testdb.resolve("7e9999").parts == []


def test_normalise():
    assert normalise(" w25q128 jv siq ") == "W25Q128JVSIQ"


@pytest.mark.parametrize(
    "pattern,prefix",
    [
        ("W25Q128JV(?P<p>S)", "W25Q128JV"),
        ("MX25L12835F?M", "MX25L12835"),
        ("w25q[12]", "W25Q"),
        ("W25Q128JV|W25Q128FV", ""),
        ("(A|B)25", ""),
        (r"AT25SF\-128", "AT25SF"),
    ],
)
def test_literal_prefix(pattern, prefix):
    from flashcheck.data.parts import literal_prefix

    assert literal_prefix(pattern) == prefix


@given(st.from_regex(r"[A-Z0-9]{2,6}(\?|\*|\{1,2\}|\||\(|\[AB\]|)[A-Z0-9()|?]{0,6}", fullmatch=True), st.text("ABCDEFG0123456789", max_size=12))
def test_prefix_filter_never_hides_a_match(pattern, code):
    """Skipping patterns by literal prefix must never skip one that matches."""
    import re

    from flashcheck.data.parts import OrderCode

    try:
        rx = re.compile(pattern, re.IGNORECASE)
    except re.error:
        return
    oc = OrderCode(pattern)
    for candidate in (code, pattern.replace("?", "").replace("*", "")[:8] + code):
        assert bool(oc.fullmatch(candidate)) == bool(rx.fullmatch(candidate))
