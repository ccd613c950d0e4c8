"""SPI NOR commands over a :class:`~flashcheck.transport.Transport`.

The same command layer drives a real chip through an FT232H and a
simulated one, so what the tests prove about it holds on hardware.
Modelled on Linux ``drivers/mtd/spi-nor/core.c``: one method per
command, status polling in :meth:`SpiNor.wait_ready`, no vendor quirks here:
those are behind the hooks of :mod:`flashcheck.chip.vendors`, picked by the
chip's JEDEC ID (:attr:`SpiNor.vendor`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from flashcheck.errors import ChipTimeout, HardwareError

# Opcodes (JEDEC / common vendor usage)
RDID = 0x9F
RDSFDP = 0x5A
RDSR = 0x05
RDSR2 = 0x35
RDCR = 0x15
WREN = 0x06
WRDI = 0x04
WRSR = 0x01
READ = 0x03
PP = 0x02
RUID = 0x4B
ULBPR = 0x98
RBPR = 0x72
EN4B = 0xB7
EX4B = 0xE9
RDP = 0xAB  # release from deep power-down (and RES)
DP = 0xB9

#: 3-byte-address command -> its 4-byte-address opcode (JESD216 4-byte
#: instruction table; Linux ``spi_nor_convert_3to4_*``).
OPCODES_4B = {0x03: 0x13, 0x0B: 0x0C, 0x02: 0x12, 0x20: 0x21, 0x52: 0x5C, 0xD8: 0xDC}
#: tRES1 (release from deep power-down) and tRST (reset recovery), generous.
WAKE_S = 50e-6
RESET_S = 100e-6

if TYPE_CHECKING:
    from flashcheck.chip.sfdp import SectorMapConfig, SfdpInfo
    from flashcheck.transport import Transport

SR_WIP = 0x01
SR_WEL = 0x02

#: What a caller is told to check when the chip does not answer.
CHECK_HINT = (
    "check wiring, power, that the host MCU is held in reset, and the supply voltage"
)

#: Where an SFDP area can reasonably end (JESD216 areas are a few hundred bytes).
SFDP_MAX = 0x10000


class OperationFailed(ChipTimeout):
    """The chip reports a failed program/erase (Spansion E_ERR/P_ERR) and
    stays busy until :meth:`SpiNor.clear_error`.  A ChipTimeout: callers that
    treat a chip stuck busy already handle it."""

    def __init__(self, msg: str, status: int) -> None:
        super().__init__(msg)
        self.status = status


def _hex(b: bytes) -> str:
    return " ".join(f"{x:02x}" for x in b)


def checked_id(ident: bytes) -> bytes:
    """0x9F's answer, or HardwareError when nothing answered (all 1s or 0s)."""
    head = ident[:3]
    if head in (b"\xff\xff\xff", b"\x00\x00\x00"):
        msg = f"no chip answered (ID {_hex(head)}): {CHECK_HINT}"
        raise HardwareError(msg)
    return ident


def unique_id_or_none(uid: bytes) -> bytes | None:
    """0x4B's answer, or None when it is all 0xFF or 0x00 (no such command)."""
    return None if uid in (b"\xff" * len(uid), b"\x00" * len(uid)) else uid


