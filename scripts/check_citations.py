#!/usr/bin/env python3
"""Check each family's cited figures against the text of its datasheet.

    python scripts/check_citations.py parts --datasheets ../shared/datasheets [--json] [--family NAME]

Every family in the parts files (directories of ``*.yaml``, or files) names its
datasheet (``datasheet: {title, revision}``) and, in ``where:``, the table or
section heading under which each figure is printed.  For every family whose
datasheet is in the library folder (``.txt`` files from ``pdftotext -layout``,
each starting with ``# title:`` and ``# revision:`` header lines) it checks:

1. every required figure is in the YAML: maximum clock (fast read) and the
   0x03 read clock, typical and maximum time of every erase opcode (those of
   the configurations too), of page program and of chip erase, the supply
   range, page size, SFDP support, the command list, the power-up protection
   state, the order codes, and the extended ID bytes when another family
   shares the JEDEC ID (the only case where they tell anything).  A figure
   the family's ``unconfirmed`` list explains is reported as "unconfirmed",
   not as a failure (see UNCONFIRMED_WORDS for how an entry is tied to a
   figure; naming the figure's key, e.g. ``'erase.0x20: ...'`` or
   ``'max_clock_mhz and read_clock_mhz: ...'``, always works);
2. every figure present has a ``where`` entry.  ``capacity``,
   ``address_bytes`` and ``jedec_id`` are checked when cited;
3. each figure's value is printed in the text after the cited heading.

Matching a family to its datasheet: titles compared as lists of words
(case, whitespace and punctuation ignored), one containing the other (the
library's titles carry notes such as "(Adesto)"); revisions compared the same
way without the words "Rev"/"Revision", one list ending the other or one part
of the header ("Revision J (printed as 'Preli mry-Revision J')") ending it.
A family whose datasheet is not in the folder is listed for information.

The window after a heading.  The heading is found by a case- and
whitespace-insensitive comparison (typographic quotes and dashes count as
plain ones), at the start of a line or of a column (after three spaces), and
must end at a word boundary ("Table 1" does not find "Table 10").  Every
occurrence counts, except table-of-contents lines (dot leaders), whose window
could only hold page numbers.  A window runs from the heading line for at
most 250 lines (the longest AC table split over pages fits), and ends
earlier at the next heading of the same numbering level:
- a numbered section (9.6, 10., 5.0, 9-20.) ends at the next section of the
  same or a higher level (9.7, 10, 10.1), indented no deeper than it; a
  trailing .0 does not count, and the next number may skip at most one, so
  a note list ("1.", "2.") or a table row does not end it early;
- a table or figure caption ("Table 18.", "TABLE 7-4:") ends at the next
  caption of the same kind with another number (a caption repeated on the
  next page of a table keeps its number, so the table goes on).
A citation of several headings joined with ' / ' is tried whole first, then
as separate headings (each must be found; their windows are joined).

Matching a value.  Numbers are read from the text with their thousands
separators ("1,600"), leaving out footnote marks ("tCE(1)", "(Note 2)").
Each number takes a unit of the kind sought: the unit printed right after it
if any (a "2.7V" is a voltage even on a line that ends in MHz), else the
first one to its right on the same line, else the one that starts the next
line when the number ends its line (prose wrapped: "page (256" / "bytes)"),
else (when the line has no such unit) the one on the nearest line within
five (a table cell's unit may sit under its label, "[Mhz]"; the line below
wins a tie, unless only the line above has a cell starting in the column
where the number's line starts: the rows of one cell spread over lines,
"4 Kbytes" / "tBLKE ... 32 Kbytes ... ms" / "64 K bytes", before the next
row's "tCHPE ... sec"); a number to the right of its line's units is a note,
not a value.  Times are compared in ms (s, sec, ms, us, µs, ns), clocks in
MHz, supplies in volts (V, volt), sizes in bytes (B, byte, KB, Kbyte, Mbit,
Mb, M-bit, megabit ...).  So 0.4 s is found for
400 ms and "3 ns" is never taken for 3 ms.  Opcodes and ID bytes are found as 20h,
20H or 0x20, or bare ("20") on a line that says "hex"; a JEDEC ID also as one
run of its bytes ("EF 40 18", "EF4018h"), else as hex numbers that spell it
together ("EFh" and "4018h").  Order codes: every code of ``fields`` as a
word of its own ("S = SOIC") or as its field in an order code printed in
full (W25Q128JVSIQ); without ``fields``, each pattern's literal start
(W25Q128JV, spaces ignored).  SFDP: "SFDP"/"Serial Flash Discoverable" or
the 5Ah opcode.  ``sfdp: false`` is an absence: no such mention anywhere in
the datasheet's text; it needs a ``where`` entry (whose heading must be
found) or an ``unconfirmed`` entry that explains it.
Power-up protection: the window speaks of protection and of the state at
power-up or as shipped ("power-up", "default", "factory", "reset",
"delivered", "shipped"); for protection that is clear as shipped
(``configurable`` or ``none``), "the Status Register contains 00h" or "the
Status Register bits are set to 0" (an Initial Delivery State section) is
the protection statement.  The unlock opcodes are checked with the command
list.  Address bytes: "A23",
"3-byte", "24-bit" (A31, 4-byte, 32-bit for 4).

Output: one line per problem (file:line: FAMILY: what), then the families
whose datasheet is not in the folder, then a summary.  Exit 0 when nothing
is missing or not found, 1 otherwise, 2 on bad input.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parent.parent
try:
    import flashcheck  # noqa: F401  (installed, or on PYTHONPATH)
except ImportError:  # a plain checkout: use its src/
    sys.path.insert(0, str(ROOT / "src"))

from flashcheck.errors import InputError  # noqa: E402
from flashcheck.units import parse_hex_bytes, parse_size  # noqa: E402
from flashcheck.data.yamlio import load_yaml, validate  # noqa: E402

WINDOW_LINES = 250
UNIT_NEIGHBOURS = 5  # a unit in a table cell split over lines ("[Mhz]" under a row label)

# -- the datasheet library ------------------------------------------------------


@dataclass
class Datasheet:
    path: Path
    name: str  # path inside the library: winbond/W25Q128JV.txt
    title: str
    revision: str
    date: str = ""
    _lines: list[str] | None = None
    _normalised: list[str] | None = None
    _headings: dict[str, list[int]] = field(default_factory=dict)
    _windows: dict[str, tuple] = field(default_factory=dict)

    @property
    def lines(self) -> list[str]:
        if self._lines is None:
            self._lines = self.path.read_text(encoding="utf-8", errors="replace").splitlines()
        return self._lines

    @property
    def normalised(self) -> list[str]:
        if self._normalised is None:
            self._normalised = [normalise(line) for line in self.lines]
        return self._normalised


def read_library(folder: Path) -> list[Datasheet]:
    """The datasheets in ``folder`` (recursively), by their header lines.
    A .txt without a title and revision header is skipped with a warning."""
    if not folder.is_dir():
        raise InputError(f"{folder}: no such datasheet folder")
    sheets = []
    for path in sorted(folder.rglob("*.txt")):
        header = {}
        with path.open(encoding="utf-8", errors="replace") as f:
            for _ in range(6):
                m = re.match(r"#\s*(\w+):\s*(.*)", f.readline())
                if m:
                    header[m.group(1).lower()] = m.group(2).strip()
        if "title" not in header or "revision" not in header:
            print(f"warning: {path}: no '# title:' and '# revision:' header, skipped", file=sys.stderr)
            continue
        name = path.relative_to(folder).as_posix()
        sheets.append(Datasheet(path, name, header["title"], header["revision"], header.get("date", "")))
    return sheets


def words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9]+(?:\.[a-z0-9]+)*", text.lower())


def contains(seq: list[str], sub: list[str]) -> bool:
    n = len(sub)
    return n > 0 and any(seq[i:i + n] == sub for i in range(len(seq) - n + 1))


def title_matches(cited: str, header: str) -> bool:
    c, h = words(cited), words(header)
    return contains(h, c) or contains(c, h)


def revision_words(text: str) -> list[str]:
    return [w for w in words(text) if w not in ("rev", "revision")]


def revision_matches(cited: str, sheet: Datasheet) -> bool:
    """One word list ends the other; the header is tried whole, before its
    first parenthesis (alone and followed by the date: DS-25SF081-045I 8/2017),
    and inside each parenthesis."""
    c = revision_words(cited)
    header, main = sheet.revision, sheet.revision.split("(")[0]
    parts = [header, main, f"{main} {sheet.date.split('(')[0]}", *re.findall(r"\(([^()]*)\)", header)]
    for part in parts:
        h = revision_words(part)
        if c and h and (c[-len(h):] == h or h[-len(c):] == c):
            return True
    return False


def find_datasheet(sheets: list[Datasheet], cited: dict, name: str) -> tuple[Datasheet | None, list[Datasheet]]:
    """The library's text of the cited datasheet; else None and the texts
    that may be meant (same title, another revision; or naming the family)."""
    title, revision = str(cited.get("title", "")), str(cited.get("revision", ""))
    document = str(cited.get("document", ""))
    same_title = [s for s in sheets if title_matches(title, s.title)]
    same_title.sort(key=lambda s: words(s.title) != words(title))  # exact title first
    for s in same_title:
        if revision_matches(revision, s) or (document and revision_matches(f"{document} {revision}", s)):
            return s, []
    named = [s for s in sheets if s not in same_title and name.lower() in words(s.title)]
    return None, same_title + named


# -- headings and their windows -------------------------------------------------

_PLAIN = str.maketrans({"’": "'", "‘": "'", "“": '"', "”": '"', "–": "-", "—": "-", "\u00a0": " "})
_TOC_LINE = re.compile(r"(\.\s?){4,}\s*\d+\s*$")
_SECTION = re.compile(r"\s*(\d{1,2}(?:[.-]\d{1,2})*)\.?\s+[A-Z]")
_CAPTION = re.compile(r"\s*(table|figure)\s+(\d+(?:[.-]\d+)*[a-z]?)", re.IGNORECASE)


def normalise(text: str) -> str:
    return " ".join(text.translate(_PLAIN).lower().split())


def heads_line(raw: str, heading: str) -> bool:
    """``heading`` (normalised) starts the line or a column of it, and ends
    at a word boundary or a footnote mark glued to a word ("...SST25VF016B1")."""
    starts = [0] + [m.end() for m in re.finditer(r"\s{3,}", raw)]
    for start in starts:
        text = normalise(raw[start:])
        if text.startswith(heading):
            rest = text[len(heading):]
            if not rest or not (rest[0].isalnum() and heading[-1].isalnum()):
                return True
            if heading[-1].isalpha() and re.match(r"\d{1,2}(\W|$)", rest):
                return True
    return False


def heading_lines(sheet: Datasheet, heading: str) -> list[int]:
    """Indexes of the lines where ``heading`` occurs (table of contents excluded)."""
    key = normalise(heading)
    if key not in sheet._headings:
        found = []
        for i, text in enumerate(sheet.normalised):
            raw = sheet.lines[i]
            if key in text and not _TOC_LINE.search(raw) and heads_line(raw, key):
                found.append(i)
        sheet._headings[key] = found
    return sheet._headings[key]


def section_number(line: str) -> tuple[int, ...] | None:
    m = _SECTION.match(line)
    if not m:
        return None
    number = [int(n) for n in re.split(r"[.-]", m.group(1))]
    while len(number) > 1 and number[-1] == 0:
        number.pop()  # 5.0 is section 5
    return tuple(number)


def is_next_section(number: tuple[int, ...], current: tuple[int, ...]) -> bool:
    """``number`` starts the section after ``current`` or after a parent
    of it (9.6 -> 9.7, 10, 10.1), skipping at most one number."""
    if len(number) > len(current):
        return False
    for k, (a, b) in enumerate(zip(number, current)):
        if a != b:
            return b < a <= b + 2
    return False


def window(sheet: Datasheet, start: int) -> range:
    """The lines that belong to the heading at ``start`` (see module doc)."""
    end = min(start + WINDOW_LINES, len(sheet.lines))
    heading = sheet.lines[start]
    section, caption = section_number(heading), caption_of(heading)
    indent = indent_of(heading) + 2  # a note list indented under a section is not a section
    for i in range(start + 1, end):
        line = sheet.lines[i]
        if _TOC_LINE.search(line):
            continue
        if section and (number := section_number(line)) and is_next_section(number, section) and indent_of(line) <= indent:
            return range(start, i)
        if caption and (other := caption_of(line)) and other[0] == caption[0] and other[1] != caption[1]:
            return range(start, i)
    return range(start, end)


def caption_of(line: str) -> tuple[str, str] | None:
    """("table", "7.1") for a line that starts with a table or figure caption."""
    m = _CAPTION.match(line)
    return (m.group(1).lower(), m.group(2).lower()) if m else None


def indent_of(line: str) -> int:
    return len(line) - len(line.lstrip())


def cited_window(sheet: Datasheet, cited: str) -> tuple[list[tuple[int, str]], list[str]]:
    """The numbered lines under the cited heading(s), and the headings not found."""
    if cited not in sheet._windows:
        sheet._windows[cited] = window_of(sheet, cited)
    return sheet._windows[cited]


def window_of(sheet: Datasheet, cited: str) -> tuple[list[tuple[int, str]], list[str]]:
    headings = [cited] if heading_lines(sheet, cited) else [h.strip() for h in cited.split(" / ")]
    rows: set[int] = set()
    missing = []
    for heading in headings:
        starts = heading_lines(sheet, heading)
        if not starts:
            missing.append(heading)
        for start in starts:
            rows.update(window(sheet, start))
    lines = [(i + 1, sheet.lines[i]) for i in sorted(rows) if not _TOC_LINE.search(sheet.lines[i])]
    return lines, missing


# -- numbers with units ---------------------------------------------------------

Lines = list[tuple[int, str]]  # (line number, text)

NUMBER = re.compile(r"(?<![\w.,])(?<!Note )(?<!Notes )(?<!NOTE )(\d{1,3}(?:,\d{3})+|\d+)(\.\d+)?")
UNITS = {  # kind -> unit pattern; factor() turns a matched unit into the kind's base unit
    "time": re.compile(r"(?<![A-Za-z])(ns|[µμu]s(?:ec)?|ms(?:ec)?|s(?:ec(?:onds?|s)?|econds?)?)(?![A-Za-z])"),
    "freq": re.compile(r"(?<![A-Za-z])([kKmMgG])[hH][zZ](?![A-Za-z])"),
    "volt": re.compile(r"(?<![A-Za-z])(m?V|m?[Vv]olts?)(?![A-Za-z])"),
    "size": re.compile(r"(?<![A-Za-z])([KkMG]i?|[Kk]ilo|[Mm]ega|[Gg]iga)?-?(?:\s?)"
                       r"([Bb][Yy][Tt][Ee][Ss]?|[Bb][Ii][Tt][Ss]?|B|b)(?![A-Za-z])"),
}


def factor(kind: str, m: re.Match) -> float:
    unit = m.group(0)
    if kind == "time":
        return {"n": 1e-6, "µ": 1e-3, "μ": 1e-3, "u": 1e-3, "m": 1.0}.get(unit[0], 1000.0)
    if kind == "freq":
        return {"k": 1e-3, "m": 1.0, "g": 1000.0}[unit[0].lower()]
    if kind == "volt":
        return 1e-3 if unit.startswith("m") else 1.0
    mult = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30}[(m.group(1) or "")[:1].lower()]
    bits = m.group(2).lower().startswith("bit") or m.group(2) == "b"
    return mult / 8 if bits else mult


def unit_of(lines: Lines, row: int, end: int, start: int, kind: str) -> float | None:
    """Factor of the unit nearest to the number at ``start:end`` of ``lines[row]``;
    None for a number right of its line's last unit (a notes column: "0.8 5 ms 2, 3")."""
    pattern = UNITS[kind]
    text = lines[row][1]
    space = end + (text[end:end + 1] == " ")
    for other, unit in UNITS.items():  # "2.7V" is a voltage, whatever follows
        attached = unit.match(text, end) or unit.match(text, space)
        if attached:
            return factor(kind, attached) if other == kind else None
    right = pattern.search(text, end)
    if right:
        return factor(kind, right)
    if row + 1 < len(lines) and not text[end:].strip(" )"):  # prose wrapped after the number: "page (256" / "bytes)"
        wrapped = pattern.match(lines[row + 1][1].lstrip())
        if wrapped:
            return factor(kind, wrapped)
    if pattern.search(text[:start]):
        return None
    for distance in range(1, UNIT_NEIGHBOURS + 1):
        near = [(r, m) for r in (row + distance, row - distance)
                if 0 <= r < len(lines) and (m := pattern.search(lines[r][1]))]
        if near:
            # a tie goes to the line below, unless only the line above shares the number's
            # row label column (a cell over several lines: "4 Kbytes" / "tBLKE ... 32 Kbytes
            # ... ms" / "64 K bytes", then the next row "tCHPE ... sec")
            column = indent_of(text)
            shared = [m for r, m in near if column in cell_starts(lines[r][1])]
            return factor(kind, (shared or [m for _, m in near])[0])
    return None


