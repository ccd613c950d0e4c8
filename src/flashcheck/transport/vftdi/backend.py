"""A pyusb backend presenting virtual FT232H devices.

pyftdi finds USB devices through the pyusb backends named in
``pyftdi.usbtools.UsbTools.BACKENDS`` (module names; each module's
``get_backend()`` returns a :class:`usb.backend.IBackend` or None).
:func:`plug` puts this module first in that list; while at least one
:class:`VirtualFt232h` is plugged in, :func:`get_backend` returns the
virtual backend (and real USB devices are not seen), otherwise None, so
pyftdi falls through to libusb as usual.

Each device answers the standard descriptor requests (device,
configuration, strings), the FTDI vendor requests pyftdi sends (reset and
purges, latency timer, bit mode, baud rate/divisors, modem status, event
and error characters, flow control, pins, EEPROM reads of a blank EEPROM),
and bulk transfers: OUT on endpoint 0x02 into the
:class:`~flashcheck.transport.vftdi.mpsse.MpsseEngine`, IN on 0x81 with the
two modem-status bytes at the start of every 512-byte packet.

:class:`UsbStats` counts every transfer.  A device unplugged (by
:meth:`VirtualFt232h.unplug`, or by the engine's ``fail_after``) answers
every request with ``USBError(errno ENODEV)``, as libusb does for a pulled
cable, and is no longer enumerated.
"""

from __future__ import annotations

import errno
import itertools
import threading
from dataclasses import dataclass, fields
from types import SimpleNamespace

import usb.backend
import usb.core

from flashcheck.transport.vftdi.mpsse import DeviceGone, FifoStall, MpsseEngine

MODULE = __name__
VID, PID = 0x0403, 0x6014
BCD_FT232H = 0x0900
EP_IN, EP_OUT = 0x81, 0x02
MAX_PACKET = 512
#: Modem status (CTS/DSR, 0x32) and line status (THRE|TEMT, 0x60) bytes.
STATUS = bytes((0x32, 0x60))

REQ_OUT, REQ_IN = 0x40, 0xC0  # vendor, device recipient
SIO_RESET, SIO_MODEM_CTRL, SIO_FLOW_CTRL, SIO_BAUDRATE, SIO_DATA = 0x00, 0x01, 0x02, 0x03, 0x04
SIO_POLL_MODEM, SIO_EVENT_CHAR, SIO_ERROR_CHAR = 0x05, 0x06, 0x07
SIO_SET_LATENCY, SIO_GET_LATENCY, SIO_BITMODE, SIO_READ_PINS = 0x09, 0x0A, 0x0B, 0x0C
SIO_READ_EEPROM = 0x90
GET_DESCRIPTOR = 0x06
DESC_DEVICE, DESC_CONFIG, DESC_STRING = 1, 2, 3
BITMODE_RESET, BITMODE_MPSSE = 0x00, 0x02

_lock = threading.RLock()
_addresses = itertools.count(10)


def _gone() -> usb.core.USBError:
    return usb.core.USBError("No such device (it may have been disconnected)", -4, errno.ENODEV)


@dataclass
class UsbStats:
    """Transfers between host and device, counted by the backend.

    ``round_trips``: a bulk OUT followed by a bulk IN that waits for its
    answer counts once (however many IN packets the answer takes).  Every
    control transfer is a request/response of its own, counted in
    ``ctrl_*`` only."""

    ctrl_out: int = 0
    ctrl_out_bytes: int = 0
    ctrl_in: int = 0
    ctrl_in_bytes: int = 0
    bulk_out: int = 0
    bulk_out_bytes: int = 0
    bulk_in: int = 0
    bulk_in_bytes: int = 0  # with the status bytes
    bulk_in_payload: int = 0  # without them
    round_trips: int = 0

    def as_dict(self) -> dict[str, int]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def reset(self) -> None:
        for f in fields(self):
            setattr(self, f.name, 0)

    @property
    def transfers(self) -> int:
        return self.ctrl_out + self.ctrl_in + self.bulk_out + self.bulk_in


def _string_desc(text: str) -> bytes:
    raw = text.encode("utf-16-le")
    return bytes((2 + len(raw), DESC_STRING)) + raw


