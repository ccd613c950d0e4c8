"""flashcheck bom: reading BOM exports, picking the flash lines, verdicts
as `flashcheck check` gives them, alternates, and the --csv / --html
outputs.

Codes used: W25Q128FVSIG (passes imp003) and S25FL127SABMFI101 (fails
imp003: 4 KB erase only in parameter sectors).  Everything else is compared
with what `flashcheck check` says for the same code, so the tests hold as
more families are added to parts/."""

from __future__ import annotations

import csv
import io
import json
import re

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from flashcheck.output.text import inert
from flashcheck.workflows.bom import (
    CsvOut,
    FlashFilter,
    guess_capacity,
    package_key,
    split_cell,
    voltage_class,
)

PASS_CODE = "W25Q128FVSIG"
FAIL_CODE = "S25FL127SABMFI101"
UNKNOWN_CODE = "W25Q12XJVSIQ"  # looks like a W25Q order code, is none
BOARD = "imp003"

KICAD_HEADER = ["Reference", "Value", "Footprint", "Datasheet", "Manufacturer", "MPN", "Description", "Qty"]


@pytest.fixture(scope="module", autouse=True)
def _private_cache(tmp_path_factory):
    """A validated-parts cache of this module's own (not the user's), so
    each CLI run does not validate every YAML file again."""
    mp = pytest.MonkeyPatch()
    mp.setenv("FLASHCHECK_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))
    yield
    mp.undo()


@pytest.fixture
def bom(run):
    def _bom(path, *args):
        return run("bom", path, "--board", BOARD, *args)

    return _bom


@pytest.fixture
def bom_json(bom):
    def _bom_json(path, *args):
        code, out, err = bom(path, "--json", *args)
        assert code in (0, 1, 3), err
        return code, json.loads(out)

    return _bom_json


@pytest.fixture(scope="module")
def check_results():
    """`flashcheck check --json` for codes, through the CLI."""
    from click.testing import CliRunner

    from flashcheck.cli import main

    cache: dict[str, dict] = {}

    def _check(*codes: str) -> list[dict]:
        todo = [c for c in codes if c not in cache]
        if todo:
            res = CliRunner().invoke(main, ["check", "--json", "--board", BOARD, *todo], catch_exceptions=False)
            for c, r in zip(todo, json.loads(res.stdout)["results"]):
                cache[c] = r
        return [cache[c] for c in codes]

    return _check


def write_csv(path, rows, delimiter=",", bom=False, quoting=csv.QUOTE_MINIMAL):
    with open(path, "w", newline="", encoding="utf-8-sig" if bom else "utf-8") as f:
        csv.writer(f, delimiter=delimiter, quoting=quoting).writerows(rows)
    return path


def kicad_rows():
    return [
        KICAD_HEADER,
        ["C1,C2,C3", "100nF", "Capacitor_SMD:C_0402", "~", "Murata", "GRM155R71C104KA88D", "Capacitor; ceramic", "3"],
        ["U1", "W25Q128", "Package_SO:SOIC-8", "", "Winbond", PASS_CODE, "SPI NOR flash", "1"],
        ["U2", "S25FL127S", "Package_SO:SOIC-8", "", "Cypress", FAIL_CODE, "Serial flash", "1"],
        ["U3", "TLV70033", "SOT-23-5", "", "TI", "TLV70033DDCR", "LDO 3.3 V", "1"],
        ["U4", "STM32", "LQFP-64", "", "ST", "STM32F401RCT6", "IC MCU 32BIT 256KB FLASH 64LQFP", "1"],
        ["R1", "10k", "R_0402", "", "Yageo", "RC0402FR-0710KL", "RES 10K", "1"],
    ]


def by_line(data):
    return {(r["line"], r["query"]): r for r in data["results"]}


# --------------------------------------------------------------------------
# Formats


@pytest.mark.parametrize(
    "delimiter,bom_mark,suffix",
    [(",", False, ".csv"), (";", False, ".csv"), ("\t", False, ".tsv"), (",", True, ".csv"), (";", True, ".csv"),
     ("\t", True, ".txt")],
    ids=["comma", "semicolon", "tsv", "comma-utf8-bom", "semicolon-utf8-bom", "tsv-utf8-bom"],
)
def test_csv_variants(tmp_path, bom_json, delimiter, bom_mark, suffix):
    path = write_csv(tmp_path / f"bom{suffix}", kicad_rows(), delimiter, bom_mark)
    code, data = bom_json(path)
    assert code == 1  # FAIL_CODE fails
    assert data["column"] == "MPN"
    assert [(r["line"], r["query"], r["verdict"]) for r in data["results"]] == [
        (3, PASS_CODE, "pass"), (4, FAIL_CODE, "fail")]
    assert data["skipped_non_flash"] == 4  # capacitor, LDO, MCU with "FLASH" in its description, resistor
    assert data["rows"] == 6


def test_quoted_fields_with_separators_and_newlines(tmp_path, bom_json):
    rows = [
        KICAD_HEADER,
        ["C1,\nC2", "100nF", "C_0402", "", "Murata", "GRM155R71C104KA88D", 'Capacitor, "X7R",\nsecond line', "2"],
        ["U1", "flash", "SOIC-8", "", "Winbond", PASS_CODE, "SPI NOR flash,\n128 Mbit; quad", "1"],
        ["U2", "flash", "SOIC-8", "", "Cypress", FAIL_CODE, "x", "1"],
    ]
    path = write_csv(tmp_path / "quoted.csv", rows, quoting=csv.QUOTE_ALL)
    text = path.read_text()
    assert text.count("\n") > len(rows)  # the embedded newlines are really there
    _, data = bom_json(path)
    # line = the line in the file where the row starts (header = 1)
    # row 2 spans lines 2-4 (two embedded newlines), row 3 lines 5-6, row 4 line 7
    assert [(r["line"], r["query"]) for r in data["results"]] == [(5, PASS_CODE), (7, FAIL_CODE)]
    assert data["skipped_non_flash"] == 1


def test_xlsx(tmp_path, bom_json):
    openpyxl = pytest.importorskip("openpyxl")
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["Bill of Materials - Altium"])  # title row above the header
    ws.append([])
    ws.append(["Designator", "Comment", "Manufacturer 1", "Manufacturer Part Number 1", "Quantity"])
    ws.append(["C1, C2", "100n", "Murata", "GRM155R71C104KA88D", 2])
    ws.append(["U1", "Flash", "Winbond", PASS_CODE, 1])
    ws.append(["R1", "10k", "Yageo", 12345, 1])  # a number in the code column
    ws.append(["U2", "Flash", "Cypress", FAIL_CODE, 1])
    path = tmp_path / "altium.xlsx"
    wb.save(path)
    code, data = bom_json(path)
    assert code == 1
    assert data["column"] == "Manufacturer Part Number 1"
    assert data["header_line"] == 3
    assert [(r["line"], r["query"], r["verdict"]) for r in data["results"]] == [
        (5, PASS_CODE, "pass"), (7, FAIL_CODE, "fail")]
    assert data["skipped_non_flash"] == 2


