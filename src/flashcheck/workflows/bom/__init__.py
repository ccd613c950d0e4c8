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

Which lines are flash (:func:`looks_like_flash`)
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

from __future__ import annotations

import codecs
import csv
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

from flashcheck.errors import InputError

# --------------------------------------------------------------------------
# Columns

# Headers of the order-code column, normalised (lower case, letters and
# digits only), most specific first.
MPN_HEADERS: tuple[str, ...] = (
    "mpn",
    "manufacturerpartnumber",
    "manufacturerpartno",
    "manufacturerpn",
    "mfrpartnumber",
    "mfrpartno",
    "mfrpart",
    "mfrpn",
    "mfgpartnumber",
    "mfgpartno",
    "mfgpart",
    "mfgpn",
    "mfpn",
    "manufacturerpart",
    "manufacturer1partnumber",
    "manufacturerpartnumber1",
    "mpn1",
    "partnumber",
    "partno",
    "pn",
    "ordercode",
    "orderingcode",
    "mfrno",
    "value",
)
# "value" is last: in Eagle and plain KiCad exports the order code is
# sometimes only in Value.  It is used only when nothing better is there.
MANUFACTURER_HEADERS = ("manufacturer", "mfr", "mfg", "mf", "manufacturername", "manufacturer1", "mfrname", "vendor", "brand")
DESCRIPTION_HEADERS = ("description", "desc", "comment", "partdescription", "detaileddescription", "category")
HEADER_SCAN = 20  # rows searched for the header

OUT_COLUMNS = ("flashcheck verdict", "flashcheck reason", "flashcheck alternates")


def header_key(text: str) -> str:
    """'Mfr. Part #' -> 'mfrpartno': lower case, '#' read as 'no', the rest
    of the punctuation and spaces dropped."""
    return re.sub(r"[^a-z0-9]", "", str(text).lower().replace("#", "no"))


def _find_column(header: list[str], names: tuple[str, ...]) -> int | None:
    keys = [header_key(h) for h in header]
    for want in names:
        if want in keys:
            return keys.index(want)
    return None


# --------------------------------------------------------------------------
# Alternates in one cell

_SPLIT = re.compile(r"[,;/|\n\r]+")
_OR = re.compile(r"\s+or\s+", re.IGNORECASE)
_ANY_SEP = re.compile(r"[,;/|\n\r]|\sor\s", re.IGNORECASE)
_PACK_SLASH = re.compile(r"\s*/\s*(?=(?:T&R|TR|TRAY|TUBE|REEL|CT)\b)", re.IGNORECASE)


def split_cell(cell: str) -> list[str]:
    """Order codes in one cell: ``W25Q128JVSIQ / GD25Q128ESIG`` -> two.

    Separators are comma, semicolon, slash, bar, newline and the word "or".
    A slash that is part of a code's packing suffix (``MX25L1606EM1I-12G/TR``,
    ``.../T&R``) stays with the code.  Empty pieces and duplicates are
    dropped; order is kept."""
    if not cell:
        return []
    if not _ANY_SEP.search(cell):  # the usual case: one code
        code = cell.strip().strip("\"'").strip()
        return [code] if code else []
    out: list[str] = []
    text = _OR.sub(",", cell)
    # keep packing suffixes: join "/TR", "/T&R", "/REEL" ... back on
    text = _PACK_SLASH.sub("\x00", text)
    for piece in _SPLIT.split(text):
        code = piece.replace("\x00", "/").strip().strip("\"'")
        code = code.strip()
        if code and code not in out:
            out.append(code)
    return out


# --------------------------------------------------------------------------
# Which codes are flash

