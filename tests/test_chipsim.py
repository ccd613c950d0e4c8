"""The simulator's chip behaviour (issue 12) and the chip layer's vendor
hooks (issue 10/11): each behaviour a real chip has, proved on the simulator
and, where a user meets it, through the CLI."""

from __future__ import annotations

import json
import shutil
import subprocess
import textwrap
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flashcheck.chip.spinor import OperationFailed, SpiNor
from flashcheck.chip.vendors import decode_bp_range, vendor_for
from flashcheck.errors import InputError
from flashcheck.sim import SimChip, builtin_models, get_model, load_yaml_model
from flashcheck.sim.models import CHIPS_DIR
from flashcheck.transport import open_transport

MiB = 1 << 20
CHIP = 16 * MiB


def nor_on(url: str) -> tuple[SpiNor, SimChip]:
    t = open_transport(url)
    nor = SpiNor(t, poll_interval_s=0)
    nor.identify()
    return nor, t.chip


def write_yaml(tmp_path: Path, text: str, name: str = "chip.yaml") -> Path:
    p = tmp_path / name
    p.write_text(textwrap.dedent(text))
    return p


# -- models as data files ------------------------------------------------------


def test_builtin_models_are_yaml_files_each_citing_a_source():
    files = sorted(CHIPS_DIR.glob("*.yaml"))
    assert len(files) == len(builtin_models()) >= 9
    for f in files:
        m = load_yaml_model(str(f))
        assert get_model(m.name) == m
        assert m.source, f"{f.name} names no source"


def test_sim_url_finds_a_builtin_model_file_and_a_user_file(tmp_path):
    nor, chip = nor_on("sim://w25q128jv?time_scale=0")
    assert nor.raw_id[:3] == bytes.fromhex("ef4018")
    src = (CHIPS_DIR / "W25Q80DV.yaml").read_text()
    p = write_yaml(tmp_path, src, "mine.yaml")
    nor2, chip2 = nor_on(f"sim:{p}")
    assert chip2.model.size == 1 * MiB and nor2.raw_id[:3] == bytes.fromhex("ef4014")


def test_source_block_gives_title_revision_and_where():
    m = get_model("W25Q128JV")
    assert m.citation["revision"].startswith("Revision D")
    assert "protection" in m.citation["where"]
    assert "Revision D" in m.source


_MIN = textwrap.dedent("""\
    name: RAWSFDP
    jedec_id: "ee 40 16"
    size: 4 MiB
    erase: {0x20: {typ_ms: 40, max_ms: 300, block: 4 KiB}}
""")


def test_sfdp_as_hex_bytes_is_answered_verbatim(tmp_path):
    from flashcheck.sim.sfdp_image import build_sfdp

    raw = build_sfdp(get_model("W25Q128JV"))  # any valid image: a 16 MiB chip's
    p = write_yaml(tmp_path, _MIN + f"sfdp: {{hex: \"{raw.hex(' ')}\"}}\n")
    nor, chip = nor_on(f"sim:{p}")
    assert nor.read_sfdp_image() == raw
    # the SFDP says 16 MiB while the array is 4 MiB: the model may lie
    assert chip.model.size == 4 * MiB


def test_sfdp_from_a_bin_file_beside_the_yaml(tmp_path):
    from flashcheck.sim.sfdp_image import build_sfdp

    raw = build_sfdp(get_model("W25Q80DV"))
    (tmp_path / "dump.bin").write_bytes(raw)
    p = write_yaml(tmp_path, _MIN + "sfdp: {file: dump.bin}\n")
    nor, _ = nor_on(f"sim:{p}")
    assert nor.read_sfdp_image() == raw