def test_title_lines_above_header_and_utf16(tmp_path, bom_json):
    text = "Source: board.kicad_sch\nDate: today\n\n" + "\t".join(["Ref", "Mfr. Part #", "Qty"]) + "\n" + f"U1\t{PASS_CODE}\t1\n"
    path = tmp_path / "excel-unicode.txt"
    path.write_bytes(text.encode("utf-16"))  # Excel's "Unicode text": UTF-16 with BOM, tabs
    _, data = bom_json(path)
    assert data["header_line"] == 4
    assert [(r["line"], r["query"]) for r in data["results"]] == [(5, PASS_CODE)]


@pytest.mark.parametrize(
    "header",
    ["MPN", "Manufacturer Part Number", "Mfr. Part #", "Part Number", "MANUFACTURER_PART_NUMBER", "mfr part no",
     "Mfg P/N", "Manufacturer Part Number 1", "MPN1", "Mfr. #", "Manufacturer Part #", " mpn "],
)
def test_header_variants(tmp_path, bom_json, header):
    path = write_csv(tmp_path / "h.csv", [["Ref", "Value", header, "Qty"], ["U1", "x", PASS_CODE, "1"], ["R1", "1k", "RC0402", "1"]])
    _, data = bom_json(path)
    assert data["column"] == header
    assert [r["query"] for r in data["results"]] == [PASS_CODE]