class SpiNor:
    """A SPI NOR flash chip on ``transport``.

    ``addr_width`` is 3 or 4 address bytes for array commands (a part over
    16 MiB in 4-byte mode, see :meth:`enter_4byte`).  ``poll_interval_s`` is
    the pause between status reads while waiting; ``sleep`` and ``clock``
    can be replaced (tests)."""

    def __init__(
        self,
        transport: Transport,
        *,
        addr_width: int = 3,
        poll_interval_s: float = 0.0002,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if addr_width not in (3, 4):
            msg = f"addr_width must be 3 or 4, not {addr_width!r}"
            raise ValueError(msg)
        self.transport = transport
        self.addr_width = addr_width
        self.poll_interval_s = poll_interval_s
        self._sleep = sleep
        self._clock = clock
        #: Whether the last :meth:`wait_ready` saw the chip busy at least once.
        self.last_busy_seen = False
        #: 0x9F's answer once :meth:`identify` ran; picks :attr:`vendor`.
        self.raw_id: bytes | None = None
        #: chip size in bytes when known (SFDP, database, or the ID)
        self.size: int | None = None
        #: True: addresses at or over 16 MiB use the 4-byte opcodes
        #: (0x13, 0x12, 0x21, 0xDC ...) without changing the chip's mode
        self.use_4byte_opcodes = False
        self._vendor = None

    # -- plumbing -----------------------------------------------------------

    def _x(self, out: bytes, readlen: int = 0) -> bytes:
        data = self.transport.exchange(bytes(out), readlen)
        if len(data) != readlen:
            msg = f"{self.transport.description}: asked for {readlen} bytes, got {len(data)}"
            raise HardwareError(msg)
        return bytes(data)

    def _addr(self, addr: int) -> bytes:
        if addr < 0 or addr >= 1 << (8 * self.addr_width):
            msg = f"address 0x{addr:X} does not fit {self.addr_width} address bytes"
            raise ValueError(msg)
        return addr.to_bytes(self.addr_width, "big")

    def command(self, opcode: int, payload: bytes = b"", readlen: int = 0) -> bytes:
        """A raw transaction: ``opcode``, ``payload``, then ``readlen`` bytes in."""
        return self._x(bytes([opcode]) + bytes(payload), readlen)

    # -- identification -----------------------------------------------------

    def read_id(self, n: int = 6) -> bytes:
        """JEDEC id (9Fh), ``n`` bytes (3 standard, more for extended bytes).
        HardwareError when nothing answers (all 1s or all 0s)."""
        if n < 3:
            msg = "read at least 3 id bytes"
            raise ValueError(msg)
        return checked_id(self.command(RDID, readlen=n))

    def identify(self, n: int = 6) -> bytes:
        """:meth:`read_id`, remembered: it picks the vendor hooks."""
        self.raw_id = self.read_id(n)
        self._vendor = None
        if self.size is None:
            self.size = self.vendor.size_from_id(self.raw_id)
        return self.raw_id

    @property
    def vendor(self):
        """The :class:`~flashcheck.chip.vendors.Vendor` hooks for this chip
        (generic JEDEC behaviour until :meth:`identify` has run)."""
        if self._vendor is None:
            from flashcheck.chip import vendors  # noqa: PLC0415 - vendors import this module

            self._vendor = vendors.vendor_for(self.raw_id) if self.raw_id else vendors.GENERIC
        return self._vendor

    def wake(self) -> str:
        """Release from deep power-down (0xABh) and wait tRES1: a chip the
        host left asleep answers nothing useful to 0x9F until then.  Harmless
        on an awake chip.  Returns what was sent, for the report."""
        self.command(RDP)
        self._sleep(WAKE_S)
        return "0xAB (release from deep power-down)"

    def soft_reset(self) -> str:
        """0x66 then 0x99 (reset enable, reset) and tRST: volatile state
        (4-byte mode, suspended operations, volatile register bits) back to
        power-up.  Only for chips that have it (:attr:`vendor` ``soft_reset``
        or the SFDP says so): 0x99 may be another command elsewhere."""
        self.command(0x66)
        self.command(0x99)
        self._sleep(RESET_S)
        return "0x66 0x99 (software reset)"

    def read_unique_id(self, dummy_bytes: int = 4, length: int = 8) -> bytes | None:
        """Winbond-style unique id (4Bh, ``dummy_bytes`` dummy bytes, then
        ``length`` bytes); None when the chip answers all 0xFF or all 0x00
        (no such command on this part)."""
        return unique_id_or_none(self.command(RUID, bytes(dummy_bytes), length))

    # -- SFDP ---------------------------------------------------------------

    def read_sfdp(self, addr: int, n: int) -> bytes:
        """``n`` bytes of the SFDP area from ``addr`` (5Ah, 3 address bytes,
        8 dummy clocks)."""
        if not 0 <= addr < 1 << 24:
            msg = f"SFDP address 0x{addr:X} out of range"
            raise ValueError(msg)
        return self.command(RDSFDP, addr.to_bytes(3, "big") + b"\x00", n)

    def read_sfdp_image(self) -> bytes | None:
        """The SFDP area from 0 to the end of the last parameter table, or
        None when there is no "SFDP" signature (no SFDP on this part)."""
        return self.complete_sfdp_image(self.read_sfdp(0, 8))

    def complete_sfdp_image(self, start: bytes) -> bytes | None:
        """The whole SFDP area, given its first bytes (at least 8): reads
        the parameter headers and tables still missing.  None without the
        "SFDP" signature."""
        if start[:4] != b"SFDP":
            return None
        nph = start[6] + 1
        data = bytes(start)
        if len(data) < 8 + 8 * nph:
            data += self.read_sfdp(len(data), 8 + 8 * nph - len(data))
        end = 8 + 8 * nph
        for i in range(nph):
            h = data[8 + 8 * i : 16 + 8 * i]
            end = max(end, int.from_bytes(h[4:7], "little") + 4 * h[3])
        if end > SFDP_MAX:
            msg = (
                f"SFDP parameter headers point to 0x{end:X}, past any real SFDP area: "
                f"the answers look corrupt ({CHECK_HINT}, and try a lower SPI clock)"
            )
            raise HardwareError(msg)
        if len(data) < end:
            data += self.read_sfdp(len(data), end - len(data))
        return data[:end]

    # -- batches ------------------------------------------------------------

    def batch(self, items: list[tuple[bytes, int]]) -> list[bytes]:
        """Several raw transactions ``(out, readlen)``, in one USB round
        trip where the transport can (``exchange_many``), else one by one."""
        many = getattr(self.transport, "exchange_many", None)
        answers = many(items) if many else [self.transport.exchange(bytes(o), n) for o, n in items]
        for (_, n), a in zip(items, answers):
            if len(a) != n:
                msg = f"{self.transport.description}: asked for {n} bytes, got {len(a)}"
                raise HardwareError(msg)
        return [bytes(a) for a in answers]

    # -- registers ----------------------------------------------------------

    def read_status(self) -> int:
        """Status register 1 (05h)."""
        return self.command(RDSR, readlen=1)[0]

    def read_status2(self) -> int:
        """Status register 2 / configuration register 1 (35h: Winbond SR2,
        Spansion CR1, SST26 configuration)."""
        return self.command(RDSR2, readlen=1)[0]

    def read_config(self, opcode: int = RDCR) -> int:
        """Configuration register (15h: Macronix CR, Winbond SR3), or
        another register read given by ``opcode``."""
        return self.command(opcode, readlen=1)[0]

    def write_status(self, values: bytes, timeout_s: float = 2.0) -> float:
        """Write status/configuration registers (WREN, 01h ``values``),
        then wait for the write to finish; returns the seconds waited."""
        self.write_enable()
        self.command(WRSR, bytes(values))
        return self.wait_ready(timeout_s, opcode=WRSR)

    def write_enable(self) -> None:
        """06h, then check that WEL is set (HardwareError if not: the chip
        is not listening, or write-protected in hardware)."""
        self.command(WREN)
        sr = self.read_status()
        if not sr & SR_WEL:
            msg = (
                f"write enable did not take (status 0x{sr:02X}, WEL clear): "
                f"{CHECK_HINT}; also check the WP# and HOLD# pins"
            )
            raise HardwareError(msg)

    def write_disable(self) -> None:
        self.command(WRDI)

    def wait_ready(self, timeout_s: float, *, opcode: int | None = None, addr: int | None = None) -> float:
        """Poll WIP until clear; returns the seconds waited.  ChipTimeout
        naming ``opcode`` and the time waited if still busy after
        ``timeout_s``."""
        start = self._clock()
        self.last_busy_seen = False
        check = self.vendor.check_status
        while True:
            sr = self.read_status()
            waited = self._clock() - start
            check(self, sr, opcode)  # vendor error flags (Spansion E_ERR/P_ERR)
            if not sr & SR_WIP:
                return waited
            self.last_busy_seen = True
            if waited > timeout_s:
                what = f"opcode 0x{opcode:02X}" if opcode is not None else "the last command"
                where = f" at 0x{addr:06X}" if addr is not None else ""
                msg = (
                    f"chip still busy after {waited:.3f} s waiting for {what}{where} "
                    f"(status 0x{sr:02X}, allowed {timeout_s:.3f} s): power-cycle the chip; "
                    "if it persists the part may be damaged or not the part expected"
                )
                raise ChipTimeout(msg)
            if self.poll_interval_s:
                self._sleep(self.poll_interval_s)

    # -- array --------------------------------------------------------------

    def read(self, addr: int, n: int) -> bytes:
        """``n`` bytes from ``addr`` (03h), split into transactions the
        transport can carry (pyftdi's 0xFF00 bytes per exchange, spidev's
        buffer, a serprog programmer's read length) and sent as one batch
        where the transport batches (:meth:`batch`: few USB round trips)."""
        limit = self._max_read()
        if n <= limit:
            op, a = self._op_addr(READ, addr)
            return self.command(op, a, n)
        items = []
        for off in range(0, n, limit):
            op, a = self._op_addr(READ, addr + off)
            items.append((bytes([op]) + a, min(limit, n - off)))
        return b"".join(self.batch(items))

    def _op_addr(self, opcode: int, addr: int) -> tuple[int, bytes]:
        """The opcode and address bytes for ``opcode`` at ``addr``: the
        4-byte opcode where :attr:`use_4byte_opcodes` is on and the address
        needs it."""
        if self.use_4byte_opcodes and self.addr_width == 3 and addr >= 1 << 24 and opcode in OPCODES_4B:
            if addr >= 1 << 32:
                msg = f"address 0x{addr:X} does not fit 4 address bytes"
                raise ValueError(msg)
            return OPCODES_4B[opcode], addr.to_bytes(4, "big")
        return opcode, self._addr(addr)

    def _max_read(self) -> int:
        t = self.transport
        limits = [getattr(t, "max_read", None)]
        total = getattr(t, "max_transfer", None)
        if total:
            limits.append(total - 1 - self.addr_width)
        usable = [x for x in limits if isinstance(x, int) and x > 0]
        return min(usable) if usable else 1 << 30

    def max_program(self) -> int:
        """The most data bytes one page-program transaction may carry on
        this transport (the page size limits it further)."""
        t = self.transport
        limits = [getattr(t, "max_write", None), getattr(t, "max_transfer", None)]
        usable = [x - 1 - self.addr_width for x in limits if isinstance(x, int) and x > 0]
        return min(usable) if usable else 1 << 30

    def erase(self, opcode: int, addr: int, timeout_s: float) -> float:
        """WREN, ``opcode`` at ``addr``, wait; returns the seconds waited.
        The chip decides what the opcode erases there (maybe nothing:
        :attr:`last_busy_seen` tells whether it went busy at all)."""
        op, a = self._op_addr(opcode, addr)
        self.write_enable()
        self.command(op, a)
        return self.wait_ready(timeout_s, opcode=op, addr=addr)

    def chip_erase(self, timeout_s: float, opcode: int = 0xC7) -> float:
        self.write_enable()
        self.command(opcode)
        return self.wait_ready(timeout_s, opcode=opcode)

    def page_program(self, addr: int, data: bytes, timeout_s: float = 0.1) -> float:
        """WREN, 02h ``data`` at ``addr`` (the chip wraps within its page),
        wait; returns the seconds waited."""
        if not data:
            msg = "page_program needs data"
            raise ValueError(msg)
        op, a = self._op_addr(PP, addr)
        self.write_enable()
        self.command(op, a + bytes(data))
        return self.wait_ready(timeout_s, opcode=op, addr=addr)

    # -- addressing and protection -----------------------------------------

    def enter_4byte(self) -> None:
        """4-byte addresses from now on (0xB7, or the vendor's way: WREN
        first on Micron, the bank register on Spansion)."""
        self.vendor.enter_4byte(self)
        self.addr_width = 4

    def exit_4byte(self) -> None:
        """Back to 3-byte addresses (0xE9 or the vendor's way)."""
        self.vendor.exit_4byte(self)
        self.addr_width = 3

    def clear_error(self) -> None:
        """Clear a failed operation's error state (Spansion CLSR 0x30)."""
        self.vendor.clear_error(self)

    def four_byte_mode(self) -> bool | None:
        """Whether the chip is in 4-byte address mode now, from its own
        register (None: the vendor gives no way to tell)."""
        return self.vendor.four_byte_mode(self)

    def read_protection(self):
        """The chip's write protection now, decoded by its vendor hook:
        a :class:`~flashcheck.chip.vendors.ProtectionState` with the exact
        protected ranges."""
        if self.raw_id is None:
            self.identify()
        return self.vendor.read_protection(self, self.raw_id, self.size)

    def protected_ranges(self) -> list[tuple[int, int]]:
        """Protected byte ranges ``(start, end)``, end exclusive, merged;
        empty when nothing is protected."""
        return list(self.read_protection().ranges)

    def unlock(self, state=None):
        """Clear the write protection (vendor hook); returns the state
        before, for :meth:`relock`."""
        before = state or self.read_protection()
        self.vendor.unlock(self, self.raw_id, before)
        return before

    def relock(self, state) -> None:
        """Put back a protection state returned by :meth:`unlock`."""
        self.vendor.relock(self, self.raw_id, state)

    def global_unlock(self) -> None:
        """SST26 ULBPR (WREN, 98h): clear every block's write lock."""
        self.write_enable()
        self.command(ULBPR)

    def read_bpr(self, n: int = 18) -> bytes:
        """SST26 block-protection register (72h), ``n`` bytes, most
        significant first (18 for the 64 Mbit part)."""
        return self.command(RBPR, readlen=n)

    def sector_map_in_use(self, info: SfdpInfo) -> SectorMapConfig | None:
        """The sector-map configuration of ``info`` (a decoded
        :class:`~flashcheck.chip.sfdp.SfdpInfo`) the chip is in now, found
        by running the map's detection reads; None without a sector map."""
        if not info.sector_map:
            return None
        cid = 0
        for d in info.sector_map_detect:
            payload = b""
            abytes = self.addr_width if d.address_bytes < 0 else d.address_bytes
            if abytes:
                payload = (d.address & ((1 << (8 * abytes)) - 1)).to_bytes(abytes, "big")
            # "variable" dummy (-1) means the current read's: 0 for 03h reads
            payload += bytes(max(0, d.dummy_cycles) // 8)
            value = self.command(d.opcode, payload, 1)[0]
            cid = cid << 1 | (1 if value & d.mask else 0)
        for config in info.sector_map:
            if config.id == cid:
                return config
        msg = f"the chip's sector-map detection gives configuration {cid}, which its SFDP does not describe"
        raise HardwareError(msg)
