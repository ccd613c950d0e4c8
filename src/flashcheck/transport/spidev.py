"""Linux spidev: ``spidev:///dev/spidev0.0?freq=1M&mode=0``.

A SPI controller the kernel exposes as ``/dev/spidevB.C`` (bus B, chip
select C), e.g. a Raspberry Pi's SPI0 with ``dtparam=spi=on``; wiring in
``hw/wiring.md``.  It is driven with plain ioctls (``linux/spi/spidev.h``),
so no extra Python package is needed:

- ``SPI_IOC_WR_MODE``, ``SPI_IOC_WR_BITS_PER_WORD`` (8) and
  ``SPI_IOC_WR_MAX_SPEED_HZ`` once at open;
- every :meth:`SpidevTransport.exchange` is exactly one
  ``SPI_IOC_MESSAGE(1)``: one ``spi_ioc_transfer`` of ``len(out) +
  readlen`` bytes with ``cs_change`` 0, so chip select stays asserted from
  the first byte out to the last byte in, as a flash command needs.  The
  read phase clocks out 0xFF.

The kernel refuses a message longer than the spidev module's ``bufsiz``
(``/sys/module/spidev/parameters/bufsiz``, 4096 by default; raise it with
``spidev.bufsiz=65536`` on the kernel command line).  A transaction cannot
be split without releasing chip select, so a longer one is an InputError;
``max_transfer`` says the limit (read in chunks of at most that, minus the
command bytes).

Parameters: ``freq`` (SPI clock, e.g. ``4M``, ``750k``; default 1 MHz),
``mode`` (0-3, default 0; flash parts take 0 or 3).
"""

from __future__ import annotations

import errno
import os
import struct

from flashcheck.errors import InputError, TransportError

# linux/spi/spidev.h: _IOW(SPI_IOC_MAGIC='k', nr, type)
_IOC_WRITE = 1
_SPI_IOC_MAGIC = ord("k")


def _iow(nr: int, size: int) -> int:
    return (_IOC_WRITE << 30) | (size << 16) | (_SPI_IOC_MAGIC << 8) | nr


#: struct spi_ioc_transfer: tx_buf, rx_buf (u64), len, speed_hz (u32),
#: delay_usecs (u16), bits_per_word, cs_change, tx_nbits, rx_nbits,
#: word_delay_usecs, pad (u8): 32 bytes.
XFER_FORMAT = "<QQIIHBBBBBB"
XFER_SIZE = struct.calcsize(XFER_FORMAT)
assert XFER_SIZE == 32

SPI_IOC_WR_MODE = _iow(1, 1)
SPI_IOC_WR_BITS_PER_WORD = _iow(3, 1)
SPI_IOC_WR_MAX_SPEED_HZ = _iow(4, 4)
SPI_IOC_MESSAGE_1 = _iow(0, XFER_SIZE)  # SPI_IOC_MESSAGE(1)

DEFAULT_FREQ = 1_000_000
DEFAULT_BUFSIZ = 4096
BUFSIZ_PATH = "/sys/module/spidev/parameters/bufsiz"
_PARAMS = {"freq", "mode"}


# -- the device boundary (tests replace these) ------------------------------


def _open_device(path: str) -> int:
    return os.open(path, os.O_RDWR)


def _close_device(fd: int) -> None:
    os.close(fd)


def _ioctl(fd: int, request: int, arg: bytearray) -> int:
    import fcntl  # noqa: PLC0415 - POSIX only; imported when a device is used

    return fcntl.ioctl(fd, request, arg, True)


def _bufsiz() -> int:
    try:
        with open(BUFSIZ_PATH, encoding="ascii") as f:
            return int(f.read().strip())
    except (OSError, ValueError):
        return DEFAULT_BUFSIZ


# ---------------------------------------------------------------------------