def test_mpn_preferred_over_part_number(tmp_path, bom_json):
    # "Part Number" is often the company's internal number; MPN wins
    path = write_csv(tmp_path / "h.csv", [["Part Number", "MPN"], ["ACME-0001", PASS_CODE]])
    _, data = bom_json(path)
    assert data["column"] == "MPN"
    assert [r["query"] for r in data["results"]] == [PASS_CODE]


def test_column_option(tmp_path, bom_json, bom):
    rows = [["Ref", "MPN", "Second Source"], ["U1", PASS_CODE, FAIL_CODE], ["U2", "TLV70033DDCR", ""]]
    path = write_csv(tmp_path / "c.csv", rows)
    code, data = bom_json(path)
    assert code == 0 and [r["query"] for r in data["results"]] == [PASS_CODE]
    code, data = bom_json(path, "--column", "second source")  # case and punctuation ignored
    assert code == 1 and data["column"] == "Second Source"
    assert [r["query"] for r in data["results"]] == [FAIL_CODE]
    code, out, err = bom(path, "--column", "Vendor PN")
    assert code == 2
    assert f"{path}:1:" in err and "Vendor PN" in err


def test_value_column_as_last_resort(tmp_path, bom_json):
    # KiCad's plain export: no MPN column, the order code is the Value
    rows = [["Reference", "Value", "Footprint"], ["C1", "100nF", "C_0402"], ["U1", PASS_CODE, "SOIC-8"]]
    _, data = bom_json(write_csv(tmp_path / "k.csv", rows))
    assert data["column"] == "Value"
    assert [(r["line"], r["query"]) for r in data["results"]] == [(3, PASS_CODE)]


# --------------------------------------------------------------------------
# Lines


@pytest.mark.parametrize("sep", [" / ", ",", "; ", " or ", "\n"])
def test_alternates_in_one_cell(tmp_path, bom_json, sep):
    path = write_csv(tmp_path / "a.csv", [["Ref", "MPN"], ["U1", f"{PASS_CODE}{sep}{FAIL_CODE}"]])
    code, data = bom_json(path)
    assert code == 1
    assert [(r["line"], r["query"], r["verdict"]) for r in data["results"]] == [(2, PASS_CODE, "pass"), (2, FAIL_CODE, "fail")]


def test_non_flash_lines_counted_not_reported(tmp_path, bom_json):
    rows = [["Ref", "MPN", "Description"]] + [[f"R{i}", f"RC0402FR-07{i}KL", "RES"] for i in range(30)]
    rows += [["U1", "AP2112K-3.3TRG1", "IC REG LINEAR 3.3V"], ["U2", "", ""], ["U3", PASS_CODE, ""]]
    code, data = bom_json(write_csv(tmp_path / "n.csv", rows))
    assert code == 0
    assert data["skipped_non_flash"] == 31
    assert data["empty"] == 1
    assert [r["query"] for r in data["results"]] == [PASS_CODE]


def test_description_marks_unknown_prefix_as_flash(tmp_path, bom_json):
    rows = [["Ref", "MPN", "Description"], ["U1", "ZZ99X128", "128Mbit SPI NOR flash"], ["U2", "ZZ99X128", "LDO"]]
    code, data = bom_json(write_csv(tmp_path / "d.csv", rows))
    assert code == 3
    assert [(r["line"], r["verdict"]) for r in data["results"]] == [(2, "unknown")]


def test_unknown_flash_code_with_suggestions(tmp_path, bom_json, check_results):
    code, data = bom_json(write_csv(tmp_path / "u.csv", [["MPN"], [UNKNOWN_CODE]]))
    assert code == 3
    (r,) = data["results"]
    assert r["verdict"] == "unknown" and r["part"] is None
    assert r["suggestions"], "a flash-like unknown code gets did-you-mean names"
    assert "did you mean" in r["reason"]
    assert all(s in r["reason"] for s in r["suggestions"])
    assert r["verdict"] == check_results(UNKNOWN_CODE)[0]["verdict"]


def test_same_verdict_as_check(tmp_path, bom_json, check_results):
    codes = [PASS_CODE, FAIL_CODE, UNKNOWN_CODE, "W25Q128JVSIQ", "MX25L12835FM2I-10G", "W25Q64JVSSIQ", "S25FL128SAGMFI001"]
    rows = [["Ref", "Manufacturer Part Number"]] + [[f"U{i}", c] for i, c in enumerate(codes)]
    _, data = bom_json(write_csv(tmp_path / "s.csv", rows))
    got = {r["query"]: r for r in data["results"]}
    assert list(got) == codes
    for want in check_results(*codes):
        r = got[want["query"]]
        for key, value in want.items():  # every field of check --json, same value
            assert r[key] == value, (want["query"], key)
        assert "line" in r and "alternates" in r


