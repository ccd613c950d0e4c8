"""Per-vendor facts a chip tells only through its own registers (as Linux
keeps them apart from the core in ``drivers/mtd/spi-nor/<vendor>.c``).

Each reader returns plain geometry facts; matching them to a database
configuration is the workflow's business.
"""

from __future__ import annotations

from dataclasses import dataclass

from flashcheck.chip.spinor import SpiNor


@dataclass(frozen=True)
class Geometry:
    """Where the 4 KiB parameter sectors are (``bottom``/``top``/None for
    none) and what the block erase 0xD8 erases elsewhere."""

    parameter_sectors: str | None
    block_size: int
    how: str


def spansion_fls(nor: SpiNor) -> Geometry:
    """Spansion/Cypress FL-S (S25FL127S, S25FL128S ...): CR1 bit 2 TBPARM
    (read with 0x35) puts the 4 KB parameter sectors at the top when set;
    SR2 bit 7 (read with 0x07) selects 256 KB blocks, which have no
    parameter sectors."""
    cr1 = nor.command(0x35, readlen=1)[0]
    sr2 = nor.command(0x07, readlen=1)[0]
    if sr2 & 0x80:
        return Geometry(None, 256 * 1024, f"SR2=0x{sr2:02X} (bit 7 set: 256 KB blocks)")
    where = "top" if cr1 & 0x04 else "bottom"
    return Geometry(where, 64 * 1024, f"CR1=0x{cr1:02X} (TBPARM={int(bool(cr1 & 0x04))}), SR2=0x{sr2:02X}")


def geometry_reader(jedec: bytes):
    """The quirk reader for a chip, or None."""
    if jedec[:1] == b"\x01" and jedec[3:4] == b"\x4d":  # Spansion FL-S / FS-S ID-CFI
        return spansion_fls
    return None
