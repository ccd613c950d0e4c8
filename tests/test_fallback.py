"""Parts not in parts/ fall back to the spiflash tables: marked uncurated,
and never passing on facts the upstream sources disagree on."""

import json
from types import SimpleNamespace

import pytest

from flashcheck.data import fallback as uncurated

BOARD = """name: basic
title: erase and voltage only
sources: {s: {title: test host}}
rules:
  - {rule: erase, sizes: [4 KiB, 64 KiB], source: s}
  - {rule: voltage, supply: 3.3, source: s}
not_applicable:
  capacity: {why: test host}
  address_mode: {why: test host}
  opcodes: {why: test host}
  erase_time: {why: test host}
  power_up_protection: {why: test host}
  clock: {why: test host}
"""


@pytest.fixture
def basic_board(tmp_path):
    p = tmp_path / "basic.yaml"
    p.write_text(BOARD)
    return p


def test_uncurated_by_jedec_id(run, basic_board):
    # Zbit ZB25VQ16 is not curated; every upstream record agrees on it.
    code, out, _ = run("check", "--json", "--board", basic_board, "0e4015")
    (r,) = json.loads(out)["results"]
    assert r["curated"] is False
    assert r["part"]["name"] == "ZB25VQ16"
    assert r["verdict"] == "pass" and code == 0
    assert all("[uncurated]" in c["detail"] for c in r["checks"])
    assert all(any("spiflash" in s for s in c["sources"]) for c in r["checks"] if "not applicable" not in c["detail"])


def test_uncurated_text_output_is_marked(run, basic_board):
    _, out, _ = run("check", "--board", basic_board, "FT25H16")
    assert "[uncurated]" in out and out.startswith("PASS")


def test_undecoded_order_code_is_unknown(run, basic_board):
    code, out, _ = run("check", "--json", "--board", basic_board, "FT25H16SIGR")
    (r,) = json.loads(out)["results"]
    assert r["verdict"] == "unknown" and code == 3
    assert "order code not decoded" in r["checks"][0]["detail"]


def test_missing_clock_in_tables_is_unknown(run):
    # imp003 needs 18 MHz; the merged tables carry no clock figures.
    code, out, _ = run("check", "--json", "--board", "imp003", "0e4015")
    (r,) = json.loads(out)["results"]
    clock = next(c for c in r["checks"] if c["rule"] == "clock")
    assert clock["ok"] is None and r["verdict"] == "unknown"


def test_no_fallback_flag(run, basic_board):
    code, out, _ = run("--no-fallback", "check", "--json", "--board", basic_board, "0e4015")
    (r,) = json.loads(out)["results"]
    assert r["part"] is None and r["verdict"] == "unknown"


def _record(source, erasers):
    return SimpleNamespace(source=SimpleNamespace(value=source), erasers=erasers)


def _eraser(opcode, *blocks):
    return SimpleNamespace(opcode=opcode, assumed=False, blocks=tuple(SimpleNamespace(size=s, count=c) for s, c in blocks))


def test_disagreeing_erase_layouts_are_recorded():
    size = 1 << 20
    flash = SimpleNamespace(records=[
        _record("flashrom", [_eraser(0x20, (4096, 256)), _eraser(0xD8, (65536, 16)), _eraser(0xC7, (size, 1))]),
        _record("linux", [_eraser(0x20, (65536, 16)), _eraser(0xD8, (65536, 16))]),
        _record("u-boot", [_eraser(0xD8, (65536, 16))]),
    ])
    layouts, disagree = uncurated._layouts(flash, size)
    assert "0x20" in disagree["erasers"] and "flashrom" in disagree["erasers"] and "linux" in disagree["erasers"]
    # the agreed opcode is kept; the disputed one is not used
    assert [op.opcode for op in layouts[0].erase] == [0xD8]


def test_opcode_only_some_sources_list_is_disputed():
    """Route 1 (S25FL064P): emulator tables claim a uniform 0x20 that
    flashrom, Linux and U-Boot leave out; OpenOCD (one erase per chip) is no
    witness either way.  Every disputed opcode is described, not the last."""
    size = 8 << 20
    flash = SimpleNamespace(records=[
        _record("flashrom", [_eraser(0xD8, (65536, 128)), _eraser(0xC7, (size, 1))]),
        _record("u-boot", [_eraser(0xD8, (65536, 128))]),
        _record("qemu", [_eraser(0x20, (4096, 2048)), _eraser(0xD8, (65536, 128))]),
        _record("openfpgaloader", [_eraser(0x20, (4096, 2048)), _eraser(0x52, (32768, 256))]),
        _record("openocd", [_eraser(0xD8, (65536, 128))]),
    ])
    layouts, disagree = uncurated._layouts(flash, size)
    assert [op.opcode for op in layouts[0].erase] == [0xD8]
    text = disagree["erasers"]
    assert "0x20" in text and "0x52" in text and "not listed by flashrom, u-boot" in text


def test_every_source_agreeing_keeps_the_opcode():
    size = 1 << 20
    flash = SimpleNamespace(records=[
        _record("flashrom", [_eraser(0x20, (4096, 256)), _eraser(0xD8, (65536, 16))]),
        _record("openocd", [_eraser(0xD8, (65536, 16))]),
        _record("dediprog", [_eraser(0xC7, (size, 1))]),
    ])
    layouts, disagree = uncurated._layouts(flash, size)
    assert not disagree and [op.opcode for op in layouts[0].erase] == [0x20, 0xD8]


def test_non_uniform_layout_from_blocks():
    size = 1 << 20
    flash = SimpleNamespace(records=[
        _record("flashrom", [_eraser(0xD8, (8192, 4), (32768, 1), (65536, 14), (32768, 1), (8192, 4))]),
    ])
    layouts, disagree = uncurated._layouts(flash, size)
    assert not disagree
    (op,) = layouts[0].erase
    assert [(r.start, r.end, r.size) for r in op.regions] == [
        (0, 32768, 8192), (32768, 65536, 32768), (65536, size - 65536, 65536),
        (size - 65536, size - 32768, 32768), (size - 32768, size, 8192),
    ]


def test_disagreement_makes_rule_unknown(check_json, monkeypatch):
    """A part whose sources disagree on erasers never passes the erase rule."""
    from flashcheck.rules import kinds
    from flashcheck.data.parts import EraseOp, Layout, Part, Region, Source

    part = Part(
        name="X", manufacturer="x", jedec_ids=("000000",), capacity=1 << 20,
        layouts=(Layout("default", (EraseOp(0x20, (Region(0, 1 << 20, 4096),)),)),),
        source=Source("t"), curated=False, voltage=(2.7, 3.6),
        disagreements={"erasers": "0xD8: 16x64K (a); 4x256K (b)", "voltage": "2.7-3.6 (a); 1.7-2.0 (b)"},
    )
    from flashcheck.data.boards import Rule

    erase = kinds.get("erase").judge(Rule("erase", {"sizes": [4096]}, Source("b")), part, part.layouts, None)
    assert erase[0].ok is None and "sources disagree" in erase[0].detail
    volt = kinds.get("voltage").judge(Rule("voltage", {"supply": 3.3}, Source("b")), part, part.layouts, None)[0]
    assert volt.ok is None and "1.7-2.0" in volt.detail