def test_exit_codes(tmp_path, bom):
    assert bom(write_csv(tmp_path / "p.csv", [["MPN"], [PASS_CODE]]))[0] == 0
    assert bom(write_csv(tmp_path / "f.csv", [["MPN"], [PASS_CODE], [FAIL_CODE], [UNKNOWN_CODE]]))[0] == 1
    assert bom(write_csv(tmp_path / "u.csv", [["MPN"], [PASS_CODE], [UNKNOWN_CODE]]))[0] == 3
    assert bom(write_csv(tmp_path / "none.csv", [["MPN"], ["RC0402FR-0710KL"]]))[0] == 3  # no flash: never a pass


def test_table_output(tmp_path, bom):
    code, out, err = bom(write_csv(tmp_path / "t.csv", kicad_rows()))
    assert code == 1
    assert PASS_CODE in out and FAIL_CODE in out
    assert "FAIL" in out and "PASS" in out
    assert "4 non-flash lines skipped" in out


# --------------------------------------------------------------------------
# Alternates


def test_alternates_for_failing_line_pass_and_match(tmp_path, bom_json, check_results):
    from flashcheck.app import App

    _, data = bom_json(write_csv(tmp_path / "f.csv", [["MPN"], [FAIL_CODE], [PASS_CODE]]))
    fail, ok = data["results"]
    assert ok["alternates"] == []
    alts = fail["alternates"]
    assert alts, "W25Q128FV at least is a 16 MiB 3 V part that passes imp003"
    assert "W25Q128FV" in [a["name"] for a in alts]
    app = App()
    failing = app.resolve(FAIL_CODE).parts[0]
    for a, res in zip(alts, check_results(*[a["name"] for a in alts])):
        assert res["verdict"] == "pass", a["name"]
        (p,) = [p for p in app.parts.parts if p.name == a["name"]]
        assert p.capacity == failing.capacity
        assert voltage_class(p.voltage) in (voltage_class(failing.voltage), "wide")
        assert a["package_checked"] or "package unchecked" in a["note"]


def test_alternates_keep_package():
    """A line whose order code decodes a package gets alternates in that
    package (same type, pins, body) or with no package table; never one
    whose table lacks it."""
    from flashcheck.app import App
    from flashcheck.rules import FAIL, Result
    from flashcheck.workflows.bom import Alternates

    app = App()
    board = app.board(BOARD)
    match = app.resolve("W25Q128JVSIQ")
    ref = match.parts[0]
    pkg_code = match.fields["package"]
    want = package_key(ref.fields["package"][pkg_code])
    # judged as if it had failed, to get its alternates
    alts, basis = Alternates(app, board).for_result(Result("W25Q128JVSIQ", FAIL, ref, [], [ref], match))
    assert "package" in basis
    assert any(a.package_checked for a in alts)
    names = {a.name for a in alts}
    for a in alts:
        if a.package_checked:
            assert package_key(a.package.split(" (", 1)[1][:-1]) == want
    for p in Alternates(app, board).passing():
        table = p.fields.get("package") or {}
        if p.capacity == ref.capacity and table and p.name != ref.name and voltage_class(p.voltage) == "3 V":
            offered = any(package_key(d) == want for d in table.values())
            assert (p.name in names) == offered, p.name


def test_package_key_and_voltage_class():
    assert package_key("SOIC-8 208-mil") == package_key("8-SOP 200-mil") == package_key("SOP-8 208-mil")
    assert package_key("WSON-8 6x5 mm") == package_key("8-WSON 6x5 mm")
    assert package_key("SOIC-8 150-mil") != package_key("SOIC-8 208-mil")
    assert package_key("WSON-8 6x5 mm") != package_key("WSON-8 8x6 mm")
    assert voltage_class((2.7, 3.6)) == "3 V"
    assert voltage_class((1.65, 1.95)) == "1.8 V"
    assert voltage_class((1.65, 3.6)) == "wide"


