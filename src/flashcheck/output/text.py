"""Text that leaves the tool: check marks, spreadsheet-safe cells."""

from __future__ import annotations

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