FLASH_PREFIXES: tuple[str, ...] = (
    "W25", "MX25", "MX66", "MX77", "GD25", "GD55", "IS25", "IS26", "N25Q", "MT25", "M25P", "M25PE", "M45PE",
    "S25FL", "S25FS", "S70FL", "S79FL", "SST25", "SST26", "AT25DF", "AT25DN", "AT25DQ", "AT25SF", "AT25SL",
    "AT25QL", "AT25XE", "AT25XV", "AT25FF", "AT25EU", "AT25FS", "AT25F", "AT26", "AT45", "EN25", "XM25", "P25Q",
    "PY25", "XT25", "ZB25", "BY25", "FM25Q", "FM25W", "A25L", "A25LQ", "F25L", "ES25", "BH25", "KH25", "LE25",
    "CAT25F", "PM25", "ACE25", "SK25", "DS25", "XTX25",
)
FLASH_MAKERS: tuple[str, ...] = (
    "winbond", "macronix", "gigadevice", "spansion", "cypress", "infineon", "micron", "issi", "adesto",
    "dialog", "renesas", "xmc", "wuhan xinxin", "puya", "eon", "zbit", "boya", "xtx", "fudan", "sst",
    "microchip", "atmel", "numonyx", "amic", "esmt", "paragon",
)
# Description words: "SPI NOR", "serial flash" ... say flash outright; a bare
# "flash" counts unless the line is something that merely contains flash
# (a microcontroller "256KB FLASH", a camera-flash LED driver) or is NAND,
# EEPROM or FRAM.
_DESC_SURE = re.compile(r"\b(?:spi[\s-]*nor|nor[\s-]*flash|serial[\s-]*flash|spi[\s-]*flash|qspi[\s-]*flash|flash[\s-]*memory)\b",
                        re.IGNORECASE)
_DESC_FLASH = re.compile(r"\bflash\b", re.IGNORECASE)
_DESC_NOT = re.compile(r"\b(?:nand|eeprom|fram|led|camera|strobe|mcu|microcontroller|micro|soc|cpu|dsp|fpga|cpld|"
                       r"wi-?fi|bluetooth|module|arm|cortex|risc-?v|controller|driver)\b", re.IGNORECASE)


def normalise_code(code: str) -> str:
    return "".join(code.split()).upper()


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


def looks_like_flash(code: str, manufacturer: str = "", description: str = "") -> bool:
    return FlashFilter()(code, manufacturer, description)


# --------------------------------------------------------------------------
# Reading


@dataclass
class Sheet:
    """A BOM being read: its header, the columns that matter, and its rows
    (streamed, each with its line number; the header is line
    ``header_line``)."""

    path: Path
    kind: str  # csv | xlsx
    header: list[str]
    header_line: int
    column: int
    manufacturer_col: int | None
    description_col: int | None
    preamble: list[list[str]]  # rows above the header, as read
    rows: Iterator[tuple[int, list[str]]]
    delimiter: str = ","
    bom: bool = False
    close: Callable[[], None] = lambda: None

    @property
    def column_name(self) -> str:
        return self.header[self.column]


def _expected_columns() -> str:
    return "MPN, Manufacturer Part Number, Mfr. Part #, Part Number"


def _pick_header(path: Path, rows: list[tuple[int, list[str]]], column: str | None):
    """(index into rows, column index) of the header, or None."""
    for i, (_, row) in enumerate(rows[:HEADER_SCAN]):
        cells = [str(c) for c in row]
        if column is not None:
            want = header_key(column)
            keys = [header_key(c) for c in cells]
            if want and want in keys:
                return i, keys.index(want)
            continue
        col = _find_column(cells, MPN_HEADERS[:-1])
        if col is not None:
            return i, col
    if column is None:  # Value only as a last resort
        for i, (_, row) in enumerate(rows[:HEADER_SCAN]):
            col = _find_column([str(c) for c in row], ("value",))
            if col is not None and len(row) > 1:
                return i, col
    return None


def _no_header(path: Path, rows: list[tuple[int, list[str]]], column: str | None) -> InputError:
    first = next(((ln, r) for ln, r in rows if any(str(c).strip() for c in r)), None)
    if first is None:
        return InputError(f"{path}:1: empty file; expected a header row with an order-code column ({_expected_columns()})")
    ln, row = first
    shown = ", ".join(repr(str(c)) for c in row[:8]) + (" ..." if len(row) > 8 else "")
    if column is not None:
        return InputError(f"{path}:{ln}: no column named {column!r} in the first {HEADER_SCAN} rows (header seen: {shown})")
    return InputError(
        f"{path}:{ln}: expected a header row with an order-code column ({_expected_columns()}, ...; "
        f"or name it with --column); found {shown}"
    )


def _sniff_encoding(head: bytes, path: Path) -> tuple[str, bool]:
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig", True
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16", True
    if b"\x00" in head:
        raise InputError(f"{path}:1: binary data, not a BOM; expected a CSV/TSV text file (UTF-8) or an .xlsx workbook")
    return "utf-8", False