def test_guess_capacity():
    assert guess_capacity("W25Q128ZZZZ") == 16 << 20
    assert guess_capacity("GD25Q64XYZ") == 8 << 20
    assert guess_capacity("MX25L25699ZZ") == 32 << 20
    assert guess_capacity("TLV70033") is None


# --------------------------------------------------------------------------
# --csv output


FORMULAS = ["=1+2", "+cmd|' /C calc'!A0", "-2+3", "@SUM(A1:A2)", "\tTAB", "\rCR", "=HYPERLINK(\"http://x\")"]


def test_csv_output_annotated_and_inert(tmp_path, bom):
    rows = [["Ref", "MPN", "Note"], ["U1", PASS_CODE, FORMULAS[0]], ["U2", FAIL_CODE, FORMULAS[1]]]
    rows += [[f"X{i}", "RC0402FR-0710KL", f] for i, f in enumerate(FORMULAS[2:])]
    rows += [["=cmd", UNKNOWN_CODE, "plain"]]
    src = write_csv(tmp_path / "in.csv", rows)
    out = tmp_path / "out.csv"
    code, _, err = bom(src, "--csv", out)
    assert code == 1, err
    with open(out, newline="", encoding="utf-8") as f:
        back = list(csv.reader(f))
    assert back[0] == rows[0] + ["flashcheck verdict", "flashcheck reason", "flashcheck alternates"]
    assert len(back) == len(rows)
    for orig, got in zip(rows[1:], back[1:]):
        assert got[:3] == [inert(c) for c in orig]
        for cell in got:
            assert not cell.startswith(("=", "+", "-", "@", "\t", "\r")), cell
    assert back[1][3] == "pass" and back[2][3] == "fail" and back[-1][3] == "unknown"
    assert back[-1][0] == "'=cmd"
    assert "W25Q128FV" in back[2][5]  # an alternate named for the failing line
    assert back[3][3:] == ["", "", ""]  # non-flash lines: nothing added


def test_csv_output_keeps_delimiter_and_bom(tmp_path, bom):
    src = write_csv(tmp_path / "in.csv", [["Ref", "MPN"], ["U1", PASS_CODE]], delimiter=";", bom=True)
    out = tmp_path / "out.csv"
    assert bom(src, "--csv", out)[0] == 0
    raw = out.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    lines = raw.decode("utf-8-sig").splitlines()
    assert lines[0] == "Ref;MPN;flashcheck verdict;flashcheck reason;flashcheck alternates"
    assert lines[1].startswith(f"U1;{PASS_CODE};pass;")


_cells = st.lists(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=20), min_size=1, max_size=6)


@settings(max_examples=200, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(_cells, min_size=1, max_size=8), delimiter=st.sampled_from([",", ";", "\t"]))
def test_csv_writer_roundtrip_is_inert(tmp_path, rows, delimiter):
    path = tmp_path / "w.csv"
    out = CsvOut(path, delimiter)
    for r in rows:
        out.row(r)
    out.commit()
    with open(path, newline="", encoding="utf-8") as f:
        back = list(csv.reader(f, delimiter=delimiter))
    assert back == [[inert(c) for c in r] for r in rows]
    for r in back:
        for c in r:
            assert not c.startswith(("=", "+", "-", "@", "\t", "\r"))


@given(st.text(max_size=30))
@example("@SUM(A1)")
@example("=1")
@example("+1")
@example("-1")
@example("\tx")
@example("\rx")
@example("a=1")
def test_inert(cell):
    out = inert(cell)
    assert not out.startswith(("=", "+", "-", "@", "\t", "\r"))
    assert out == cell or out == "'" + cell


_any_cell = st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=25)


@settings(max_examples=150, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(st.lists(_any_cell, min_size=3, max_size=3), max_size=10),
       delimiter=st.sampled_from([",", ";", "\t"]), bom=st.booleans())
def test_csv_reader_roundtrip(tmp_path, rows, delimiter, bom):
    """Whatever a csv writer produces (quotes, separators, newlines inside
    fields), the reader gives back the same cells, with the line each row
    starts on."""
    from flashcheck.workflows.bom import open_bom

    path = write_csv(tmp_path / "r.csv", [["Ref", "MPN", "Note"], *rows], delimiter, bom)
    sheet = open_bom(path, delimiter=delimiter)
    try:
        got = list(sheet.rows)
    finally:
        sheet.close()
    assert sheet.header == ["Ref", "MPN", "Note"] and sheet.column == 1
    assert [r for _, r in got] == rows
    expected, line = [], 2
    for r in rows:  # each record takes as many lines as it has newlines (terminator included)
        buf = io.StringIO()
        csv.writer(buf, delimiter=delimiter).writerow(r)
        expected.append(line)
        line += buf.getvalue().count("\n")
    assert [ln for ln, _ in got] == expected


