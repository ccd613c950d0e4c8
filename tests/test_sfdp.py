"""The SFDP decoder: sim images, spiflash's real dumps, malformed data, fuzzing."""

from __future__ import annotations

import struct

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flashcheck.chip import sfdp
from flashcheck.chip.sfdp import SfdpError, load_dump, parse
from flashcheck.errors import InputError
from flashcheck.sim import SimChip, builtin_models, get_model
from flashcheck.sim.sfdp_image import build_sfdp


def image(name: str, config: int = 0) -> bytes:
    m = get_model(name)
    assert m is not None
    return build_sfdp(m, config)


SIM_IMAGES = {n: image(n) for n, m in builtin_models().items() if m.sfdp is not None}


def spiflash_dumps() -> list[tuple[str, bytes]]:
    import spiflash

    out: dict[bytes, str] = {}
    for r in spiflash.records():
        if r.sfdp and r.sfdp not in out:
            out[r.sfdp] = "/".join(r.part_names)
    return [(name, data) for data, name in out.items()]


DUMPS = spiflash_dumps()


# -- structure ---------------------------------------------------------------


def test_to_json_has_exactly_the_agreed_keys() -> None:
    info = parse(SIM_IMAGES["W25Q128JV"])
    j = info.to_json()
    assert set(j) == {"revision", "size", "page_size", "erase_types", "uniform_4k", "sector_map"}
    assert j["revision"] == "1.5" and j["size"] == 16 * 1024 * 1024 and j["page_size"] == 256
    assert j["uniform_4k"] is True and j["sector_map"] is None
    e = j["erase_types"][0]
    assert set(e) == {"size", "opcode", "typ_ms", "max_ms"}
    assert e["size"] == 4096 and e["opcode"] == 0x20 and isinstance(e["opcode"], int)
    assert e["typ_ms"] == 48.0 and e["max_ms"] > e["typ_ms"]


def test_rev_1_0_has_no_times_or_page_size() -> None:
    info = parse(SIM_IMAGES["W25Q80DV"])
    assert info.revision == "1.0" and info.page_size is None
    assert [(s, o) for s, o, _t, _m in info.erase_types] == [(4096, 0x20), (32768, 0x52), (65536, 0xD8)]
    assert all(t is None and m is None for _s, _o, t, m in info.erase_types)


def test_s25fl127s_is_not_uniform_4k() -> None:
    info = parse(SIM_IMAGES["S25FL127S"])
    assert info.uniform_4k is False and info.erase_4k_opcode is None
    assert info.sector_map is None


def test_sst26_sector_map() -> None:
    info = parse(SIM_IMAGES["SST26VF064B"])
    assert info.sector_map is not None and len(info.sector_map) == 1
    regions = info.sector_map[0].regions
    assert [(r.start, r.size) for r in regions] == [
        (0, 0x8000), (0x8000, 0x8000), (0x10000, 0x7E0000), (0x7F0000, 0x8000), (0x7F8000, 0x8000)
    ]
    d8 = [[e.size for e in r.erase_types if e.opcode == 0xD8] for r in regions]
    assert d8 == [[8192], [32768], [65536], [32768], [8192]]
    assert all(any(e.opcode == 0x20 and e.size == 4096 for e in r.erase_types) for r in regions)
    assert info.sector_map_detect == ()
    j = info.to_json()["sector_map"]
    assert j[0]["id"] == 0 and j[0]["regions"][0] == {
        "start": 0, "size": 32768, "erase_types": [{"size": 4096, "opcode": 0x20}, {"size": 8192, "opcode": 0xD8}]
    }