class _Lines:
    """Text lines of a file, read in 64 KiB chunks; decoding errors turned
    into InputError with the line number."""

    def __init__(self, path: Path, encoding: str):
        self.path = path
        self.encoding = encoding
        self.f = open(path, "rb")
        self.dec = codecs.getincrementaldecoder(encoding)(errors="strict")
        self.line = 0  # lines handed out
        self.ready: list[str] = []  # complete lines, in reverse order
        self.rest = ""  # the start of a line not yet complete
        self.done = False

    def __iter__(self):
        return self

    def _fill(self) -> None:
        chunk = self.f.read(1 << 16)
        try:
            text = self.rest + self.dec.decode(chunk, final=not chunk)
        except UnicodeDecodeError as exc:
            line = self.line + len(self.ready) + 1 + self.rest.count("\n") + exc.object[: exc.start].count(b"\n")
            raise InputError(
                f"{self.path}:{line}: not {self.encoding.upper().replace('-SIG', '')} text "
                f"(byte 0x{exc.object[exc.start]:02X}); save the BOM as UTF-8 CSV or as .xlsx"
            ) from None
        lines = text.split("\n")
        self.rest = lines.pop()
        self.ready = [ln + "\n" for ln in reversed(lines)]
        if not chunk:
            self.done = True
            if self.rest:
                self.ready.insert(0, self.rest)
                self.rest = ""

    def __next__(self) -> str:
        while not self.ready:
            if self.done:
                raise StopIteration
            self._fill()
        self.line += 1
        return self.ready.pop()

    def close(self) -> None:
        self.f.close()


def _csv_rows(path: Path, encoding: str, delimiter: str) -> tuple[Iterator[tuple[int, list[str]]], Callable[[], None]]:
    lines = _Lines(path, encoding)
    reader = csv.reader(lines, delimiter=delimiter, strict=True)

    def gen():
        prev = 0
        try:
            while True:
                try:
                    row = next(reader)
                except StopIteration:
                    return
                except csv.Error as exc:
                    msg = str(exc)
                    if "NUL" in msg:
                        msg = "binary data (NUL byte); expected CSV/TSV text"
                    elif "end of data" in msg or "EOF" in msg:
                        msg = f"a quoted field opened at or after this line is never closed ({msg})"
                    raise InputError(f"{path}:{prev + 1}: malformed row: {msg}") from None
                start = prev + 1
                prev = reader.line_num
                yield start, row
        finally:
            lines.close()

    return gen(), lines.close


def _open_csv(path: Path, column: str | None, delimiter: str | None) -> Sheet:
    with open(path, "rb") as f:
        head = f.read(1 << 16)
    encoding, bom = _sniff_encoding(head, path)
    # choose the separator that gives a header row (most fields wins)
    candidates = [delimiter] if delimiter else ["\t", ";", ","]
    best = None
    errors: list[InputError] = []
    for delim in candidates:
        rows, close = _csv_rows(path, encoding, delim)
        sample: list[tuple[int, list[str]]] = []
        try:
            for item in rows:
                sample.append(item)
                if len(sample) >= HEADER_SCAN:
                    break
        except InputError as exc:
            errors.append(exc)
        finally:
            close()
        found = _pick_header(path, sample, column)
        if found and (best is None or len(sample[found[0]][1]) > len(best[2][best[1][0]][1])):
            best = (delim, found, sample)
    if best is None:
        if errors:
            raise errors[-1]
        rows, close = _csv_rows(path, encoding, delimiter or _count_delim(head))
        sample = []
        for item in rows:
            sample.append(item)
            if len(sample) >= HEADER_SCAN:
                break
        close()
        raise _no_header(path, sample, column)
    delim, (hi, col), sample = best
    rows, close = _csv_rows(path, encoding, delim)
    preamble = []
    for _ in range(hi):
        preamble.append(next(rows)[1])
    header_line, header = next(rows)
    return Sheet(path, "csv", header, header_line, col, _find_column(header, MANUFACTURER_HEADERS),
                 _find_column(header, DESCRIPTION_HEADERS), preamble, rows, delim, bom, close)


