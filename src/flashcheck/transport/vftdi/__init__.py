"""``sim+ftdi://MODEL``: a simulated chip behind a virtual FT232H.

The real pyftdi driver and the real ``ftdi://`` transport
(:class:`~flashcheck.transport.ftdi.FtdiTransport`) run unchanged; only
USB is virtual.  Opening ``sim+ftdi://W25Q128JV?image=&fail_after=&time_scale=&freq=``
builds the chip the way ``sim://`` does, plugs a
:class:`~flashcheck.transport.vftdi.backend.VirtualFt232h` into a pyusb
backend pyftdi is told about (``UsbTools.BACKENDS``), and opens
``ftdi://ftdi:232h/1`` through it, so every MPSSE byte pyftdi produces is
parsed by the emulated engine (:mod:`flashcheck.transport.vftdi.mpsse`).

``fail_after=N``: the device disappears when transaction N+1 starts, as if
the cable were pulled (the chip loses power; pyusb raises ``USBError``
ENODEV); the transport reports a :class:`~flashcheck.errors.TransportError`.
``wiring`` works as for ``ftdi://`` (``reset_gpio: AD4``...); the device
records, per transaction, whether the host MCU's reset line was asserted
(:attr:`SimFtdiTransport.device` ``.engine.transactions``).

:meth:`SimFtdiTransport.exchange_many` (and :func:`batch_exchange` for any
:class:`FtdiTransport`) sends several transactions as one MPSSE write and
one read: one USB round trip instead of one per transaction.

While a virtual device is plugged in, pyftdi sees only the virtual bus.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from struct import pack
from urllib.parse import urlencode

from flashcheck.errors import InputError, TransportError
from flashcheck.transport import parse_freq, split_url
from flashcheck.transport.ftdi import _HINT, DEFAULT_FREQ_HZ, MAX_FREQ_HZ, MIN_FREQ_HZ, FtdiTransport, PinPlan
from flashcheck.transport.vftdi.backend import UsbStats, VirtualFt232h, plug, plugged
from flashcheck.transport.vftdi.mpsse import MpsseEngine, TxnRecord

FTDI_URL = "ftdi://ftdi:232h/1"
_PARAMS = {"image", "fail_after", "time_scale", "freq"}

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


def batch_exchange(transport: FtdiTransport, items: Iterable[tuple[bytes, int]]) -> list[bytes]:
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


class SimFtdiTransport(FtdiTransport):
    """:class:`FtdiTransport` on a virtual FT232H with a simulated chip."""

    def __init__(self, device: VirtualFt232h, name: str, freq_hz: float, mode: int, pins: PinPlan) -> None:
        self.device = device
        super().__init__(FTDI_URL, freq_hz, mode, pins)
        self.description = f"virtual FT232H ({name}) {FTDI_URL} at {freq_hz / 1e6:g} MHz"

    @property
    def stats(self) -> UsbStats:
        """USB transfers so far (the backend's counters)."""
        return self.device.stats

    @property
    def engine(self) -> MpsseEngine:
        return self.device.engine

    @property
    def transactions(self) -> list[TxnRecord]:
        """Every chip-select assertion the chip saw."""
        return self.device.engine.transactions

    def exchange_many(self, items: Sequence[tuple[bytes, int]]) -> list[bytes]:
        return batch_exchange(self, items)

    def close(self) -> None:
        try:
            super().close()
        finally:
            if self.device.plugged:
                self.device.unplug(power_loss=False)
            if self.device.chip is not None:
                self.device.chip.close()

    def __enter__(self) -> SimFtdiTransport:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_sim_ftdi(
    url: str, *, freq_hz: float | None = None, mode: int = 0, wiring: dict | None = None
) -> SimFtdiTransport:
    """Open ``sim+ftdi://MODEL?...`` (or ``sim+ftdi:PATH.yaml?...``)."""
    from flashcheck.transport.sim import _parse_params, open_sim  # noqa: PLC0415

    _scheme, target, params = split_url(url, _PARAMS)
    sim_params = {k: v for k, v in params.items() if k in ("image", "time_scale")}
    _image, fail_after, _scale = _parse_params(url, {k: v for k, v in params.items() if k != "freq"})
    freq = freq_hz if freq_hz is not None else DEFAULT_FREQ_HZ
    if "freq" in params:
        freq = parse_freq(params["freq"], f"transport URL {url!r}: freq")
    if not MIN_FREQ_HZ <= freq <= MAX_FREQ_HZ:
        raise InputError(f"SPI clock {freq:g} Hz: the FT232H does {MIN_FREQ_HZ:g} Hz to 30 MHz")
    pins = PinPlan(wiring)
    slashes = "//" if url.split(":", 1)[1].startswith("//") else ""
    sim_url = f"sim:{slashes}{target}" + (f"?{urlencode(sim_params)}" if sim_params else "")
    sim = open_sim(sim_url)
    device = VirtualFt232h(sim.chip, reset_pin=pins.reset, fail_after=fail_after)
    if plugged():
        sim.close()
        raise TransportError(f"{url}: a virtual FT232H is already open in this process; close it first")
    plug(device)
    try:
        return SimFtdiTransport(device, sim.description, freq, mode, pins)
    except BaseException:
        device.unplug(power_loss=False)
        sim.close()
        raise


def register() -> None:
    """Add ``sim+ftdi://`` to :func:`flashcheck.transport.open_transport`."""
    from flashcheck.transport import register_scheme  # noqa: PLC0415

    register_scheme("sim+ftdi", "flashcheck.transport.vftdi:open_sim_ftdi")


__all__ = [
    "SimFtdiTransport",
    "UsbStats",
    "VirtualFt232h",
    "batch_exchange",
    "open_sim_ftdi",
    "plug",
    "register",
]
