"""scripts/check_citations.py on a tiny fictional datasheet folder and parts
file (tests/data/citations/), and its number, unit and opcode matchers."""

import importlib.util
import json
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

ROOT = Path(__file__).parent.parent
SCRIPT = ROOT / "scripts" / "check_citations.py"
DATA = Path(__file__).parent / "data" / "citations"
PARTS, SHEETS = DATA / "parts", DATA / "datasheets"

spec = importlib.util.spec_from_file_location("check_citations", SCRIPT)
cc = importlib.util.module_from_spec(spec)
sys.modules["check_citations"] = cc  # dataclasses look their module up there
spec.loader.exec_module(cc)


def run(capsys, *args):
    code = cc.main([str(a) for a in args])
    out = capsys.readouterr().out
    return code, out


def results(capsys, family):
    code, out = run(capsys, PARTS, "--datasheets", SHEETS, "--json", "--family", family)
    report = json.loads(out)
    return code, {r["figure"]: r for r in report["results"]}, report


# -- the whole script on the fixture ----------------------------------------------


def test_every_figure_found_exits_0(capsys):
    code, by_figure, report = results(capsys, "AC25Q32")
    assert code == 0
    assert {r["status"] for r in by_figure.values()} == {"found"}
    assert report["summary"]["families_checked"] == 1
    # optional figures are checked because they are cited
    assert {"capacity", "jedec_id"} <= set(by_figure)
    # where each was found: the AC table, not the table of contents
    assert by_figure["max_clock_mhz"]["found_at"] == 29


def test_unit_conversions_and_hex_forms_found(capsys):
    _, by_figure, _ = results(capsys, "AC25Q32")
    assert by_figure["program typ_ms"]["status"] == "found"  # 0.7 ms printed as 700 us
    assert by_figure["program max_ms"]["status"] == "found"  # 3 ms printed as 3,000 us
    assert by_figure["erase.0xD8 typ_ms"]["status"] == "found"  # 150 ms printed as 0.15 s
    assert by_figure["chip_erase max_ms"]["status"] == "found"  # 50000 ms printed as 50 s
    assert by_figure["commands"]["status"] == "found"  # 03h, 0x0B, 9FH, 5Ah
    assert by_figure["jedec_id"]["status"] == "found"  # EFh ... 4016h


def test_problem_lines(capsys):
    code, out = run(capsys, PARTS, "--datasheets", SHEETS, "--family", "AC25Q32X")
    assert code == 1
    lines = out.splitlines()
    assert f"{PARTS / 'acme.yaml'}:53: AC25Q32X: erase.0x52 max_ms 1600: not found after " \
           "'9.6 AC Electrical Characteristics' in acme/AC25Q32.txt" in lines
    assert lines[-1] == "1 family checked against their datasheets; figures: 8 found, 5 not found, 2 missing, 2 unconfirmed"


def test_figure_outside_the_window_is_not_found(capsys):
    # 0x52's times are printed, but after '9.7 Serial Output Timing', which ends 9.6
    _, by_figure, _ = results(capsys, "AC25Q32X")
    assert by_figure["erase.0x52 typ_ms"]["status"] == "not found"
    assert by_figure["erase.0x20 max_ms"]["status"] == "found"


def test_wrong_value_and_wrong_heading(capsys):
    _, by_figure, _ = results(capsys, "AC25Q32X")
    assert by_figure["program typ_ms"]["status"] == "not found"  # 0.8 ms; the text says 700 us
    wrong = by_figure["max_clock_mhz"]
    assert wrong["status"] == "not found"
    assert "heading '9.9 AC Characteristics' not found in acme/AC25Q32.txt" in wrong["message"]
    assert wrong["line"] == 48


def test_missing_figure_and_missing_where(capsys):
    _, by_figure, _ = results(capsys, "AC25Q32X")
    assert by_figure["sfdp"]["status"] == "missing"
    assert "no 'unconfirmed' entry explains it" in by_figure["sfdp"]["message"]
    assert by_figure["page_size"]["status"] == "missing"
    assert "no 'where' entry" in by_figure["page_size"]["message"]
    assert by_figure["order_codes"]["status"] == "not found"
    assert "package Z" in by_figure["order_codes"]["message"]