def _count_delim(head: bytes) -> str:
    line = head.split(b"\n", 1)[0]
    return max(("\t", ";", ","), key=lambda d: line.count(d.encode()))


def _cell_text(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v)


def _open_xlsx(path: Path, column: str | None) -> Sheet:
    try:
        import openpyxl
    except ImportError:  # pragma: no cover
        raise InputError(f"{path}:1: reading .xlsx needs openpyxl (pip install openpyxl), or save the BOM as CSV") from None
    try:
        wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # zip, XML or openpyxl errors: all mean "not a workbook we can read"
        raise InputError(f"{path}:1: not a readable .xlsx workbook ({type(exc).__name__}: {exc})") from None
    ws = wb.active
    if ws is None:
        wb.close()
        raise InputError(f"{path}:1: workbook has no sheet")

    def gen():
        n = 0
        try:
            for n, row in enumerate(ws.iter_rows(values_only=True), start=1):
                yield n, [_cell_text(v) for v in row]
        except Exception as exc:  # corrupt sheet XML inside a valid zip
            raise InputError(f"{path}:{n + 1}: unreadable row ({type(exc).__name__}: {exc})") from None
        finally:
            wb.close()

    rows = gen()
    sample: list[tuple[int, list[str]]] = []
    for item in rows:
        sample.append(item)
        if len(sample) >= HEADER_SCAN:
            break
    found = _pick_header(path, sample, column)
    if found is None:
        rows.close()
        raise _no_header(path, sample, column)
    hi, col = found
    header_line, header = sample[hi]

    def chained():
        yield from sample[hi + 1 :]
        yield from rows

    return Sheet(path, "xlsx", header, header_line, col, _find_column(header, MANUFACTURER_HEADERS),
                 _find_column(header, DESCRIPTION_HEADERS), [r for _, r in sample[:hi]], chained(), ",", False, rows.close)


def open_bom(path: Path, column: str | None = None, delimiter: str | None = None) -> Sheet:
    """Open a BOM; rows are read as the caller iterates ``sheet.rows``."""
    path = Path(path)
    try:
        with open(path, "rb") as f:
            magic = f.read(8)
    except IsADirectoryError:
        raise InputError(f"{path}:1: is a directory; expected a BOM file (CSV, TSV or XLSX)") from None
    except OSError as exc:
        raise InputError(f"{path}:1: cannot read the BOM: {exc.strerror or exc}") from None
    if magic.startswith(b"PK\x03\x04") or path.suffix.lower() in (".xlsx", ".xlsm"):
        return _open_xlsx(path, column)
    if magic.startswith(b"\xd0\xcf\x11\xe0"):
        raise InputError(f"{path}:1: old Excel .xls workbook; expected CSV, TSV or .xlsx (save it as .xlsx)")
    return _open_csv(path, column, delimiter)


# --------------------------------------------------------------------------
# Formula-safe CSV

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def inert(cell: str) -> str:
    """A cell a spreadsheet will show as text, never run as a formula."""
    return "'" + cell if cell.startswith(_FORMULA_START) else cell


class CsvOut:
    """The annotated BOM, written to ``OUT.part`` and renamed to ``OUT`` by
    :meth:`commit`, so a BOM that turns out malformed half-way leaves no
    half-written file."""

    def __init__(self, path: Path, delimiter: str = ",", bom: bool = False):
        self.path = Path(path)
        self.tmp = self.path.with_name(self.path.name + ".part")
        try:
            self.f = open(self.tmp, "w", newline="", encoding="utf-8-sig" if bom else "utf-8")
        except OSError as exc:
            raise InputError(f"{path}: cannot write: {exc.strerror or exc}") from None
        self.w = csv.writer(self.f, delimiter=delimiter, lineterminator="\r\n")

    def row(self, cells: list[str]) -> None:
        self.w.writerow([inert(str(c)) for c in cells])

    def commit(self) -> None:
        self.f.close()
        os.replace(self.tmp, self.path)

    def close(self) -> None:
        """Discard, unless committed."""
        if not self.f.closed:
            self.f.close()
            self.tmp.unlink(missing_ok=True)


# --------------------------------------------------------------------------
# Alternates

