"""spidev transport: the ioctl boundary replaced by a fake kernel that
decodes each SPI_IOC_MESSAGE and clocks it through a simulated chip."""

from __future__ import annotations

import ctypes
import errno
import struct

import pytest

from flashcheck.errors import InputError, TransportError
from flashcheck.transport import open_transport
from flashcheck.transport import spidev as sd


class FakeKernel:
    """Stands in for /dev/spidevB.C: records every ioctl, decodes transfers,
    and passes each one to ``chip.exchange`` as one chip-select transaction."""

    def __init__(self, chip=None, refuse=None, fail_errno=None):
        self.chip = chip
        self.refuse = refuse or {}   # request -> errno
        self.fail_errno = fail_errno  # errno for SPI_IOC_MESSAGE
        self.opened: list[str] = []
        self.closed: list[int] = []
        self.settings: dict[str, int] = {}
        self.transfers: list[dict] = []

    def open(self, path):
        if path == "/dev/missing":
            raise FileNotFoundError(errno.ENOENT, "No such file", path)
        if path == "/dev/locked":
            raise PermissionError(errno.EACCES, "Permission denied", path)
        self.opened.append(path)
        return 42

    def close(self, fd):
        self.closed.append(fd)

    def ioctl(self, fd, request, arg):
        assert fd == 42
        if request in self.refuse:
            raise OSError(self.refuse[request], "refused")
        if request == sd.SPI_IOC_WR_MODE:
            self.settings["mode"] = arg[0]
        elif request == sd.SPI_IOC_WR_BITS_PER_WORD:
            self.settings["bits"] = arg[0]
        elif request == sd.SPI_IOC_WR_MAX_SPEED_HZ:
            self.settings["speed"] = struct.unpack("<I", bytes(arg))[0]
        elif request == sd.SPI_IOC_MESSAGE_1:
            assert len(arg) == 32
            tx, rx, n, speed, delay, bits, cs_change, *_ = struct.unpack(sd.XFER_FORMAT, bytes(arg))
            out = ctypes.string_at(tx, n)
            self.transfers.append({"tx": out, "len": n, "speed": speed, "bits": bits,
                                   "cs_change": cs_change, "delay": delay})
            if self.fail_errno:
                raise OSError(self.fail_errno, "transfer failed")
            # full duplex: the chip sees the command, then answers in the read phase
            rd = b""
            if self.chip is not None:
                cmdlen = self.cmdlen(out)
                rd = self.chip.exchange(out[:cmdlen], n - cmdlen)
            answer = b"\xff" * (n - len(rd)) + rd
            ctypes.memmove(rx, answer, n)
        else:
            raise AssertionError(f"unexpected ioctl {request:#x}")
        return 0

    cmd_lengths: dict[int, int] = {}

    def cmdlen(self, out: bytes) -> int:
        # the fake needs to know where the command ends; the test says so
        # a command sent alone (0xAB as a wake-up) has no read phase
        return min(self.cmd_lengths.get(out[0], len(out)), len(out))


@pytest.fixture
def kernel(monkeypatch):
    k = FakeKernel()
    monkeypatch.setattr(sd, "_open_device", k.open)
    monkeypatch.setattr(sd, "_close_device", k.close)
    monkeypatch.setattr(sd, "_ioctl", k.ioctl)
    monkeypatch.setattr(sd, "_bufsiz", lambda: 4096)
    return k


def test_request_numbers_match_linux_header():
    # values of the macros in linux/spi/spidev.h on every Linux architecture
    # with the generic ioctl encoding (x86, arm, arm64, riscv)
    assert sd.SPI_IOC_WR_MODE == 0x40016B01
    assert sd.SPI_IOC_WR_BITS_PER_WORD == 0x40016B03
    assert sd.SPI_IOC_WR_MAX_SPEED_HZ == 0x40046B04
    assert sd.SPI_IOC_MESSAGE_1 == 0x40206B00


def test_open_sets_mode_bits_and_speed(kernel):
    t = sd.open_spidev("spidev:///dev/spidev0.0?freq=4.5M&mode=3")
    assert kernel.opened == ["/dev/spidev0.0"]
    assert kernel.settings == {"mode": 3, "bits": 8, "speed": 4_500_000}
    assert t.description == "spidev /dev/spidev0.0 (4500000 Hz, mode 3)"
    t.close()
    t.close()
    assert kernel.closed == [42]


def test_one_exchange_is_one_transfer_with_cs_held(kernel):
    t = sd.open_spidev("spidev:///dev/spidev1.2", freq_hz=2e6)
    t.exchange(b"\x03\x12\x34\x56", 5)
    assert len(kernel.transfers) == 1
    x = kernel.transfers[0]
    assert x["tx"] == b"\x03\x12\x34\x56" + b"\xff" * 5
    assert x["len"] == 9 and x["speed"] == 2_000_000 and x["bits"] == 8
    assert x["cs_change"] == 0 and x["delay"] == 0
    assert t.exchange(b"", 0) == b"" and len(kernel.transfers) == 1


