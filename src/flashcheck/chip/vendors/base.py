"""The vendor hook interface and the generic behaviour (JEDEC common
commands), with the block-protect range decoder all BP-style families share."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING


if TYPE_CHECKING:
    from flashcheck.chip.spinor import SpiNor

KiB = 1024


@dataclass(frozen=True)
class Bit:
    """One register bit: the opcode that reads its register, the register's
    name, and the bit's mask."""

    read: int
    mask: int
    register: str = "SR1"


@dataclass(frozen=True)
class WpBits:
    """Where a family keeps its write-protect bits (flashrom's ``reg_bits``):
    BP0 first; TB set = protect from the bottom; SEC set = 4 KiB sectors
    instead of blocks; CMP set = the complement is protected; SRP the
    status-register protect bit (with WP# low, registers are locked)."""

    bp: tuple[Bit, ...]
    tb: Bit | None = None
    sec: Bit | None = None
    cmp: Bit | None = None
    srp: Bit | None = None
    #: opcode writing each register in one byte (SR1 by 0x01 always)
    writes: dict[str, int] = field(default_factory=lambda: {"SR1": 0x01})
    #: registers 0x01 writes together, one data byte each in this order
    #: (Winbond's 16-bit form: SR1 then SR2); empty: one write per register
    joint: tuple[str, ...] = ()

    @property
    def sr1_bp_mask(self) -> int:
        return sum(b.mask for b in self.bp if b.register == "SR1")

    def all_bits(self) -> list[Bit]:
        return [b for b in (*self.bp, self.tb, self.sec, self.cmp) if b is not None]


def _sr1(*masks: int) -> tuple[Bit, ...]:
    return tuple(Bit(0x05, m) for m in masks)


#: BP0-BP2 in SR1 bits 2-4, nothing else (M25P, generic JEDEC parts).
BP3_ONLY = WpBits(_sr1(0x04, 0x08, 0x10), srp=Bit(0x05, 0x80))


def decode_bp_range(bp: int, bp_bits: int, chip_len: int, *, tb: bool = False, sec: bool = False,
                    cmp: bool = False) -> tuple[int, int]:
    """The protected range ``(start, end)`` (end exclusive; ``(0, 0)`` for
    none) of a BP-style family, as flashrom's ``decode_range_spi25`` computes
    it: BP=0 none, all ones the whole chip, else 2^(BP-1) units from the top
    (bottom with TB), a unit being a 64 KiB block, or chip/2^(bits-1) on large
    chips so the top coefficient still halves the chip, or 4 KiB with SEC
    (at most 32 KiB); CMP protects the complement."""
    bp_max = (1 << bp_bits) - 1
    if bp == 0:
        length = 0
    elif bp == bp_max:
        length = chip_len
    else:
        coeff = 1 << (bp - 1)
        if sec:
            length = min(4 * KiB * coeff, 32 * KiB)
        else:
            max_coeff = 1 << (bp_max - 1)
            block = 64 * KiB
            if block * max_coeff < chip_len:
                block = chip_len // max_coeff
            length = min(block * coeff, chip_len)
    top = not tb
    if cmp:
        length = chip_len - length
        top = not top
    if length <= 0:
        return (0, 0)
    return (chip_len - length, chip_len) if top else (0, length)


@dataclass
class ProtectionState:
    """What protects the array now, read from the chip."""

    method: str  # e.g. "status register BP0-BP2, TB, SEC, CMP"
    registers: dict[str, int]  # name -> value read
    ranges: list[tuple[int, int]]  # protected byte ranges, end exclusive
    decoded: bool = True  # False: bits set but the range is not known
    raw: bytes = b""  # SST26: the block-protection register
    status_locked: bool = False  # SRP set: registers locked while WP# is low

    @property
    def protected(self) -> bool:
        """Anything protected (bits set that could not be decoded count)."""
        return bool(self.ranges) or not self.decoded

    def to_json(self) -> dict:
        out = {
            "method": self.method,
            "protected": self.protected,
            "ranges": [[f"0x{a:06X}", f"0x{b:06X}"] for a, b in self.ranges],
            "decoded": self.decoded,
            "registers": {k: f"0x{v:02X}" for k, v in self.registers.items()},
            "srp": self.status_locked,
        }
        if self.raw:
            out["bpr"] = self.raw.hex()
        return out


@dataclass(frozen=True)
class Geometry:
    """Where the 4 KiB parameter sectors are (``bottom``/``top``/None for
    none) and what the block erase 0xD8 erases elsewhere."""

    parameter_sectors: str | None
    block_size: int
    how: str


