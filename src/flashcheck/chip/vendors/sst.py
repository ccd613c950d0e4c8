"""Microchip/SST SST26: a block-protection register (0x72 read, 0x42
write, 0x98 global unlock) in place of BP bits, every block write-locked at
power-up (SST26VF032B datasheet, Block Protection Register and ULBPR).

The register holds one write-lock bit per 32/64 KiB block from bit 0 in
address order, then a (write, read) pair per 8 KiB block; it is read most
significant byte first.  The blocks: four 8 KiB and one 32 KiB at each end,
64 KiB blocks between."""

from __future__ import annotations

from typing import TYPE_CHECKING

from flashcheck.chip.vendors.base import ProtectionState, Vendor

if TYPE_CHECKING:
    from flashcheck.chip.spinor import SpiNor

KiB = 1024

#: SST26 block-protection register length in bytes by JEDEC capacity byte.
SST26_BPR_BYTES = {0x41: 6, 0x42: 10, 0x43: 18}
_SIZES = {0x41: 2 << 20, 0x42: 4 << 20, 0x43: 8 << 20}


def sst26_blocks(size: int) -> list[tuple[int, int, int]]:
    """(start, size, write-lock bit) of each protectable block."""
    small = [(a, 8 * KiB) for a in range(0, 32 * KiB, 8 * KiB)]
    small += [(size - 32 * KiB + a, 8 * KiB) for a in range(0, 32 * KiB, 8 * KiB)]
    large = [(32 * KiB, 32 * KiB)] + [(a, 64 * KiB) for a in range(64 * KiB, size - 64 * KiB, 64 * KiB)]
    large += [(size - 64 * KiB, 32 * KiB)]
    out = [(a, s, i) for i, (a, s) in enumerate(large)]
    out += [(a, s, len(large) + 2 * k) for k, (a, s) in enumerate(sorted(small))]
    return out


def bpr_ranges(bpr: bytes, size: int) -> list[tuple[int, int]] | None:
    """Merged protected ranges of an SST26 of ``size`` bytes, or None when
    the register length does not fit that layout."""
    blocks = sst26_blocks(size)
    if (len(blocks) + sum(1 for _a, s, _b in blocks if s == 8 * KiB) + 7) // 8 != len(bpr):
        return None
    bits = int.from_bytes(bpr, "big")
    locked = sorted((a, a + s) for a, s, bit in blocks if bits >> bit & 1)
    merged: list[tuple[int, int]] = []
    for a, b in locked:
        if merged and merged[-1][1] == a:
            merged[-1] = (merged[-1][0], b)
        else:
            merged.append((a, b))
    return merged


class Sst(Vendor):
    name = "Microchip/SST"
    ids = (0xBF,)
    soft_reset = True

    def _is_sst26(self, raw_id: bytes) -> bool:
        return raw_id[1:2] == b"\x26"

    def size_from_id(self, raw_id: bytes) -> int | None:
        if self._is_sst26(raw_id):
            return _SIZES.get(raw_id[2])
        return super().size_from_id(raw_id)

    def read_protection(self, nor: SpiNor, raw_id: bytes, size: int | None) -> ProtectionState:
        if not self._is_sst26(raw_id):
            return super().read_protection(nor, raw_id, size)
        bpr = nor.read_bpr(SST26_BPR_BYTES.get(raw_id[2], 18))
        size = size or self.size_from_id(raw_id)
        ranges = bpr_ranges(bpr, size) if size else None
        method = "SST26 block-protection register (0x72)"
        if ranges is None:  # not decoded: any set bit counts as the whole chip
            return ProtectionState(method + ", not decoded for this size", {}, [(0, size or 0)] if any(bpr) else [],
                                   decoded=not any(bpr), raw=bpr)
        return ProtectionState(method, {}, ranges, raw=bpr)

    def unlock(self, nor: SpiNor, raw_id: bytes, state: ProtectionState) -> None:
        if not self._is_sst26(raw_id):
            super().unlock(nor, raw_id, state)
            return
        nor.global_unlock()

    def relock(self, nor: SpiNor, raw_id: bytes, state: ProtectionState) -> None:
        if not self._is_sst26(raw_id):
            super().relock(nor, raw_id, state)
            return
        nor.write_enable()
        nor.command(0x42, state.raw)


SST = Sst()
