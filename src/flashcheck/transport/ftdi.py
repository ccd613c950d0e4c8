"""FT232H (and other MPSSE FTDI parts) through pyftdi's SpiController.

URL: a pyftdi URL, ``ftdi://ftdi:232h/1``, with an optional ``?freq=4.5M``
(or ``freq_hz=`` to :func:`~flashcheck.transport.open_transport`; the URL
wins).  Wiring: ADBUS0 SCK, ADBUS1 MOSI (flash DI), ADBUS2 MISO (flash DO),
ADBUS3 CS#.  ``wiring`` may name spare pins:

``reset_gpio`` / ``reset_active``
    a pin (``"AD4"``-``"AD7"``, ``"AC0"``-``"AC7"``) on the host MCU's reset
    line, asserted (``"low"``, the default, or ``"high"``) while the
    transport is open so the MCU stays off the SPI bus, released (made an
    input) on close.
``power_gpio`` / ``power_active``
    a pin switching the flash's supply, driven active (default ``"high"``)
    while open and inactive on close.

pyftdi is imported only when an ``ftdi://`` URL is opened.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from struct import pack

from flashcheck.errors import HardwareError, InputError, TransportError
from flashcheck.transport import parse_freq, split_url

MAX_FREQ_HZ = 30e6
MIN_FREQ_HZ = 1e3
DEFAULT_FREQ_HZ = 1e6
#: ADBUS0-3 carry SCK, MOSI, MISO and CS0.
SPI_PINS = 4
_WIRING_KEYS = {"reset_gpio", "reset_active", "power_gpio", "power_active", "settle_ms", "guide"}  # guide: a document, no pin

_HINT = "check the USB cable, that the FT232H is plugged in and not used by another program (or the ftdi_sio driver)"


def parse_pin(name: object, where: str = "wiring") -> int:
    """The pyftdi GPIO bit of ``"AD4"``-``"AD7"`` (4-7) or ``"AC0"``-``"AC7"``
    (8-15); ``ADBUS5`` / ``ACBUS0`` spellings too.  InputError otherwise,
    and for AD0-AD3 (the SPI pins)."""
    if not isinstance(name, str):
        raise InputError(f"{where}: {name!r} is not a pin name (use AD4-AD7 or AC0-AC7)")
    text = name.strip().upper().replace("BUS", "")
    if len(text) != 3 or text[:2] not in ("AD", "AC") or not text[2].isdigit():
        raise InputError(f"{where}: {name!r} is not a pin name (use AD4-AD7 or AC0-AC7)")
    n = int(text[2])
    if n > 7:
        raise InputError(f"{where}: {name!r}: pins run 0-7")
    if text[:2] == "AD":
        if n < SPI_PINS:
            raise InputError(f"{where}: {name!r} is an SPI pin (AD0 SCK, AD1 MOSI, AD2 MISO, AD3 CS)")
        return n
    return 8 + n


def parse_level(value: object, where: str, default: str) -> bool:
    """True for an active-high setting, False for active-low."""
    if value is None:
        value = default
    text = str(value).strip().lower()
    if text in ("high", "1", "h"):
        return True
    if text in ("low", "0", "l"):
        return False
    raise InputError(f"{where}: {value!r}: use low or high")


class PinPlan:
    """The extra pins ``wiring`` asks for: (bit, active-high) each."""

    def __init__(self, wiring: dict | None) -> None:
        wiring = dict(wiring or {})
        unknown = set(wiring) - _WIRING_KEYS
        if unknown:
            raise InputError(f"wiring: unknown key {sorted(unknown)[0]!r} (known: {', '.join(sorted(_WIRING_KEYS))})")
        self.reset: tuple[int, bool] | None = None
        self.power: tuple[int, bool] | None = None
        if wiring.get("reset_gpio") is not None:
            self.reset = (
                parse_pin(wiring["reset_gpio"], "wiring.reset_gpio"),
                parse_level(wiring.get("reset_active"), "wiring.reset_active", "low"),
            )
        elif wiring.get("reset_active") is not None:
            raise InputError("wiring.reset_active given without reset_gpio")
        if wiring.get("power_gpio") is not None:
            self.power = (
                parse_pin(wiring["power_gpio"], "wiring.power_gpio"),
                parse_level(wiring.get("power_active"), "wiring.power_active", "high"),
            )
        elif wiring.get("power_active") is not None:
            raise InputError("wiring.power_active given without power_gpio")
        if self.reset and self.power and self.reset[0] == self.power[0]:
            raise InputError("wiring: reset_gpio and power_gpio name the same pin")
        settle = wiring.get("settle_ms", 10)
        if isinstance(settle, bool) or not isinstance(settle, int | float) or not 0 <= settle <= 10000:
            raise InputError(f"wiring.settle_ms: {settle!r}: use 0 to 10000")
        self.settle_s = settle / 1000.0

    @property
    def mask(self) -> int:
        return sum(1 << bit for bit, _a in (p for p in (self.reset, self.power) if p))

    def levels(self, *, reset: bool, power: bool) -> int:
        """Output value with reset asserted/not and power on/off."""
        value = 0
        if self.reset:
            bit, high = self.reset
            if reset == high:
                value |= 1 << bit
        if self.power:
            bit, high = self.power
            if power == high:
                value |= 1 << bit
        return value


class FtdiTransport:
    """An SPI port of a pyftdi SpiController, with optional reset/power pins."""

    def __init__(self, url: str, freq_hz: float, mode: int, pins: PinPlan) -> None:
        from pyftdi.spi import SpiController  # noqa: PLC0415 - lazy
        from pyftdi.usbtools import UsbToolsError  # noqa: PLC0415

        self.description = f"FT232H {url} at {freq_hz / 1e6:g} MHz"
        self.pins = pins
        #: pyftdi carries at most this many bytes each way per exchange:
        #: SpiNor splits its transfers to it
        self.max_read = self.max_write = _PAYLOAD_MAX
        self._ctrl = SpiController(cs_count=1)
        self._gpio = None
        try:
            self._ctrl.configure(url, frequency=freq_hz)
            self._port = self._ctrl.get_port(cs=0, freq=freq_hz, mode=mode)
            if pins.mask:
                self._gpio = self._ctrl.get_gpio()
                # drive the levels first, then make the pins outputs
                self._gpio.set_direction(pins.mask, pins.mask)
                self._gpio.write(pins.levels(reset=True, power=False))
                if pins.power:
                    self._gpio.write(pins.levels(reset=True, power=True))
                if pins.settle_s:
                    time.sleep(pins.settle_s)
        except UsbToolsError as e:
            self._safe_close()
            text = str(e)
            if "No USB device" in text or "not found" in text.lower():
                raise TransportError(f"{url}: no FTDI device found ({text}): {_HINT}") from None
            raise InputError(f"{url}: not a usable FTDI URL: {text}") from None
        except ValueError as e:
            self._safe_close()
            raise InputError(f"{url}: {e}") from None
        except Exception as e:  # pyftdi FtdiError, usb.core.USBError, OSError
            self._safe_close()
            raise TransportError(f"{url}: cannot open the FTDI device: {e}: {_HINT}") from None

    def exchange(self, out: bytes, readlen: int = 0) -> bytes:
        try:
            return bytes(self._port.exchange(out, readlen))
        except Exception as e:  # noqa: BLE001 - any USB failure means the device is gone
            raise TransportError(f"{self.description}: device vanished: {e}: {_HINT}") from None

    def exchange_many(self, items) -> list[bytes]:
        """Several transactions in one USB round trip where the FT232H's
        FIFOs allow (:func:`batch_exchange`)."""
        return batch_exchange(self, items)

    def _safe_close(self) -> None:
        try:
            if self._gpio is not None:
                # power off (still driven), then release reset: an input, so
                # the MCU's own pull-up/down decides
                self._gpio.write(self.pins.levels(reset=True, power=False))
                if self.pins.reset:
                    self._gpio.set_direction(1 << self.pins.reset[0], 0)
        except Exception:  # noqa: BLE001, S110 - closing a device that may be gone
            pass
        try:
            self._ctrl.terminate()
        except Exception:  # noqa: BLE001, S110
            pass

    def close(self) -> None:
        self._safe_close()
        self._gpio = None


def spi_clock(url: str, params: dict[str, str], freq_hz: float | None) -> float:
    """The SPI clock: the URL's ``freq=``, else ``freq_hz``, else 1 MHz;
    InputError outside what the FT232H can do."""
    freq = freq_hz if freq_hz is not None else DEFAULT_FREQ_HZ
    if "freq" in params:
        freq = parse_freq(params["freq"], f"transport URL {url!r}: freq")
    if not MIN_FREQ_HZ <= freq <= MAX_FREQ_HZ:
        raise InputError(f"SPI clock {freq:g} Hz: the FT232H does {MIN_FREQ_HZ:g} Hz to 30 MHz")
    return freq


def open_ftdi(url: str, *, freq_hz: float | None = None, mode: int = 0, wiring: dict | None = None) -> FtdiTransport:
    _scheme, _target, params = split_url(url, {"freq"})
    base = url.split("?", 1)[0]
    freq = spi_clock(url, params, freq_hz)
    pins = PinPlan(wiring)
    return FtdiTransport(base, freq, mode, pins)


# -- batches: several transactions per USB round trip ------------------------

# MPSSE opcodes pyftdi's SpiController uses for half-duplex MSB-first SPI
_WRITE = {False: 0x11, True: 0x10}  # by CPOL: WRITE_BYTES_NVE_MSB / _PVE_
_READ = {False: 0x24, True: 0x20}  # READ_BYTES_NVE_MSB / _PVE_ (pyftdi's choice)
_SET_BITS_LOW = 0x80
_SEND_IMMEDIATE = 0x87
_PAYLOAD_MAX = 0xFF00  # pyftdi's SpiController.PAYLOAD_MAX_LENGTH
#: A batch may not have both more command bytes and more answer bytes than
#: this: the FT232H holds 1 KiB each way, and once unread answers fill its
#: FIFO it stops taking commands, while the host, still writing, does not
#: read -- a deadlock until the USB write times out.
_FIFO_SAFE = 1024 - 64


def batch_exchange(transport: "FtdiTransport", items: Iterable[tuple[bytes, int]]) -> list[bytes]:
    """Run several chip-select-asserted transactions (``(out, readlen)``
    each, as :meth:`Transport.exchange`) with one MPSSE command write and
    one read, and return each transaction's read bytes.

    The framing is pyftdi's own (SpiPort chip-select prolog/epilog, the
    GPIO levels it keeps on spare ADBUS pins, its opcodes), so each
    transaction looks on the wire exactly as ``exchange()`` would make it;
    only the USB round trip between them is gone.  Batches are split where
    the FT232H's 1 KiB FIFOs could not hold them (see ``_FIFO_SAFE``).  Falls back to one
    ``exchange()`` per item for SPI modes 1/3 (pyftdi's 3-phase kludge) or
    when pyftdi's internals are not the ones this was written against.
    TransportError when the device goes away."""
    items = [(bytes(out), int(n)) for out, n in items]
    if not items:
        return []
    for out, n in items:
        if n < 0:
            msg = f"readlen must not be negative: {n}"
            raise ValueError(msg)
    port, ctrl = transport._port, transport._ctrl  # noqa: SLF001 - same package
    try:
        cpol, cpha = port._cpol, port._cpha  # noqa: SLF001 - pyftdi framing
        prolog, epilog = port._cs_prolog, port._cs_epilog  # noqa: SLF001
        spi_mask, gpio_low, cs_bits = ctrl._spi_mask, ctrl._gpio_low, ctrl._cs_bits  # noqa: SLF001
    except AttributeError:
        cpha = True  # unknown pyftdi: take the slow path
    if cpha or any(len(out) > _PAYLOAD_MAX or n > _PAYLOAD_MAX for out, n in items):
        return [transport.exchange(out, n) for out, n in items]
    try:
        # let pyftdi apply the port's clock and clock phase as exchange()
        # would (no USB traffic unless they change)
        port.exchange(b"", 0)
        direction = ctrl.direction & 0xFF

        def frame(levels: bytes) -> bytes:
            return b"".join(bytes((_SET_BITS_LOW, (c & spi_mask) | gpio_low, direction)) for c in levels)

        head = frame(prolog)
        tail = frame(epilog) + bytes((_SET_BITS_LOW, cs_bits | gpio_low, direction))
        results: list[bytes] = []
        cmd = bytearray()
        lengths: list[int] = []
        for out, n in items:
            piece = bytearray(head)
            if out:
                piece += pack("<BH", _WRITE[cpol], len(out) - 1) + out
            if n:
                piece += pack("<BH", _READ[cpol], n - 1)
            piece += tail
            if lengths and (
                (len(cmd) + len(piece) > _FIFO_SAFE and sum(lengths) + n > _FIFO_SAFE)
                or sum(lengths) + n > _PAYLOAD_MAX
            ):
                results += _flush(ctrl.ftdi, cmd, lengths)
                cmd, lengths = bytearray(), []
            cmd += piece
            lengths.append(n)
        if lengths:
            results += _flush(ctrl.ftdi, cmd, lengths)
    except Exception as e:  # noqa: BLE001 - any USB failure means the device is gone
        raise TransportError(f"{transport.description}: device vanished: {e}: {_HINT}") from None
    return results


def _flush(ftdi, cmd: bytearray, lengths: list[int]) -> list[bytes]:
    total = sum(lengths)
    if total:
        cmd.append(_SEND_IMMEDIATE)
    ftdi.write_data(cmd)
    data = bytes(ftdi.read_data_bytes(total, 4)) if total else b""
    if len(data) != total:
        msg = f"asked for {total} bytes, got {len(data)}"
        raise OSError(msg)
    out, pos = [], 0
    for n in lengths:
        out.append(data[pos : pos + n])
        pos += n
    return out


def list_devices() -> list[dict]:
    """The FTDI devices on the USB buses, as pyftdi URLs
    (``ftdi://ftdi:232h:SERIAL/1``) with their descriptions."""
    try:
        from pyftdi.ftdi import Ftdi
        from pyftdi.usbtools import UsbTools

        devs = Ftdi.list_devices()
        strings = UsbTools.build_dev_strings("ftdi", Ftdi.VENDOR_IDS, Ftdi.PRODUCT_IDS, devs)
    except Exception as exc:  # no libusb, no permission: say what to fix
        raise HardwareError(
            f"cannot list USB devices ({exc}): install libusb-1.0, and on Linux give your user access to 0403:6014"
        ) from None
    out = []
    for (desc, _ifcount), (url, text) in zip(devs, strings):
        out.append({"url": url, "description": text, "serial": getattr(desc, "sn", None),
                    "vid": getattr(desc, "vid", None), "pid": getattr(desc, "pid", None)})
    return out
