"""Macronix MX25L/MX25R: SR1 BP0-BP3 (bits 2-5), SRWD; the T/B bit is in
the configuration register (0x15, bit 3, one-time programmable); CR bit 5
4BYTE shows the address mode (MX25L12835F datasheet, status and
configuration register tables)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from flashcheck.chip.vendors.base import Bit, Vendor, WpBits

if TYPE_CHECKING:
    from flashcheck.chip.spinor import SpiNor

MACRONIX_BITS = WpBits(
    bp=(Bit(0x05, 0x04), Bit(0x05, 0x08), Bit(0x05, 0x10), Bit(0x05, 0x20)),
    tb=Bit(0x15, 0x08, "CR"),
    srp=Bit(0x05, 0x80),
    writes={"SR1": 0x01},  # T/B is OTP: never written here
)


class Macronix(Vendor):
    name = "Macronix"
    ids = (0xC2,)
    wp_bits = MACRONIX_BITS
    soft_reset = None  # 66h/99h on MX25L12835F and later, not on MX25L3205D

    def four_byte_mode(self, nor: SpiNor) -> bool | None:
        if nor.size is not None and nor.size > 1 << 24:
            return bool(nor.command(0x15, readlen=1)[0] & 0x20)
        return False


MACRONIX = Macronix()
