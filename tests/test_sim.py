"""The simulator, driven through SpiNor (the command layer hardware uses)."""

from __future__ import annotations

import os

import pytest

from flashcheck.chip import sfdp
from flashcheck.chip.spinor import SpiNor
from flashcheck.errors import ChipTimeout, HardwareError, InputError, TransportError
from flashcheck.sim import SimChip, builtin_models, get_model, model_from_dict
from flashcheck.transport import open_transport

KiB = 1024
MODELS = sorted(builtin_models())

EXPECTED_IDS = {
    "W25Q128JV": "ef4018",
    "W25Q80DV": "ef4014",
    "MX25L12835F": "c22018",
    "GD25Q64C": "c84017",
    "AT25SF128A": "1f8901",
    "S25FL127S": "0120184d0180",
    "SST26VF064B": "bf2643",
    "M25P16": "20201510",
    "SIM-HYBRID-DEMO": "ee4018",
    # models added from datasheets: the ID each datasheet prints
    "W25Q128FV": "ef4018",
    "W25Q128BV": "ef4018",
    "W25Q64JV": "ef4017",
    "W25Q32JV": "ef4016",
    "W25Q256JV": "ef4019",
    "GD25Q128C": "c84018",
    "GD25Q32C": "c84016",
    "GD25Q16C": "c84015",
    "MX25L3206E": "c22016",
    "MX25L1606E": "c22015",
    "MX25L3205D": "c22016",
    "MX25R6435F": "c22817",
    "M25P80": "202014",
    "N25Q256A": "20bb19",
    "S25FL128P": "012018",
    "SST26VF032B": "bf2642",
    "SST25VF016B": "bf2541",
    "AT45DB321E": "1f2701",
}


def open_nor(model: str, **params: object) -> tuple[SpiNor, object]:
    query = "&".join(f"{k}={v}" for k, v in params.items())
    t = open_transport(f"sim://{model}" + (f"?{query}" if query else ""))
    return SpiNor(t, poll_interval_s=0), t


def fill(nor: SpiNor, addr: int, n: int, value: int = 0x00) -> None:
    """Program ``n`` bytes of ``value`` from ``addr`` (page by page)."""
    page = 256
    while n:
        k = min(n, page - addr % page)
        nor.page_program(addr, bytes([value]) * k)
        addr += k
        n -= k


def erased(nor: SpiNor, addr: int, n: int) -> bool:
    return nor.read(addr, n) == b"\xff" * n


# -- identification ---------------------------------------------------------


@pytest.mark.parametrize("name", MODELS)
def test_jedec_id(name: str) -> None:
    nor, t = open_nor(name)
    ident = nor.read_id(6)
    assert ident.hex().startswith(EXPECTED_IDS[name])
    t.close()


def test_builtin_models_cover_the_brief() -> None:
    for name in ("W25Q128JV", "W25Q80DV", "MX25L12835F", "GD25Q64C", "AT25SF128A", "S25FL127S",
                 "SST26VF064B", "M25P16"):
        m = get_model(name)
        assert m is not None and m.real and m.source


def test_unique_id_per_instance_and_absent_where_the_part_has_none(tmp_path) -> None:
    a, _ = open_nor("W25Q128JV")
    b, _ = open_nor("W25Q128JV")
    ua, ub = a.read_unique_id(), b.read_unique_id()
    assert ua is not None and len(ua) == 8 and ua != ub
    gd, _ = open_nor("GD25Q64C")
    assert len(gd.read_unique_id(length=16) or b"") == 16
    for name in ("MX25L12835F", "M25P16", "SST26VF064B", "S25FL127S"):
        nor, _ = open_nor(name)
        assert nor.read_unique_id() is None, name
    # stable for the same image file (the same chip)
    img = tmp_path / "w.bin"
    n1, t1 = open_nor("W25Q80DV", image=img)
    u1 = n1.read_unique_id()
    t1.close()
    n2, t2 = open_nor("W25Q80DV", image=img)
    assert n2.read_unique_id() == u1
    t2.close()


# -- SFDP against the model's own geometry -----------------------------------


#: DataFlash models: no 05h status, no write enable; their busy figures are
#: not read through the 25-series commands this test uses.
DATAFLASH = {"AT45DB321E"}


#: Models whose SFDP bytes (taken from a real chip) give other erase times
#: than the datasheet figures the model runs at.
SFDP_TIMES_DISAGREE = {
    # SFDP lists the high-performance mode's times; the -L parts power up in
    # ultra-low-power mode, whose (slower) times the model uses
    "MX25R6435F",
}


