"""SpiNor: the bytes it sends, and how it reads answers and failures."""

from __future__ import annotations

import pytest

from flashcheck.chip import sfdp
from flashcheck.chip.spinor import SpiNor
from flashcheck.errors import ChipTimeout, HardwareError
from flashcheck.transport import open_transport


class Recorder:
    """A transport that logs what is sent and answers from a function."""

    description = "recorder"

    def __init__(self, answer=None) -> None:
        self.sent: list[tuple[bytes, int]] = []
        self.answer = answer or (lambda out, n: b"\x00" * n)

    def exchange(self, out: bytes, readlen: int = 0) -> bytes:
        self.sent.append((bytes(out), readlen))
        return self.answer(bytes(out), readlen)

    def close(self) -> None:
        pass


def test_read_id_no_chip_all_ff() -> None:
    nor = SpiNor(open_transport("sim://none"))
    with pytest.raises(HardwareError) as e:
        nor.read_id()
    msg = str(e.value)
    assert "no chip answered (ID ff ff ff)" in msg
    for word in ("wiring", "power", "reset", "voltage"):
        assert word in msg
    assert e.value.exit_code == 4


def test_read_id_no_chip_all_zero() -> None:
    nor = SpiNor(Recorder())
    with pytest.raises(HardwareError, match="ID 00 00 00"):
        nor.read_id()


def test_command_bytes() -> None:
    r = Recorder(lambda out, n: b"\x5a" * n)
    nor = SpiNor(r, poll_interval_s=0)
    nor.read_id(6)
    nor.read_sfdp(0x123, 4)
    nor.read(0x012345, 2)
    nor.read_status()
    nor.read_status2()
    nor.read_config()
    nor.read_unique_id()
    nor.read_bpr(18)
    assert r.sent == [
        (b"\x9f", 6),
        (b"\x5a\x00\x01\x23\x00", 4),
        (b"\x03\x01\x23\x45", 2),
        (b"\x05", 1),
        (b"\x35", 1),
        (b"\x15", 1),
        (b"\x4b\x00\x00\x00\x00", 8),
        (b"\x72", 18),
    ]


def test_four_byte_addresses() -> None:
    r = Recorder(lambda out, n: b"\x02" * n)  # WEL set, WIP clear
    nor = SpiNor(r, addr_width=4, poll_interval_s=0)
    nor.read(0x01234567, 1)
    nor.erase(0x21, 0x01230000, 1.0)
    assert (b"\x03\x01\x23\x45\x67", 1) in r.sent
    assert (b"\x21\x01\x23\x00\x00", 0) in r.sent
    with pytest.raises(ValueError):
        SpiNor(r, addr_width=3).read(1 << 24, 1)
    nor3 = SpiNor(r)
    nor3.enter_4byte()
    assert nor3.addr_width == 4 and r.sent[-1] == (b"\xb7", 0)


def test_write_enable_checks_wel() -> None:
    nor = SpiNor(Recorder(lambda out, n: b"\x00" * n))  # WEL never sets
    with pytest.raises(HardwareError, match="WEL clear"):
        nor.write_enable()


def test_erase_and_program_sequence() -> None:
    r = Recorder(lambda out, n: b"\x02" * n)
    nor = SpiNor(r, poll_interval_s=0)
    nor.page_program(0x100, b"\x01\x02")
    ops = [o for o, _n in r.sent]
    assert ops == [b"\x06", b"\x05", b"\x02\x00\x01\x00\x01\x02", b"\x05"]


def test_wait_ready_timeout_names_opcode_and_time() -> None:
    now = [0.0]

    def clock() -> float:
        return now[0]

    def sleep(s: float) -> None:
        now[0] += s

    nor = SpiNor(Recorder(lambda out, n: b"\x03" * n), clock=clock, sleep=sleep, poll_interval_s=0.1)
    with pytest.raises(ChipTimeout) as e:
        nor.wait_ready(0.5, opcode=0xD8, addr=0x10000)
    msg = str(e.value)
    assert "0xD8" in msg and "0x010000" in msg and "0.6" in msg
    assert e.value.exit_code == 4


def test_wait_ready_returns_time_waited_and_busy_seen() -> None:
    answers = iter([b"\x03", b"\x03", b"\x00"])
    now = [0.0]
    nor = SpiNor(Recorder(lambda out, n: next(answers)), clock=lambda: now[0],
                 sleep=lambda s: now.__setitem__(0, now[0] + s), poll_interval_s=0.25)
    assert nor.wait_ready(5.0) == pytest.approx(0.5)
    assert nor.last_busy_seen