def cell_starts(text: str) -> set[int]:
    """Columns where the cells of a layout line start: its first character and
    each one after two spaces or more."""
    return {m.start() for m in re.finditer(r"(?<=\s\s)\S", text)} | ({indent_of(text)} if text.strip() else set())


def find_quantity(lines: Lines, value: float, kind: str) -> int | None:
    """Line number where ``value`` (in the kind's base unit) is printed, in any unit."""
    for row, (number, text) in enumerate(lines):
        for m in NUMBER.finditer(text):
            if text[m.start() - 1:m.start()] == "(" and text[m.end():m.end() + 1] == ")":
                continue  # a footnote mark: tCE(1), 84(7)
            x = float(m.group(1).replace(",", "") + (m.group(2) or ""))
            f = unit_of(lines, row, m.end(), m.start(), kind)
            if f is not None and abs(x * f - value) <= 1e-6 * max(abs(value), 1e-9):
                return number
    return None


# -- opcodes, ID bytes, words ---------------------------------------------------


def find_hex(lines: Lines, byte: int) -> int | None:
    """Line number of ``byte`` as 20h, 20H, 0x20, or bare on a line that says hex."""
    return hex_words(lines).get(f"{byte:02X}")


def hex_words(lines: Lines) -> dict[str, int]:
    """Hex numbers printed in ``lines`` (digits, upper case) and the first line
    of each: 0x4018, 4018h, or bare on a line that says hex."""
    marked = re.compile(r"(?<![0-9A-Za-z])(?:0x([0-9A-F]+)|([0-9A-F]+)h)(?![0-9A-Za-z])", re.IGNORECASE)
    bare = re.compile(r"(?<![0-9A-Za-z])([0-9A-F]{2,})(?![0-9A-Za-z])")  # upper case, as tables print it
    found: dict[str, int] = {}
    listed = re.compile(r"(?<![0-9A-Za-z])((?:[0-9A-F]{2}/)+)[0-9A-F]{2}h(?![0-9A-Za-z])", re.IGNORECASE)
    for number, line in lines:
        words = [a or b for a, b in marked.findall(line)]
        words += [w for m in listed.finditer(line) for w in m.group(1).split("/") if w]  # 9E/9Fh
        if "hex" in line.lower():
            words += bare.findall(line)
        for w in words:
            found.setdefault(w.upper(), number)
    return found