@pytest.mark.parametrize("name", MODELS)
def test_sfdp_matches_model_geometry(name: str) -> None:
    nor, _ = open_nor(name)
    model = get_model(name)
    assert model is not None
    image = nor.read_sfdp_image()
    if model.sfdp is None:
        assert image is None
        return
    assert image is not None
    info = sfdp.parse(image)
    assert info.size == model.size
    assert info.revision == f"{model.sfdp.major}.{model.sfdp.minor}"
    chip: SimChip = nor.transport.chip
    layout = chip.layout()
    # every erase type the table lists erases that size somewhere in the chip
    for size, opcode, _t, _m in info.erase_types:
        assert any(r.blocks.get(opcode) == size for cfg in model.layouts.values() for r in cfg), (size, opcode)
    # the 4 KiB bits agree with what 0x20 does everywhere
    everywhere_4k = all(r.blocks.get(0x20) == 4096 for r in layout)
    assert info.uniform_4k is everywhere_4k
    if model.sfdp.bfpt_dwords >= 11:
        assert info.page_size == model.page_size
        for size, opcode, typ, mx in info.erase_types:
            want = model.erase_timing(opcode, size).typ_ms
            assert typ is not None and mx is not None and mx >= typ
            close = abs(typ - want) <= max(8.0, want * 0.1)
            # a real chip's table may disagree with its own datasheet: the model keeps both
            assert close is (name not in SFDP_TIMES_DISAGREE), (opcode, typ, want)

    else:
        assert all(t is None for _s, _o, t, _m in info.erase_types)
    if model.sfdp.sector_map:
        assert info.sector_map is not None
        by_id = {c.id: c for c in info.sector_map}
        assert set(by_id) == set(model.layouts)
        for cid, regions in model.layouts.items():
            got = by_id[cid].regions
            assert [(r.start, r.size) for r in got] == [(r.start, r.size) for r in regions]
            for g, r in zip(got, regions, strict=True):
                assert {(e.size, e.opcode) for e in g.erase_types} == {
                    (b, op) for op, b in r.blocks.items() if (b, op) in {(s, o) for s, o, _t, _m in info.erase_types}
                }
    else:
        assert info.sector_map is None


def test_m25p16_has_no_sfdp_and_no_4k_erase() -> None:
    nor, _ = open_nor("M25P16")
    assert nor.read_sfdp(0, 8) == b"\xff" * 8
    assert nor.read_sfdp_image() is None
    fill(nor, 0, 16)
    nor.erase(0x20, 0, 1.0)
    assert not nor.last_busy_seen
    assert nor.read(0, 16) == b"\x00" * 16  # 0x20 did nothing
    assert all(r.opcode != 0x20 for r in nor.transport.chip.history)  # not even a command
    nor.erase(0xD8, 0x1234, 5.0)
    assert erased(nor, 0, 64 * KiB)


# -- write enable ------------------------------------------------------------


@pytest.mark.parametrize("name", ["W25Q128JV", "MX25L12835F", "S25FL127S", "M25P16"])
def test_writes_need_wel_and_clear_it(name: str) -> None:
    nor, _ = open_nor(name)
    # no WREN: program is ignored
    nor.command(0x02, b"\x00\x00\x10" + b"\x00" * 4)
    nor.wait_ready(1.0)
    assert nor.read(0x10, 4) == b"\xff" * 4
    assert nor.transport.chip.history[-1].result == "no-wel"
    # with WREN: WEL set, programmed, WEL cleared afterwards
    nor.write_enable()
    assert nor.read_status() & 0x02
    nor.command(0x02, b"\x00\x00\x10" + b"\x00" * 4)
    nor.wait_ready(1.0)
    assert nor.read(0x10, 4) == b"\x00" * 4
    assert not nor.read_status() & 0x02
    # WRDI clears WEL
    nor.write_enable()
    nor.write_disable()
    assert not nor.read_status() & 0x02
    # erase without WREN does nothing
    nor.command(0xD8, b"\x00\x00\x00")
    nor.wait_ready(1.0)
    assert nor.read(0x10, 4) == b"\x00" * 4


# -- program -----------------------------------------------------------------


def test_program_only_clears_bits() -> None:
    nor, _ = open_nor("W25Q128JV")
    nor.page_program(0x100, b"\xf0\x0f\xaa")
    nor.page_program(0x100, b"\x0f\x0f\xff")
    assert nor.read(0x100, 3) == b"\x00\x0f\xaa"