class SpidevTransport:
    """A :class:`flashcheck.transport.Transport` on a Linux spidev device."""

    def __init__(self, path: str, *, freq: int = DEFAULT_FREQ, mode: int = 0) -> None:
        import ctypes  # noqa: PLC0415

        self._ctypes = ctypes
        self.path = path
        self.freq = freq
        self.mode = mode
        self.max_transfer = _bufsiz()
        self.max_write = self.max_transfer
        self.max_read = self.max_transfer
        self.description = f"spidev {path} ({freq} Hz, mode {mode})"
        try:
            self.fd: int | None = _open_device(path)
        except FileNotFoundError:
            raise TransportError(
                f"spidev {path}: no such device; enable the SPI controller (Raspberry Pi: dtparam=spi=on "
                "in config.txt, then reboot) and check the bus/chip-select numbers") from None
        except PermissionError:
            raise TransportError(
                f"spidev {path}: permission denied; add your user to the group owning it (often 'spi')") from None
        except OSError as e:
            raise TransportError(f"spidev {path}: cannot open: {e.strerror or e}") from None
        try:
            self._setup(path, freq, mode)
        except BaseException:
            self.close()
            raise

    def _setup(self, path: str, freq: int, mode: int) -> None:
        for request, value, fmt, what in (
            (SPI_IOC_WR_MODE, mode, "<B", f"SPI mode {mode}"),
            (SPI_IOC_WR_BITS_PER_WORD, 8, "<B", "8 bits per word"),
            (SPI_IOC_WR_MAX_SPEED_HZ, freq, "<I", f"a clock of {freq} Hz"),
        ):
            try:
                _ioctl(self.fd, request, bytearray(struct.pack(fmt, value)))
            except OSError as e:
                if e.errno == errno.EINVAL:
                    raise InputError(f"spidev {path}: the controller refuses {what}") from None
                raise TransportError(f"spidev {path}: setting {what} failed: {e.strerror or e}") from None

    def exchange(self, out: bytes, readlen: int = 0) -> bytes:
        if self.fd is None:
            raise TransportError(f"spidev {self.path}: transport is closed")
        out = bytes(out)
        if readlen < 0:
            raise ValueError(f"readlen must not be negative: {readlen}")
        total = len(out) + readlen
        if total == 0:
            return b""
        if total > self.max_transfer:
            raise InputError(
                f"spidev {self.path}: a transaction of {total} bytes ({len(out)} out, {readlen} in) exceeds the "
                f"spidev buffer of {self.max_transfer} bytes; read in smaller chunks, or raise spidev.bufsiz")
        ct = self._ctypes
        tx = ct.create_string_buffer(out + b"\xff" * readlen, total)
        rx = ct.create_string_buffer(total)
        xfer = bytearray(struct.pack(
            XFER_FORMAT, ct.addressof(tx), ct.addressof(rx), total, self.freq,
            0,   # delay_usecs
            8,   # bits_per_word
            0,   # cs_change: keep chip select as it ends the message (released)
            0, 0, 0, 0))
        try:
            _ioctl(self.fd, SPI_IOC_MESSAGE_1, xfer)
        except OSError as e:
            if e.errno == errno.EMSGSIZE:
                raise InputError(
                    f"spidev {self.path}: the kernel refused a {total}-byte transaction (spidev.bufsiz)") from None
            raise TransportError(f"spidev {self.path}: transfer failed: {e.strerror or e}; device gone?") from None
        return rx.raw[len(out):total]

    def close(self) -> None:
        fd, self.fd = self.fd, None
        if fd is not None:
            try:
                _close_device(fd)
            except OSError:
                pass

    def __enter__(self) -> SpidevTransport:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_spidev(url: str, *, freq_hz: float | None = None, mode: int = 0,
                wiring: dict | None = None) -> SpidevTransport:
    """Open ``spidev:///dev/spidevB.C?freq=...&mode=...`` (the
    :func:`flashcheck.transport.open_transport` opener).  URL parameters
    win over ``freq_hz``/``mode``."""
    from flashcheck.transport import parse_freq, refuse_pins, split_url  # noqa: PLC0415

    _scheme, target, params = split_url(url, _PARAMS)
    if not target.startswith("/"):
        raise InputError(f"transport URL {url!r}: give the device path, e.g. spidev:///dev/spidev0.0")
    if "mode" in params:
        raw = params["mode"]
        if raw not in ("0", "1", "2", "3"):
            raise InputError(f"transport URL {url!r}: mode={raw!r} must be 0, 1, 2 or 3")
        mode = int(raw)
    elif mode not in (0, 1, 2, 3):
        raise InputError(f"SPI mode {mode!r}: must be 0, 1, 2 or 3")
    if "freq" in params:
        freq_hz = parse_freq(params["freq"], f"transport URL {url!r}: freq")
    freq = DEFAULT_FREQ if freq_hz is None else int(freq_hz)
    if not 1000 <= freq < 1 << 32:
        raise InputError(f"transport URL {url!r}: SPI clock {freq_hz} Hz out of range (1 kHz and up)")
    refuse_pins(url, wiring, "spidev drives no GPIOs")
    return SpidevTransport(target, freq=freq, mode=mode)


def register() -> None:
    """Add ``spidev://`` to :func:`flashcheck.transport.open_transport`."""
    from flashcheck.transport import register_scheme  # noqa: PLC0415

    register_scheme("spidev", "flashcheck.transport.spidev:open_spidev")