class VirtualFt232h:
    """One FT232H on the virtual bus, its MPSSE engine on a simulated chip."""

    def __init__(
        self,
        chip=None,
        *,
        serial: str = "VFT232H1",
        reset_pin: tuple[int, bool] | None = None,
        fail_after: int | None = None,
        fifo_size: int | None = 1024,
    ) -> None:
        self.engine = MpsseEngine(chip, reset_pin=reset_pin, fail_after=fail_after, fifo_size=fifo_size)
        self.chip = chip
        if chip is not None and callable(getattr(chip, "clock", None)):
            # the chip's time runs on with the time the bus spends clocking
            wall, engine = chip.clock, self.engine
            chip.clock = lambda: wall() + engine.bus_time_s
        self.serial = serial
        self.stats = UsbStats()
        self.plugged = False
        self.bus = 1
        self.address = next(_addresses)
        self.latency = 16
        self.baud_value = (0, 0)
        self.bitmode = BITMODE_RESET
        self.configuration = 0
        self.claimed: set[int] = set()
        self.control_log: list[tuple[int, int, int, int]] = []  # (type, request, value, index)
        self.stalls: list[str] = []  # OUT transfers that would time out (FIFOs full)
        self._out_since_in = False
        self.strings = {1: "FTDI", 2: "Single RS232-HS", 3: serial}
        self.device_descriptor = SimpleNamespace(
            bLength=18,
            bDescriptorType=DESC_DEVICE,
            bcdUSB=0x0200,
            bDeviceClass=0,
            bDeviceSubClass=0,
            bDeviceProtocol=0,
            bMaxPacketSize0=64,
            idVendor=VID,
            idProduct=PID,
            bcdDevice=BCD_FT232H,
            iManufacturer=1,
            iProduct=2,
            iSerialNumber=3,
            bNumConfigurations=1,
            address=self.address,
            bus=self.bus,
            port_number=1,
            port_numbers=(1,),
            speed=3,  # high speed
        )
        self.config_descriptor = SimpleNamespace(
            bLength=9,
            bDescriptorType=DESC_CONFIG,
            wTotalLength=9 + 9 + 7 + 7,
            bNumInterfaces=1,
            bConfigurationValue=1,
            iConfiguration=0,
            bmAttributes=0x80,
            bMaxPower=45,  # 90 mA
            extra_descriptors=[],
        )
        self.interface_descriptor = SimpleNamespace(
            bLength=9,
            bDescriptorType=4,
            bInterfaceNumber=0,
            bAlternateSetting=0,
            bNumEndpoints=2,
            bInterfaceClass=0xFF,
            bInterfaceSubClass=0xFF,
            bInterfaceProtocol=0xFF,
            iInterface=2,
            extra_descriptors=[],
        )
        self.endpoint_descriptors = [
            SimpleNamespace(
                bLength=7,
                bDescriptorType=5,
                bEndpointAddress=addr,
                bmAttributes=0x02,  # bulk
                wMaxPacketSize=MAX_PACKET,
                bInterval=0,
                bRefresh=0,
                bSynchAddress=0,
                extra_descriptors=[],
            )
            for addr in (EP_IN, EP_OUT)
        ]

    # -- raw descriptor bytes (GET_DESCRIPTOR) --------------------------------

    def _device_bytes(self) -> bytes:
        d = self.device_descriptor
        return bytes((18, 1, 0x00, 0x02, 0, 0, 0, 64)) + VID.to_bytes(2, "little") + PID.to_bytes(
            2, "little"
        ) + BCD_FT232H.to_bytes(2, "little") + bytes((1, 2, 3, d.bNumConfigurations))

    def _config_bytes(self) -> bytes:
        cfg = bytes((9, 2, 32, 0, 1, 1, 0, 0x80, 45))
        intf = bytes((9, 4, 0, 0, 2, 0xFF, 0xFF, 0xFF, 2))
        eps = b"".join(bytes((7, 5, a, 2)) + MAX_PACKET.to_bytes(2, "little") + b"\x00" for a in (EP_IN, EP_OUT))
        return cfg + intf + eps

    # -- plugging -------------------------------------------------------------

    def unplug(self, *, power_loss: bool = True) -> None:
        """Pull the cable: every further request fails with ENODEV; with
        ``power_loss`` the chip (powered from the programmer) loses power,
        leaving an operation in progress half done."""
        if not self.plugged:
            return
        self.plugged = False
        if power_loss and self.chip is not None and not getattr(self.chip, "dead", False):
            power_loss = getattr(self.chip, "power_loss", None)
            if power_loss is not None:
                power_loss()
        _backend_changed()

    def check(self) -> None:
        if not self.plugged:
            raise _gone()

    # -- requests ---------------------------------------------------------------

    def control(self, bm_request_type: int, request: int, value: int, index: int, data) -> object:
        self.check()
        self.control_log.append((bm_request_type, request, value, index))
        if bm_request_type & 0x80:
            size = len(data)
            answer = self._control_in(bm_request_type, request, value, index)[:size]
            self.stats.ctrl_in += 1
            self.stats.ctrl_in_bytes += len(answer)
            data[: len(answer)] = type(data)(data.typecode, answer)
            return len(answer)
        self.stats.ctrl_out += 1
        self.stats.ctrl_out_bytes += len(data)
        self._control_out(bm_request_type, request, value, index, bytes(data))
        return len(data)

    def _control_in(self, bm_request_type: int, request: int, value: int, index: int) -> bytes:
        if bm_request_type & 0x60 == 0 and request == GET_DESCRIPTOR:
            kind, idx = value >> 8, value & 0xFF
            if kind == DESC_DEVICE:
                return self._device_bytes()
            if kind == DESC_CONFIG and idx == 0:
                return self._config_bytes()
            if kind == DESC_STRING:
                if idx == 0:
                    return bytes((4, DESC_STRING, 0x09, 0x04))  # en-US
                if idx in self.strings:
                    return _string_desc(self.strings[idx])
            raise usb.core.USBError("Pipe error", -9, errno.EPIPE)
        if bm_request_type == REQ_IN:
            if request == SIO_GET_LATENCY:
                return bytes((self.latency,))
            if request == SIO_POLL_MODEM:
                return STATUS
            if request == SIO_READ_PINS:
                return bytes((self.engine.pins & 0xFF,))
            if request == SIO_READ_EEPROM:
                return b"\xff\xff"  # blank EEPROM word
        raise usb.core.USBError("Pipe error", -9, errno.EPIPE)

    def _control_out(self, bm_request_type: int, request: int, value: int, index: int, data: bytes) -> None:
        if bm_request_type != REQ_OUT:
            raise usb.core.USBError("Pipe error", -9, errno.EPIPE)
        engine = self.engine
        if request == SIO_RESET:
            if value == 0:  # SIO reset: both buffers
                engine.purge_out()
                engine.purge_in()
            elif value == 1:  # purge RX: host-to-FTDI
                engine.purge_out()
            elif value == 2:  # purge TX: FTDI-to-host
                engine.purge_in()
        elif request == SIO_SET_LATENCY:
            self.latency = value & 0xFF
        elif request == SIO_BITMODE:
            mode = value >> 8
            self.bitmode = mode
            if mode == BITMODE_MPSSE:
                engine.set_mode(True)
            else:
                engine.set_mode(False)
        elif request == SIO_BAUDRATE:
            self.baud_value = (value, index)
        elif request in (SIO_MODEM_CTRL, SIO_FLOW_CTRL, SIO_DATA, SIO_EVENT_CHAR, SIO_ERROR_CHAR):
            pass  # UART settings: no UART here
        else:
            raise usb.core.USBError("Pipe error", -9, errno.EPIPE)

    def bulk_write(self, ep: int, data) -> int:
        self.check()
        if ep != EP_OUT:
            raise usb.core.USBError("Pipe error", -9, errno.EPIPE)
        payload = bytes(data)
        self.stats.bulk_out += 1
        self.stats.bulk_out_bytes += len(payload)
        self._out_since_in = True
        try:
            self.engine.write(payload)
        except DeviceGone:
            self.unplug()
            raise _gone() from None
        except FifoStall as e:
            self.stalls.append(str(e))
            raise usb.core.USBError(f"Operation timed out ({e})", -7, errno.ETIMEDOUT) from None
        return len(payload)

    def bulk_read(self, ep: int, buff) -> int:
        self.check()
        if ep != EP_IN:
            raise usb.core.USBError("Pipe error", -9, errno.EPIPE)
        packets = max(1, len(buff) // MAX_PACKET)
        out = bytearray()
        for i in range(packets):
            room = min(MAX_PACKET, len(buff) - len(out)) - 2
            if room < 0:
                break
            chunk = self.engine.read(room)
            if i and not chunk:
                break
            out += STATUS + chunk
        self.stats.bulk_in += 1
        self.stats.bulk_in_bytes += len(out)
        self.stats.bulk_in_payload += len(out) - 2 * ((len(out) + MAX_PACKET - 1) // MAX_PACKET)
        if self._out_since_in:
            self.stats.round_trips += 1
            self._out_since_in = False
        buff[: len(out)] = type(buff)(buff.typecode, out)
        return len(out)


class _Handle:
    def __init__(self, dev: VirtualFt232h) -> None:
        self.dev = dev


class VirtualBackend(usb.backend.IBackend):
    """The pyusb backend over the plugged :class:`VirtualFt232h` devices."""

    def __init__(self) -> None:
        super().__init__()
        self.devices: list[VirtualFt232h] = []

    def enumerate_devices(self):
        return [d for d in self.devices if d.plugged]

    def get_parent(self, dev):
        return None

    def get_device_descriptor(self, dev):
        return dev.device_descriptor

    def get_configuration_descriptor(self, dev, config):
        if config != 0:
            raise IndexError("no such configuration")
        return dev.config_descriptor

    def get_interface_descriptor(self, dev, intf, alt, config):
        if (intf, alt, config) != (0, 0, 0):
            raise IndexError("no such interface")
        return dev.interface_descriptor

    def get_endpoint_descriptor(self, dev, ep, intf, alt, config):
        if (intf, alt, config) != (0, 0, 0) or not 0 <= ep < 2:
            raise IndexError("no such endpoint")
        return dev.endpoint_descriptors[ep]

    def open_device(self, dev):
        dev.check()
        return _Handle(dev)

    def close_device(self, dev_handle):
        pass  # libusb_close cannot fail, even for a device that is gone

    def set_configuration(self, dev_handle, config_value):
        dev_handle.dev.check()
        if config_value not in (0, 1):
            raise usb.core.USBError("Invalid parameter", -2, errno.EINVAL)
        dev_handle.dev.configuration = config_value

    def get_configuration(self, dev_handle):
        dev_handle.dev.check()
        return dev_handle.dev.configuration

    def set_interface_altsetting(self, dev_handle, intf, altsetting):
        dev_handle.dev.check()

    def claim_interface(self, dev_handle, intf):
        dev_handle.dev.check()
        dev_handle.dev.claimed.add(intf)

    def release_interface(self, dev_handle, intf):
        dev_handle.dev.claimed.discard(intf)

    def bulk_write(self, dev_handle, ep, intf, data, timeout):
        return dev_handle.dev.bulk_write(ep, data)

    def bulk_read(self, dev_handle, ep, intf, buff, timeout):
        return dev_handle.dev.bulk_read(ep, buff)

    def ctrl_transfer(self, dev_handle, bmRequestType, bRequest, wValue, wIndex, data, timeout):  # noqa: N803
        return dev_handle.dev.control(bmRequestType, bRequest, wValue, wIndex, data)

    def clear_halt(self, dev_handle, ep):
        dev_handle.dev.check()

    def reset_device(self, dev_handle):
        dev = dev_handle.dev
        dev.check()
        dev.engine.set_mode(False)
        dev.engine.purge_in()

    def is_kernel_driver_active(self, dev_handle, intf):
        return False

    def detach_kernel_driver(self, dev_handle, intf):
        pass

    def attach_kernel_driver(self, dev_handle, intf):
        pass


_BACKEND = VirtualBackend()


def get_backend(find_library=None):  # noqa: ARG001 - pyusb's signature
    """pyusb's backend hook: the virtual bus while a device is plugged."""
    with _lock:
        return _BACKEND if any(d.plugged for d in _BACKEND.devices) else None


def _backend_changed() -> None:
    """Forget what pyftdi cached about the bus (a device came or went)."""
    from pyftdi.usbtools import UsbTools  # noqa: PLC0415

    with _lock:
        UsbTools.flush_cache()
        _BACKEND.devices = [d for d in _BACKEND.devices if d.plugged]
        if not _BACKEND.devices and MODULE in UsbTools.BACKENDS:
            UsbTools.BACKENDS = tuple(b for b in UsbTools.BACKENDS if b != MODULE)
        # devices pyftdi still holds that are gone (closed after a pulled cable)
        for key, (usbdev, _count) in list(UsbTools.Devices.items()):
            if isinstance(UsbTools._get_backend_device(usbdev), VirtualFt232h):  # noqa: SLF001
                if not usbdev._ctx.dev.plugged:  # noqa: SLF001
                    del UsbTools.Devices[key]


def plug(device: VirtualFt232h) -> VirtualFt232h:
    """Connect ``device`` to the virtual bus pyftdi sees; returns it."""
    from pyftdi.usbtools import UsbTools  # noqa: PLC0415

    with _lock:
        if any(d.plugged for d in _BACKEND.devices if d is not device):
            raise RuntimeError("a virtual FT232H is already plugged in; unplug it first")
        device.plugged = True
        if device not in _BACKEND.devices:
            _BACKEND.devices.append(device)
        if MODULE not in UsbTools.BACKENDS:
            UsbTools.BACKENDS = (MODULE, *UsbTools.BACKENDS)
        _backend_changed()
    return device


def plugged() -> list[VirtualFt232h]:
    return [d for d in _BACKEND.devices if d.plugged]