def find_id(lines: Lines, hexid: str) -> tuple[list[str], int | None]:
    """ID bytes not found, and where: as one run on a line ("EF 40 18",
    "EFh 40h 18h"), else as hex numbers that together spell it (EFh ... 4018h)."""
    pairs = [f"{b:02X}" for b in parse_hex_bytes(hexid)]
    digits = "".join(pairs)
    run = r"h?[\s,/-]*(?:0x)?".join(pairs)
    pattern = re.compile(rf"(?<![0-9A-Za-z])(?:0x)?{run}h?(?![0-9A-Za-z])", re.IGNORECASE)
    for number, line in lines:
        if pattern.search(line):
            return [], number
    words = {w: n for w, n in hex_words(lines).items() if len(w) % 2 == 0}
    spelt = {0: []}  # digits spelt so far -> lines of the words used
    for i in range(0, len(digits), 2):
        for w, n in words.items():
            if i in spelt and digits.startswith(w, i):
                spelt.setdefault(i + len(w), spelt[i] + [n])
    if len(digits) in spelt:
        return [], min(spelt[len(digits)])
    missing = [f"{p}h" for p in pairs if not any(w[j:j + 2] == p for w in words for j in range(0, len(w), 2))]
    return missing or [digits], None


def find_word(lines: Lines, pattern: str) -> int | None:
    rx = re.compile(pattern, re.IGNORECASE)
    return next((n for n, line in lines if rx.search(line)), None)


