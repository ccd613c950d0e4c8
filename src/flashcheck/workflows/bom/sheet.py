"""Reading a BOM: CSV/TSV (any export dialect) and XLSX, streamed."""

from __future__ import annotations

import codecs
import csv
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

from flashcheck.errors import InputError
from flashcheck.workflows.bom.columns import DESCRIPTION_HEADERS, HEADER_SCAN, MANUFACTURER_HEADERS, MPN_HEADERS, find_column, header_key


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
    # schematics (workflows/bom/kicad.py): where each row's symbol is, what was left out, how many rows
    sheet_col: int | None = None
    ref_col: int | None = None
    file_col: int | None = None
    excluded: dict[str, int] = field(default_factory=dict)
    total: int | None = None

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
        col = find_column(cells, MPN_HEADERS[:-1])
        if col is not None:
            return i, col
    if column is None:  # Value only as a last resort
        for i, (_, row) in enumerate(rows[:HEADER_SCAN]):
            col = find_column([str(c) for c in row], ("value",))
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
        utf16 = _utf16_without_bom(head)
        if utf16:
            return utf16, False
        raise InputError(f"{path}:1: binary data (NUL bytes), not a bill of materials; expected a CSV/TSV text "
                         "file (UTF-8) or an .xlsx workbook")
    return "utf-8", False


def _utf16_without_bom(head: bytes) -> str | None:
    """'utf-16-le' / 'utf-16-be' for text that is plainly UTF-16 without a
    byte-order mark (every other byte zero, as ASCII text in UTF-16 is)."""
    n = len(head) // 2 * 2
    if n < 4:
        return None
    even, odd = head[0:n:2], head[1:n:2]
    for enc, zeros, text in (("utf-16-le", odd, even), ("utf-16-be", even, odd)):
        if zeros.count(0) >= 0.9 * len(zeros) and text.count(0) == 0:
            return enc
    return None


#: Longest line read, in characters: a BOM line is a few hundred.
MAX_LINE = 1 << 20


class _Lines:
    """Text lines of a file, read in 64 KiB chunks; decoding errors turned
    into InputError with the line number.  Linear in the file's size: the
    start of a long line is kept as a list of pieces, joined once, and a
    line over :data:`MAX_LINE` characters is an error."""

    def __init__(self, path: Path, encoding: str, cr_only: bool = False):
        self.path = path
        self.encoding = encoding
        self.cr_only = cr_only  # classic Mac line ends: CR alone ends a line
        self.f = open(path, "rb")
        self.dec = codecs.getincrementaldecoder(encoding)(errors="strict")
        self.line = 0  # lines handed out
        self.ready: list[str] = []  # complete lines, in reverse order
        self.rest: list[str] = []  # the start of a line not yet complete, in pieces
        self.rest_len = 0
        self.done = False

    def __iter__(self):
        return self

    def _decode(self, chunk: bytes) -> str:
        try:
            text = self.dec.decode(chunk, final=not chunk)
            return text.replace("\r", "\n") if self.cr_only else text
        except UnicodeDecodeError as exc:
            line = self.line + len(self.ready) + 1 + exc.object[: exc.start].count(b"\n")
            raise InputError(
                f"{self.path}:{line}: not {self.encoding.upper().replace('-SIG', '')} text "
                f"(byte 0x{exc.object[exc.start]:02X}); save the BOM as UTF-8 CSV or as .xlsx"
            ) from None

    def _fill(self) -> None:
        chunk = self.f.read(1 << 16)
        text = self._decode(chunk)
        if "\n" not in text and chunk:
            self.rest.append(text)
            self.rest_len += len(text)
            if self.rest_len > MAX_LINE:
                raise InputError(f"{self.path}:{self.line + 1}: line longer than {MAX_LINE:,} characters; "
                                 "not a BOM line (a BOM line is a few hundred)")
            return
        lines = ("".join(self.rest) + text).split("\n")
        last = lines.pop()
        self.rest, self.rest_len = ([last], len(last)) if last else ([], 0)
        if any(len(ln) > MAX_LINE for ln in lines):
            n = next(i for i, ln in enumerate(lines) if len(ln) > MAX_LINE)
            raise InputError(f"{self.path}:{self.line + n + 1}: line longer than {MAX_LINE:,} characters; "
                             "not a BOM line (a BOM line is a few hundred)")
        self.ready = [ln + "\n" for ln in reversed(lines)]
        if not chunk:
            self.done = True
            if last:
                self.ready.insert(0, last)
                self.rest, self.rest_len = [], 0

    def __next__(self) -> str:
        while not self.ready:
            if self.done:
                raise StopIteration
            self._fill()
        self.line += 1
        return self.ready.pop()

    def close(self) -> None:
        self.f.close()


