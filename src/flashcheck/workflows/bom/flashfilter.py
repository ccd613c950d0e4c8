"""Which BOM lines are SPI NOR flash (see the package docstring)."""

from __future__ import annotations

import re
from pathlib import Path

from flashcheck.data.database import normalise as normalise_code


# --------------------------------------------------------------------------
# Which codes are flash

def _names() -> dict:
    from flashcheck.data.yamlio import load_yaml

    return load_yaml(Path(__file__).resolve().parents[2] / "data" / "flash_names.yaml").data


_NAMES = _names()
#: Order-code prefixes of SPI NOR families (data/flash_names.yaml).
FLASH_PREFIXES: tuple[str, ...] = tuple(_NAMES["prefixes"])
#: Makers of SPI flash, lower case (data/flash_names.yaml).
FLASH_MAKERS: tuple[str, ...] = tuple(_NAMES["makers"])
# Description words: "SPI NOR", "serial flash" ... say flash outright; a bare
# "flash" counts unless the line is something that merely contains flash
# (a microcontroller "256KB FLASH", a camera-flash LED driver) or is NAND,
# EEPROM or FRAM.
_DESC_SURE = re.compile(r"\b(?:spi[\s-]*nor|nor[\s-]*flash|serial[\s-]*flash|spi[\s-]*flash|qspi[\s-]*flash|flash[\s-]*memory)\b",
                        re.IGNORECASE)
_DESC_FLASH = re.compile(r"\bflash\b", re.IGNORECASE)
_DESC_NOT = re.compile(r"\b(?:nand|eeprom|fram|led|camera|strobe|mcu|microcontroller|micro|soc|cpu|dsp|fpga|cpld|"
                       r"wi-?fi|bluetooth|module|arm|cortex|risc-?v|controller|driver)\b", re.IGNORECASE)


class FlashFilter:
    """Decides whether a line is a flash line; see the module docstring."""

    def __init__(self, family_names: tuple[str, ...] = ()):
        self.prefixes = tuple(sorted({*FLASH_PREFIXES, *(normalise_code(n) for n in family_names if len(n) >= 5)}))

    def __call__(self, code: str, manufacturer: str = "", description: str = "") -> bool:
        q = normalise_code(code)
        if len(q) < 4:
            return False
        if q.startswith(self.prefixes):
            return True
        if description:
            low = description.lower()
            if ("flash" in low or "nor" in low) and (
                    _DESC_SURE.search(description) or (_DESC_FLASH.search(description) and not _DESC_NOT.search(description))):
                return True
        if manufacturer and "25" in q[:6] and any(m in manufacturer.lower() for m in FLASH_MAKERS):
            return True
        return False


