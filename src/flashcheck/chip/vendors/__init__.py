"""Per-vendor quirks behind hooks the core calls (as Linux keeps them in
``drivers/mtd/spi-nor/<vendor>.c``): ready/error checks, protection decoding
and unlocking, 4-byte addressing and configuration read-out.

:func:`vendor_for` picks the :class:`~flashcheck.chip.vendors.base.Vendor`
for a JEDEC ID; workflows call its hooks and never test ID bytes.  Where a
quirk is data (which register bit is BP0, TB, SEC, CMP ...), it is data:
:class:`~flashcheck.chip.vendors.base.WpBits`, flashrom's per-chip register
bits, decoded by one function (:func:`~flashcheck.chip.vendors.base.decode_bp_range`).
"""

from __future__ import annotations

from flashcheck.chip.vendors.base import (
    Bit,
    Geometry,
    ProtectionState,
    Vendor,
    WpBits,
    decode_bp_range,
)
from flashcheck.chip.vendors.gigadevice import GIGADEVICE
from flashcheck.chip.vendors.macronix import MACRONIX
from flashcheck.chip.vendors.micron import MICRON
from flashcheck.chip.vendors.spansion import SPANSION
from flashcheck.chip.vendors.sst import SST, SST26_BPR_BYTES
from flashcheck.chip.vendors.winbond import WINBOND

#: Every vendor with quirks, tried in order; the first that claims an ID wins.
VENDORS: tuple[Vendor, ...] = (WINBOND, GIGADEVICE, MACRONIX, SPANSION, SST, MICRON)
GENERIC = Vendor()

__all__ = [
    "GENERIC",
    "SST26_BPR_BYTES",
    "VENDORS",
    "Bit",
    "Geometry",
    "ProtectionState",
    "Vendor",
    "WpBits",
    "bp_mask",
    "decode_bp_range",
    "geometry_reader",
    "vendor_for",
]


def vendor_for(raw_id: bytes) -> Vendor:
    """The vendor hooks for a chip answering ``raw_id`` to 0x9F."""
    for v in VENDORS:
        if v.claims(raw_id):
            return v
    return GENERIC


def bp_mask(raw_id: bytes) -> int:
    """The status-register (SR1) block-protect bits of this chip's family."""
    return vendor_for(raw_id).wp_bits_for(raw_id).sr1_bp_mask


def geometry_reader(raw_id: bytes):
    """The configuration read-out hook for a chip, or None (kept for callers
    of the old quirks module)."""
    v = vendor_for(raw_id)
    return v.geometry if v.has_geometry(raw_id) else None