def find_phrase(lines: Lines, pattern: str) -> int | None:
    """Line number where ``pattern`` starts in the window's text read as prose
    (lines joined with a space, so a sentence may wrap)."""
    text, starts = "", []
    for n, line in lines:
        starts.append((len(text), n))
        text += line + " "
    m = re.search(pattern, text, re.IGNORECASE)
    return None if m is None else max(n for offset, n in starts if offset <= m.start())


def literal_start(pattern: str) -> str:
    """The fixed characters an order-code regex starts with (W25Q128JV)."""
    m = re.match(r"(?:[A-Za-z0-9-]|\\.)*", pattern)
    return re.sub(r"\\(.)", r"\1", m.group(0)).upper()


def word_pattern(code: str) -> str:
    """``code`` as a word: not inside a longer run of letters and digits."""
    left = r"(?<![A-Za-z0-9])" if code[:1].isalnum() else ""
    right = r"(?![A-Za-z0-9])" if code[-1:].isalnum() else ""
    return left + re.escape(code) + right


def order_codes_missing(lines: Lines, codes: list[dict], fields: dict) -> list[str]:
    """Field codes (or, without fields, pattern starts) not printed in the window."""
    text = " ".join(line for _, line in lines)
    flat = re.sub(r"\(\d\)|\s", "", text).upper()
    tokens = set(re.findall(r"[A-Za-z0-9][A-Za-z0-9/-]*", text))
    decoded: dict[str, set[str]] = {}
    missing = []
    for code in codes:
        start = literal_start(str(code.get("pattern", "")))
        if not fields and start and start not in flat:
            missing.append(start)
        try:
            rx = re.compile(str(code.get("pattern", "")))
        except re.error:
            continue
        for token in tokens:
            m = rx.fullmatch(token.upper())
            for group, value in (m.groupdict() if m else {}).items():
                decoded.setdefault(group, set()).add(value)
    for name, meanings in (fields or {}).items():
        for value in meanings:
            bounded = re.compile(word_pattern(str(value)))
            if str(value) not in decoded.get(name, ()) and not bounded.search(text):
                missing.append(f"{name} {value}")
    return missing