@pytest.mark.parametrize("sfdp,msg", [
    ("{hex: '00 11 22 33'}", "not the 'SFDP' signature"),
    ("{file: nothere.bin}", "sfdp.file"),
    ("{hex: 'zz'}", "sfdp.hex"),
])
def test_bad_sfdp_bytes_are_one_line_input_errors(tmp_path, sfdp, msg):
    p = write_yaml(tmp_path, _MIN + f"sfdp: {sfdp}\n")
    with pytest.raises(InputError) as e:
        load_yaml_model(str(p))
    assert msg in str(e.value) and "\n" not in str(e.value)


# -- status registers 2/3, CMP, SRP and WP# ------------------------------------


def test_sr2_and_sr3_have_their_own_write_opcodes():
    nor, chip = nor_on("sim://W25Q128JV?time_scale=0")
    nor.write_enable()
    nor.command(0x31, b"\x40")  # SR2: CMP
    nor.wait_ready(1)
    nor.write_enable()
    nor.command(0x11, b"\x04")  # SR3: WPS
    nor.wait_ready(1)
    assert nor.read_status2() == 0x42  # CMP written; QE (bit 1) is fixed at 1 on -IQ parts (W25Q128JV Rev. D 7.1.4)
    assert nor.read_config(0x15) == 0x04
    assert chip.regs["SR1"] == 0  # 0x31/0x11 did not touch SR1


def test_cmp_with_bp0_locks_the_whole_array_and_probe_says_so(run, tmp_path):
    img = tmp_path / "chip.bin"
    nor, chip = nor_on(f"sim://W25Q128JV?image={img}&time_scale=0")
    nor.write_enable()
    nor.command(0x31, b"\x40")  # CMP=1, BP=000: everything protected
    nor.wait_ready(1)
    assert nor.protected_ranges() == [(0, CHIP)]
    nor.write_enable()
    nor.command(0x20, b"\x00\x10\x00")  # refused: protected
    assert chip.history[-1].result == "protected"
    nor.transport.close()
    code, out, _ = run("probe", "--json", "--url", f"sim://W25Q128JV?image={img}", "--board", "imp003",
                       "--expect", "W25Q128JVSIQ")
    r = json.loads(out)
    prot = next(c for c in r["checks"] if c["rule"] == "protection as fitted")
    assert prot["ok"] is False and "0x000000-0xFFFFFF" in prot["detail"]
    assert r["verdict"] == "fail" and code == 1


def test_srp_with_wp_low_locks_the_status_registers():
    nor, chip = nor_on("sim://W25Q128JV?time_scale=0")
    nor.write_status(b"\x80")  # SRP
    chip.wp_high = False
    nor.write_enable()
    nor.command(0x01, b"\x9c")
    assert chip.history[-1].result == "sr-locked"
    assert nor.read_status() & 0x1C == 0
    assert nor.read_protection().status_locked
    chip.wp_high = True
    nor.write_status(b"\x9c")
    assert nor.read_status() & 0x1C == 0x1C


