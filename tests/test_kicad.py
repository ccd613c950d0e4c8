"""flashcheck bom on KiCad 6+ schematics and projects: hierarchical sheets
(one sheet file used twice), references per instance (KiCad 7+ `instances`
and KiCad 6 root `symbol_instances`), DNP and power symbols excluded and
counted, multi-unit symbols once, alternates in one field, and bad files as
one line with exit 2.

Fixtures (tests/data/kicad/) are written for these tests: `board/` is a
KiCad 8 project (root, a Flash sheet with the S25FL127S that failed the
imp003 as U3, a Power sheet placed twice with a two-unit LM358), `k6/` a
KiCad 6 schematic with the S25FL127S on a sub-sheet."""

from __future__ import annotations

import json
import shutil

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import DATA

KICAD = DATA / "kicad"
PRO = KICAD / "board" / "board.kicad_pro"
ROOT = KICAD / "board" / "board.kicad_sch"
K6 = KICAD / "k6" / "k6.kicad_sch"
FAIL_CODE = "S25FL127SABMFI101"


# the same private parts cache and `bom` runners as the CSV tests
from test_bom import _private_cache, bom, bom_json  # noqa: E402,F401  (fixtures)


def by_ref(data) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for r in data["results"]:
        out.setdefault(r["reference"], []).append(r)
    return out


@pytest.mark.parametrize("path", [PRO, ROOT])
def test_s25fl127s_on_sub_sheet_fails_naming_sheet_and_reference(bom_json, path):
    code, data = bom_json(path)
    assert code == 1
    u3 = by_ref(data)["U3"]
    assert [(r["query"], r["verdict"], r["sheet"], r["sheet_file"]) for r in u3] == [
        (FAIL_CODE, "fail", "/Flash/", "flash.kicad_sch")]
    assert u3[0]["reason"].startswith("erase 4 KiB")
    # the line is the symbol's own line in its sheet file
    lines = (KICAD / "board" / "flash.kicad_sch").read_text().splitlines()
    assert "0a000000-0000-4000-8000-000000000f01" in lines[u3[0]["line"] - 1]


def test_alternates_in_one_field_dnp_power_and_units(bom_json):
    _, data = bom_json(ROOT)
    refs = by_ref(data)
    assert sorted(refs) == ["U3", "U4"]  # U5 is DNP (an S25FL127S that would fail), #PWR are power
    assert [(r["query"], r["verdict"], r["cell"]) for r in refs["U4"]] == [
        ("W25Q128FVSIG", "pass", "W25Q128FVSIG / W25Q128JVSIQ"), ("W25Q128JVSIQ", "pass", "W25Q128FVSIG / W25Q128JVSIQ")]
    assert data["excluded"] == {"power symbols": 2, "DNP / not in BOM": 1, "extra units of multi-unit symbols": 2}
    # M1 (imp003 module) and the LM358 once per sheet instance (U10 on Power A, U11 on Power B)
    assert data["rows"] == 5 and data["skipped_non_flash"] == 3
    assert data["column"] == "Mfr. Part # / MPN"


def test_sheet_used_twice_gets_each_instance_reference(tmp_path, bom):
    out = tmp_path / "annotated.csv"
    code, _, err = bom(ROOT, "--csv", out)
    assert code == 1, err
    rows = [r.split(",")[:4] for r in out.read_text().splitlines()]
    assert rows[0] == ["Sheet", "Reference", "Value", "Mfr. Part # / MPN"]
    assert ["/Power A/", "U10", "LM358", "LM358DR"] in rows
    assert ["/Power B/", "U11", "LM358", "LM358DR"] in rows
    assert sum(1 for r in rows if r[1] == "U3") == 1


def test_kicad6_symbol_instances_and_in_bom(bom_json):
    code, data = bom_json(K6)
    assert code == 1
    (u7,) = data["results"]
    assert (u7["reference"], u7["sheet"], u7["query"], u7["verdict"]) == ("U7", "/Memory/", FAIL_CODE, "fail")
    assert data["excluded"] == {"power symbols": 1, "DNP / not in BOM": 1}


def test_table_html_and_column_option(tmp_path, bom):
    html = tmp_path / "r.html"
    code, out, err = bom(ROOT, "--html", html, "--column", "Mfr. Part #")
    assert code == 1, err
    assert "U3" in out and "/Flash/" in out and FAIL_CODE in out
    assert "not counted: 2 power symbols, 1 DNP / not in BOM" in " ".join(out.split())
    page = html.read_text()
    assert "U3 on /Flash/" in page and "Mfr. Part #" in page
    code, _, err = bom(ROOT, "--column", "Ordering Code")
    assert code == 2 and "no symbol has a field named 'Ordering Code'" in err


def _copy_board(tmp_path):
    dst = tmp_path / "b"
    shutil.copytree(KICAD / "board", dst)
    return dst


def one_line_error(result, *words):
    code, out, err = result
    assert code == 2, (code, out, err)
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and "Traceback" not in err, err
    for w in words:
        assert w in lines[0], lines[0]
    return lines[0]


