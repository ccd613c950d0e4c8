"""BOM validation: read a bill of materials (CSV, TSV or XLSX), find the
SPI NOR flash lines, judge each order code against a board, and suggest
alternates from the database for the lines that do not pass.

Reading
    CSV/TSV as KiCad, Altium, Eagle and distributor exports write them:
    UTF-8 with or without a byte-order mark (UTF-16 with a BOM too, as Excel's
    "Unicode text" writes it), ``,`` ``;`` or tab separators (chosen by
    which one gives a recognisable header row), quoted fields with embedded
    separators and newlines.  XLSX through openpyxl in read-only mode.  The
    header is the first of the first :data:`HEADER_SCAN` rows that has an
    order-code column (title lines above it, as some exports write, are kept
    but not read).  Rows are streamed: memory does not grow with the file.

Which lines are flash (:class:`FlashFilter`)
    A code is taken as an SPI NOR order code when, after normalising (upper
    case, no spaces), it starts with a known family prefix
    (:data:`FLASH_PREFIXES`, e.g. W25, MX25, GD25, S25FL; serial EEPROM
    families such as AT25010 are excluded) or with the name of a family in
    the database; or when the line's description says ``flash`` / ``NOR``
    (and not only NAND/EEPROM); or when its manufacturer is a maker of SPI
    flash (:data:`FLASH_MAKERS`) and the code has the ``25`` of serial flash
    naming in its first six characters.  Everything else is skipped and
    counted.  A flash-like code the database does not know is ``unknown``
    with the nearest known names.

Alternates (:class:`Alternates`)
    For a failing or unknown line, every curated family that passes the
    board and has the same capacity and a compatible voltage class
    (1.8 V, 3 V or wide range; a wide-range part also serves a 1.8 V or 3 V
    line; when the line fails the board's supply, the board decides).  Package is compared when the line's order code decodes a package
    and the alternate lists the same package (same type, pin count and body)
    among its order-code fields; an alternate whose package table does not
    list it is left out, one without a package table is kept with "package
    unchecked".  For a code the database does not identify, the capacity is
    read from the density digits after the family prefix (W25Q128... ->
    128 Mbit) when they are unambiguous, and the voltage class is unchecked.
    Listed package-matched first, then the line's own manufacturer first.
    The table shows five; --json, --csv and --html give all.
"""


from flashcheck.workflows.bom.alternates import Alternate, Alternates, guess_capacity, package_key, voltage_class
from flashcheck.workflows.bom.columns import header_key, split_cell
from flashcheck.workflows.bom.csvout import CsvOut
from flashcheck.workflows.bom.flashfilter import FlashFilter
from flashcheck.workflows.bom.sheet import Sheet, open_bom
from flashcheck.workflows.bom.validate import Line, Report, validate

__all__ = ["Alternate", "Alternates", "CsvOut", "FlashFilter", "Line", "Report", "Sheet", "guess_capacity", "header_key",
           "open_bom", "package_key", "split_cell", "validate", "voltage_class"]