@pytest.mark.parametrize("sr1,sr2,want", [
    (0x04, 0x00, (0xFC0000, CHIP)),   # BP=001: upper 1/64 (256 KiB)
    (0x18, 0x00, (CHIP // 2, CHIP)),  # BP=110: upper half
    (0x24, 0x00, (0, 0x40000)),       # TB=1 BP=001: lower 256 KiB
    (0x44, 0x00, (CHIP - 4096, CHIP)),  # SEC=1 BP=001: top 4 KiB
    (0x04, 0x40, (0, 0xFC0000)),      # CMP=1 BP=001: lower 63/64
    (0x1C, 0x00, (0, CHIP)),          # BP=111: all
])
def test_w25q128jv_ranges_as_the_datasheet_tables(sr1, sr2, want):
    nor, chip = nor_on("sim://W25Q128JV?time_scale=0")
    nor.write_status(bytes([sr1, sr2]))
    assert nor.protected_ranges() == [want]
    assert chip.protected_range() == want  # the simulator's own decoding agrees


@settings(max_examples=200, deadline=None)
@given(bp=st.integers(0, 7), tb=st.booleans(), sec=st.booleans(), cmp=st.booleans(),
       size_log=st.integers(17, 26))
def test_bp_decoder_matches_the_simulator_everywhere(bp, tb, sec, cmp, size_log):
    """Two independent decodings (the vendor data + flashrom's algorithm,
    and the simulator's) of every BP/TB/SEC/CMP setting agree."""
    from flashcheck.sim import model_from_dict

    size = 1 << size_log
    m = model_from_dict({"name": "X", "jedec_id": "ef 40 18", "size": size,
                         "registers": [{"name": "SR1", "read": 5, "writable": 0xFC},
                                       {"name": "SR2", "read": 0x35, "writable": 0x43}],
                         "protection": {"kind": "bp", "mask": 0x1C, "unit": max(64 << 10, size // 64),
                                        "tb": {"mask": 0x20}, "sec": {"mask": 0x40},
                                        "cmp": {"register": "SR2", "mask": 0x40}}})
    chip = SimChip(m)
    chip.regs["SR1"] = bp << 2 | (0x20 if tb else 0) | (0x40 if sec else 0)
    chip.regs["SR2"] = 0x40 if cmp else 0
    start, end = decode_bp_range(bp, 3, size, tb=tb, sec=sec, cmp=cmp)
    assert (start, end) == chip.protected_range()
    assert 0 <= start <= end <= size


def test_unlock_and_relock_round_trip():
    nor, chip = nor_on("sim://W25Q128JV?time_scale=0")
    nor.write_status(b"\x24\x40")  # TB, BP0, CMP
    before = nor.unlock()
    assert nor.protected_ranges() == []
    nor.relock(before)
    assert (chip.regs["SR1"] & 0xFC, chip.regs["SR2"] & 0x40) == (0x24, 0x40)


def test_sst26_ranges_from_the_block_protection_register():
    nor, chip = nor_on("sim://SST26VF064B?time_scale=0")
    assert nor.protected_ranges() == [(0, 8 * MiB)]  # locked at power-up
    nor.global_unlock()
    assert nor.protected_ranges() == []


def test_no_vendor_id_bytes_in_workflows_probe():
    src = Path(__file__).parents[1] / "src/flashcheck/workflows/probe.py"
    text = src.read_text()
    for pat in ('b"\\xc2"', 'b"\\xbf', "raw_id[:1] ==", "raw_id[:2] =="):
        assert pat not in text


# -- deep power-down and reset -------------------------------------------------


def test_deep_power_down_answers_nothing_until_released():
    t = open_transport("sim://W25Q128JV?time_scale=0")
    t.exchange(b"\xb9", 0)
    assert t.exchange(b"\x9f", 3) == b"\xff\xff\xff"
    assert t.exchange(b"\x05", 1) == b"\xff"
    assert t.exchange(b"\xab\x00\x00\x00", 1) == b"\x17"  # release, with the device id
    assert t.exchange(b"\x9f", 3) == bytes.fromhex("ef4018")


def test_model_starting_asleep_is_identified_by_probe_after_waking(run, tmp_path):
    src = (CHIPS_DIR / "W25Q80DV.yaml").read_text() + "asleep: true\n"
    p = write_yaml(tmp_path, src)
    t = open_transport(f"sim:{p}")
    assert t.exchange(b"\x9f", 3) == b"\xff\xff\xff"  # asleep: 0x9F alone finds nothing
    t.close()
    code, out, err = run("probe", "--json", "--url", f"sim:{p}", "--board", "imp003")
    r = json.loads(out)
    assert r["jedec_id"] == "ef4014", err
    assert r["woken"][0].startswith("0xAB")
    wake = next(c for c in r["checks"] if c["rule"] == "wake")
    assert "0xAB" in wake["detail"] and "ef4014" in wake["detail"]
    code, out, _ = run("probe", "--url", "sim://W25Q80DV?asleep=1", "--board", "imp003")
    assert "0xAB" in out


def test_reset_needs_0x66_first():
    nor, chip = nor_on("sim://W25Q128JV?time_scale=0")
    nor.write_status(b"\x00\x00")
    nor.write_enable()
    nor.command(0x99)
    assert chip.wel  # 0x99 alone: nothing
    nor.command(0x66)
    nor.command(0x06)  # anything between disarms it
    nor.command(0x99)
    assert chip.wel
    nor.soft_reset()
    assert not chip.wel


def test_reset_aborts_an_operation_in_progress():
    nor, chip = nor_on("sim://W25Q128JV?time_scale=1")
    chip.data[0:4096] = b"\x00" * 4096
    nor.write_enable()
    nor.command(0x20, b"\x00\x00\x00")
    assert chip.busy
    nor.soft_reset()
    assert not chip.busy and chip.history[-1].result == "interrupted"


# -- Spansion error flags, suspend/resume, byte counts, 4-byte -------------------


def test_spansion_erase_error_is_reported_and_cleared():
    nor, chip = nor_on("sim://S25FL127S?time_scale=0")
    nor.write_status(b"\x1c")  # BP=111: all protected
    with pytest.raises(OperationFailed) as e:
        nor.erase(0xD8, 0, timeout_s=1)
    assert "E_ERR" in str(e.value) and "0x30" in str(e.value)
    assert e.value.status & 0x21 == 0x21 and chip.error  # reported at once, not after the timeout
    nor.clear_error()
    assert chip.error == 0 and not nor.read_status() & 0x63  # cleared: not busy, no WEL


def test_spansion_error_holds_wip_until_clear_status():
    t = open_transport("sim://S25FL127S?time_scale=0")
    t.exchange(b"\x06\x00", 0)  # wrong length for WREN does not matter here
    t.exchange(b"\x06", 0)
    t.exchange(b"\x01\x1c", 0)
    t.exchange(b"\x06", 0)
    t.exchange(b"\x02\x00\x00\x00\x00", 0)  # program into a protected page
    assert t.exchange(b"\x05", 1)[0] & 0x43 == 0x43  # P_ERR, WEL, WIP
    t.exchange(b"\x30", 0)
    assert t.exchange(b"\x05", 1)[0] & 0x63 == 0


def test_erase_suspend_lets_reads_in_and_resume_finishes():
    nor, chip = nor_on("sim://W25Q128JV?time_scale=1")
    chip.data[0:4096] = b"\x00" * 4096
    chip.data[8192:8200] = b"\x12" * 8
    nor.write_enable()
    nor.command(0x20, b"\x00\x00\x00")
    nor.command(0x75)
    assert not nor.read_status() & 0x01 and nor.read_status2() & 0x80  # WIP clear, SUS set
    assert nor.read(8192, 8) == b"\x12" * 8
    nor.command(0x7A)
    assert nor.read_status() & 0x01 and not nor.read_status2() & 0x80
    chip.finish_now()
    assert bytes(chip.data[0:4096]) == b"\xff" * 4096


@pytest.mark.parametrize("out", [b"\x20\x00\x10", b"\x20\x00\x10\x00\x00", b"\xc7\x00"])
def test_erase_with_the_wrong_byte_count_is_not_started(out):
    t = open_transport("sim://W25Q128JV?time_scale=0")
    chip = t.chip
    chip.data[0x1000:0x2000] = b"\x00" * 4096
    t.exchange(b"\x06", 0)
    t.exchange(out, 0)
    assert chip.history[-1].result == "bad-length"
    assert bytes(chip.data[0x1000:0x2000]) == b"\x00" * 4096


_BIG = """\
    name: BIG32
    jedec_id: "ef 40 19"
    size: 32 MiB
    erase:
      0x20: {typ_ms: 45, max_ms: 400, block: 4 KiB}
      0xD8: {typ_ms: 150, max_ms: 2000, block: 64 KiB}
"""


def test_4byte_opcodes_reach_past_16_mib_without_changing_the_mode(tmp_path):
    p = write_yaml(tmp_path, _BIG)
    nor, chip = nor_on(f"sim:{p}?time_scale=0")
    nor.use_4byte_opcodes = True
    addr = 0x1800000
    nor.erase(0x20, addr, 1)
    nor.page_program(addr, b"hello")
    assert nor.read(addr, 5) == b"hello"
    assert bytes(chip.data[addr:addr + 5]) == b"hello"
    assert not chip.addr4 and nor.addr_width == 3
    assert {h.opcode for h in chip.history} == {0x20, 0x02}  # done as the 3-byte commands


def test_enter_and_exit_4byte_mode(tmp_path):
    p = write_yaml(tmp_path, _BIG)
    nor, chip = nor_on(f"sim:{p}?time_scale=0")
    nor.enter_4byte()
    assert chip.addr4
    chip.data[0x1000010:0x1000012] = b"ok"
    assert nor.read(0x1000010, 2) == b"ok"
    nor.exit_4byte()
    assert not chip.addr4


# -- busy times --------------------------------------------------------------------


def test_seeded_busy_times_lie_between_typical_and_maximum():
    m = get_model("W25Q128JV")
    times = []
    for seed in (1, 1, 2):
        chip = SimChip(m, time_scale=1.0, seed=seed)
        times.append([chip.busy_ms(m.erase[0x20]) for _ in range(50)])
    assert times[0] == times[1] != times[2]
    assert all(45 <= t <= 400 for t in times[0]) and len(set(times[0])) > 40


def test_worn_chip_is_slower_than_its_maximum():
    nor, chip = nor_on("sim://W25Q80DV?time_scale=0.0001&worn=1.5")
    nor.erase(0x20, 0, timeout_s=1)
    rec = chip.history[-1]
    assert rec.busy_s == pytest.approx(300 * 1.5 / 1000 * 0.0001)  # tSE max 300 ms (W25Q80DV Rev. J, 9.6, up to 85 C)


@pytest.mark.parametrize("param", ["seed=x", "worn=0.5", "asleep=yes"])
def test_bad_behaviour_params_are_input_errors(param):
    with pytest.raises(InputError) as e:
        open_transport(f"sim://W25Q80DV?{param}")
    assert param.split("=")[0] in str(e.value)


# -- models written to lie ---------------------------------------------------------


def _uniform_4k_sfdp_hex() -> str:
    """A real-looking SFDP of a 16 MiB chip saying 4 KiB erase works everywhere."""
    from flashcheck.sim.sfdp_image import build_sfdp

    return build_sfdp(get_model("W25Q128JV")).hex()


def test_probe_catches_sfdp_claiming_uniform_4k_on_a_hybrid_part(run, tmp_path):
    """A chip answering as an S25FL127S whose SFDP says 4 KiB erase works
    everywhere: the database says otherwise, and probe says so."""
    src = (CHIPS_DIR / "S25FL127S.yaml").read_text().replace("name: S25FL127S", "name: LIAR")
    src = src.replace("sfdp: {revision: '1.6', bfpt_dwords: 16}", f'sfdp: {{hex: "{_uniform_4k_sfdp_hex()}"}}')
    p = write_yaml(tmp_path, src)
    assert load_yaml_model(str(p)).sfdp.raw is not None
    code, out, _ = run("probe", "--json", "--url", f"sim:{p}", "--board", "imp003")
    r = json.loads(out)
    four = [c for c in r["checks"] if c["rule"] == "4 KiB erase everywhere"]
    assert four and four[0]["ok"] is False and "says the opposite" in four[0]["detail"]
    assert r["verdict"] == "fail" and code == 1


def test_erase_test_catches_a_chip_whose_array_ignores_4k_in_the_upper_half(run, tmp_path):
    """Its SFDP claims 4 KiB everywhere; its array erases nothing with 0x20
    in the upper half: `flashcheck test` fails it."""
    p = write_yaml(tmp_path, f"""\
        name: HALF4K
        jedec_id: "ef 40 18"
        size: 16 MiB
        program: {{typ_ms: 0.4, max_ms: 3}}
        erase:
          0x20: {{typ_ms: 45, max_ms: 400}}
          0x52: {{typ_ms: 120, max_ms: 1600}}
          0xD8: {{typ_ms: 150, max_ms: 2000}}
        regions:
          - {{size: 8 MiB, blocks: {{0x20: 4 KiB, 0x52: 32 KiB, 0xD8: 64 KiB}}}}
          - {{size: 8 MiB, blocks: {{0x52: 32 KiB, 0xD8: 64 KiB}}}}
        registers:
          - {{name: SR1, read: 0x05, writable: 0xFC}}
          - {{name: SR2, read: 0x35, writable: 0x43}}
        sfdp: {{hex: "{_uniform_4k_sfdp_hex()}"}}
    """)
    img = tmp_path / "img.bin"
    code, out, err = run("test", "--url", f"sim:{p}?image={img}&time_scale=0", "--board", "imp003",
                         "--journal-dir", str(tmp_path / "j"))
    assert code == 1, out + err
    assert "0x20" in out


# -- flashrom against the simulator ---------------------------------------------

needs_flashrom = pytest.mark.skipif(shutil.which("flashrom") is None, reason="Debian's flashrom is not installed")


@needs_flashrom
def test_flashrom_sets_and_reads_back_a_wp_range_on_w25q128jv():
    from flashcheck.sim.serprog_server import SerprogServer

    t = open_transport("sim://W25Q128JV?time_scale=0")
    try:
        with SerprogServer(t, "127.0.0.1", 0) as srv:
            host, port = srv.address

            def flashrom(*args):
                return subprocess.run(["flashrom", "-p", f"serprog:ip={host}:{port}", *args],
                                      capture_output=True, text=True, timeout=300)

            r = flashrom("--wp-range=0,0xfc0000", "--wp-enable")
            assert r.returncode == 0, r.stdout + r.stderr
            r = flashrom("--wp-status")
            assert r.returncode == 0, r.stdout + r.stderr
            assert "start=0x00000000 length=0x00fc0000" in r.stdout
            assert "hardware" in r.stdout  # SRP set: WP# decides
        chip = t.chip
        assert chip.protected_range() == (0, 0xFC0000)  # CMP=1, BP=001
        assert chip.regs["SR2"] & 0x40 and chip.regs["SR1"] & 0x80
        # and our own decoding reads the same range back
        nor = SpiNor(t)
        nor.identify()
        assert nor.protected_ranges() == [(0, 0xFC0000)]
    finally:
        t.close()


def test_vendor_for_picks_hooks_by_id():
    assert vendor_for(bytes.fromhex("ef4018")).name.startswith("Winbond")
    assert vendor_for(bytes.fromhex("1f8901")).name.startswith("Winbond")  # AT25SF: Winbond-compatible
    assert vendor_for(bytes.fromhex("1f2701")).name == "generic"  # AT45DB DataFlash is not
    assert vendor_for(bytes.fromhex("c22018")).wp_bits.sr1_bp_mask == 0x3C
    assert vendor_for(bytes.fromhex("bf2643")).size_from_id(bytes.fromhex("bf2643")) == 8 * MiB


@pytest.mark.parametrize("name", sorted(m.name for m in builtin_models().values()))
def test_probe_gives_a_verdict_for_every_builtin_model_on_imp003(run, name):
    """Done when: probe works for every model (a verdict, never bad input or
    a hardware fault), and the wake-up is reported."""
    code, out, err = run("probe", "--json", "--url", f"sim://{name}?time_scale=0", "--board", "imp003")
    assert code in (0, 1, 3), out + err
    r = json.loads(out)
    assert r["verdict"] in ("pass", "fail", "unknown") and r["woken"]