def test_missing_figure_explained_by_unconfirmed(capsys):
    _, by_figure, report = results(capsys, "AC25Q32X")
    for label in ("chip_erase typ_ms", "chip_erase max_ms"):
        assert by_figure[label]["status"] == "unconfirmed"
        assert "not given in this text" in by_figure[label]["message"]
    assert report["summary"]["unconfirmed"] == 2


def test_datasheet_not_in_folder_is_informational(capsys):
    code, out = run(capsys, PARTS, "--datasheets", SHEETS, "--family", "AC25Q32R")
    assert code == 0
    assert "AC25Q32R: cites 'AC25Q32 3V 32M-BIT SERIAL FLASH MEMORY', Revision C: not in the datasheet folder; " \
           "the folder has acme/AC25Q32.txt (Revision B)" in out
    assert out.splitlines()[-1].startswith("0 families checked")


def test_all_families_summary(capsys):
    code, out = run(capsys, PARTS, "--datasheets", SHEETS, "--json")
    report = json.loads(out)
    assert code == 1
    assert report["summary"] == {"families_checked": 2, "families_not_in_library": 1, "found": 27,
                                 "not_found": 5, "missing": 2, "unconfirmed": 2}
    assert [r["family"] for r in report["not_in_library"]] == ["AC25Q32R"]