# --------------------------------------------------------------------------
# Cell splitter

_code = st.from_regex(r"[A-Z][A-Z0-9]{3,14}(-[A-Z0-9]{1,4})?", fullmatch=True)


@given(codes=st.lists(_code, min_size=1, max_size=5, unique=True),
       seps=st.lists(st.sampled_from([",", ";", "/", " / ", " , ", ";\n", " or ", " OR ", "|"]), min_size=4, max_size=4))
def test_split_cell_recovers_codes(codes, seps):
    cell = codes[0]
    for i, c in enumerate(codes[1:]):
        cell += seps[i % len(seps)] + c
    assert split_cell(f"  {cell}  ") == codes


@given(st.text(max_size=60))
def test_split_cell_pieces_are_clean(cell):
    pieces = split_cell(cell)
    assert len(pieces) == len(set(pieces))
    for p in pieces:
        assert p and p == p.strip()
        assert not re.search(r"[,;|\n\r]", p)


def test_split_cell_keeps_packing_suffix():
    assert split_cell("MX25L1606EM1I-12G/TR") == ["MX25L1606EM1I-12G/TR"]
    assert split_cell("W25Q128JVSIQ/T&R / GD25Q128ESIG") == ["W25Q128JVSIQ/T&R", "GD25Q128ESIG"]
    assert split_cell("") == []


def test_flash_filter():
    f = FlashFilter(("W25Q128FV",))
    assert f("W25Q128JVSIQ") and f("mx25l12835fm2i-10g") and f("S25FL127SABMFI101")
    assert f("AT25SF128A-SHB-T") and not f("AT25010B-SSHL-T")  # AT25 flash vs AT25 EEPROM
    assert not f("GRM155R71C104KA88D") and not f("TLV70033DDCR")
    assert not f("STM32F401RCT6", "ST", "IC MCU 32BIT 256KB FLASH 64LQFP")
    assert f("ABC123", "", "SPI NOR flash 64 Mbit") and f("ABC123", "", "serial flash")
    assert f("XY25Q64", "Winbond") and not f("W9812G6KH", "Winbond")


# --------------------------------------------------------------------------
# --html output


def test_html_report(tmp_path, bom):
    rows = [["Ref", "MPN", "Description"], ["U1", PASS_CODE, "<b>bold</b>"], ["U2", FAIL_CODE, ""],
            ["U3", "<script>alert(1)", "SPI NOR flash <script>alert(2)</script>"],
            ["U4", UNKNOWN_CODE, ""]]
    out = tmp_path / "r.html"
    code, _, err = bom(write_csv(tmp_path / "h.csv", rows), "--html", out)
    assert code == 1, err
    html = out.read_text(encoding="utf-8")
    assert "<script" not in html.lower()  # nothing from the BOM runs
    assert "&lt;script&gt;alert(1)" in html
    assert html.count("<svg") >= 2  # one erase map per identified part (S25FL127S has three configurations)
    for name in ("W25Q128FV", "S25FL127S"):
        assert f"id='part-{name}'" in html
        section = html.split(f"id='part-{name}'", 1)[1].split("<h3", 1)[0]
        assert "<svg" in section and "0x000000" in section  # drawn, with addresses
    assert re.search(r"<b>\d+</b> flash lines", html)
    assert 'src="http' not in html and "<link" not in html  # self-contained


def test_erase_map_svg_labels_regions():
    from flashcheck.app import App
    from flashcheck.output.html import erase_map_svg

    part = App().resolve(FAIL_CODE).parts[0]
    lay = part.layouts[0]
    svg = erase_map_svg(lay, part.capacity)
    assert svg.startswith("<svg") and svg.endswith("</svg>")
    sizes = {s for op in lay.erase for s in op.sizes}
    assert svg.count("<rect") >= len(sizes)  # one bar (at least one rect) per erase size
    labels = re.findall(r"<text[^>]*>([^<]*)</text>", svg)
    assert "0x010000" in labels  # the end of the parameter sectors is labelled
    assert "0x000000" in labels and any(t.endswith("end") for t in labels)