_PKG_TYPES = (("SOIC", "SOIC"), ("SOP", "SOIC"), ("WSON", "WSON"), ("USON", "USON"), ("XSON", "XSON"),
              ("TFBGA", "BGA"), ("BGA", "BGA"), ("WLCSP", "WLCSP"), ("PDIP", "PDIP"), ("DIP", "PDIP"),
              ("DFN", "DFN"), ("QFN", "QFN"), ("TSOP", "TSOP"), ("KGD", "KGD"))


def package_key(desc: str) -> tuple:
    """Comparable form of a package description: 'SOIC-8 208-mil',
    'SOP-8 208-mil' and '8-SOP 200-mil' are the same package."""
    t = desc.upper()
    kind = next((k for name, k in _PKG_TYPES if re.search(rf"\b\d*-?{name}\b", t) or name in t), None)
    if kind is None:
        return ("?", re.sub(r"[^A-Z0-9]", "", t))
    pins = re.search(r"(\d+)\s*-?\s*(?:PIN|LEAD|BALL)|(?:SOIC|SOP|WSON|USON|XSON|BGA|DIP|DFN|QFN|TSOP)-?(\d+)|(\d+)-?(?:SOIC|SOP|WSON|USON|XSON|TFBGA|BGA|PDIP|DIP|DFN|QFN|TSOP)", t)
    n = next((g for g in pins.groups() if g), None) if pins else None
    mil = re.search(r"(\d{3})\s*-?\s*MIL", t)
    mm = re.search(r"(\d+(?:\.\d+)?)\s*[X×]\s*(\d+(?:\.\d+)?)", t)
    body: Any = None
    if mil:
        body = {"200": "208", "207": "208"}.get(mil.group(1), mil.group(1))
    elif mm:
        body = tuple(sorted((mm.group(1), mm.group(2))))
    return (kind, n, body)


def voltage_class(v: tuple[float, float] | None) -> str | None:
    if v is None:
        return None
    lo, hi = v
    low = lo <= 1.8 <= hi
    high = lo <= 3.3 <= hi or lo <= 3.0 <= hi
    if low and high:
        return "wide"
    if low:
        return "1.8 V"
    if high:
        return "3 V"
    return f"{lo:g}-{hi:g} V"


def _class_serves(alt: str | None, ref: str | None) -> bool:
    if ref is None:
        return True
    return alt == ref or (alt == "wide" and ref in ("1.8 V", "3 V"))


_DENSITY = re.compile(r"^(?:[A-Z]+25|N25Q|MX66|GD55|S70|S79|AT45DB|AT26DF)[A-Z]*?(\d+)")
_DENSITY_MBIT = {"512": 512, "256": 256, "257": 256, "128": 128, "127": 128, "129": 128, "64": 64, "32": 32,
                 "16": 16, "80": 8, "08": 8, "40": 4, "04": 4, "20": 2, "02": 2, "10": 1, "01": 1, "01G": 1024}


def guess_capacity(code: str) -> int | None:
    """Bytes, from the density digits after the family letters
    (W25Q128JVSIQ -> 16 MiB); None when they do not read as one."""
    m = _DENSITY.match(normalise_code(code))
    if not m:
        return None
    digits = m.group(1)
    for n in (3, 2):
        if digits[:n] in _DENSITY_MBIT and (n == 3 or len(digits) >= 2):
            if n == 2 and digits[:3] in _DENSITY_MBIT:
                continue
            return _DENSITY_MBIT[digits[:n]] << 17
    return None


@dataclass
class Alternate:
    name: str
    manufacturer: str
    package: str | None  # "SS (SOIC-8 208-mil)" when matched
    package_checked: bool
    voltage: str | None
    note: str

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "manufacturer": self.manufacturer, "package": self.package,
                "package_checked": self.package_checked, "voltage_class": self.voltage, "note": self.note}

    def __str__(self) -> str:
        """Short form for the table and the annotated CSV."""
        if self.package_checked and self.package:
            return f"{self.name} (package {self.package.split(' ', 1)[0]})"
        return f"{self.name} (package unchecked)"


