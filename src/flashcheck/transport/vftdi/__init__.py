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

:meth:`FtdiTransport.exchange_many <flashcheck.transport.ftdi.FtdiTransport.exchange_many>`
(:func:`~flashcheck.transport.ftdi.batch_exchange`), which the virtual device
was built to test, sends several transactions as one MPSSE write and one
read: one USB round trip instead of one per transaction.

While a virtual device is plugged in, pyftdi sees only the virtual bus.
"""

from __future__ import annotations

from urllib.parse import urlencode

from flashcheck.errors import TransportError
from flashcheck.transport import split_url
from flashcheck.transport.ftdi import FtdiTransport, PinPlan, batch_exchange, spi_clock  # noqa: F401 - batch_exchange re-exported
from flashcheck.transport.vftdi.backend import UsbStats, VirtualFt232h, plug, plugged
from flashcheck.transport.vftdi.mpsse import MpsseEngine, TxnRecord

FTDI_URL = "ftdi://ftdi:232h/1"
_PARAMS = {"image", "fail_after", "time_scale", "freq"}



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
    freq = spi_clock(url, params, freq_hz)
    pins = PinPlan(wiring)
    slashes = "//" if url.split(":", 1)[1].startswith("//") else ""
    sim_url = f"sim:{slashes}{target}" + (f"?{urlencode(sim_params)}" if sim_params else "")
    sim = open_sim(sim_url, shown_url=url)
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
