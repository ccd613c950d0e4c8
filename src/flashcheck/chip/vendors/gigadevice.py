"""GigaDevice GD25Q: Winbond's status-register bits (SR1 BP0-BP4 with BP3
acting as TB and BP4 as SEC, SR2 CMP/QE/SUS), but not always Winbond's
status writes, which differ by part:

- GD25Q16C (datasheet rev 3.0, 7.4 "Write Status Register (WRSR) (01H)"
  and Table2): 01H is the only status write, SR1 then SR2; CS# high after
  the eighth or sixteenth data bit, and after the eighth "the CMP and QE
  bit will be cleared to 0".  SR2 is written with the two-byte 01H only.
- GD25Q32C (rev 2.5), GD25Q64C (rev 3.0), GD25Q128C (rev 1.5) and GD25Q64E
  (rev 1.3), each in 7.4/7.5 "Write Status Register (WRSR) (01H or 31H or
  11H)": 01H writes S7-S0, 31H S15-S8, 11H S23-S16, and CS# must rise after
  the eighth data bit, "If not, the Write Status Register (WRSR) command is
  not executed".  The two-byte 01H changes nothing there: SR2 by 31H.

Which form a part takes is data (:data:`_FORMS`, by the device ID bytes).
For an ID no datasheet here covers, or one shared with a part whose form is
not known (c84015 is also GD25Q16E), the two-byte 01H is tried first (a
part that wants 31H does not execute it, as above) and, when a read-back
shows it did not take, SR1 by one-byte 01H and SR2 by 31H (a part without
31H ignores it).  Neither order can clear QE on a part of the other kind.
The caller reads the protection back either way."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from flashcheck.chip.vendors.base import Bit, WpBits
from flashcheck.chip.vendors.winbond import WINBOND_BITS, Winbond

if TYPE_CHECKING:
    from flashcheck.chip.spinor import SpiNor

#: SR1 by one-byte 01H, SR2 by 31H (GD25Q32C and larger, GD25Q64E).
GD_SEPARATE = replace(WINBOND_BITS, joint=())
#: SR1 and SR2 by one two-byte 01H (GD25Q16C).
GD_JOINT = replace(WINBOND_BITS, joint=("SR1", "SR2"))

#: JEDEC device ID (bytes 2-3 of 9FH) -> the status-write forms to try, in order.
_FORMS: dict[int, tuple[WpBits, ...]] = {
    0x4015: (GD_JOINT, GD_SEPARATE),  # GD25Q16C 7.4; the ID is also GD25Q16E's (no datasheet here)
    0x4016: (GD_SEPARATE,),  # GD25Q32C 7.5
    0x4017: (GD_SEPARATE,),  # GD25Q64C 7.5, GD25Q64E 7.4
    0x4018: (GD_SEPARATE,),  # GD25Q128C 7.5
}
_UNKNOWN = (GD_JOINT, GD_SEPARATE)


def status_write_forms(raw_id: bytes) -> tuple[WpBits, ...]:
    """The status-register write forms for this chip, the first the one its
    datasheet gives (or the first to try where none is known)."""
    return _FORMS.get(int.from_bytes(raw_id[1:3], "big"), _UNKNOWN) if len(raw_id) >= 3 else _UNKNOWN


class GigaDevice(Winbond):
    name = "GigaDevice"
    ids = (0xC8,)

    def claims(self, raw_id: bytes) -> bool:
        return bool(raw_id) and raw_id[0] in self.ids

    def wp_bits_for(self, raw_id: bytes) -> WpBits:
        return status_write_forms(raw_id)[0]

    def _write_bits(self, nor: SpiNor, bits: WpBits, want: dict[Bit, bool]) -> None:
        forms = status_write_forms(nor.raw_id or b"")
        for form in forms:
            super()._write_bits(nor, form, want)
            if form is forms[-1] or _took(nor, want):
                return


def _took(nor: SpiNor, want: dict[Bit, bool]) -> bool:
    """Whether every bit of ``want`` reads as wanted."""
    regs = {op: nor.command(op, readlen=1)[0] for op in {b.read for b in want}}
    return all(bool(regs[b.read] & b.mask) == on for b, on in want.items())


GIGADEVICE = GigaDevice()