class Alternates:
    """Alternates for lines that do not pass, from the curated families that
    pass the board (judged once each)."""

    def __init__(self, app, board):
        self.app = app
        self.board = board
        self._passing = None

    def passing(self):
        if self._passing is None:
            from flashcheck.data.database import Match
            from flashcheck.rules import PASS, judge

            self._passing = [p for p in self.app.parts.parts
                             if p.curated and judge(Match(p.name, [p], "family name"), self.board).verdict == PASS]
        return self._passing

    def for_result(self, result) -> tuple[list[Alternate], str]:
        """(alternates, a note on what was compared)."""
        refs = [result.part] if result.part else list(result.candidates)
        package, undecoded = None, "line's package not decoded"
        if result.part is not None and result.match is not None:
            code = result.match.fields.get("package")
            if code:
                package = result.part.fields.get("package", {}).get(code)
                if package is None:
                    undecoded = f"line's package code {code} not described in the database"
        if refs:
            caps = {p.capacity for p in refs}
            vcls = {voltage_class(p.voltage) for p in refs}
            if len(caps) != 1:
                return [], "no alternates: the candidate parts differ in capacity"
            cap = caps.pop()
            vref = vcls.pop() if len(vcls) == 1 else None
            exclude = {p.name for p in refs}
            basis = "same capacity" + (f", voltage class {vref}" if vref else ", voltage class unchecked")
            if any(c.rule == "voltage" and c.ok is False for c in result.checks):
                # the class is what is wrong (a 1.8 V part on a 3.3 V board): the board's supply decides
                vref = None
                basis = "same capacity, voltage class as the board needs (the line's part fails the supply)"
        else:
            cap = guess_capacity(result.query)
            if cap is None:
                return [], "no alternates: capacity unknown (code not identified)"
            vref, exclude = None, set()
            from flashcheck.units import format_size

            basis = f"capacity {format_size(cap)} read from the code's density digits; voltage class unchecked"
        out = []
        for p in self.passing():
            if p.name in exclude or p.capacity != cap:
                continue
            vc = voltage_class(p.voltage)
            if not _class_serves(vc, vref):
                continue
            table = p.fields.get("package") or {}
            if package and table:
                want = package_key(package)
                same = [(c, d) for c, d in table.items() if package_key(d) == want]
                if not same:
                    continue
                c, d = same[0]
                out.append(Alternate(p.name, p.manufacturer, f"{c} ({d})", True, vc, f"package {c} = {d}"))
            else:
                why = "package unchecked" + (f": {p.name} lists no packages" if package else f": {undecoded}")
                out.append(Alternate(p.name, p.manufacturer, None, False, vc, why))
        makers = {p.manufacturer for p in refs}
        out.sort(key=lambda a: (not a.package_checked, a.manufacturer not in makers, a.manufacturer, a.name))
        return out, basis + (f", package {package}" if package else "")


# --------------------------------------------------------------------------
# Validation


@dataclass
class Line:
    line: int
    code: str  # as written in the cell
    result: Any  # rules.Result
    alternates: list[Alternate] = field(default_factory=list)
    alternates_basis: str = ""
    cell: str = ""

    def to_json(self, memo: dict[int, dict[str, Any]] | None = None) -> dict[str, Any]:
        """The fields of ``check --json`` plus line, alternates (and cell,
        suggestions).  Lines with the same code share one judged result; with
        ``memo`` they also share its JSON (shallow copies), so a BOM with many
        identical flash lines does not build the same checks again."""
        base = memo.get(id(self.result)) if memo is not None else None
        if base is None:
            base = self.result.to_json()
            base["reason"] = self.result.reason
            base["alternates"] = [a.to_json() for a in self.alternates]
            if self.alternates_basis:
                base["alternates_basis"] = self.alternates_basis
            if self.result.match is not None and self.result.match.suggestions and not self.result.part:
                base["suggestions"] = list(self.result.match.suggestions)
            if memo is not None:
                memo[id(self.result)] = base
        out = dict(base)
        out["line"] = self.line
        if self.cell != self.code:
            out["cell"] = self.cell
        return out


@dataclass
class Report:
    path: Path
    board: Any
    column: str
    header_line: int
    lines: list[Line]
    rows: int = 0  # data rows read
    skipped: int = 0  # rows with a code that is not flash
    empty: int = 0  # rows with no code
    distinct: int = 0

    @property
    def verdicts(self) -> list[str]:
        return [ln.result.verdict for ln in self.lines]

    def counts(self) -> dict[str, int]:
        v = self.verdicts
        return {"pass": v.count("pass"), "fail": v.count("fail"), "unknown": v.count("unknown")}

    def to_json(self) -> dict[str, Any]:
        memo: dict[int, dict[str, Any]] = {}
        return {
            "file": str(self.path),
            "board": self.board.name,
            "column": self.column,
            "header_line": self.header_line,
            "rows": self.rows,
            "flash_lines": len(self.lines),
            "skipped_non_flash": self.skipped,
            "empty": self.empty,
            "counts": self.counts(),
            "results": [ln.to_json(memo) for ln in self.lines],
        }