@pytest.mark.parametrize("args, message", [
    (["--datasheets", SHEETS / "nowhere"], "no such datasheet folder"),
    (["--datasheets", SHEETS, "--family", "NOPE"], "no family named NOPE"),
    (["--bogus"], "error:"),
])
def test_bad_input_exits_2_with_one_line(args, message):
    proc = subprocess.run([sys.executable, str(SCRIPT), str(PARTS), *map(str, args)],
                          capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert len(proc.stderr.strip().splitlines()) == 1 and message in proc.stderr, proc.stderr


def test_bad_yaml_exits_2_naming_file_and_line(tmp_path, capsys):
    (tmp_path / "bad.yaml").write_text("manufacturer: X\nfamilies: [\n", encoding="utf-8")
    code = cc.main([str(tmp_path), "--datasheets", str(SHEETS)])
    err = capsys.readouterr().err
    assert code == 2 and "bad.yaml:" in err and "Traceback" not in err


# -- headings and windows -------------------------------------------------------


def sheet_of(text: str) -> "cc.Datasheet":
    sheet = cc.Datasheet(Path("x.txt"), "x.txt", "T", "Rev A")
    sheet._lines = text.splitlines()
    return sheet


def test_heading_at_a_word_boundary_and_not_in_the_table_of_contents():
    sheet = sheet_of("Table 1 ......... 3\nTable 10. Other\n  Table 1.  AC   Characteristics\nsee Table 1 for details")
    assert cc.heading_lines(sheet, "Table 1. AC characteristics") == [2]
    assert cc.heading_lines(sheet, "Table 1") == [2]  # not 'Table 10', not the TOC, not in running text


def test_heading_with_a_glued_footnote_mark():
    sheet = sheet_of("Table 4: Block Protection for SST25VF016B1\nTable 5: Ready\nTable 11")
    assert cc.heading_lines(sheet, "Table 4: Block Protection for SST25VF016B") == [0]
    assert cc.heading_lines(sheet, "Table 5: Read") == []
    assert cc.heading_lines(sheet, "Table 1") == []


def test_section_window_ends_at_the_next_section_not_at_a_note_list():
    sheet = sheet_of("9.6 AC\n a\n 1. Note\n9.6.1 Sub\n b\n9.7 Next\n c")
    assert list(cc.window(sheet, 0)) == [0, 1, 2, 3, 4]
    sheet = sheet_of("5.0 INSTRUCTIONS\n5.1 Read\n x\n6.0 ELECTRICAL")
    assert list(cc.window(sheet, 0)) == [0, 1, 2]


def test_caption_window_runs_over_a_repeated_caption_and_ends_at_the_next_table():
    sheet = sheet_of("TABLE 5-1: COMMANDS\n 03h\nTABLE 5-1: COMMANDS (continued)\n 0Bh\nTABLE 5-2: OTHER\n 9Fh")
    assert list(cc.window(sheet, 0)) == [0, 1, 2, 3]


def test_several_headings_joined_with_a_slash():
    sheet = sheet_of("A. One\n x\nB. Two\n y")
    lines, missing = cc.cited_window(sheet, "A. One / B. Two")
    assert missing == [] and [n for n, _ in lines] == [1, 2, 3, 4]
    _, missing = cc.cited_window(sheet, "A. One / C. Three")
    assert missing == ["C. Three"]


# -- matching a family to its datasheet -----------------------------------------


@pytest.mark.parametrize("cited, header, date, ok", [
    ("Revision D", "Revision D", "", True),
    ("Rev. D", "Revision D", "", True),
    ("Revision J", "Revision J (printed as 'Preli mry-Revision J')", "", True),
    ("Preli mry-Revision J", "Revision J (printed as 'Preli mry-Revision J')", "", True),
    ("1.5", "1.5 (last entry of revision history; not printed on first page)", "", True),
    ("DS-25SF081-045I", "DS-25SF081-045I (Revision I)", "", True),
    ("DS-25SF081-045I-8/2017", "DS-25SF081-045I (Revision I)", "8/2017", True),
    ("Revision H", "Revision D", "", False),
    ("Rev 1", "Rev 11", "", False),
    ("Preliminary-Revision G", "Revision J (printed as 'Preli mry-Revision J')", "", False),
])
def test_revision_matching(cited, header, date, ok):
    sheet = cc.Datasheet(Path("x.txt"), "x.txt", "T", header, date)
    assert cc.revision_matches(cited, sheet) is ok


def test_title_matching_ignores_case_punctuation_and_library_notes():
    header = "AT25SF081 8-Mbit, 2.3V Minimum SPI Serial Flash Memory with Dual-I/O and Quad-IO Support (Adesto)"
    assert cc.title_matches("AT25SF081 8-MBIT 2.3V MINIMUM SPI SERIAL FLASH MEMORY WITH DUAL I/O AND QUAD-IO SUPPORT", header)
    assert not cc.title_matches("AT25SF161 16-Mbit, 2.5V Minimum SPI Serial Flash Memory", header)


# -- numbers, units, opcodes ----------------------------------------------------


@pytest.mark.parametrize("line, value, kind, found", [
    (" Sector Erase Time   tSE   0.4   s", 400, "time", True),
    (" Sector Erase Time   tSE   45   400   ms", 400, "time", True),
    (" Block Erase Time    tBE1  120   1,600 ms", 1600, "time", True),
    (" Page Program        tPP   700   µs", 0.7, "time", True),
    (" Page Program        tPP   700   us", 0.7, "time", True),
    (" Chip Erase          tCE   128 (Note 1)  768 (Note 2)  sec", 768000, "time", True),
    (" Output Disable      tDIS  3     ns", 3, "time", False),  # 3 ns is not 3 ms
    (" Write Suspend       tSUS  400   us", 400, "time", False),
    (" Clock frequency     FR    133MHz", 133, "freq", True),
    (" Clock frequency (2.7V-3.0V)  FR  104  MHz", 2.7, "freq", False),
    (" Supply Voltage      VCC   2.7   3.6   V", 3.6, "volt", True),
    (" VCC=2.7~3.6V", 2.7, "volt", True),
    (" pages of 256-bytes each", 256, "size", True),
    (" 128M-BIT serial flash", 16 << 20, "size", True),
    (" fTSCLK  tBE2  2", 2, "time", False),  # digits inside names are not numbers; no unit
    (" tPP  PAGE PROGRAM cycle time   0.8   5   ms   2, 3", 3, "time", False),  # notes column
    (" tSE  Sector Erase Time   0.5 (Note 1)   3 (Note 2)   sec", 1000, "time", False),
    (" tCHPE(1) (2)  Chip Erase Time   12   30   sec", 2000, "time", False),  # footnote marks
])
def test_find_quantity(line, value, kind, found):
    assert (cc.find_quantity([(7, line)], value, kind) == 7) is found


def test_unit_on_a_nearby_line():
    lines = [(1, " Chip Erase Time  tCE  40  200"), (2, "                              s")]
    assert cc.find_quantity(lines, 200000, "time") == 1
    cell = [(1, " Clock frequency for all      IT &   166    90"), (2, "  commands other than    AT"),
            (3, " READ (Extended-SPI,   fC"), (4, "  col) [Mhz]")]
    assert cc.find_quantity(cell, 166, "freq") == 1


def test_hex_list_with_one_suffix():
    assert cc.find_hex([(1, "READ ID    9E/9Fh    Yes")], 0x9E) == 1


@pytest.mark.parametrize("line, found", [
    ("Read Data   03h", True), ("Read Data   03H", True), ("Read Data   0x03", True),
    ("1st byte    03 (hex)", True), ("60 or 03 (hex)", True),
    ("Read Data   03", False),  # bare digits only count on a line that says hex
    ("Address     4003h", False), ("tBE03h", False),
])
def test_find_hex(line, found):
    assert (cc.find_hex([(5, line)], 0x03) == 5) is found


@pytest.mark.parametrize("lines, hexid, missing", [
    (["9FH     C8     40     18"], "c84018", []),
    (["RDID 0xEF4018"], "ef4018", []),
    (["Manufacturer EFh", "JEDEC ID 4018h"], "ef4018", []),
    (["01h 20h 18h 03h 00h"], "0300", []),
    (["Manufacturer EFh", "JEDEC ID 4017h"], "ef4018", ["18h"]),
])
def test_find_id(lines, hexid, missing):
    numbered = list(enumerate(lines, 1))
    assert cc.find_id(numbered, hexid)[0] == missing


def test_order_codes_without_fields_need_the_pattern_start():
    lines = [(1, "GD XX X XX X"), (2, "Valid: W25Q128JV S I Q")]
    assert cc.order_codes_missing(lines, [{"pattern": "W25Q128JV(?P<p>S)IQ"}], {}) == []
    assert cc.order_codes_missing(lines, [{"pattern": "GD25Q128C(?P<p>S)IG"}], {}) == ["GD25Q128C"]


def test_order_code_field_with_punctuation():
    lines = [(1, "SST25VF080B-50-4C-S2AF-T = tape and reel")]
    assert cc.order_codes_missing(lines, [{"pattern": "X"}], {"packing": {"-T": ""}}) == []


def test_order_codes_by_word_or_by_a_full_order_code():
    lines = [(1, "Valid part numbers: AC25Q32SIQ"), (2, "P = WSON-8")]
    codes = [{"pattern": "AC25Q32(?P<package>[SPZ])(?P<temp>I)Q"}]
    fields = {"package": {"S": "", "P": "", "Z": ""}, "temp": {"I": ""}}
    assert cc.order_codes_missing(lines, codes, fields) == ["package Z"]


def test_sfdp_false_is_contradicted_by_a_mention():
    assert cc.sfdp_test(False)([(1, "Read Data 03h")]) == ([], None)
    assert cc.sfdp_test(False)([(4, "Read SFDP  5Ah")])[0] == ["false (yet SFDP is named at line 4)"]
    assert cc.sfdp_test(True)([(4, "Read Serial Flash Discoverable Parameters")]) == ([], 4)


def test_unconfirmed_entry_names_the_figure_by_key_or_in_words():
    fam = {"erase": [{"opcode": 0x20, "size": "4 KiB"}, {"opcode": 0xD8, "size": "64 KiB"}],
           "unconfirmed": ["4 KB erase typical/maximum times: table not read", "chip erase time: not given",
                           "max_clock_mhz: only a 'high speed' grade is printed"]}
    assert cc.explained(fam, "erase.0x20")
    assert not cc.explained(fam, "erase.0xD8")  # 'chip erase' does not explain the 64 KB erase
    assert cc.explained(fam, "chip_erase")
    assert cc.explained(fam, "max_clock_mhz")
    assert not cc.explained(fam, "read_clock_mhz")
    fam["unconfirmed"] = ["max_clock_mhz and read_clock_mhz: only valid from 2.7 V"]
    assert cc.explained(fam, "read_clock_mhz")


# -- property: a value printed in any unit is found; another value is not ------

TIME_UNITS = {"s": Decimal(1000), "sec": Decimal(1000), "ms": Decimal(1), "us": Decimal("0.001"), "µs": Decimal("0.001")}


def printed(value_ms: Decimal, unit: str, commas: bool) -> str:
    number = (value_ms / TIME_UNITS[unit]).normalize()
    if commas and number == number.to_integral_value():
        return f"{int(number):,}"
    return format(number, "f")


values = st.builds(lambda m, e: Decimal(m).scaleb(e), st.integers(1, 99999), st.integers(-3, 4))


@given(value=values, unit=st.sampled_from(sorted(TIME_UNITS)), commas=st.booleans())
def test_time_in_any_unit_is_found(value, unit, commas):
    line = f" Sector Erase Time     tSE    {printed(value, unit, commas)}   {unit}"
    assert cc.find_quantity([(1, line)], float(value), "time") == 1


@given(value=values, other=values, unit=st.sampled_from(sorted(TIME_UNITS)))
def test_another_time_is_not_found(value, other, unit):
    assume(abs(other - value) > value * Decimal("1e-5"))
    line = f" Sector Erase Time     tSE    {printed(other, unit, False)}   {unit}"
    assert cc.find_quantity([(1, line)], float(value), "time") is None


@given(byte=st.integers(0, 255), other=st.integers(0, 255),
       form=st.sampled_from(["{:02X}h", "{:02X}H", "0x{:02X}", "0x{:02x}", "{:02X} (hex)"]))
def test_opcode_in_any_form_is_found_and_no_other(byte, other, form):
    line = f" Some Command    {form.format(byte)}    Dummy"
    assert cc.find_hex([(1, line)], byte) == 1
    if other != byte:
        assert cc.find_hex([(1, line)], other) is None


# -- forms found in the datasheet library ----------------------------------------


@pytest.mark.parametrize("line, value, kind, found", [
    ("   - 2.7 to 3.6 volt for read, erase, and program operations", 2.7, "volt", True),
    ("   - 2.7 to 3.6 volt for read, erase, and program operations", 3.6, "volt", True),
    ("   - 2.7 to 3.6 volt for read, erase, and program operations", 3.3, "volt", False),
    ("        08 = 8-megabit", 1 << 20, "size", True),
    ("        08 = 8-megabit", 8 << 20, "size", False),  # 8 megabit is 1 MiB, not 8 MiB
    ("   16 = 16-Kilobit", 2048, "size", True),
])
def test_volt_and_megabit_words(line, value, kind, found):
    assert (cc.find_quantity([(3, line)], value, kind) == 3) is found


def test_number_wrapped_before_its_unit():
    prose = [(1, "Program command is executed on byte basis, or page (256"), (2, "bytes) basis. Erase command")]
    assert cc.find_quantity(prose, 256, "size") == 1
    # the next line must start with the unit: a unit further on in it does not count
    other = [(1, "Program command is executed on byte basis, or page (256"), (2, "and 4K-byte sectors")]
    assert cc.find_quantity(other, 256, "size") is None


# AT25SF081 DS-25SF081-045I, 12.6: the block-erase cell runs over three lines, its unit
# on the middle one; the next row (chip erase, in seconds) is as near to the last line.
ERASE_CELL = """\
     tBP              Byte Program Time                                                                        5                                5                   µs

                                                                          4 Kbytes                             60       300                    60      300

     tBLKE(1)         Block Erase Time                                    32 Kbytes                          300        1300                   300    1300          ms

                                                                          64 K bytes                         500        3000                   500    3000

     tCHPE(1) (2)     Chip Erase Time                                                                          12       30                     12         20       sec
"""


@pytest.mark.parametrize("value, found", [
    (500, 7), (3000, 7),  # 64 K bytes: ms, from its cell's line above, not the chip erase row's sec
    (500000, None), (3000000, None),
    (60, 3), (300, 3),  # 4 Kbytes: ms (the byte-program row above is in µs)
    (12000, 9), (30000, 9),  # the chip erase row keeps its own sec
])
def test_unit_of_a_cell_spread_over_lines(value, found):
    lines = list(enumerate(ERASE_CELL.splitlines(), 1))
    assert cc.find_quantity(lines, value, "time") == found


def test_unit_tie_still_goes_below_without_a_shared_column():
    lines = [(1, " tA   Thing A   1   ms"), (2, "               7    9"), (3, " tB   Thing B   2   s")]
    assert cc.find_quantity(lines, 7000, "time") == 2


DELIVERY = [(1, "8.2. INITIAL DELIVERY STATE"),
            (2, "The device is delivered with the memory array erased: all bits are set to 1 (each byte contains FFH). The Status"),
            (3, "Register bits are set to 0, except DRV1 bit (S22) is set to 1.")]
MACRONIX_DELIVERY = [(1, "INITIAL DELIVERY STATE"),
                     (2, "The device is delivered with the memory array erased: all bits are set to 1 (each byte contains FFh). The Status"),
                     (3, "Register contains 00h (all Status Register bits are 0).")]


@pytest.mark.parametrize("lines", [DELIVERY, MACRONIX_DELIVERY])
@pytest.mark.parametrize("state, ok", [("configurable", True), ("none", True), ("all", False)])
def test_power_up_from_an_initial_delivery_state(lines, state, ok):
    missing, _ = cc.power_up_test({"block_protection": state})(lines)
    assert (missing == []) is ok
    if not ok:
        assert missing == ["protection"]  # a cleared status register does not say "all protected"


def test_power_up_needs_the_status_register_cleared():
    lines = [(1, "INITIAL DELIVERY STATE"), (2, "The device is delivered with the memory array erased (FFh).")]
    assert cc.power_up_test({"block_protection": "configurable"})(lines)[0] == ["protection"]


def sfdp_result(text: str, fam: dict) -> tuple[str, str]:
    sheet = sheet_of(text)
    fig = next(f for f in cc.scalar_figures(fam, ()) if f.key == "sfdp")
    status, message, _ = cc.check_figure(fig, fam, sheet)
    return status, message


SILENT = "1. FEATURES\n Fast read 0Bh\nTable 4. COMMAND DEFINITION\n 03 (hex) 9F (hex)\n"


def test_sfdp_false_is_an_absence_from_the_whole_text():
    explained = {"sfdp": False, "unconfirmed": ["sfdp: this datasheet never names Read SFDP (5Ah)"]}
    assert sfdp_result(SILENT, explained) == ("found", "")
    cited = {"sfdp": False, "where": {"sfdp": "Table 4. COMMAND DEFINITION"}}
    assert sfdp_result(SILENT, cited) == ("found", "")
    # neither a heading nor an explanation: missing
    assert sfdp_result(SILENT, {"sfdp": False})[0] == "missing"
    # a mention outside the cited window still contradicts false
    status, message = sfdp_result(SILENT + "7.30 Read SFDP (5Ah)\n", cited)
    assert status == "not found" and "line 5" in message
    status, _ = sfdp_result(SILENT + "7.30 Read SFDP (5Ah)\n", explained)
    assert status == "not found"