def test_hybrid_sector_map_configurations_and_detection() -> None:
    info = parse(SIM_IMAGES["SIM-HYBRID-DEMO"])
    assert [d.opcode for d in info.sector_map_detect] == [0x35, 0x07]
    assert [d.mask for d in info.sector_map_detect] == [0x04, 0x80]
    by_id = {c.id: c for c in info.sector_map}
    assert sorted(by_id) == [0, 1, 2, 3]
    bottom = by_id[0].regions
    assert (bottom[0].start, bottom[0].size) == (0, 65536)
    assert {(e.size, e.opcode) for e in bottom[0].erase_types} == {(4096, 0x20), (65536, 0xD8)}
    assert {(e.size, e.opcode) for e in bottom[1].erase_types} == {(65536, 0xD8)}
    top = by_id[2].regions
    assert top[-1].start == 16 * 1024 * 1024 - 65536
    uniform = by_id[1].regions
    assert len(uniform) == 1 and {(e.size, e.opcode) for e in uniform[0].erase_types} == {(262144, 0xD8)}


# -- against spiflash ------------------------------------------------------------


def test_spiflash_ships_dumps() -> None:
    import spiflash

    assert len(DUMPS) >= 10
    # every whole dump a chip carries (Flash.sfdp_dumps) is among those tested
    raw = {d.sfdp.data for f in spiflash.flashes() for d in f.sfdp_dumps if not d.sfdp.partial}
    assert raw and raw <= {data for _n, data in DUMPS}


@pytest.mark.parametrize(("name", "data"), DUMPS, ids=[n for n, _d in DUMPS])
def test_real_dumps_agree_with_spiflash(name: str, data: bytes) -> None:
    import spiflash

    theirs = spiflash.parse_sfdp(data)
    ours = parse(data)
    assert ours.size == theirs.size
    assert [(s, o) for s, o, _t, _m in ours.erase_types] == [(e.size, e.opcode) for e in theirs.bfpt.erase_types]
    assert [None if t is None else round(t * 1000) for _s, _o, t, _m in ours.erase_types] == [
        e.typical_us for e in theirs.bfpt.erase_types
    ]
    assert ours.page_size == theirs.page_size
    assert ours.uniform_4k is (theirs.bfpt.uniform_4k if ours.uniform_4k is not None else None)
    assert ours.revision == theirs.revision
    assert sfdp.compare_with_spiflash(data) == []


@pytest.mark.parametrize("name", sorted(SIM_IMAGES))
def test_sim_images_agree_with_spiflash(name: str) -> None:
    import spiflash

    data = SIM_IMAGES[name]
    theirs = spiflash.parse_sfdp(data)
    ours = parse(data)
    assert not theirs.warnings
    assert ours.size == theirs.size
    assert [(s, o) for s, o, _t, _m in ours.erase_types] == [(e.size, e.opcode) for e in theirs.erase_types]
    assert (theirs.sector_map is not None) == (ours.sector_map is not None)


# -- malformed data ----------------------------------------------------------------


def _with(data: bytes, offset: int, value: bytes) -> bytes:
    return data[:offset] + value + data[offset + len(value):]


GOOD = SIM_IMAGES["W25Q128JV"]


@pytest.mark.parametrize(("data", "match"), [
    (b"", "too short"),
    (b"SFD", "too short"),
    (b"XFDP" + GOOD[4:], "no SFDP signature"),
    (_with(GOOD, 5, b"\x02"), "major revision 2"),
    (_with(GOOD, 6, b"\x20"), "parameter headers"),
    (GOOD[:40], "truncated"),
    (_with(GOOD, 12, b"\x00\x10\x00"), "past the end"),
    (_with(GOOD, 11, b"\x00"), "length 0"),
    (_with(GOOD, 11, b"\x05"), "at least 9"),
    (_with(GOOD, 12, b"\x11"), "not DWORD aligned"),
    (_with(GOOD, 16 + 4, struct.pack("<I", 0x8000003F)), "not credible"),
    (_with(GOOD, 16 + 4, struct.pack("<I", 7)), "not credible"),
    (_with(GOOD, 8, b"\x81"), "no Basic Flash Parameter Table"),
    (_with(GOOD, 16 + 28, b"\x1f"), "larger than the chip"),
])
def test_malformed(data: bytes, match: str) -> None:
    with pytest.raises(SfdpError, match=match):
        parse(data)


def test_sfdp_error_is_input_error_with_one_line() -> None:
    with pytest.raises(InputError) as e:
        parse(b"garbage!")
    assert "\n" not in str(e.value)