# -- the figures of a family ----------------------------------------------------

Test = Callable[[Lines], tuple[list[str], "int | None"]]


@dataclass
class Figure:
    key: str  # the 'where' key
    label: str  # what the report calls it
    value: object  # None: absent from the YAML
    test: Test  # called only when the value is present
    path: tuple  # YAML path, for the line number
    required: bool = True


def quantity_test(value: float, kind: str) -> Test:
    def test(lines: Lines):
        n = find_quantity(lines, float(value), kind)
        return ([] if n else ["value"]), n
    return test


def all_found(found: dict[str, int | None]) -> tuple[list[str], int | None]:
    missing = [k for k, n in found.items() if n is None]
    return missing, None if missing else min(found.values(), default=None)


def timing_figures(key: str, entries: list[tuple[tuple, dict]]) -> list[Figure]:
    """typ_ms and max_ms of one erase opcode, program or chip erase (entries:
    the YAML path and mapping of each place the command is given)."""
    figures = []
    for attr in ("typ_ms", "max_ms"):
        values = {}
        for path, entry in entries:
            if isinstance(entry, dict) and attr in entry:
                values.setdefault(entry[attr], path + (attr,))
        for value, path in values.items():
            figures.append(Figure(key, f"{key} {attr}", value, quantity_test(value, "time"), path))
        if not values:
            figures.append(Figure(key, f"{key} {attr}", None, quantity_test(None, "time"), entries[0][0] if entries else ()))
    return figures


def erase_figures(fam: dict, base: tuple) -> list[Figure]:
    by_opcode: dict[int, list] = {}
    for j, e in enumerate(fam.get("erase") or []):
        by_opcode.setdefault(e.get("opcode"), []).append((base + ("erase", j), e))
    for c, conf in enumerate(fam.get("configurations") or []):
        for j, e in enumerate(conf.get("erase") or []):
            by_opcode.setdefault(e.get("opcode"), []).append((base + ("configurations", c, "erase", j), e))
    figures = []
    for opcode, entries in by_opcode.items():
        if isinstance(opcode, int):
            figures += timing_figures(f"erase.0x{opcode:02X}", entries)
    for key in ("program", "chip_erase"):
        figures += timing_figures(key, [(base + (key,), fam.get(key) or {})])
    return figures


