"""ST/Numonyx/Micron: M25P has BP0-BP2 and SRWD only; N25Q/MT25Q add BP3
(bit 6) and TB (bit 5), and need WREN before 0xB7/0xE9 (N25Q256A datasheet,
ENTER/EXIT 4-BYTE ADDRESS MODE)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from flashcheck.chip.vendors.base import BP3_ONLY, Bit, Vendor, WpBits

if TYPE_CHECKING:
    from flashcheck.chip.spinor import SpiNor

N25Q_BITS = WpBits(
    bp=(Bit(0x05, 0x04), Bit(0x05, 0x08), Bit(0x05, 0x10), Bit(0x05, 0x40)),
    tb=Bit(0x05, 0x20),
    srp=Bit(0x05, 0x80),
)


class Micron(Vendor):
    name = "Micron/Numonyx/ST"
    ids = (0x20,)
    wp_bits = BP3_ONLY
    soft_reset = None  # N25Q/MT25Q have 66h/99h, M25P does not

    def wp_bits_for(self, raw_id: bytes) -> WpBits:
        # memory type 0xBA/0xBB: N25Q/MT25Q; 0x20: M25P
        return N25Q_BITS if len(raw_id) > 1 and raw_id[1] in (0xBA, 0xBB) else BP3_ONLY

    def enter_4byte(self, nor: SpiNor) -> None:
        nor.write_enable()
        nor.command(0xB7)

    def exit_4byte(self, nor: SpiNor) -> None:
        nor.write_enable()
        nor.command(0xE9)


MICRON = Micron()