class Vendor:
    """Generic JEDEC behaviour; each vendor module overrides what differs."""

    name = "generic"
    #: manufacturer ID bytes (first byte of 0x9F) this vendor claims
    ids: tuple[int, ...] = ()
    wp_bits: WpBits = BP3_ONLY
    #: 0x66 then 0x99 resets the chip (None: unknown, the chip may lack it)
    soft_reset: bool | None = None

    def claims(self, raw_id: bytes) -> bool:
        return bool(raw_id) and raw_id[0] in self.ids

    def wp_bits_for(self, raw_id: bytes) -> WpBits:
        return self.wp_bits

    def size_from_id(self, raw_id: bytes) -> int | None:
        """Capacity from the JEDEC capacity byte (2^n bytes), where credible."""
        n = raw_id[2] if len(raw_id) > 2 else 0
        return 1 << n if 0x10 <= n <= 0x22 else None

    # -- ready / error ------------------------------------------------------

    def check_status(self, nor: SpiNor, sr: int, opcode: int | None) -> None:
        """Called with every status read while waiting: raise
        :class:`~flashcheck.chip.spinor.OperationFailed` when the chip
        reports a failed operation (nothing to check generically)."""

    def clear_error(self, nor: SpiNor) -> None:
        """Clear the error state :meth:`check_status` reported."""

    # -- protection ---------------------------------------------------------

    def read_protection(self, nor: SpiNor, raw_id: bytes, size: int | None) -> ProtectionState:
        bits = self.wp_bits_for(raw_id)
        every = bits.all_bits() + ([bits.srp] if bits.srp else [])
        ops = sorted({b.read for b in every})
        cache = dict(zip(ops, (a[0] for a in nor.batch([(bytes([op]), 1) for op in ops]))))  # one round trip

        def reg(b: Bit) -> int:
            return cache[b.read]

        bp = sum(1 << i for i, b in enumerate(bits.bp) if reg(b) & b.mask)
        flags = {k: bool(b and reg(b) & b.mask) for k, b in (("tb", bits.tb), ("sec", bits.sec), ("cmp", bits.cmp))}
        srp = bool(bits.srp and reg(bits.srp) & bits.srp.mask)
        names = {b.read: b.register for b in every}
        registers = {names[op]: v for op, v in cache.items()}
        parts = [f"BP0-BP{len(bits.bp) - 1}"] + [k.upper() for k in ("tb", "sec", "cmp") if getattr(bits, k)]
        method = "status register " + ", ".join(parts)
        if size is None:
            decoded = bp == 0 and not flags["cmp"]
            return ProtectionState(method + " (chip size unknown: range not decoded)", registers,
                                   [], decoded, status_locked=srp)
        start, end = decode_bp_range(bp, len(bits.bp), size, **flags)
        return ProtectionState(method, registers, [(start, end)] if end > start else [], status_locked=srp)

    def unlock(self, nor: SpiNor, raw_id: bytes, state: ProtectionState) -> None:
        """Clear every block-protect bit (and TB/SEC/CMP, so that BP=0 means
        nothing protected)."""
        bits = self.wp_bits_for(raw_id)
        self._write_bits(nor, bits, {b: False for b in bits.all_bits()})

    def relock(self, nor: SpiNor, raw_id: bytes, state: ProtectionState) -> None:
        """Put back the protection ``state`` recorded before :meth:`unlock`."""
        bits = self.wp_bits_for(raw_id)
        by_name = state.registers
        self._write_bits(nor, bits, {b: bool(by_name.get(b.register, 0) & b.mask) for b in bits.all_bits()})

    def _write_bits(self, nor: SpiNor, bits: WpBits, want: dict[Bit, bool]) -> None:
        """Set each bit of ``want`` on or off, every other bit of its register
        as read: the registers of ``bits.joint`` in one 0x01, the others each
        by its own opcode.  The caller reads the result back."""
        joint = bits.joint if any(b.register in bits.joint for b in want) else ()
        values = self._wanted_values(nor, bits, want, names=joint)
        if joint:
            _write_register(nor, 0x01, bytes(values.pop(n) for n in joint))
        for name, value in values.items():
            op = bits.writes.get(name)
            if op is not None:  # else OTP or not writable one-by-one: left as it is
                _write_register(nor, op, bytes([value]))

    @staticmethod
    def _wanted_values(nor: SpiNor, bits: WpBits, want: dict[Bit, bool],
                       names: tuple[str, ...] = ()) -> dict[str, int]:
        """register name -> its value now with ``want`` applied, for the
        registers ``want`` touches (and every one of ``names``)."""
        reads = {b.register: b.read for b in (*bits.all_bits(), *([bits.srp] if bits.srp else []))}
        out: dict[str, int] = {}
        for name in (*[b.register for b in want], *names):
            if name not in out:
                out[name] = nor.command(reads[name], readlen=1)[0] & (~0x03 if name == "SR1" else 0xFF) & 0xFF
        for b, on in want.items():
            if b.register in out:
                out[b.register] = out[b.register] | b.mask if on else out[b.register] & ~b.mask
        return out

    # -- addressing, reset, configuration -----------------------------------

    def enter_4byte(self, nor: SpiNor) -> None:
        nor.command(0xB7)

    def exit_4byte(self, nor: SpiNor) -> None:
        nor.command(0xE9)

    def four_byte_mode(self, nor: SpiNor) -> bool | None:
        """Whether the chip is in 4-byte address mode now (None: cannot tell)."""
        return None

    def has_geometry(self, raw_id: bytes) -> bool:
        return False

    def geometry(self, nor: SpiNor) -> Geometry | None:
        """The erase geometry configuration the chip's registers select."""
        return None


def _write_register(nor: SpiNor, op: int, data: bytes) -> None:
    """WREN, one status-register write, wait for it to finish."""
    nor.write_enable()
    nor.command(op, data)
    nor.wait_ready(2.0, opcode=op)


def reset_sequence(nor: SpiNor, *, settle_s: float = 50e-6) -> None:
    """0x66 then 0x99 (JEDEC soft reset), then the reset recovery time."""
    nor.command(0x66)
    nor.command(0x99)
    time.sleep(settle_s)