def voltage_figures(fam: dict, base: tuple) -> list[Figure]:
    volt = fam.get("voltage") or {}
    return [Figure("voltage", f"voltage {end}", volt.get(end), quantity_test(volt.get(end), "volt"),
                   base + ("voltage", end)) for end in ("min", "max")]


def scalar_figures(fam: dict, base: tuple) -> list[Figure]:
    figures = []
    for key in ("max_clock_mhz", "read_clock_mhz"):
        value = fam.get(key)
        figures.append(Figure(key, key, value, quantity_test(value, "freq"), base + (key,)))
    page = fam.get("page_size")
    figures.append(Figure("page_size", "page_size", page, size_test(page), base + ("page_size",)))
    sfdp = fam.get("sfdp")
    figures.append(Figure("sfdp", "sfdp", sfdp, sfdp_test(sfdp), base + ("sfdp",)))
    return figures


def size_test(value: object) -> Test:
    def test(lines: Lines):
        try:
            return quantity_test(parse_size(value), "size")(lines)
        except ValueError:
            return [f"{value!r} is not a size"], None
    return test


SFDP_WORDS = r"SFDP|Serial Flash Discoverable|(?<![0-9A-Za-z])(?:0x5A|5Ah)(?![0-9A-Za-z])"


def sfdp_test(value: bool) -> Test:
    def test(lines: Lines):
        n = find_word(lines, SFDP_WORDS)
        if value:
            return ([] if n else ["SFDP or 5Ah"]), n
        return ([f"false (yet SFDP is named at line {n})"] if n else []), None
    return test


def list_figures(fam: dict, base: tuple) -> list[Figure]:
    commands = fam.get("commands")
    figures = [Figure("commands", "commands", commands, commands_test(commands), base + ("commands",))]
    power = fam.get("power_up")
    figures.append(Figure("power_up", "power_up", power, power_up_test(power), base + ("power_up",)))
    codes = fam.get("order_codes")
    figures.append(Figure("order_codes", "order_codes", codes, order_codes_test(codes, fam.get("fields")), base + ("order_codes",)))
    return figures


def order_codes_test(codes: list[dict], fields: dict | None) -> Test:
    return lambda lines: (order_codes_missing(lines, codes, fields or {}), None)


def commands_test(opcodes: list[int]) -> Test:
    def test(lines: Lines):
        words = hex_words(lines)
        return all_found({f"0x{op:02X}": words.get(f"{op:02X}") for op in opcodes if isinstance(op, int)})
    return test


# A status register delivered all 0 holds no block-protect bit set ("Initial Delivery State":
# "The Status Register contains 00h (all Status Register bits are 0)", "The Status Register
# bits are set to 0, except DRV0 bit (S21) is set to 1").
CLEARED_STATUS = (r"status\s+register\s+(contains|is)\s+0+h\b"
                  r"|status\s+register\s+bits\s+are\s+(set\s+to\s+)?0\b")


def power_up_test(power: dict) -> Test:
    """The window says what protection the chip has at power-up or as shipped
    (the unlock commands are checked with the command list).  For a family
    whose protection is clear as shipped (configurable or none), a status
    register delivered as 00h / all bits 0 says so too."""
    clear = isinstance(power, dict) and power.get("block_protection") in ("configurable", "none")

    def test(lines: Lines):
        protection = find_word(lines, r"protect")
        if protection is None and clear:
            protection = find_phrase(lines, CLEARED_STATUS)
        return all_found({"protection": protection,
                          "power-up or default state": find_word(lines, r"power[- ]?(up|on)|default|factory|reset|deliver|shipped")})
    return test


def id_figures(fam: dict, base: tuple, shared: bool) -> list[Figure]:
    ext = fam.get("ext_id")
    figures = [Figure("ext_id", "ext_id", ext, id_test([ext]), base + ("ext_id",), required=shared)]
    ids = fam.get("jedec_id")
    ids = ids if isinstance(ids, list) else [ids]
    figures.append(Figure("jedec_id", "jedec_id", ",".join(map(str, ids)), id_test(ids), base + ("jedec_id",), required=False))
    return figures


def id_test(ids: list) -> Test:
    def test(lines: Lines):
        missing, first = [], None
        for hexid in ids:
            try:
                gone, n = find_id(lines, str(hexid))
            except ValueError:
                gone, n = [f"{hexid!r} (not hex)"], None
            missing += gone
            first = first or n
        return missing, None if missing else first
    return test


def optional_figures(fam: dict, base: tuple) -> list[Figure]:
    capacity = fam.get("capacity")
    figures = [Figure("capacity", "capacity", capacity, size_test(capacity), base + ("capacity",), required=False)]
    modes = fam.get("address_bytes")
    mode_words = {3: r"\bA23\b|\b(3|three)[- ]byte|\b24[- ]bit|\b(3|three)[- ]address|address (bytes?|cycles?)[:\s]*3\b",
                  4: r"\bA31\b|\b(4|four)[- ]byte|\b32[- ]bit|\b(4|four)[- ]address|address (bytes?|cycles?)[:\s]*4\b"}

    def test(lines: Lines):
        return all_found({f"{n}-byte": find_word(lines, mode_words.get(n, "$^")) for n in modes})
    figures.append(Figure("address_bytes", "address_bytes", modes, test, base + ("address_bytes",), required=False))
    return figures