def test_program_wraps_within_its_page() -> None:
    nor, _ = open_nor("GD25Q64C")
    nor.page_program(0x1FC, bytes(range(1, 9)))  # page 0x100-0x1FF, offset 0xFC
    assert nor.read(0x1FC, 4) == bytes([1, 2, 3, 4])
    assert nor.read(0x100, 4) == bytes([5, 6, 7, 8])
    assert nor.read(0x200, 4) == b"\xff" * 4  # the next page untouched


def test_program_more_than_a_page_keeps_the_last_bytes() -> None:
    nor, _ = open_nor("W25Q80DV")
    data = bytes([0xAA]) * 256 + bytes([0x55]) * 4
    nor.page_program(0, data)
    # the page buffer wraps: the last byte sent for a position is the one programmed
    assert nor.read(0, 4) == b"\x55" * 4
    assert nor.read(4, 4) == b"\xaa" * 4


# -- erase: every opcode at its region boundaries ----------------------------


@pytest.mark.parametrize(("name", "opcode", "size"), [
    ("W25Q128JV", 0x20, 4 * KiB), ("W25Q128JV", 0x52, 32 * KiB), ("W25Q128JV", 0xD8, 64 * KiB),
    ("MX25L12835F", 0x20, 4 * KiB), ("MX25L12835F", 0x52, 32 * KiB), ("MX25L12835F", 0xD8, 64 * KiB),
    ("GD25Q64C", 0x20, 4 * KiB), ("AT25SF128A", 0xD8, 64 * KiB), ("W25Q80DV", 0x52, 32 * KiB),
])
def test_uniform_erase_sizes(name: str, opcode: int, size: int) -> None:
    nor, _ = open_nor(name)
    base = 3 * size
    fill(nor, base - 16, 16)
    fill(nor, base, 16)
    fill(nor, base + size - 16, 32)
    nor.erase(opcode, base + size // 2 + 3, 10.0)
    assert nor.last_busy_seen
    assert nor.read(base - 16, 16) == b"\x00" * 16  # block before untouched
    assert erased(nor, base, 16)
    assert erased(nor, base + size - 16, 16)
    assert nor.read(base + size, 16) == b"\x00" * 16  # block after untouched


def test_s25fl127s_4k_erase_only_in_the_bottom_parameter_sectors() -> None:
    nor, _ = open_nor("S25FL127S")
    fill(nor, 0x0000, 16)
    fill(nor, 0x1000, 16)
    fill(nor, 0xF000, 16)
    fill(nor, 0x10000, 16)
    nor.erase(0x20, 0x0000, 2.0)
    assert erased(nor, 0, 16) and nor.read(0x1000, 16) == b"\x00" * 16
    nor.erase(0x20, 0xF000, 2.0)  # the 16th parameter sector
    assert erased(nor, 0xF000, 16)
    nor.erase(0x20, 0x10000, 2.0)  # outside: the real part ignores it
    assert not nor.last_busy_seen
    assert nor.read(0x10000, 16) == b"\x00" * 16
    nor.erase(0x20, 0xFFF000, 2.0)  # top: no parameter sectors there by default
    assert nor.transport.chip.history[-1].result == "ignored"
    # D8 erases 64 KiB, including the whole parameter area
    nor.erase(0xD8, 0x10000, 2.0)
    assert erased(nor, 0x10000, 16)
    nor.erase(0xD8, 0x8000, 2.0)
    assert erased(nor, 0x1000, 16)


def test_s25fl127s_tbparm_moves_parameter_sectors_to_the_top() -> None:
    nor, _ = open_nor("S25FL127S")
    nor.write_status(bytes([0x00, 0x04]))  # CR1 TBPARM
    assert nor.read_status2() & 0x04
    top = 16 * 1024 * KiB - 64 * KiB
    fill(nor, 0, 16)
    fill(nor, top, 16)
    nor.erase(0x20, 0, 2.0)
    assert nor.read(0, 16) == b"\x00" * 16  # bottom: nothing now
    nor.erase(0x20, top, 2.0)
    assert erased(nor, top, 16)
    # TBPARM is one-time programmable: writing 0 does not clear it
    nor.write_status(bytes([0x00, 0x00]))
    assert nor.read_status2() & 0x04


def test_s25fl127s_uniform_256k_option() -> None:
    nor, _ = open_nor("S25FL127S")
    nor.write_status(bytes([0x00, 0x00, 0x80]))  # SR2: uniform 256 KiB sectors
    assert nor.read_config(0x07) & 0x80
    assert nor.read_id(6)[4] == 0x00  # ID-CFI sector architecture byte
    fill(nor, 0, 16)
    fill(nor, 0x3FFF0, 16)
    fill(nor, 0x40000, 16)
    nor.erase(0x20, 0, 2.0)
    assert nor.read(0, 16) == b"\x00" * 16  # no 4 KiB sectors at all
    nor.erase(0xD8, 0x20000, 5.0)
    assert erased(nor, 0, 16) and erased(nor, 0x3FFF0, 16)
    assert nor.read(0x40000, 16) == b"\x00" * 16
    rec = nor.transport.chip.history[-1]
    assert rec.size == 256 * KiB and rec.typ_ms == 520
    info = sfdp.parse(nor.read_sfdp_image())
    assert (256 * KiB, 0xD8) in [(s, o) for s, o, _t, _m in info.erase_types]


@pytest.mark.parametrize(("addr", "start", "size"), [
    (0x0000, 0x0000, 8 * KiB), (0x7FFF, 0x6000, 8 * KiB), (0x8000, 0x8000, 32 * KiB),
    (0x10000, 0x10000, 64 * KiB), (0x7E0000, 0x7E0000, 64 * KiB),
    (0x7F0000, 0x7F0000, 32 * KiB), (0x7F8000, 0x7F8000, 8 * KiB), (0x7FFFFF, 0x7FE000, 8 * KiB),
])
def test_sst26_d8_block_sizes(addr: int, start: int, size: int) -> None:
    nor, _ = open_nor("SST26VF064B")
    nor.global_unlock()
    for a in (start - 16, start, start + size - 16, start + size):
        if 0 <= a < 8 * 1024 * KiB:
            fill(nor, a, 16)
    nor.erase(0xD8, addr, 1.0)
    assert erased(nor, start, 16) and erased(nor, start + size - 16, 16)
    if start >= 16:
        assert nor.read(start - 16, 16) == b"\x00" * 16
    if start + size < 8 * 1024 * KiB:
        assert nor.read(start + size, 16) == b"\x00" * 16
    assert nor.transport.chip.history[-1].size == size


def test_sst26_locked_at_power_up_until_global_unlock() -> None:
    nor, _ = open_nor("SST26VF064B")
    bpr = nor.read_bpr(18)
    assert bpr[0] == 0x55 and bpr[1] == 0x55  # 8 KiB blocks: write-lock bits set, read-lock clear
    assert bpr[2:] == b"\xff" * 16
    nor.page_program(0x20000, b"\x00" * 4)
    assert erased(nor, 0x20000, 4)
    assert nor.transport.chip.history[-1].result == "protected"
    assert not nor.read_status() & 0x02  # WEL cleared by the refused command
    nor.global_unlock()
    assert nor.read_bpr(18) == b"\x00" * 18
    nor.page_program(0x20000, b"\x00" * 4)
    assert nor.read(0x20000, 4) == b"\x00" * 4
    nor.erase(0x20, 0x20000, 1.0)
    assert erased(nor, 0x20000, 4)


def test_sst26_busy_sets_both_busy_bits() -> None:
    nor, _ = open_nor("SST26VF064B", time_scale=1000)
    nor.global_unlock()
    nor.write_enable()
    nor.command(0xD8, b"\x01\x00\x00")
    assert nor.read_status() & 0x81 == 0x81


def test_bp_protection_top_and_bottom() -> None:
    nor, _ = open_nor("W25Q128JV")
    top = 16 * 1024 * KiB
    fill(nor, top - 4 * KiB, 16)
    fill(nor, top - 512 * KiB, 16)
    fill(nor, 0, 16)
    nor.write_status(bytes([0x04]))  # BP0: upper 256 KiB protected
    nor.erase(0x20, top - 4 * KiB, 1.0)
    assert nor.read(top - 4 * KiB, 16) == b"\x00" * 16
    assert nor.transport.chip.history[-1].result == "protected"
    nor.erase(0x20, top - 512 * KiB, 1.0)
    assert erased(nor, top - 512 * KiB, 16)
    nor.write_status(bytes([0x24]))  # TB: now the bottom 256 KiB
    nor.page_program(0x100, b"\x00")
    assert nor.transport.chip.history[-1].result == "protected"
    nor.erase(0x20, 0, 1.0)
    assert nor.read(0, 16) == b"\x00" * 16
    nor.erase(0x20, top - 4 * KiB, 1.0)
    assert erased(nor, top - 4 * KiB, 16)
    nor.write_status(bytes([0x1C]))  # everything
    nor.chip_erase(1.0)
    assert nor.transport.chip.history[-1].result == "protected"


# -- busy --------------------------------------------------------------------


def test_busy_time_is_the_scaled_typical_and_blocks_other_commands() -> None:
    nor, t = open_nor("W25Q128JV")
    chip = t.chip
    fill(nor, 0, 4)
    chip.time_scale = 1000  # 45 ms -> 45 s: stays busy for the rest of the test
    nor.write_enable()
    nor.command(0x20, b"\x00\x00\x00")
    rec = chip.history[-1]
    assert rec.opcode == 0x20 and rec.typ_ms == 45 and rec.busy_s == pytest.approx(45.0)
    assert nor.read_status() & 0x03 == 0x03  # WIP and WEL while busy
    with pytest.raises(HardwareError, match="no chip answered"):
        nor.read_id()  # ignored while busy: the bus stays high
    assert nor.read(0, 4) == b"\xff" * 4  # read ignored too (not the data)
    with pytest.raises(ChipTimeout, match=r"0x20.*still busy|still busy.*0x20"):
        nor.wait_ready(0.005, opcode=0x20)
    chip.finish_now()
    assert nor.read_status() & 0x03 == 0
    assert erased(nor, 0, 4)


@pytest.mark.parametrize("name", [m for m in MODELS if m not in DATAFLASH])
def test_reported_busy_figures(name: str) -> None:
    model = get_model(name)
    assert model is not None
    nor, t = open_nor(name, time_scale=0.0001)
    if model.protection and model.protection.kind == "bpr":
        nor.global_unlock()
    elif nor.read_status() & 0x3C:  # BP bits set at power-up (SST25VF016B: all blocks protected)
        nor.write_enable()
        nor.command(0x01, b"\x00")
        nor.wait_ready(1)
        assert nor.read_status() & 0x3C == 0
    nor.page_program(0, b"\x00")
    rec = t.chip.history[-1]
    assert rec.result == "done" and rec.busy_s == pytest.approx(model.program.typ_ms / 1000 * 0.0001)
    for opcode in model.erase:
        blk = t.chip.erase_block(opcode, 0) or t.chip.erase_block(opcode, model.size - 1)
        if blk is None:
            continue
        nor.erase(opcode, blk[0], 5.0)
        rec = t.chip.history[-1]
        assert rec.result == "done"
        assert rec.typ_ms == model.erase_timing(opcode, blk[1]).typ_ms


# -- persistence and failure -------------------------------------------------


def test_image_persists_across_runs(tmp_path) -> None:
    img = tmp_path / "flash.bin"
    nor, t = open_nor("W25Q80DV", image=img)
    assert img.stat().st_size == 1024 * KiB
    nor.page_program(0x1000, b"hello")
    t.close()
    assert img.read_bytes()[0x1000:0x1005] == b"hello"
    nor, t = open_nor("W25Q80DV", image=img)
    assert nor.read(0x1000, 5) == b"hello"
    nor.erase(0x20, 0x1000, 1.0)
    assert img.read_bytes()[0x1000:0x1005] == b"\xff" * 5  # written through before close
    t.close()


def test_image_keeps_nonvolatile_registers(tmp_path) -> None:
    img = tmp_path / "s25.bin"
    nor, t = open_nor("S25FL127S", image=img)
    nor.write_status(bytes([0x00, 0x04]))
    t.close()
    nor, t = open_nor("S25FL127S", image=img)
    assert nor.read_status2() & 0x04
    t.close()


def test_image_of_the_wrong_size_is_refused(tmp_path) -> None:
    img = tmp_path / "small.bin"
    img.write_bytes(b"\xff" * 100)
    with pytest.raises(InputError, match="100 bytes"):
        open_transport(f"sim://W25Q80DV?image={img}")


def test_fail_after_vanishes_and_leaves_a_half_erased_sector(tmp_path) -> None:
    img = tmp_path / "flash.bin"
    nor, t = open_nor("W25Q80DV", image=img)
    fill(nor, 0x2000, 4 * KiB)
    t.close()
    n = 3  # WREN, RDSR (WEL check), the erase itself
    nor, t = open_nor("W25Q80DV", image=img, fail_after=n, time_scale=100)
    nor.write_enable()
    nor.command(0x20, b"\x00\x20\x00")
    assert t.transactions == n
    with pytest.raises(TransportError, match="vanished"):
        nor.read_status()
    with pytest.raises(TransportError):
        nor.read_id()
    assert t.chip.history[-1].result == "interrupted"
    t.close()
    data = img.read_bytes()
    assert data[0x2000:0x2800] == b"\xff" * 0x800  # first half erased
    assert data[0x2800:0x3000] == b"\x00" * 0x800  # second half not


def test_fail_after_half_programs_a_page(tmp_path) -> None:
    img = tmp_path / "p.bin"
    nor, t = open_nor("GD25Q64C", image=img, fail_after=3, time_scale=1000)
    nor.write_enable()
    nor.command(0x02, b"\x00\x00\x00" + b"\x00" * 8)
    with pytest.raises(TransportError):
        nor.read_status()
    t.close()
    assert img.read_bytes()[:8] == b"\x00" * 4 + b"\xff" * 4


def test_completed_operations_survive_a_killed_process(tmp_path) -> None:
    # the file is written after each operation, not at close
    img = tmp_path / "k.bin"
    nor, t = open_nor("W25Q128JV", image=img)
    nor.page_program(0x40, b"\x12\x34")
    with open(img, "rb") as f:
        f.seek(0x40)
        assert f.read(2) == b"\x12\x34"
    os.close(t.chip.storage._fd)  # simulate the process dying: no close()
    t.chip.storage._fd = None


# -- user-defined models -------------------------------------------------------


def test_model_from_dict_errors_name_the_field() -> None:
    with pytest.raises(InputError, match="size"):
        model_from_dict({"name": "X", "size": "3 KiB"})
    with pytest.raises(InputError, match="regions add up"):
        model_from_dict({"name": "X", "size": "1 MiB", "erase": {0x20: {}},
                         "regions": [{"size": "4 KiB", "blocks": {0x20: "4 KiB"}}]})
    with pytest.raises(InputError, match="unknown field 'colour'"):
        model_from_dict({"name": "X", "size": "1 MiB", "colour": "red"})
    with pytest.raises(InputError, match="no entry under erase"):
        model_from_dict({"name": "X", "size": "1 MiB",
                         "regions": [{"size": "1 MiB", "blocks": {0x20: "4 KiB"}}]})


def test_four_byte_addressing_on_a_large_chip() -> None:
    from flashcheck.transport.sim import SimTransport

    m = model_from_dict({
        "name": "BIG", "jedec_id": "ef 40 19", "size": "32 MiB",
        "erase": {0x20: {"typ_ms": 45, "max_ms": 400, "block": "4 KiB"}},
        "sfdp": {"revision": "1.6"},
    })
    nor = SpiNor(SimTransport(SimChip(m)), poll_interval_s=0)
    info = sfdp.parse(nor.read_sfdp_image())
    assert info.size == 32 * 1024 * KiB and info.address_bytes == "3or4"
    with pytest.raises(ValueError):
        nor.read(0x1800000, 1)  # does not fit 3 address bytes
    nor.enter_4byte()
    nor.page_program(0x1800000, b"\x5a")
    assert nor.read(0x1800000, 1) == b"\x5a"
    assert nor.read(0x0800000, 1) == b"\xff"  # not aliased into the lower half
    nor.erase(0x20, 0x1800000, 1.0)
    assert nor.read(0x1800000, 1) == b"\xff"
    nor.exit_4byte()
    nor.page_program(0x000010, b"\x00")
    assert nor.read(0x10, 1) == b"\x00"


from hypothesis import given as _given, settings as _settings, strategies as _st


@_settings(max_examples=60, deadline=None)
@_given(_st.integers(0, 2047), _st.binary(min_size=1, max_size=600), _st.binary(min_size=2048, max_size=2048))
def test_page_program_matches_a_byte_by_byte_reference(addr, data, before):
    """Page program wraps within its page, keeps only the last page's worth
    of an over-long write, and only clears bits."""
    from flashcheck.chip.spinor import SpiNor
    from flashcheck.transport import open_transport

    t = open_transport("sim://W25Q80DV")
    t.chip.data[:2048] = before
    SpiNor(t).page_program(addr, data)
    base = addr - addr % 256
    # bytes overwritten in the buffer: the last write wins, then AND with the array
    buf = {}
    for i, b in enumerate(data):
        buf[base + (addr - base + i) % 256] = b
    expect = bytearray(before)
    for pos, b in buf.items():
        expect[pos] &= b
    assert bytes(t.chip.data[:2048]) == bytes(expect)
