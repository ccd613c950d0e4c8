"""The virtual FT232H: pyftdi's own SpiController and the ftdi:// transport
run against an emulated MPSSE engine and a simulated chip (no hardware)."""

from __future__ import annotations

import usb.core

import pytest

pytest.importorskip("pyftdi")

from pyftdi.spi import SpiController  # noqa: E402
from pyftdi.usbtools import UsbTools  # noqa: E402

from flashcheck.chip.spinor import SpiNor  # noqa: E402
from flashcheck.errors import HardwareError, InputError, TransportError  # noqa: E402
from flashcheck.sim import SimChip, get_model  # noqa: E402
from flashcheck.transport import open_transport  # noqa: E402
from flashcheck.transport.vftdi import batch_exchange, open_sim_ftdi, plug, register  # noqa: E402
from flashcheck.transport.vftdi import backend as vbackend  # noqa: E402
from flashcheck.transport.vftdi.backend import VirtualFt232h  # noqa: E402
from flashcheck.transport.vftdi.mpsse import MpsseEngine  # noqa: E402

URL = "ftdi://ftdi:232h/1"


@pytest.fixture
def chip():
    c = SimChip(get_model("W25Q128JV"), time_scale=0.0)
    yield c
    c.close()


@pytest.fixture
def device(chip):
    dev = plug(VirtualFt232h(chip))
    yield dev
    dev.unplug(power_loss=False)


@pytest.fixture
def spi(device):
    ctrl = SpiController(cs_count=1)
    ctrl.configure(URL, frequency=1e6)
    yield ctrl
    ctrl.terminate()


@pytest.fixture
def sim_ftdi():
    opened = []

    def _open(url="sim+ftdi://W25Q128JV?time_scale=0", **kw):
        t = open_sim_ftdi(url, **kw)
        opened.append(t)
        return t

    yield _open
    for t in opened:
        t.close()


# -- pyftdi's own modules against the virtual device ------------------------


def test_spicontroller_reads_the_jedec_id(spi, device) -> None:
    port = spi.get_port(cs=0, freq=1e6, mode=0)
    assert bytes(port.exchange(b"\x9f", 3)) == bytes.fromhex("ef4018")
    # the chip saw one transaction: the opcode, then three clocked bytes
    rec = device.engine.transactions[-1]
    assert (rec.command, rec.clocked, rec.captured) == (b"\x9f", 3, bytes.fromhex("ef4018"))
    # pyftdi put the FT232H in MPSSE mode with the clock it asked for
    assert device.bitmode == 0x02
    assert device.engine.clock_hz == pytest.approx(1e6)  # 12 MHz / (2 * (5 + 1)), divide-by-5 on
    assert "adaptive clocking off" in device.engine.log


def test_enumeration_strings_and_descriptors(device) -> None:
    found = UsbTools.find_all([(0x0403, 0x6014)])
    assert len(found) == 1
    desc, ifcount = found[0]
    assert (desc.vid, desc.pid, desc.sn, desc.description, ifcount) == (0x0403, 0x6014, "VFT232H1", "Single RS232-HS", 1)


def test_sfdp_through_ftdi_equals_the_sim_image(spi, chip) -> None:
    port = spi.get_port(cs=0, freq=1e6)
    image = chip.sfdp_image()
    assert image and image[:4] == b"SFDP"
    got = bytes(port.exchange(b"\x5a\x00\x00\x00\x00", len(image)))
    assert got == image


def test_split_transaction_reads_on(spi) -> None:
    """exchange(stop=False) then exchange(start=False): one CS assertion, the
    read continues where it stopped."""
    port = spi.get_port(cs=0, freq=1e6)
    whole = bytes(port.exchange(b"\x5a\x00\x00\x00\x00", 24))
    first = bytes(port.exchange(b"\x5a\x00\x00\x00\x00", 10, stop=False))
    rest = bytes(port.exchange(b"", 14, start=False))
    assert first + rest == whole


def test_long_read_spans_usb_packets(spi, chip) -> None:
    """A read longer than one 512-byte USB packet: pyftdi strips the two
    status bytes at the start of every packet."""
    pattern = bytes(range(256)) * 8
    chip.data[0x1000 : 0x1000 + len(pattern)] = pattern
    port = spi.get_port(cs=0, freq=1e6)
    assert bytes(port.exchange(b"\x03\x00\x10\x00", len(pattern))) == pattern