def _csv_rows(path: Path, encoding: str, delimiter: str,
              cr_only: bool = False) -> tuple[Iterator[tuple[int, list[str]]], Callable[[], None]]:
    lines = _Lines(path, encoding, cr_only)
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
                    if "field larger than field limit" in msg:
                        msg = f"a cell of over {csv.field_size_limit():,} characters; not a BOM cell"
                    elif "NUL" in msg:
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
    text_head = head.decode(encoding, errors="ignore")
    cr_only = "\r" in text_head and "\n" not in text_head  # classic Mac line ends
    # choose the separator that gives a header row (most fields wins)
    candidates = [delimiter] if delimiter else ["\t", ";", ","]
    best = None
    errors: list[InputError] = []
    for delim in candidates:
        rows, close = _csv_rows(path, encoding, delim, cr_only)
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
        rows, close = _csv_rows(path, encoding, delimiter or _count_delim(head), cr_only)
        sample = []
        for item in rows:
            sample.append(item)
            if len(sample) >= HEADER_SCAN:
                break
        close()
        raise _no_header(path, sample, column)
    delim, (hi, col), sample = best
    rows, close = _csv_rows(path, encoding, delim, cr_only)
    preamble = []
    for _ in range(hi):
        preamble.append(next(rows)[1])
    header_line, header = next(rows)
    return Sheet(path, "csv", header, header_line, col, find_column(header, MANUFACTURER_HEADERS),
                 find_column(header, DESCRIPTION_HEADERS), preamble, rows, delim, bom, close)


def _count_delim(head: bytes) -> str:
    line = head.split(b"\n", 1)[0]
    return max(("\t", ";", ","), key=lambda d: line.count(d.encode()))


def _cell_text(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v)


#: Most bytes an .xlsx may hold once decompressed: a 10,000-line BOM is
#: about 2 MB; a zip bomb of 1.5 MB unpacks to gigabytes.
MAX_XLSX_UNPACKED = 64 << 20


def _check_zip(path: Path) -> None:
    """InputError for a workbook that unpacks to more than
    :data:`MAX_XLSX_UNPACKED` (the sizes the zip declares; Python's zipfile
    never inflates an entry past its declared size)."""
    import zipfile

    try:
        with zipfile.ZipFile(path) as z:
            total = sum(i.file_size for i in z.infolist())
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise InputError(f"{path}:1: not a readable .xlsx workbook ({exc})") from None
    if total > MAX_XLSX_UNPACKED:
        raise InputError(f"{path}:1: workbook unpacks to {total / (1 << 20):,.0f} MiB, over the "
                         f"{MAX_XLSX_UNPACKED >> 20} MiB a BOM needs (a zip bomb?); save the BOM as CSV")


def _open_xlsx(path: Path, column: str | None) -> Sheet:
    _check_zip(path)
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

    return Sheet(path, "xlsx", header, header_line, col, find_column(header, MANUFACTURER_HEADERS),
                 find_column(header, DESCRIPTION_HEADERS), [r for _, r in sample[:hi]], chained(), ",", False, rows.close)


def open_bom(path: Path, column: str | None = None, delimiter: str | None = None) -> Sheet:
    """Open a BOM; rows are read as the caller iterates ``sheet.rows``."""
    path = Path(path)
    from flashcheck.workflows.bom.kicad import is_kicad, open_kicad  # light: sexpdata is imported when used

    if is_kicad(path):
        return open_kicad(path, column)
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


