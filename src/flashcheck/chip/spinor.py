"""SPI NOR commands over a :class:`~flashcheck.transport.Transport`.

The same command layer drives a real chip through an FT232H and a
simulated one, so what the tests prove about it holds on hardware.
Modelled on Linux ``drivers/mtd/spi-nor/core.c``: one method per
command, status polling in :meth:`SpiNor.wait_ready`, no vendor quirks here.
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
        while True:
            sr = self.read_status()
            waited = self._clock() - start
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
            return self.command(READ, self._addr(addr), n)
        items = []
        for off in range(0, n, limit):
            items.append((bytes([READ]) + self._addr(addr + off), min(limit, n - off)))
        return b"".join(self.batch(items))

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
        self.write_enable()
        self.command(opcode, self._addr(addr))
        return self.wait_ready(timeout_s, opcode=opcode, addr=addr)

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
        self.write_enable()
        self.command(PP, self._addr(addr) + bytes(data))
        return self.wait_ready(timeout_s, opcode=PP, addr=addr)

    # -- addressing and protection -----------------------------------------

    def enter_4byte(self) -> None:
        """B7h: 4-byte addresses from now on."""
        self.command(EN4B)
        self.addr_width = 4

    def exit_4byte(self) -> None:
        self.command(EX4B)
        self.addr_width = 3

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
