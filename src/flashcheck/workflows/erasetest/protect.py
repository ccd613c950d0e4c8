"""Write protection around the erase test: read what is set, decode which
blocks it covers, lift it for the test and put exactly it back."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from flashcheck.chip.spinor import SpiNor
from flashcheck.errors import HardwareError
from flashcheck.units import format_addr

KiB = 1024
WRBPR = 0x42


@dataclass
class Protection:
    kind: str | None  # "bpr", "sr" or None
    value: bytes = b""  # BPR bytes, or the SR1 byte
    mask: int = 0  # SR: the BP bits
    locked: Callable[[int, int], bool] | None = None  # (start, size) -> protected
    detail: str = ""

    @property
    def active(self) -> bool:
        return self.kind is not None


def _sst26_blocks(layouts) -> list[tuple[int, int]]:
    """The SST26 0xD8 blocks in address order, from the database or the
    chip's sector map: the units the block-protection register locks."""
    for _part, lay, _how in layouts:
        for op in lay.erase:
            if op.opcode == 0xD8 and len(op.sizes) > 1:
                return [(a, r.size) for r in op.regions for a in range(r.start, r.end, r.size)]
    return []


def _bpr_protection(value: bytes, layouts) -> Protection:
    bits = int.from_bytes(value, "big")
    blocks = _sst26_blocks(layouts)
    # SST26 BPR: one write-lock bit per 32/64 KiB block from bit 0 in
    # address order, then a (write, read) pair per 8 KiB block.
    large = [(a, s) for a, s in blocks if s != 8 * KiB]
    small = [(a, s) for a, s in blocks if s == 8 * KiB]
    units = [(a, s, i) for i, (a, s) in enumerate(large)] + [(a, s, len(large) + 2 * k) for k, (a, s) in enumerate(small)]
    decoded = bool(units) and (len(large) + 2 * len(small) + 7) // 8 == len(value)

    def locked(start: int, size: int) -> bool:
        if not decoded:
            return True
        return any(bits >> bit & 1 and start < a + s and a < start + size for a, s, bit in units)

    how = "per block" if decoded else "not decoded for this layout, so every block counts as locked"
    return Protection("bpr", value, 0, locked, f"SST26 block-protection register {value.hex()} ({how})")


def _ranges_locked(ranges: list[tuple[int, int]]) -> Callable[[int, int], bool]:
    return lambda start, size: any(start < e and s < start + size for s, e in ranges)


def read_protection(nor: SpiNor, plan) -> Protection:
    """The protection the chip has now, and which blocks it covers.

    The exact range comes from the chip layer where it decodes it
    (``nor.protected_ranges()``: (start, end) byte ranges per family,
    BP/TB/SEC/CMP); without that hook any BP bit set counts as the whole
    array protected."""
    facts = plan.facts
    p = facts.protection or {}
    if p.get("bpr") is not None:
        value = bytes.fromhex(p["bpr"])
        return _bpr_protection(value, plan.layouts) if any(value) else Protection(None)
    from flashcheck.workflows.probe import bp_mask

    mask = bp_mask(facts.raw_id)
    sr = nor.read_status()
    decoder = getattr(nor, "protected_ranges", None)
    ranges = decoder() if callable(decoder) else None
    if ranges is not None:
        if not ranges:
            return Protection(None)
        shown = ", ".join(f"{format_addr(s)}-{format_addr(e - 1)}" for s, e in ranges)
        return Protection("sr", bytes([sr & ~0x03 & 0xFF]), mask, _ranges_locked(ranges),
                          f"status register 0x{sr:02X}: protects {shown}")
    if sr & mask:
        return Protection(
            "sr", bytes([sr & ~0x03 & 0xFF]), mask, lambda s, n: True,
            f"status register 0x{sr:02X}: block-protect bits 0x{sr & mask:02X} set (the protected range is "
            "not decoded, so every block counts as protected)",
        )
    return Protection(None)


def unlock(nor: SpiNor, prot: Protection) -> None:
    if prot.kind == "bpr":
        nor.global_unlock()
        nor.wait_ready(1.0, opcode=0x98)
        now = nor.read_bpr(len(prot.value))
        if any(now):
            raise HardwareError(f"global unlock (0x98) did not clear the block-protection register (reads {now.hex()})")
    elif prot.kind == "sr":
        nor.write_status(bytes([prot.value[0] & ~prot.mask & 0xFF]))
        if nor.read_status() & prot.mask:
            raise HardwareError("clearing the status register's block-protect bits did not take (WP# pin held low, or SRP set?)")


def relock(nor: SpiNor, kind: str, value: bytes, mask: int = 0) -> None:
    """Put saved protection back, and read it back equal."""
    if kind == "bpr":
        nor.write_enable()
        nor.command(WRBPR, value)
        nor.wait_ready(1.0, opcode=WRBPR)
        now = nor.read_bpr(len(value))
        if now != value:
            raise HardwareError(f"block-protection register reads {now.hex()} after writing back {value.hex()}")
    elif kind == "sr":
        nor.write_status(value[:1])
        now = nor.read_status()
        if now & mask != value[0] & mask:
            raise HardwareError(f"status register reads 0x{now:02X} after writing back 0x{value[0]:02X}")


def current_protection(nor: SpiNor, raw_id: bytes) -> tuple[str, bytes, int] | None:
    """(kind, value, mask) of the write protection the chip has now, or None."""
    if raw_id[:2] == b"\xbf\x26":
        from flashcheck.workflows.probe import _SST26_BPR_BYTES

        bpr = nor.read_bpr(_SST26_BPR_BYTES.get(raw_id[2], 18))
        return ("bpr", bpr, 0) if any(bpr) else None
    from flashcheck.workflows.probe import bp_mask

    mask = bp_mask(raw_id)
    sr = nor.read_status()
    return ("sr", bytes([sr & ~0x03 & 0xFF]), mask) if sr & mask else None