def test_kicad5_and_older_formats(tmp_path, bom):
    one_line_error(bom(KICAD / "legacy.sch"), "legacy.sch:1:", "KiCad 5")
    old = tmp_path / "old.kicad_sch"
    old.write_text(ROOT.read_text().replace("(version 20231120)", "(version 20200310)"))
    one_line_error(bom(old), "old.kicad_sch:1: version: 20200310", "older than KiCad 6.0")
    eagle = tmp_path / "eagle.sch"
    eagle.write_text("<?xml version='1.0'?><eagle/>")
    one_line_error(bom(eagle), "eagle.sch:1: not a KiCad schematic")


def test_malformed_files(tmp_path, bom):
    d = _copy_board(tmp_path)
    text = (d / "flash.kicad_sch").read_text()
    (d / "flash.kicad_sch").write_text(text[: len(text) // 2])
    one_line_error(bom(d / "board.kicad_sch"), "flash.kicad_sch:", "never closed", "named by", "Sheetfile")
    (d / "flash.kicad_sch").write_text(text + ")")
    one_line_error(bom(d / "board.kicad_sch"), "unbalanced")
    (d / "flash.kicad_sch").unlink()
    one_line_error(bom(d / "board.kicad_sch"), "board.kicad_sch:", "flash.kicad_sch not found")
    (d / "board.kicad_pro").write_text("{not json")
    one_line_error(bom(d / "board.kicad_pro"), "board.kicad_pro:1: not a KiCad 6+ project")
    (d / "board.kicad_sch").write_bytes(b"(kicad_sch (version 20231120) (uuid \xff))")
    one_line_error(bom(d / "board.kicad_sch"), "not UTF-8")
    (d / "board.kicad_sch").write_text("(kicad_sch (version 20231120)" + "(a" * 5000 + ")" * 5001)
    one_line_error(bom(d / "board.kicad_sch"), "board.kicad_sch:1:")


def test_sheet_loop_refused(tmp_path, bom):
    d = _copy_board(tmp_path)
    text = (d / "flash.kicad_sch").read_text()
    loop = ('(sheet (uuid "0a000000-0000-4000-8000-00000000dead") (property "Sheetname" "Again") '
            '(property "Sheetfile" "board.kicad_sch"))\n)')
    (d / "flash.kicad_sch").write_text(text.rstrip()[:-1] + loop)
    one_line_error(bom(d / "board.kicad_sch"), "sheet includes itself")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cut=st.integers(min_value=0, max_value=len(ROOT.read_bytes())), junk=st.binary(max_size=40))
def test_any_damage_is_one_line_or_a_verdict(tmp_path_factory, run, cut, junk):
    """A schematic cut anywhere and with anything appended never raises:
    either it still reads (verdict exit codes) or one line, exit 2."""
    d = tmp_path_factory.mktemp("dmg")
    f = d / "x.kicad_sch"
    f.write_bytes(ROOT.read_bytes()[:cut] + junk)
    code, out, err = run("bom", f, "--board", "imp003", "--json")
    assert code in (0, 1, 2, 3)
    if code == 2:
        assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


# --------------------------------------------------------------------------
# Progress


@pytest.mark.parametrize("kind", ["kicad", "csv"])
def test_progress_reaches_total_and_only_grows(tmp_path, monkeypatch, kind):
    from flashcheck.app import App
    from flashcheck.workflows.bom import validate
    import importlib

    vmod = importlib.import_module("flashcheck.workflows.bom.validate")  # the module, not the function
    monkeypatch.setattr(vmod._Progress, "EVERY", 1)
    if kind == "csv":
        path = tmp_path / "b.csv"
        path.write_text("Ref,MPN\n" + "".join(f"R{i},RC0603FR-07{i}L\n" for i in range(500)) + f"U1,{FAIL_CODE}\n")
    else:
        path = ROOT
    seen: list[tuple[int, int | None]] = []
    app = App()
    report = validate(app, app.board("imp003"), path, progress=lambda d, t: seen.append((d, t)))
    done = [d for d, _ in seen]
    assert done == sorted(done) and len(seen) == report.rows + 1
    total = seen[-1][1]
    assert done[-1] == total and all(t == total for _, t in seen)
    assert total == (report.rows if kind == "kicad" else path.stat().st_size)


def test_progress_bar_only_on_a_terminal(monkeypatch, bom):
    import io

    from flashcheck.output import terminal

    with terminal.bar("x") as p:  # stderr of the tests is not a terminal
        assert p is None
    monkeypatch.setattr(terminal, "_stderr_is_terminal", lambda: True)
    with terminal.bar("x", show=False) as p:  # --json
        assert p is None
    monkeypatch.setattr("sys.stderr", io.StringIO())
    with terminal.bar("reading") as p:
        p(5, 10)
        p(10, 10)
    code, out, err = bom(ROOT, "--json")
    assert code == 1 and json.loads(out)["counts"]["fail"] == 1 and "reading" not in err
