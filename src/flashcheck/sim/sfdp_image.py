"""Build the SFDP area (JESD216) a simulated chip answers to 0x5A.

The image holds the SFDP header, one parameter header per table, the Basic
Flash Parameter Table and, where the model asks for it, a Sector Map
Parameter Table (0xFF81) generated from the model's layouts, encoded the
way Linux's ``drivers/mtd/spi-nor/sfdp.c`` reads it.
"""

from __future__ import annotations

import math
import struct

from flashcheck.sim.model import ChipModel, Region, Timing

_ERASE_UNITS_MS = (1, 16, 128, 1000)
_CHIP_ERASE_UNITS_MS = (16, 256, 4000, 64000)


def _encode_time(ms: float, units: tuple[float, ...], count_bits: int) -> tuple[int, int]:
    """(count - 1, unit index) for the smallest unit that holds ``ms``."""
    top = 1 << count_bits
    for i, u in enumerate(units):
        count = max(1, round(ms / u))
        if count <= top:
            return count - 1, i
    return top - 1, len(units) - 1


def erase_types_for(model: ChipModel, config: int) -> list[tuple[int, int]]:
    """The (size, opcode) erase types the BFPT lists, smallest first, at most four."""
    if model.sfdp is not None and model.sfdp.erase_types is not None:
        return list(model.sfdp.erase_types)
    pairs = {(b, op) for r in model.layouts[config] for op, b in r.blocks.items()}
    return sorted(pairs)[:4]


def uniform_4k(model: ChipModel, config: int) -> int | None:
    """The opcode erasing 4 KiB in every region, or None."""
    regions = model.layouts[config]
    for op in sorted(model.erase):
        if all(r.blocks.get(op) == 4096 for r in regions):
            return op
    return None


def _bfpt(model: ChipModel, config: int) -> list[int]:
    spec = model.sfdp
    assert spec is not None
    ops = erase_types_for(model, config)
    op4k = uniform_4k(model, config)
    dw = [0] * spec.bfpt_dwords
    # DW1: 4 KiB erase, write granularity, address bytes, reserved ones
    dw1 = 0xFF800000 | (0b111 << 5) | (1 << 2)
    dw1 |= 0b01 if op4k is not None else 0b11
    dw1 |= (op4k if op4k is not None else 0xFF) << 8
    if model.size > 16 * 1024 * 1024:
        dw1 |= 0b01 << 17
    dw[0] = dw1
    bits = model.size * 8
    dw[1] = bits - 1 if bits <= 1 << 31 else (1 << 31) | (bits.bit_length() - 1)
    dw[4] = 0xFFFFFFEE  # DW5: no 2-2-2 / 4-4-4 reads, reserved bits set
    et = 0
    for i, (size, op) in enumerate(ops):
        et |= (int(math.log2(size)) | op << 8) << (16 * i)
    dw[7] = et & 0xFFFFFFFF
    dw[8] = et >> 32
    if spec.bfpt_dwords >= 10:
        times: list[Timing] = [model.erase_timing(op, size) for size, op in ops]
        ratio = max((t.max_ms / t.typ_ms for t in times if t.typ_ms), default=2.0)
        mult = min(15, max(0, round(ratio / 2 - 1)))
        dw10 = mult
        for i, t in enumerate(times):
            count, unit = _encode_time(t.typ_ms, _ERASE_UNITS_MS, 5)
            dw10 |= (count | unit << 5) << (4 + 7 * i)
        dw[9] = dw10
    if spec.bfpt_dwords >= 11:
        p = model.program
        pmult = min(15, max(0, round(p.max_ms / p.typ_ms / 2 - 1))) if p.typ_ms else 0
        us = p.typ_ms * 1000
        if us <= 8 * 32:
            pp = max(1, round(us / 8)) - 1
        else:
            pp = (1 << 5) | (min(32, max(1, round(us / 64))) - 1)
        ce_count, ce_unit = _encode_time(model.chip_erase.typ_ms, _CHIP_ERASE_UNITS_MS, 5)
        dw[10] = (
            (1 << 31)
            | (ce_unit << 29)
            | (ce_count << 24)
            | (0 << 19)  # additional byte program: 1 us
            | (1 << 14)  # first byte program: 2 us
            | (pp << 8)
            | (int(math.log2(model.page_size)) << 4)
            | pmult
        )
    if spec.bfpt_dwords >= 12:
        dw[11] = 0x80000000  # DW12: no suspend/resume
    if spec.bfpt_dwords >= 14:
        dw[13] = 0x80000000  # DW14: no deep power-down described
    if spec.bfpt_dwords >= 16 and model.size > 16 * 1024 * 1024:
        dw[15] = (1 << 24) | (1 << 14)  # DW16: enter B7h, exit E9h
    return dw


def _region_mask(region: Region, ops: list[tuple[int, int]]) -> int:
    mask = 0
    for i, (size, op) in enumerate(ops):
        if region.blocks.get(op) == size:
            mask |= 1 << i
    return mask


def _sector_map(model: ChipModel, config: int) -> list[int]:
    ops = erase_types_for(model, config)
    dw: list[int] = []
    for i, d in enumerate(model.detect):
        end = 1 if i == len(model.detect) - 1 else 0
        # read data mask, address length 0 (none), dummy 0, opcode, command type
        dw.append((d.mask << 24) | (d.opcode << 8) | end)
        dw.append(d.address)
    ids = sorted(model.layouts)
    for n, cid in enumerate(ids):
        regions = model.layouts[cid]
        end = 1 if n == len(ids) - 1 else 0
        dw.append(((len(regions) - 1) << 16) | (cid << 8) | 0b10 | end)
        for r in regions:
            dw.append((((r.size >> 8) - 1) << 8) | _region_mask(r, ops))
    return dw


def build_sfdp(model: ChipModel, config: int = 0) -> bytes:
    """The SFDP area of ``model`` in configuration ``config``."""
    spec = model.sfdp
    if spec is None:
        msg = f"{model.name} has no SFDP"
        raise ValueError(msg)
    tables: list[tuple[int, int, int, list[int]]] = [(0xFF00, spec.major, spec.minor, _bfpt(model, config))]
    if spec.sector_map:
        tables.append((0xFF81, 1, 0, _sector_map(model, config)))
    nph = len(tables)
    offset = 8 + 8 * nph
    header = bytearray(b"SFDP" + bytes([spec.minor, spec.major, nph - 1, 0xFF]))
    body = bytearray()
    for tid, major, minor, dwords in tables:
        ptr = offset + len(body)
        header += bytes([tid & 0xFF, minor, major, len(dwords)]) + ptr.to_bytes(3, "little") + bytes([tid >> 8])
        body += struct.pack(f"<{len(dwords)}I", *dwords)
    return bytes(header + body)