def test_read_phase_returns_bytes_after_command(kernel):
    class Chip:
        def exchange(self, out, readlen):
            assert out == b"\x9f"
            return bytes([0xEF, 0x40, 0x14, 0x00][:readlen])

    kernel.chip = Chip()
    kernel.cmd_lengths = {0x9F: 1}
    t = sd.open_spidev("spidev:///dev/spidev0.0")
    assert t.exchange(b"\x9f", 3) == b"\xef\x40\x14"


def test_simulated_chip_through_spidev(kernel):
    """A W25Q80DV simulator behind the fake kernel: program then read back."""
    sim = open_transport("sim://W25Q80DV")
    kernel.chip = sim
    kernel.cmd_lengths = {0x9F: 1, 0x05: 1, 0x03: 4}
    t = sd.open_spidev("spidev:///dev/spidev0.0")
    assert t.exchange(b"\x9f", 3) == b"\xef\x40\x14"
    t.exchange(b"\x06")
    t.exchange(b"\x02\x00\x02\x00" + b"spidev")
    for _ in range(100000):
        if not t.exchange(b"\x05", 1)[0] & 1:
            break
    assert t.exchange(b"\x03\x00\x02\x00", 7) == b"spidev\xff"
    assert bytes(sim.chip.data[0x200:0x206]) == b"spidev"
    sim.close()


def test_transaction_over_bufsiz_is_refused_unsplit(kernel):
    t = sd.open_spidev("spidev:///dev/spidev0.0")
    with pytest.raises(InputError, match=r"4100 bytes .*4096"):
        t.exchange(b"\x03\0\0\0", 4096)
    assert kernel.transfers == []
    assert t.max_transfer == 4096


@pytest.mark.parametrize(("url", "kw", "msg"), [
    ("spidev:///dev/spidev0.0?mode=4", {}, "mode='4'"),
    ("spidev:///dev/spidev0.0?mode=x", {}, "mode='x'"),
    ("spidev:///dev/spidev0.0?freq=fast", {}, "not a frequency"),
    ("spidev:///dev/spidev0.0?freq=10", {}, "out of range"),
    ("spidev:///dev/spidev0.0?speed=1M", {}, "unknown parameter 'speed'"),
    ("spidev:///dev/spidev0.0?mode=0&mode=1", {}, "given twice"),
    ("spidev://spidev0.0", {}, "device path"),
    ("spidev:///dev/spidev0.0", {"mode": 7}, "must be 0, 1, 2 or 3"),
    ("spidev:///dev/spidev0.0", {"wiring": {"reset_gpio": "AD4"}}, "reset_gpio=AD4"),
])
def test_bad_parameters_are_input_errors(kernel, url, kw, msg):
    with pytest.raises(InputError, match=msg):
        sd.open_spidev(url, **kw)
    assert kernel.opened == []


def test_missing_and_forbidden_devices(kernel):
    with pytest.raises(TransportError, match=r"/dev/missing: no such device.*dtparam=spi=on"):
        sd.open_spidev("spidev:///dev/missing")
    with pytest.raises(TransportError, match=r"/dev/locked: permission denied"):
        sd.open_spidev("spidev:///dev/locked")


def test_controller_refusing_mode_is_input_error_and_closes(kernel):
    kernel.refuse = {sd.SPI_IOC_WR_MODE: errno.EINVAL}
    with pytest.raises(InputError, match="refuses SPI mode 1"):
        sd.open_spidev("spidev:///dev/spidev0.0?mode=1")
    assert kernel.closed == [42]


def test_transfer_failure_is_transport_error(kernel):
    t = sd.open_spidev("spidev:///dev/spidev0.0")
    kernel.fail_errno = errno.ENODEV
    with pytest.raises(TransportError, match=r"/dev/spidev0\.0: transfer failed"):
        t.exchange(b"\x9f", 3)
    kernel.fail_errno = errno.EMSGSIZE
    with pytest.raises(InputError, match="refused a 4-byte transaction"):
        t.exchange(b"\x9f", 3)
    t.close()
    with pytest.raises(TransportError, match="closed"):
        t.exchange(b"\x9f", 3)


def test_open_transport_knows_spidev(kernel):
    sd.register()
    t = open_transport("spidev:///dev/spidev0.0?freq=8M", mode=0)
    assert isinstance(t, sd.SpidevTransport) and kernel.settings["speed"] == 8_000_000
    t.close()