def test_unknown_opcode_answers_bad_command(spi, device) -> None:
    ftdi = spi.ftdi
    ftdi.write_data(bytes((0xAB, 0x87)))
    assert ftdi.read_data(2) == b"\xfa\xab"
    assert device.engine.bad_commands == [0xAB]
    # the engine goes on with the next command
    port = spi.get_port(cs=0, freq=1e6)
    assert bytes(port.exchange(b"\x9f", 3)) == bytes.fromhex("ef4018")


def test_gpio_read_and_high_byte(spi, device) -> None:
    gpio = spi.get_gpio()
    gpio.set_direction(0x0110, 0x0110)  # AD4 and AC0 outputs
    gpio.write(0x0100)
    assert device.engine.pin_level(8) == 1 and device.engine.pin_level(4) == 0
    device.engine.inputs = 0xFFFF & ~0x0020  # something holds AD5 low
    assert gpio.read() & 0x0020 == 0


# -- the sim+ftdi:// transport ----------------------------------------------


def test_spinor_probe_matches_the_plain_sim(sim_ftdi) -> None:
    t = sim_ftdi()
    nor = SpiNor(t)
    ref = SpiNor(open_transport("sim://W25Q128JV?time_scale=0"))
    assert nor.read_id(6) == ref.read_id(6)
    assert nor.read_sfdp_image() == ref.read_sfdp_image()
    assert nor.read_status() == ref.read_status()
    assert nor.read_unique_id() is not None
    ref.transport.close()


def test_page_program_lands_in_the_simchip(sim_ftdi) -> None:
    t = sim_ftdi()
    nor = SpiNor(t, poll_interval_s=0)
    data = bytes(range(0x40, 0x80))
    nor.page_program(0x2100, data)
    chip = t.device.chip
    assert bytes(chip.data[0x2100 : 0x2100 + len(data)]) == data
    assert chip.history[-1].opcode == 0x02 and chip.history[-1].result == "done"
    assert nor.read(0x2100, len(data)) == data
    # the program command went to the chip whole, in one transaction
    assert any(r.command == b"\x02\x00\x21\x00" + data for r in t.transactions)


def test_reset_line_held_during_transactions_released_on_close(sim_ftdi) -> None:
    t = sim_ftdi(wiring={"reset_gpio": "AD4", "reset_active": "low", "settle_ms": 0})
    engine = t.engine
    nor = SpiNor(t)
    nor.read_id()
    nor.read_sfdp_image()
    assert engine.pin_level(4) == 0  # driven low: MCU in reset
    assert t.transactions and all(r.mcu_in_reset for r in t.transactions)
    assert all(r.gpio_dir & 0x10 and not r.gpio & 0x10 for r in t.transactions)
    t.close()
    assert engine.pin_level(4) is None  # released: the MCU's pull-up decides
    assert engine.mcu_in_reset is False


def test_reset_line_active_high_on_acbus(sim_ftdi) -> None:
    t = sim_ftdi(wiring={"reset_gpio": "AC0", "reset_active": "high", "settle_ms": 0})
    SpiNor(t).read_id()
    assert t.engine.pin_level(8) == 1
    assert t.transactions[-1].mcu_in_reset is True


def test_without_reset_wiring_nothing_is_recorded(sim_ftdi) -> None:
    t = sim_ftdi()
    SpiNor(t).read_id()
    assert t.transactions[-1].mcu_in_reset is None


def test_fail_after_pulls_the_cable(sim_ftdi) -> None:
    t = sim_ftdi("sim+ftdi://W25Q128JV?fail_after=2&time_scale=0")
    nor = SpiNor(t)
    nor.read_id()
    nor.read_status()
    with pytest.raises(TransportError) as e:
        nor.read_status()
    assert e.value.exit_code == 4
    assert "vanished" in str(e.value)
    assert not t.device.plugged and t.device.chip.dead
    assert len(t.transactions) == 2
    # the bus no longer shows it; pyusb calls on it fail like a pulled cable
    assert vbackend.get_backend() is None
    with pytest.raises(usb.core.USBError):
        t.device.bulk_read(0x81, bytearray(512))
    with pytest.raises(TransportError):
        t.exchange_many([(b"\x9f", 3)])
    t.close()  # closing a device that is gone does not raise


