"""The line ``flashcheck check`` prints for each result, shared by the click
command (:mod:`flashcheck.cli`) and the quick path (:mod:`flashcheck.quick`)
so that both print exactly the same thing."""

from __future__ import annotations

from flashcheck.output.text import printable

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Callable

    from flashcheck.rules.verdict import Result

#: verdict -> (label, colour)
VERDICT_STYLE = {"pass": ("PASS", "green"), "fail": ("FAIL", "red"), "unknown": ("UNKNOWN", "yellow")}

_ANSI_FG = {"red": 31, "green": 32, "yellow": 33, "magenta": 35}


def ansi_style(text: str, fg: str | None = None, bold: bool | None = None) -> str:
    """``text`` in colour, as ``click.style(text, fg=..., bold=...)`` writes it."""
    codes = (f"\x1b[{_ANSI_FG[fg]}m" if fg else "") + ("" if bold is None else "\x1b[1m" if bold else "\x1b[22m")
    return f"{codes}{text}\x1b[0m"


def plain_style(text: str, fg: str | None = None, bold: bool | None = None) -> str:
    return text


def verdict_label(verdict: str, style: Callable[..., str]) -> str:
    label, colour = VERDICT_STYLE[verdict]
    return style(f"{label:<7}", fg=colour, bold=True)


def query_width(queries: tuple[str, ...] | list[str]) -> int:
    return max(len(printable(q)) for q in queries)


def result_line(r: Result, width: int, style: Callable[..., str]) -> str:
    """``PASS    W25Q128FVSIG  Winbond W25Q128FV: all 12 rules met``; part
    names, reasons and sources come from files and tables: control
    characters are shown, never run."""
    who = printable(r.who())
    tag = "" if r.curated else style(" [uncurated]", fg="magenta")
    return f"{verdict_label(r.verdict, style)} {printable(r.query):<{width}}  {who}{tag}: {printable(r.headline)}"
