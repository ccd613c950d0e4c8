"""Winbond W25Q, and Adesto AT25SF, which copied its status registers:
SR1 BP0-BP2, TB, SEC, SRP; SR2 (0x35) CMP, QE, SUS.  Range decoding as the
W25Q128JV datasheet's tables 7.1.8 (CMP=0) and 7.1.9 (CMP=1), the same as
flashrom's ``decode_range_spi25``.  (GigaDevice GD25Q has the same bits but
not the same status writes: :mod:`flashcheck.chip.vendors.gigadevice`.)"""

from __future__ import annotations

from typing import TYPE_CHECKING

from flashcheck.chip.vendors.base import Bit, Vendor, WpBits

if TYPE_CHECKING:
    from flashcheck.chip.spinor import SpiNor

WINBOND_BITS = WpBits(
    bp=(Bit(0x05, 0x04), Bit(0x05, 0x08), Bit(0x05, 0x10)),
    tb=Bit(0x05, 0x20),
    sec=Bit(0x05, 0x40),
    cmp=Bit(0x35, 0x40, "SR2"),
    srp=Bit(0x05, 0x80),
    writes={"SR1": 0x01, "SR2": 0x31},
    # 0x01 with two bytes writes SR1 and SR2 on every W25Q: the only way on
    # W25Q80DV, which has no 0x31 ("Write Status Register (01h)": CS# high
    # after the eighth or sixteenth bit; after the eighth CMP, QE and SRP1
    # are cleared); kept for compatibility by W25Q128FV (8.2.5, "backward
    # compatible ... Status Register-1&2 can be written using a single
    # Write Status Register-1 (01h)") and its successors.
    joint=("SR1", "SR2"),
)


class Winbond(Vendor):
    name = "Winbond/Adesto AT25SF"
    ids = (0xEF,)
    wp_bits = WINBOND_BITS
    soft_reset = True

    def claims(self, raw_id: bytes) -> bool:
        if super().claims(raw_id):
            return True
        # Adesto AT25SF (family code 100 in byte 2); not the AT45DB DataFlash
        return len(raw_id) > 1 and raw_id[0] == 0x1F and raw_id[1] >> 5 == 0b100

    def four_byte_mode(self, nor: SpiNor) -> bool | None:
        # SR3 bit 0 ADS (W25Q256JV 7.1.13): current address mode
        if nor.size is not None and nor.size > 1 << 24:
            return bool(nor.command(0x15, readlen=1)[0] & 0x01)
        return False


WINBOND = Winbond()