def test_fail_after_zero_fails_the_first_exchange(sim_ftdi) -> None:
    t = sim_ftdi("sim+ftdi://W25Q128JV?fail_after=0")
    with pytest.raises(TransportError):
        t.exchange(b"\x9f", 3)


def test_empty_bus_reads_ones(sim_ftdi) -> None:
    t = sim_ftdi("sim+ftdi://none")
    assert t.exchange(b"\x9f", 3) == b"\xff\xff\xff"
    with pytest.raises(HardwareError, match="no chip answered"):
        SpiNor(t).read_id()


def test_bad_urls(sim_ftdi) -> None:
    with pytest.raises(InputError, match="unknown parameter 'speed'"):
        open_sim_ftdi("sim+ftdi://W25Q128JV?speed=1")
    with pytest.raises(InputError, match="unknown sim model"):
        open_sim_ftdi("sim+ftdi://NOPE123")
    with pytest.raises(InputError, match="30 MHz"):
        open_sim_ftdi("sim+ftdi://W25Q128JV?freq=40M")
    with pytest.raises(InputError, match="fail_after"):
        open_sim_ftdi("sim+ftdi://W25Q128JV?fail_after=x")
    assert vbackend.plugged() == []  # nothing left plugged by a failed open


def test_one_virtual_device_at_a_time(sim_ftdi) -> None:
    sim_ftdi()
    with pytest.raises(TransportError, match="already open"):
        open_sim_ftdi("sim+ftdi://W25Q128JV")


def test_close_unplugs_and_restores_pyftdi_backends(sim_ftdi) -> None:
    t = sim_ftdi()
    assert vbackend.MODULE in UsbTools.BACKENDS
    t.close()
    assert vbackend.MODULE not in UsbTools.BACKENDS
    assert vbackend.plugged() == []


def test_registry_opens_sim_ftdi() -> None:
    register()
    t = open_transport("sim+ftdi://W25Q128JV?time_scale=0", freq_hz=4.5e6)
    try:
        assert "virtual FT232H" in t.description
        assert SpiNor(t).read_id()[:3] == bytes.fromhex("ef4018")
    finally:
        t.close()


# -- batching and the transfer counter ----------------------------------------


def test_transfer_counter_counts(sim_ftdi) -> None:
    t = sim_ftdi()
    s = t.stats
    assert s.ctrl_out > 0 and s.ctrl_in > 0  # enumeration and set-up
    before = s.as_dict()
    t.exchange(b"\x9f", 3)
    after = s.as_dict()
    assert after["round_trips"] == before["round_trips"] + 1
    assert after["bulk_out"] == before["bulk_out"] + 1
    assert after["bulk_in_payload"] == before["bulk_in_payload"] + 3
    assert after["ctrl_out"] == before["ctrl_out"]
    t.exchange(b"\x06")  # a write-only transaction waits for no answer
    assert s.round_trips == after["round_trips"]
    assert s.bulk_out == after["bulk_out"] + 1
    s.reset()
    assert s.transfers == 0


def test_exchange_many_is_one_round_trip_with_the_same_answers(sim_ftdi) -> None:
    t = sim_ftdi()
    items = [(b"\x9f", 6), (b"\x05", 1), (b"\x5a\x00\x00\x00\x00", 256), (b"\x4b\x00\x00\x00\x00", 8), (b"\x06", 0)]
    one_by_one = [t.exchange(o, n) for o, n in items[:-1]]
    first = len(t.transactions)
    rt = t.stats.round_trips
    batched = t.exchange_many(items)
    assert batched[:-1] == one_by_one and batched[-1] == b""
    assert t.stats.round_trips == rt + 1
    # the chip saw each transaction on its own (CS released in between)
    assert [r.command for r in t.transactions[first:]] == [o for o, _n in items]
    assert t.exchange_many([]) == []


def test_exchange_many_keeps_the_reset_line(sim_ftdi) -> None:
    t = sim_ftdi(wiring={"reset_gpio": "AD5", "settle_ms": 0})
    first = len(t.transactions)
    t.exchange_many([(b"\x9f", 3), (b"\x05", 1)])
    assert [r.mcu_in_reset for r in t.transactions[first:]] == [True, True]