def test_read_unique_id_none_when_all_ff_or_zero() -> None:
    assert SpiNor(Recorder(lambda o, n: b"\xff" * n)).read_unique_id() is None
    assert SpiNor(Recorder(lambda o, n: b"\x00" * n)).read_unique_id() is None
    assert SpiNor(Recorder(lambda o, n: b"\x12" * n)).read_unique_id() == b"\x12" * 8


def test_sfdp_image_of_a_chip_without_sfdp_is_none() -> None:
    nor = SpiNor(open_transport("sim://M25P16"))
    assert nor.read_sfdp_image() is None


def test_sfdp_image_reads_up_to_the_last_table() -> None:
    nor = SpiNor(open_transport("sim://SST26VF064B"))
    img = nor.read_sfdp_image()
    chip_img = nor.transport.chip.sfdp_image()
    assert img == chip_img
    assert sfdp.parse(img).sector_map is not None


def test_sfdp_image_with_absurd_pointer_is_a_hardware_error() -> None:
    hdr = b"SFDP\x06\x01\x00\xff" + bytes([0x00, 0x06, 0x01, 0x10, 0x00, 0x00, 0x80, 0xFF])

    def answer(out: bytes, n: int) -> bytes:
        addr = int.from_bytes(out[1:4], "big")
        return (hdr[addr:addr + n] + b"\xff" * n)[:n]

    nor = SpiNor(Recorder(answer))
    with pytest.raises(HardwareError, match="past any real SFDP area"):
        nor.read_sfdp_image()


def test_sector_map_in_use_follows_the_chip() -> None:
    nor = SpiNor(open_transport("sim://SIM-HYBRID-DEMO"), poll_interval_s=0)
    info = sfdp.parse(nor.read_sfdp_image())
    cfg = nor.sector_map_in_use(info)
    assert cfg.id == 0 and cfg.regions[0].size == 65536
    nor.write_status(bytes([0x00, 0x04]))  # TBPARM: parameter sectors on top
    cfg = nor.sector_map_in_use(info)
    assert cfg.id == 2 and cfg.regions[-1].start == 16 * 1024 * 1024 - 65536
    plain = sfdp.parse(SpiNor(open_transport("sim://W25Q128JV")).read_sfdp_image())
    assert nor.sector_map_in_use(plain) is None


def test_short_answer_is_a_hardware_error() -> None:
    nor = SpiNor(Recorder(lambda o, n: b"\x01"))
    with pytest.raises(HardwareError, match="asked for 6 bytes, got 1"):
        nor.read_id()


def test_sector_map_detection_with_address_and_variable_dummy() -> None:
    from flashcheck.chip.sfdp import DetectCommand, Region, SectorMapConfig, SfdpInfo

    r = Recorder(lambda out, n: b"\x80" * n)
    cfgs = [SectorMapConfig(i, (Region(0, 1 << 20, ()),)) for i in range(4)]
    info = SfdpInfo("1.6", 1 << 20, 256, [], None, cfgs, sector_map_detect=(
        DetectCommand(0x65, 0x800004, 3, 8, 0x80), DetectCommand(0x65, 0x800002, -1, -1, 0x01)))
    assert SpiNor(r).sector_map_in_use(info).id == 2
    assert r.sent == [(b"\x65\x80\x00\x04\x00", 1), (b"\x65\x80\x00\x02", 1)]


def test_read_is_chunked_to_the_transports_limits():
    """spidev's buffer and a serprog programmer's read length cap one
    transaction; SpiNor.read splits a long read and the data stays whole."""
    from flashcheck.chip.spinor import SpiNor
    from flashcheck.transport import open_transport

    t = open_transport("sim://W25Q80DV")
    nor = SpiNor(t)
    nor.page_program(0x100, bytes(range(256)))
    calls = []
    real = t.exchange

    class Limited:
        description = "limited"
        max_transfer = 64  # 1 opcode + 3 address bytes + 60 data bytes

        def exchange(self, out, readlen=0):
            assert len(out) + readlen <= self.max_transfer
            calls.append(readlen)
            return real(out, readlen)

        def close(self):
            pass

    data = SpiNor(Limited()).read(0xF0, 300)
    assert data == b"\xff" * 16 + bytes(range(256)) + b"\xff" * 28
    assert max(calls) == 60 and len(calls) == 5
