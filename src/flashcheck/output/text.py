"""Text that leaves the tool: check marks, spreadsheet-safe cells."""

from __future__ import annotations

import re as _re

TYPE_CHECKING = False  # typing is not imported at run time: the offline check starts faster
if TYPE_CHECKING:
    from typing import Any

#: How a check's outcome is marked in plain text: ok, not ok, unknown.
MARKS = {True: "ok ", False: "NOT", None: "?  "}
MARK_COLOURS = {True: "green", False: "red", None: "yellow"}

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def mark(ok: bool | None, colour: bool = False) -> str:
    """``ok `` / ``NOT`` / ``?  `` for a check's ``ok``; coloured for a terminal with ``colour``."""
    if not colour:
        return MARKS[ok]
    import click

    return click.style(MARKS[ok], fg=MARK_COLOURS[ok])


def inert(cell: Any) -> Any:
    """A cell a spreadsheet shows as text, never runs as a formula: text
    starting with = + - @ tab or CR gets a leading apostrophe.  Other
    values pass unchanged."""
    if isinstance(cell, str) and cell.startswith(_FORMULA_START):
        return "'" + cell
    return cell


# -- text from a file, a chip or a database ------------------------------------------
#
# A BOM cell, a scanned serial (GS1 barcodes carry 0x1D), a chip's bytes or a
# database row can hold control characters: ESC sequences that clear the
# screen or recolour a line, CR that overprints one, bidi overrides that
# reorder it.  Printed raw they hide or forge output.  Everything such text
# passes through one of these before it reaches a terminal or an export.



# C0 and C1 controls, DEL, and the invisible format characters that reorder
# or hide text (bidi embeddings/overrides/isolates, zero-width, line/para separators).
_UNSAFE = _re.compile("[\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff\ud800-\udfff\ufffe\uffff]")
_UNSAFE_KEEP_LINES = _re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff\ud800-\udfff\ufffe\uffff]")
# What XML 1.0 cannot hold at all (even as a character reference), plus the
# controls and invisible characters above: replaced visibly in XML exports.
_XML_UNSAFE = _re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2060-\u2069"
                          "\ufeff\ud800-\udfff\ufffe\uffff]")


def _visible(m: "_re.Match[str]") -> str:
    c = ord(m.group())
    return f"\\x{c:02x}" if c < 0x100 else f"\\u{c:04x}"


def printable(text: Any, newlines: bool = False) -> str:
    """``text`` safe to print: every control or invisible format character
    shown as a visible escape (ESC -> ``\\x1b``, GS -> ``\\x1d``, an RTL
    override -> ``\\u202e``); with ``newlines``, LF and tab are kept."""
    s = "" if text is None else str(text)
    return (_UNSAFE_KEEP_LINES if newlines else _UNSAFE).sub(_visible, s)


def xml_text(text: Any) -> str:
    """``text`` that any XML 1.0 reader accepts: characters XML cannot hold
    (most C0 controls, lone surrogates, U+FFFE/FFFF) and the other controls
    shown as visible escapes; tab, LF and CR kept.  Escaping of ``<&"`` is
    left to the XML writer."""
    s = "" if text is None else str(text)
    return _XML_UNSAFE.sub(_visible, s)


def csv_cell(cell: Any) -> Any:
    """A CSV export cell: :func:`inert`, with control characters other than
    tab and newline shown as visible escapes."""
    if isinstance(cell, str):
        cell = printable(cell, newlines=True)
    return inert(cell)


def error_line(exc: BaseException) -> str:
    """The one line an error is reported in, whatever the message quotes (a
    file name, a cell, a URL with control characters or line breaks in it:
    shown, never run)."""
    return f"flashcheck: error: {printable(str(exc).strip())}"