def test_exchange_many_mode3_falls_back_per_transaction(sim_ftdi) -> None:
    t = sim_ftdi(mode=3)
    t.exchange(b"\x05", 1)  # pyftdi sets its 3-phase clock on the first exchange
    rt = t.stats.round_trips
    assert batch_exchange(t, [(b"\x9f", 3), (b"\x05", 1)]) == [bytes.fromhex("ef4018"), b"\x00"]
    assert t.stats.round_trips == rt + 2


# -- the MPSSE engine on its own -------------------------------------------------


def _selected(engine: MpsseEngine, body: bytes) -> None:
    engine.write(bytes((0x80, 0x00, 0x0B)) + body + bytes((0x80, 0x08, 0x0B)))


def test_engine_commands_split_across_writes(chip) -> None:
    e = MpsseEngine(chip)
    e.set_mode(True)
    stream = bytes((0x80, 0x00, 0x0B, 0x11, 0x00, 0x00, 0x9F, 0x24, 0x02, 0x00, 0x80, 0x08, 0x0B, 0x87))
    for b in stream:  # one byte per USB transfer
        e.write(bytes((b,)))
    assert e.read(10) == bytes.fromhex("ef4018")


def test_engine_lsb_first_and_cs_high(chip) -> None:
    e = MpsseEngine(chip)
    e.set_mode(True)
    rev = int(f"{0x9F:08b}"[::-1], 2)
    _selected(e, bytes((0x19, 0x00, 0x00, rev, 0x28, 0x00, 0x00)))  # LSB-first write, read 1
    assert e.read(1) == bytes((int(f"{0xEF:08b}"[::-1], 2),))
    e.write(bytes((0x20, 0x01, 0x00)))  # clocked with CS high: nobody answers
    assert e.read(2) == b"\xff\xff"
    assert len(e.transactions) == 1


def test_engine_loopback_and_bad_commands_in_reset_mode(chip) -> None:
    e = MpsseEngine(chip)
    e.write(b"\xab")  # not in MPSSE mode: ignored
    assert e.read(2) == b""
    e.set_mode(True)
    e.write(bytes((0x84, 0x31, 0x01, 0x00, 0x12, 0x34, 0x85, 0x00)))
    assert e.read(4) == b"\x12\x34\xfa\x00"
    assert e.loopback is False and e.bad_commands == [0x00]


# -- the CLI --------------------------------------------------------------------


def test_cli_probe_through_the_virtual_ft232h(run) -> None:
    code, out, _err = run("probe", "--url", "sim+ftdi://W25Q128JV?time_scale=0")
    assert code == 0
    assert "ef4018" in out and "W25Q128JV" in out
    assert vbackend.plugged() == []  # the probe closed the device


def test_cli_pulled_cable_exits_4(run) -> None:
    code, _out, err = run("probe", "--url", "sim+ftdi://W25Q128JV?fail_after=2")
    assert code == 4
    assert "vanished" in err and "USB cable" in err
    assert vbackend.plugged() == []


# -- the FT232H's 1 KiB FIFOs --------------------------------------------------------


def test_unread_answers_plus_more_commands_stall_like_hardware(spi, device) -> None:
    """A 2000-byte read, then more than 1 KiB of further commands in the same
    write: the FT232H stops taking commands while its answers wait, the host
    waits in its write -- on hardware a USB timeout."""
    from pyftdi.ftdi import FtdiError

    select, deselect = bytes((0x80, 0x00, 0x0B)), bytes((0x80, 0x08, 0x0B))
    cmd = select + bytes((0x11, 0x03, 0x00)) + bytes((0x03, 0, 0, 0)) + bytes((0x24, 0xCF, 0x07)) + deselect * 400
    with pytest.raises(FtdiError, match="timed out"):
        spi.ftdi.write_data(cmd)
    assert device.stalls


def test_long_write_streams_through_the_fifo(spi, chip) -> None:
    """Data longer than the FIFO in one write command does not stall."""
    port = spi.get_port(cs=0, freq=1e6)
    port.exchange(b"\x06")
    port.exchange(b"\x02\x00\x30\x00" + b"\x5a" * 3000)  # the chip keeps the last 256 (page wrap)
    assert bytes(chip.data[0x3000:0x3100]) == b"\x5a" * 256