# --------------------------------------------------------------------------
# Bad input: exit 2, file and line named


def _err(bom, path, *args):
    code, out, err = bom(path, *args)
    assert code == 2, (out, err)
    return err


def test_no_header(tmp_path, bom):
    path = write_csv(tmp_path / "nh.csv", [["U1", PASS_CODE, "1"], ["U2", FAIL_CODE, "1"]])
    err = _err(bom, path)
    assert f"{path}:1:" in err and "header" in err and "MPN" in err


def test_no_mpn_column(tmp_path, bom):
    path = write_csv(tmp_path / "nc.csv", [["Reference", "Qty", "Footprint"], ["U1", "1", "SOIC-8"]])
    err = _err(bom, path)
    assert f"{path}:1:" in err and "'Reference'" in err


def test_empty_file(tmp_path, bom):
    path = tmp_path / "empty.csv"
    path.write_bytes(b"")
    assert f"{path}:1:" in _err(bom, path)


def test_binary_garbage(tmp_path, bom):
    path = tmp_path / "garbage.csv"
    path.write_bytes(bytes(range(256)) * 8)
    err = _err(bom, path)
    assert f"{path}:1:" in err and "binary" in err


def test_not_utf8(tmp_path, bom):
    path = tmp_path / "latin1.csv"
    path.write_bytes(f"Ref,MPN\nU1,{PASS_CODE}\nR1,10k \xb5\n".encode("latin-1"))
    err = _err(bom, path)
    assert f"{path}:3:" in err and "UTF-8" in err


def test_unreadable_paths(tmp_path, bom):
    missing = tmp_path / "nope.csv"
    assert f"{missing}:1:" in _err(bom, missing)
    assert f"{tmp_path}:1:" in _err(bom, tmp_path)


def test_malformed_rows(tmp_path, bom):
    extra = tmp_path / "extra.csv"
    extra.write_text(f"Ref,MPN,Qty\nU1,{PASS_CODE},1\nC1,C2,100nF,GRM155,2\n")
    err = _err(bom, extra)
    assert f"{extra}:3:" in err and "expected 3 fields" in err
    unterminated = tmp_path / "quote.csv"
    unterminated.write_text(f'Ref,MPN\nU1,{PASS_CODE}\nU2,"W25Q64\nU3,x\n')
    err = _err(bom, unterminated)
    assert f"{unterminated}:3:" in err and "malformed" in err


def test_corrupt_xlsx_and_xls(tmp_path, bom):
    x = tmp_path / "broken.xlsx"
    x.write_bytes(b"PK\x03\x04" + b"\x00garbage" * 50)
    err = _err(bom, x)
    assert f"{x}:1:" in err and "xlsx" in err
    xls = tmp_path / "old.xls"
    xls.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 100)
    assert f"{xls}:1:" in _err(bom, xls)


def test_memory_is_streamed(tmp_path):
    """Rows come from a generator: reading stops where the caller stops."""
    from flashcheck.workflows.bom import open_bom

    path = tmp_path / "big.csv"
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["Ref", "MPN"])
        for i in range(5000):
            w.writerow([f"R{i}", "RC0402FR-0710KL"])
        f.write('U1,"never closed\n')
    sheet = open_bom(path)
    first = [next(sheet.rows) for _ in range(3)]
    sheet.close()
    assert [ln for ln, _ in first] == [2, 3, 4]  # the malformed tail was never read


def test_csv_output_not_left_half_written(tmp_path, bom):
    src = tmp_path / "bad.csv"
    src.write_text(f"Ref,MPN\nU1,{PASS_CODE}\nU2,x,extra\n")
    out = tmp_path / "out.csv"
    assert bom(src, "--csv", out)[0] == 2
    assert not out.exists() and not (tmp_path / "out.csv.part").exists()
    good = write_csv(tmp_path / "good.csv", [["MPN"], [PASS_CODE]])
    err = _err(bom, good, "--csv", good)  # would overwrite its own input
    assert "overwrite" in err
    assert good.read_text().splitlines() == ["MPN", PASS_CODE]