def test_sector_map_regions_must_cover_the_chip() -> None:
    data = bytearray(SIM_IMAGES["SST26VF064B"])
    # shrink the middle region of the (only) map by 64 KiB
    hdr = data[16:24]
    ptr = int.from_bytes(hdr[4:7], "little")
    off = ptr + 4 * 3  # map descriptor, region 0, region 1, region 2
    dw = struct.unpack_from("<I", data, off)[0]
    struct.pack_into("<I", data, off, dw - (256 << 8))
    with pytest.raises(SfdpError, match="regions cover"):
        parse(bytes(data))


def test_sector_map_region_count_past_the_end() -> None:
    data = bytearray(SIM_IMAGES["SST26VF064B"])
    ptr = int.from_bytes(data[20:23], "little")
    struct.pack_into("<I", data, ptr, struct.unpack_from("<I", data, ptr)[0] | 0x00FF0000)
    with pytest.raises(SfdpError, match="past the end of the table"):
        parse(bytes(data))


# -- fuzzing: only SfdpError may escape ----------------------------------------


def _only_sfdp_error(data: bytes) -> None:
    # sfdp._parse: without parse()'s last-resort wrapper, so a slip shows here
    try:
        info = sfdp._parse(data)
    except SfdpError as e:
        assert str(e) and "\n" not in str(e)
        return
    assert info.size > 0
    info.to_json()


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(st.binary(max_size=300))
def test_fuzz_random_bytes(data: bytes) -> None:
    _only_sfdp_error(data)
    _only_sfdp_error(b"SFDP" + data)


VALID = [d for _n, d in DUMPS] + list(SIM_IMAGES.values())