def validate(app, board, path: Path, column: str | None = None, csv_out: Path | None = None,
             delimiter: str | None = None) -> Report:
    """Read the BOM at ``path`` and judge its flash lines on ``board``.
    Writes the annotated BOM to ``csv_out`` as it goes, if given."""
    sheet = open_bom(path, column, delimiter)
    flt = FlashFilter(tuple(n for p in app.parts.parts for n in (p.name, *p.aliases)))
    alts = Alternates(app, board)
    cache: dict[str, tuple[Any, list[Alternate], str]] = {}
    report = Report(Path(path), board, sheet.column_name, sheet.header_line, [])
    if csv_out and Path(csv_out).exists() and Path(csv_out).resolve() == Path(path).resolve():
        sheet.close()
        raise InputError(f"{csv_out}: --csv would overwrite the BOM being read; give another file name")
    out = CsvOut(csv_out, sheet.delimiter, sheet.bom) if csv_out else None
    width = len(sheet.header)
    col, mcol, dcol = sheet.column, sheet.manufacturer_col, sheet.description_col
    # a BOM annotated by an earlier run: its verdict columns are replaced, not added again
    keys = [header_key(h) for h in sheet.header]
    again = [keys.index(header_key(c)) for c in OUT_COLUMNS if header_key(c) in keys]
    again = again if len(again) == len(OUT_COLUMNS) else []
    try:
        if out:
            for r in sheet.preamble:
                out.row(r)
            out.row(list(sheet.header) + ([] if again else list(OUT_COLUMNS)))
        for ln, row in sheet.rows:
            if not "".join(row).strip():
                if out:
                    out.row(row)
                continue
            if len(row) > width and any(c.strip() for c in row[width:]):
                raise InputError(
                    f"{path}:{ln}: malformed row: expected {width} fields as in the header (line {sheet.header_line}), "
                    f"found {len(row)} (a separator inside an unquoted field?)"
                )
            report.rows += 1
            cell = row[col] if col < len(row) else ""
            codes = split_cell(cell)
            manu = row[mcol] if mcol is not None and mcol < len(row) else ""
            desc = row[dcol] if dcol is not None and dcol < len(row) else ""
            flash = [c for c in codes if flt(c, manu, desc)]
            if not codes:
                report.empty += 1
            elif not flash:
                report.skipped += 1
            verdicts, reasons, alt_text = [], [], []
            for code in flash:
                key = normalise_code(code)
                if key not in cache:
                    res = app.check(code, board)
                    found, basis = alts.for_result(res) if res.verdict != "pass" else ([], "")
                    cache[key] = (res, found, basis)
                res, found, basis = cache[key]
                if res.query != code:  # same code written differently: keep what this line says
                    import copy

                    res = copy.copy(res)
                    res.query = code
                report.lines.append(Line(ln, code, res, found, basis, cell))
                verdicts.append(res.verdict)
                reasons.append(res.reason)
                alt_text.append(", ".join(str(a) for a in found))
            if out:
                pad = row + [""] * (width - len(row)) if len(row) < width else row[:width] if len(row) > width else row
                if len(flash) > 1:
                    v = ["; ".join(f"{c}: {v}" for c, v in zip(flash, verdicts)),
                         "; ".join(f"{c}: {r}" for c, r in zip(flash, reasons)),
                         "; ".join(f"{c}: {a}" for c, a in zip(flash, alt_text) if a)]
                else:
                    v = [verdicts[0] if verdicts else "", reasons[0] if reasons else "", alt_text[0] if alt_text else ""]
                if again:
                    pad = list(pad)
                    for i, x in zip(again, v):
                        pad[i] = x
                    out.row(pad)
                else:
                    out.row(pad + v)
        if out:
            out.commit()
    finally:
        sheet.close()
        if out:
            out.close()
    report.distinct = len(cache)
    return report