def family_figures(fam: dict, base: tuple, shared: bool) -> list[Figure]:
    return (scalar_figures(fam, base) + voltage_figures(fam, base) + erase_figures(fam, base)
            + list_figures(fam, base) + id_figures(fam, base, shared) + optional_figures(fam, base))


# -- 'unconfirmed' entries ------------------------------------------------------

UNCONFIRMED_WORDS = {  # figure key -> words an 'unconfirmed' entry uses for it
    "max_clock_mhz": r"(maximum|max\.?|highest|fast[- ]read|spi|serial) clock|clock (frequency|rate)",
    "read_clock_mhz": r"(0x03|03h|(?<!fast )read|plain read) clock",
    "voltage": r"voltage|supply",
    "page_size": r"page[ -]size",
    "program": r"page[ -]program|\bprogram (time|typ|max)|\btpp\b",
    "chip_erase": r"(chip|bulk)[ -]erase|\btce\b",
    "sfdp": r"sfdp",
    "power_up": r"power[ -]?(up|on)|protection",
    "ext_id": r"extended (device )?id|id bytes|more than (three|3) (id )?bytes",
    "order_codes": r"order|part number",
    "commands": r"\bcommands? (list|table|set)|instruction|opcodes",
}


def erase_words(key: str, fam: dict) -> str:
    """Words for one erase opcode: its opcode, or its size ("4 KB"), or all erases."""
    opcode = int(key.split("0x")[1], 16)
    sizes = set()
    for e in fam.get("erase") or []:
        if e.get("opcode") == opcode:
            sizes |= {e.get("size")} | {r.get("size") for r in e.get("regions") or []}
    kib = []
    for size in sizes - {None}:
        try:
            kib.append(str(parse_size(size) // 1024))
        except ValueError:
            pass
    size_words = rf"(?<![\d.])({'|'.join(kib)})\s?-?\s?k(i?b|bytes?)?\b" if kib else "$^"
    return rf"0x{opcode:02x}\b|\b{opcode:02x}h\b|{size_words}|\b(all|every|each)\b.*\berase"


def explained(fam: dict, key: str) -> str | None:
    """The 'unconfirmed' entry that explains why figure ``key`` is absent."""
    for entry in fam.get("unconfirmed") or []:
        text = str(entry).lower()
        if re.search(rf"(?<![\w.]){re.escape(key.lower())}(?!\w)", text):  # names the key
            return str(entry)
        if key.startswith("erase."):
            text = re.sub(r"(chip|bulk)[ -]erase", "", text)
            if "erase" in text and re.search(erase_words(key, fam), text):
                return str(entry)
        elif re.search(UNCONFIRMED_WORDS.get(key, "$^"), text):
            return str(entry)
    return None


# -- checking -------------------------------------------------------------------


@dataclass
class Result:
    file: str
    line: int
    family: str
    figure: str
    status: str  # found | not found | missing | unconfirmed
    message: str = ""
    found_at: int | None = None

    def text(self) -> str:
        return f"{self.file}:{self.line}: {self.family}: {self.message}"


def check_figure(fig: Figure, fam: dict, sheet: Datasheet) -> tuple[str, str, int | None]:
    """Status, message and the datasheet line where the value was found."""
    shown = f"{fig.label} {fmt(fig.value)}"
    if fig.value is None or fig.value == [] or fig.value == {}:
        why = explained(fam, fig.key)
        if why:
            return "unconfirmed", f"{fig.label}: unconfirmed: {why}", None
        return "missing", f"{fig.label}: missing (absent, and no 'unconfirmed' entry explains it)", None
    cited = (fam.get("where") or {}).get(fig.key)
    if fig.key == "sfdp" and fig.value is False:  # an absence: the whole text must be silent
        body = [(i, line) for i, line in enumerate(sheet.lines, 1) if not (i <= 6 and line.startswith("#"))]
        n = find_word(body, SFDP_WORDS)
        if n:
            return "not found", f"{shown}: yet {sheet.name} names SFDP or 5Ah at line {n}", None
        if not cited and explained(fam, fig.key):
            return "found", "", None
    if not cited:
        return "missing", f"{shown}: no 'where' entry names its table or section", None
    lines, lost = cited_window(sheet, str(cited))
    if lost:
        return "not found", f"{shown}: heading {' / '.join(map(repr, lost))} not found in {sheet.name}", None
    missing, found_at = fig.test(lines)
    if missing:
        what = shown if missing == ["value"] else f"{fig.label} {', '.join(missing)}"
        return "not found", f"{what}: not found after '{cited}' in {sheet.name}", None
    return "found", "", found_at


def fmt(value: object) -> str:
    """A figure's value as the report shows it (YAML-like, short)."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, list) and all(isinstance(v, int) for v in value):
        return "[" + ", ".join(f"0x{v:02X}" for v in value) + "]"
    if isinstance(value, list):
        return f"({len(value)} pattern{'s' if len(value) != 1 else ''})"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {v}" for k, v in value.items()) + "}"
    return str(value)


def check_family(doc, index: int, sheet: Datasheet, shared: bool, label: str) -> list[Result]:
    fam = doc.data["families"][index]
    results = []
    for fig in family_figures(fam, ("families", index), shared):
        cited = fig.key in (fam.get("where") or {})
        if fig.required or (cited and fig.value is not None):
            status, message, found_at = check_figure(fig, fam, sheet)
            results.append(Result(label, doc.line(*fig.path), fam["name"], fig.label, status, message, found_at))
    return results


def shared_ids(docs: list) -> set[str]:
    """JEDEC IDs that answer for more than one family."""
    seen: dict[str, int] = {}
    for doc in docs:
        for fam in doc.data.get("families") or []:
            ids = fam.get("jedec_id")
            for i in set(ids if isinstance(ids, list) else [ids]):
                seen[str(i).lower()] = seen.get(str(i).lower(), 0) + 1
    return {i for i, n in seen.items() if n > 1}


def load_parts(paths: list[Path]) -> list:
    """Each parts file, validated against the schema beside it (or the project's)."""
    files = []
    for p in paths:
        if p.is_dir():
            files += sorted(p.glob("*.yaml"))
        elif p.is_file():
            files.append(p)
        else:
            raise InputError(f"{p}: no such parts file or folder")
    if not files:
        raise InputError(f"no parts files (*.yaml) in {', '.join(map(str, paths))}")
    docs = []
    for f in files:
        doc = load_yaml(f)
        schema = f.parent / "schema.json"
        validate(doc, schema if schema.is_file() else ROOT / "parts" / "schema.json")
        docs.append(doc)
    return docs


def check_all(docs: list, sheets: list[Datasheet], only: set[str]) -> tuple[list[Result], list[Result], list[str]]:
    """Results of every figure, the families whose datasheet is absent, and the families checked."""
    shared = shared_ids(docs)
    results, absent, checked = [], [], []
    for doc in docs:
        label = str(doc.path)
        for i, fam in enumerate(doc.data["families"]):
            if only and fam["name"] not in only:
                continue
            sheet, others = find_datasheet(sheets, fam["datasheet"], fam["name"])
            if sheet is None:
                cited = fam["datasheet"]
                note = f"cites '{cited['title']}', {cited['revision']}: not in the datasheet folder"
                if others:
                    note += "; the folder has " + ", ".join(f"{s.name} ({s.revision})" for s in others)
                absent.append(Result(label, doc.line("families", i, "datasheet"), fam["name"], "", "absent", note))
                continue
            checked.append(fam["name"])
            ids = fam.get("jedec_id")
            is_shared = any(str(x).lower() in shared for x in (ids if isinstance(ids, list) else [ids]))
            results += check_family(doc, i, sheet, is_shared, label)
    return results, absent, checked


# -- command line ---------------------------------------------------------------


def summary(results: list[Result], absent: list[Result], checked: list[str]) -> dict:
    count = {s: sum(r.status == s for r in results) for s in ("found", "not found", "missing", "unconfirmed")}
    return {"families_checked": len(checked), "families_not_in_library": len(absent),
            "found": count["found"], "not_found": count["not found"], "missing": count["missing"],
            "unconfirmed": count["unconfirmed"]}


def report_text(results: list[Result], absent: list[Result], totals: dict) -> None:
    for r in results:
        if r.status in ("not found", "missing"):
            print(r.text())
    if absent:
        print(f"\nDatasheet not in the folder ({plural(len(absent), 'family', 'families')}, not checked):")
        for r in absent:
            print("  " + r.text())
    print(f"\n{plural(totals['families_checked'], 'family', 'families')} checked against their datasheets; "
          f"figures: {totals['found']} found, {totals['not_found']} not found, "
          f"{totals['missing']} missing, {totals['unconfirmed']} unconfirmed")


def plural(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


def report_json(results: list[Result], absent: list[Result], totals: dict) -> None:
    print(json.dumps({"summary": totals, "results": [r.__dict__ for r in results],
                      "not_in_library": [r.__dict__ for r in absent]}, indent=1))


class Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, exit 2
        self.exit(2, f"error: {message} (see --help)\n")


def main(argv: list[str] | None = None) -> int:
    ap = Parser(description="Check the parts database's cited figures against the datasheet texts.")
    ap.add_argument("parts", nargs="+", type=Path, help="parts folders (*.yaml) or files")
    ap.add_argument("--datasheets", required=True, type=Path, help="folder of datasheet .txt files")
    ap.add_argument("--json", action="store_true", help="machine-readable output")
    ap.add_argument("--family", action="append", default=[], help="check only this family (repeatable)")
    args = ap.parse_args(argv)
    try:
        docs = load_parts(args.parts)
        sheets = read_library(args.datasheets)
        names = {f["name"] for d in docs for f in d.data["families"]}
        unknown = set(args.family) - names
        if unknown:
            raise InputError(f"no family named {', '.join(sorted(unknown))} in the parts files")
        results, absent, checked = check_all(docs, sheets, set(args.family))
    except InputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    totals = summary(results, absent, checked)
    (report_json if args.json else report_text)(results, absent, totals)
    return 1 if totals["not_found"] or totals["missing"] else 0


if __name__ == "__main__":
    sys.exit(main())