def test_csv_output_rerun_replaces_its_columns(tmp_path, bom):
    first = tmp_path / "first.csv"
    src = write_csv(tmp_path / "in.csv", [["Ref", "MPN"], ["U1", FAIL_CODE], ["R1", "RC0402FR-0710KL"]])
    assert bom(src, "--csv", first)[0] == 1
    second = tmp_path / "second.csv"
    assert bom(first, "--csv", second)[0] == 1
    a = list(csv.reader(open(first, newline="", encoding="utf-8")))
    b = list(csv.reader(open(second, newline="", encoding="utf-8")))
    assert a == b and len(b[0]) == 5


def test_alternates_for_wrong_voltage_class(tmp_path, bom_json):
    """A 1.8 V part on a 3.3 V board: alternates of the same capacity that
    run at 3.3 V, not 1.8 V ones (which could never pass)."""
    from flashcheck.app import App

    app = App()
    low = [p for p in app.parts.parts if p.curated and p.voltage and p.voltage[1] < 2.5 and p.capacity == 16 << 20]
    if not low:
        pytest.skip("no 16 MiB 1.8 V family in parts/")
    _, data = bom_json(write_csv(tmp_path / "v.csv", [["MPN"], [low[0].name]]))
    (r,) = data["results"]
    assert r["verdict"] == "fail"
    assert any(c["rule"] == "voltage" and c["ok"] is False for c in r["checks"])
    names = [a["name"] for a in r["alternates"]]
    assert "W25Q128FV" in names
    assert all(a["voltage_class"] in ("3 V", "wide") for a in r["alternates"])


# --------------------------------------------------------------------------
# Hostile and mistaken BOMs (issue 14)


def test_no_flash_line_is_unknown_not_pass(tmp_path, bom):
    code, out, err = bom(write_csv(tmp_path / "n.csv", [["Ref", "MPN"], ["R1", "RC0402FR-0710KL"], ["C1", "GRM155"]]))
    assert code == 3
    assert "PASS" not in out and "UNKNOWN" in out
    assert "no flash part found in column 'MPN'" in out and "--column" in out


def test_empty_order_code_column_is_unknown(tmp_path, bom_json):
    rows = [["Ref", "MPN", "Value"], ["U1", "", PASS_CODE], ["U2", "", "10k"]]
    code, data = bom_json(write_csv(tmp_path / "e.csv", rows))
    assert code == 3
    assert data["verdict"] == "unknown" and "--column" in data["reason"] and data["empty"] == 2


@pytest.mark.parametrize("evil", ["\x1b[2J\x1b[H", "\x1b[31m", "\x1b]0;title\x07", "\x08\x08", "\x9b2J", "\u202e"])
def test_table_never_prints_control_characters_from_cells(tmp_path, bom, evil):
    rows = [["Ref", "MPN", "Manufacturer", "Description"],
            ["U1", f"{evil}{PASS_CODE}", f"Winbond{evil}", f"SPI NOR flash{evil}"],
            ["U2", f"W25Q12X{evil}JVSIQ", "Winbond", "flash"]]
    code, out, err = bom(write_csv(tmp_path / "a.csv", rows))
    assert code in (1, 3)
    for bad in ("\x1b", "\x07", "\x08", "\x9b", "\u202e"):
        assert bad not in out
    assert "\\x1b" in out or "\\x08" in out or "\\x9b" in out or "\\u202e" in out  # shown, not dropped


def test_classic_mac_cr_only_line_ends(tmp_path, bom_json):
    p = tmp_path / "mac.csv"
    p.write_bytes(f"Ref,MPN\rU1,{PASS_CODE}\rU2,{FAIL_CODE}\r".encode())
    code, data = bom_json(p)
    assert code == 1
    assert [(r["line"], r["verdict"]) for r in data["results"]] == [(2, "pass"), (3, "fail")]


@pytest.mark.parametrize("encoding", ["utf-16-le", "utf-16-be"])
def test_utf16_without_a_byte_order_mark_is_read(tmp_path, bom_json, encoding):
    p = tmp_path / "u.csv"
    p.write_bytes(f"Ref,MPN\nU1,{PASS_CODE}\n".encode(encoding))
    code, data = bom_json(p)
    assert code == 0 and [r["query"] for r in data["results"]] == [PASS_CODE]


def test_binary_bom_says_which_bom(tmp_path, bom):
    p = tmp_path / "b.csv"
    p.write_bytes(b"\x00\x01\x02garbage\x00\xff" * 10)
    code, out, err = bom(p)
    assert code == 2 and "not a bill of materials" in err