@settings(max_examples=500, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(
    st.sampled_from(VALID),
    st.lists(st.tuples(st.integers(0, 1023), st.integers(0, 255)), max_size=8),
    st.one_of(st.none(), st.integers(0, 600)),
)
def test_fuzz_mutated_images(base: bytes, flips: list[tuple[int, int]], cut: int | None) -> None:
    data = bytearray(base)
    for pos, value in flips:
        if data:
            data[pos % len(data)] = value
    if cut is not None:
        data = data[:cut]
    _only_sfdp_error(bytes(data))


# -- dumps on disk -------------------------------------------------------------


def _xxd(data: bytes) -> str:
    lines = []
    for off in range(0, len(data), 16):
        chunk = data[off:off + 16]
        groups = " ".join(chunk[i:i + 2].hex() for i in range(0, len(chunk), 2))
        text = "".join(chr(b) if 32 <= b < 127 else "." for b in chunk)
        lines.append(f"{off:08x}: {groups:<39}  {text}")
    return "\n".join(lines) + "\n"


def _hexdump_c(data: bytes) -> str:
    lines = []
    prev = None
    for off in range(0, len(data), 16):
        chunk = data[off:off + 16]
        if chunk == prev and len(chunk) == 16:
            if lines[-1] != "*":
                lines.append("*")
            continue
        prev = chunk
        left = " ".join(f"{b:02x}" for b in chunk[:8])
        right = " ".join(f"{b:02x}" for b in chunk[8:])
        text = "".join(chr(b) if 32 <= b < 127 else "." for b in chunk)
        lines.append(f"{off:08x}  {left:<23}  {right:<23}  |{text}|")
    lines.append(f"{len(data):08x}")
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("fmt", ["binary", "plain", "compact", "xxd", "hexdump"])
@pytest.mark.parametrize("pad", [0, 80])
def test_load_dump_formats(tmp_path, fmt: str, pad: int) -> None:
    data = SIM_IMAGES["SST26VF064B"] + b"\xff" * pad  # padding makes hexdump write '*'
    if fmt == "hexdump" and pad:
        assert "*" in _hexdump_c(data)
    p = tmp_path / f"dump.{fmt}"
    if fmt == "binary":
        p.write_bytes(data)
    elif fmt == "plain":
        p.write_text(" ".join(f"{b:02x}" for b in data) + "\n")
    elif fmt == "compact":
        p.write_text("\n".join(data[i:i + 32].hex() for i in range(0, len(data), 32)) + "\n")
    elif fmt == "xxd":
        p.write_text(_xxd(data))
    else:
        p.write_text(_hexdump_c(data))
    assert load_dump(p) == data
    assert sfdp.parse_file(p).size == 8 * 1024 * 1024


def test_load_dump_errors(tmp_path) -> None:
    with pytest.raises(SfdpError, match="no such file"):
        load_dump(tmp_path / "missing.bin")
    bad = tmp_path / "bad.txt"
    bad.write_text("53 46 zz 50\n")
    with pytest.raises(SfdpError, match=r"bad.txt:1: 'zz'"):
        load_dump(bad)
    blob = tmp_path / "blob.bin"
    blob.write_bytes(b"\x00\xff\xfe\x80")
    with pytest.raises(SfdpError, match="neither"):
        load_dump(blob)


def test_decoded_sim_sfdp_follows_the_chip_configuration() -> None:
    m = get_model("S25FL127S")
    chip = SimChip(m)
    chip.regs["SR2"] = 0x80
    info = parse(chip.sfdp_image())
    assert [(s, o) for s, o, _t, _m in info.erase_types] == [(262144, 0xD8)]


def test_compare_with_spiflash_reports_a_difference(monkeypatch) -> None:
    import dataclasses

    data = SIM_IMAGES["W25Q128JV"]
    real = sfdp.parse
    monkeypatch.setattr(sfdp, "parse", lambda d: dataclasses.replace(real(d), size=1, page_size=512))
    diff = sfdp.compare_with_spiflash(data)
    assert any("density" in d for d in diff) and any("page size" in d for d in diff)


def test_density_over_2_gbit_form() -> None:
    data = bytearray(SIM_IMAGES["W25Q128JV"])
    ptr = int.from_bytes(data[12:15], "little")
    struct.pack_into("<I", data, ptr + 4, 0x80000000 | 32)  # 2^32 bits = 512 MiB
    info = parse(bytes(data))
    assert info.size == 512 * 1024 * 1024
    import spiflash

    assert spiflash.parse_sfdp(bytes(data)).size == info.size


# -- hostile dumps (issue 14) ---------------------------------------------------


@pytest.mark.parametrize("text, match", [
    ("00000000  53 46 44 50 06 01 00 ff  00 06 01 10 30 00 00 ff  |SFDP........0...|\n*\n7fffffff\n", "past 1024 KiB"),
    ("00000000  53 46 44 50 06 01 00 ff  00 06 01 10 30 00 00 ff  |SFDP........0...|\n*\nffffffffffffffff\n", "past"),
    ("|53 46 44 50|\n", "is not a hexdump offset"),
    ("00000000  53 46 |SFDP|\n| |\n", "is not a hexdump offset"),
])
def test_hostile_hexdumps_are_one_line_errors(tmp_path, run, text: str, match: str) -> None:
    p = tmp_path / "d.txt"
    p.write_text(text)
    with pytest.raises(SfdpError, match=match):
        load_dump(p)
    code, out, err = run("sfdp", p)
    assert code == 2 and match.split()[0] in err and len(err.strip().splitlines()) == 1


def test_oversized_dumps_are_refused_before_reading_them_whole(tmp_path) -> None:
    big = tmp_path / "big.bin"
    big.write_bytes(sfdp.SIGNATURE + b"\0" * sfdp.MAX_DUMP)
    with pytest.raises(SfdpError, match="over 1024 KiB"):
        load_dump(big)
    hexbig = tmp_path / "big.txt"
    hexbig.write_text("00 " * (sfdp.MAX_DUMP + 1))
    with pytest.raises(SfdpError, match="over 1024 KiB"):
        load_dump(hexbig)


def test_sfdp_without_an_argument_says_what_to_give(run) -> None:
    code, out, err = run("sfdp")
    assert code == 2 and "give a dump FILE or --url" in err and "not both" not in err


def test_sfdp_on_a_directory(tmp_path, run) -> None:
    code, out, err = run("sfdp", tmp_path)
    assert code == 2 and "Traceback" not in err