def test_exchange_many_splits_batches_the_fifos_cannot_hold(sim_ftdi) -> None:
    t = sim_ftdi()
    t.device.chip.data[:0x2000] = bytes(range(256)) * 32
    items = [(b"\x03" + (i * 100).to_bytes(3, "big"), 100) for i in range(60)]
    rt, out = t.stats.round_trips, t.stats.bulk_out_bytes
    got = t.exchange_many(items)
    assert got == [bytes(t.device.chip.data[i * 100 : i * 100 + 100]) for i in range(60)]
    assert t.stats.bulk_out_bytes - out > 1024  # too much for one batch: 6000 bytes answer too
    assert not t.device.stalls
    assert 1 < t.stats.round_trips - rt < 10


# -- property: the FTDI path answers what the chip answers ----------------------------

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

# -- SPI mode, clock and wait-on-pin (issue 12) ----------------------------------


@pytest.mark.parametrize("mode,good", [(0, True), (3, True), (1, False), (2, False)])
def test_spi_mode_matters_as_on_hardware(device, mode, good) -> None:
    """The flash takes modes 0 and 3; pyftdi's mode 1 and 2 clocking garbles."""
    ctrl = SpiController(cs_count=1)
    ctrl.configure(URL, frequency=1e6)
    try:
        port = ctrl.get_port(cs=0, freq=1e6, mode=mode)
        ident = bytes(port.exchange(b"\x9f", 3))
    finally:
        ctrl.terminate()
    assert (ident == bytes.fromhex("ef4018")) == good, ident.hex()
    assert device.engine.transactions[-1].command == b"\x9f"


def test_clock_divisor_sets_simulated_bus_time(device) -> None:
    times = {}
    for freq in (1e6, 10e6):
        ctrl = SpiController(cs_count=1)
        ctrl.configure(URL, frequency=freq)
        try:
            port = ctrl.get_port(cs=0, freq=freq, mode=0)
            before = device.engine.bus_time_s
            port.exchange(b"\x03\x00\x00\x00", 4096)
            times[freq] = device.engine.bus_time_s - before
        finally:
            ctrl.terminate()
    # 4100 bytes: 32.8 ms at 1 MHz, a tenth of that at 10 MHz
    assert times[1e6] == pytest.approx(4100 * 8 / 1e6, rel=0.02)
    assert times[1e6] / times[10e6] == pytest.approx(10, rel=0.05)


def test_wait_on_pin_holds_later_commands(chip) -> None:
    e = MpsseEngine(chip)
    e.set_mode(True)
    e.set_input(5, 0)  # GPIOL1 low
    _selected(e, bytes((0x89 - 1, 0x11, 0x00, 0x00, 0x9F, 0x24, 0x02, 0x00)))  # 0x88: wait for high
    assert e.read(3) == b"" and not e.transactions  # still waiting
    e.set_input(5, 1)
    assert e.read(3) == bytes.fromhex("ef4018")


_reads = st.one_of(
    st.tuples(st.just(b"\x9f"), st.integers(0, 8)),
    st.tuples(st.sampled_from([b"\x05", b"\x35", b"\x15"]), st.integers(0, 3)),
    st.builds(lambda a, n: (b"\x03" + a.to_bytes(3, "big"), n), st.integers(0, 0xFFFFFF), st.integers(0, 1500)),
    st.builds(lambda a, n: (b"\x5a" + a.to_bytes(3, "big") + b"\x00", n), st.integers(0, 0x200), st.integers(0, 600)),
    st.builds(lambda a, n: (b"\x0b" + a.to_bytes(3, "big") + b"\x00", n), st.integers(0, 0xFFFFFF), st.integers(0, 700)),
)


@pytest.fixture(scope="module")
def patterned():
    t = open_sim_ftdi("sim+ftdi://W25Q128JV?time_scale=0")
    data = t.device.chip.data
    data[:] = (bytes(range(251)) * (len(data) // 251 + 1))[: len(data)]  # period 251: no two pages alike
    yield t
    t.close()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(items=st.lists(_reads, min_size=1, max_size=12), batched=st.booleans())
def test_ftdi_path_answers_what_the_chip_answers(patterned, items, batched) -> None:
    """Random read transactions (lengths across USB packet and FIFO sizes),
    one by one or batched: the bytes pyftdi hands back are what the chip
    answers to the same transaction directly."""
    t = patterned
    got = t.exchange_many(items) if batched else [t.exchange(o, n) for o, n in items]
    want = [t.device.chip.transact(o, n) for o, n in items]
    assert got == want
    assert not t.device.stalls

