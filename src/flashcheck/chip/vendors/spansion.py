"""Spansion/Cypress FL-S, FL-P: program/erase error flags, configuration
read-out, protection with TBPROT in CR1.

- SR1 bit 5 E_ERR and bit 6 P_ERR: a failed erase/program (a protected
  sector, or a fault) leaves WIP and WEL set until Clear Status (0x30);
  :meth:`Spansion.check_status` clears it and raises (S25FL127S datasheet,
  Status Register 1 and CLSR).
- CR1 (0x35) bit 2 TBPARM puts the 4 KB parameter sectors at the top; SR2
  (0x07) bit 7 selects 256 KB blocks (no parameter sectors).
- BP0-BP2 in SR1, TBPROT CR1 bit 5 (one-time programmable).
- 4-byte addressing by the bank address register (0x16 read, 0x17 write,
  bit 7 EXTADD) rather than 0xB7/0xE9.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from flashcheck.chip.vendors.base import Bit, Geometry, Vendor, WpBits

if TYPE_CHECKING:
    from flashcheck.chip.spinor import SpiNor

SPANSION_BITS = WpBits(
    bp=(Bit(0x05, 0x04), Bit(0x05, 0x08), Bit(0x05, 0x10)),
    tb=Bit(0x35, 0x20, "CR1"),
    srp=Bit(0x05, 0x80),
    writes={"SR1": 0x01},  # TBPROT is OTP: never written here
)

E_ERR = 0x20
P_ERR = 0x40
CLSR = 0x30


class Spansion(Vendor):
    name = "Spansion/Cypress"
    ids = (0x01,)
    wp_bits = SPANSION_BITS
    soft_reset = None  # FL-S resets with 0xF0

    def check_status(self, nor: SpiNor, sr: int, opcode: int | None) -> None:
        if not sr & (E_ERR | P_ERR):
            return
        from flashcheck.chip.spinor import OperationFailed  # noqa: PLC0415 - spinor imports vendors

        flag = "E_ERR (erase error)" if sr & E_ERR else "P_ERR (program error)"
        what = f"opcode 0x{opcode:02X}" if opcode is not None else "the last operation"
        msg = (f"the chip reports {flag} for {what} (status 0x{sr:02X}): the sector is protected or "
               "the operation failed; the chip stays busy until Clear Status (0x30)")
        raise OperationFailed(msg, sr)

    def clear_error(self, nor: SpiNor) -> None:
        nor.command(CLSR)
        nor.command(0x04)  # WEL stays set after a failed operation

    def has_geometry(self, raw_id: bytes) -> bool:
        return raw_id[3:4] == b"\x4d"  # FL-S / FS-S: ID-CFI length byte

    def geometry(self, nor: SpiNor) -> Geometry | None:
        cr1 = nor.command(0x35, readlen=1)[0]
        sr2 = nor.command(0x07, readlen=1)[0]
        if sr2 & 0x80:
            return Geometry(None, 256 * 1024, f"SR2=0x{sr2:02X} (bit 7 set: 256 KB blocks)")
        where = "top" if cr1 & 0x04 else "bottom"
        return Geometry(where, 64 * 1024, f"CR1=0x{cr1:02X} (TBPARM={int(bool(cr1 & 0x04))}), SR2=0x{sr2:02X}")

    def enter_4byte(self, nor: SpiNor) -> None:
        bar = nor.command(0x16, readlen=1)[0]
        nor.command(0x17, bytes([bar | 0x80]))

    def exit_4byte(self, nor: SpiNor) -> None:
        bar = nor.command(0x16, readlen=1)[0]
        nor.command(0x17, bytes([bar & 0x7F]))

    def four_byte_mode(self, nor: SpiNor) -> bool | None:
        if nor.size is not None and nor.size > 1 << 24:
            return bool(nor.command(0x16, readlen=1)[0] & 0x80)
        return False


SPANSION = Spansion()
