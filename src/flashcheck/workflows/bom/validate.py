"""Validating a whole BOM against a board."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from flashcheck.data.database import MAX_QUERY, normalise as normalise_code
from flashcheck.errors import InputError
from flashcheck.output.text import printable
from flashcheck.workflows.bom.alternates import Alternate, Alternates
from flashcheck.workflows.bom.columns import OUT_COLUMNS, header_key, split_cell
from flashcheck.workflows.bom.csvout import CsvOut
from flashcheck.workflows.bom.flashfilter import FlashFilter
from flashcheck.workflows.bom.sheet import open_bom


# --------------------------------------------------------------------------
# Validation

#: Longest order-code cell read, in characters.
MAX_CELL = 2000


@dataclass
class Line:
    line: int
    code: str  # as written in the cell
    result: Any  # rules.Result
    alternates: list[Alternate] = field(default_factory=list)
    alternates_basis: str = ""
    cell: str = ""
    sheet: str = ""  # schematics: the sheet path ("/Flash/"), the symbol's reference and its sheet file
    reference: str = ""
    file: str = ""

    @property
    def where(self) -> str:
        """How people find the line: "U3 on /Flash/", or "line 12"."""
        if self.reference:
            return f"{self.reference} on {self.sheet}" if self.sheet else self.reference
        return f"line {self.line}"

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
        for key in ("sheet", "reference", "file"):
            if getattr(self, key):
                out["sheet_file" if key == "file" else key] = getattr(self, key)
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
    excluded: dict[str, int] = field(default_factory=dict)  # schematics: DNP, power symbols, extra units

    @property
    def verdicts(self) -> list[str]:
        return [ln.result.verdict for ln in self.lines]

    def counts(self) -> dict[str, int]:
        v = self.verdicts
        return {"pass": v.count("pass"), "fail": v.count("fail"), "unknown": v.count("unknown")}

    def describe(self) -> str:
        """Where the codes came from, and what a schematic left out."""
        if self.header_line:
            return f"order codes from column {self.column!r}, header on line {self.header_line}"
        out = f"order codes from symbol fields {self.column!r}"
        if self.excluded:
            out += "; not counted: " + ", ".join(f"{n} {what}" for what, n in self.excluded.items())
        return out

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
            **({"excluded": self.excluded} if self.excluded else {}),
            "results": [ln.to_json(memo) for ln in self.lines],
        }


def _where(sheet, row: list[str]) -> tuple[str, str, str]:
    """(sheet path, reference, sheet file) of a schematic's row; empty for a BOM file."""
    return tuple(row[c] if c is not None and c < len(row) else "" for c in (sheet.sheet_col, sheet.ref_col, sheet.file_col))


class _Progress:
    """Calls ``report(done, total)`` every :data:`EVERY` rows: rows of a
    schematic, or for a CSV the characters read against the file's size
    (total None when neither is known: an XLSX)."""

    EVERY = 256

    def __init__(self, sheet, report):
        self.report = report
        self.by_rows = sheet.total is not None
        self.total = sheet.total if self.by_rows else sheet.path.stat().st_size if sheet.kind == "csv" else None
        self.done = 0
        self.rows = 0

    def row(self, row: list[str]) -> None:
        self.done += 1 if self.by_rows or self.total is None else sum(len(c) + 1 for c in row)
        self.rows += 1
        if self.rows % self.EVERY == 0:
            self.report(min(self.done, self.total) if self.total else self.done, self.total)

    def end(self) -> None:
        self.report(self.total or self.done, self.total or self.done)


def validate(app, board, path: Path, column: str | None = None, csv_out: Path | None = None,
             delimiter: str | None = None, progress: Callable[[int, int | None], None] | None = None) -> Report:
    """Read the BOM at ``path`` and judge its flash lines on ``board``.
    Writes the annotated BOM to ``csv_out`` as it goes, if given; calls
    ``progress(done, total)`` now and then, if given."""
    sheet = open_bom(path, column, delimiter)
    tick = _Progress(sheet, progress) if progress else None
    flt = FlashFilter(tuple(n for p in app.parts.parts for n in (p.name, *p.aliases)))
    alts = Alternates(app, board)
    cache: dict[str, tuple[Any, list[Alternate], str]] = {}
    report = Report(Path(path), board, sheet.column_name, sheet.header_line, [], excluded=dict(sheet.excluded))
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
            if tick:
                tick.row(row)
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
            if len(cell) > MAX_CELL:
                raise InputError(f"{path}:{ln}: order-code cell of {len(cell)} characters (a cell lists at most "
                                 f"a few codes: {MAX_CELL} characters)")
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
                if len(key) > MAX_QUERY:
                    raise InputError(f"{path}:{ln}: {printable(code[:24])!r}... ({len(key)} characters) is too long "
                                     f"for an order code (at most {MAX_QUERY})")
                if key not in cache:
                    res = app.check(code, board)
                    found, basis = alts.for_result(res) if res.verdict != "pass" else ([], "")
                    cache[key] = (res, found, basis)
                res, found, basis = cache[key]
                if res.query != code:  # same code written differently: keep what this line says
                    import copy

                    res = copy.copy(res)
                    res.query = code
                report.lines.append(Line(ln, code, res, found, basis, cell, *_where(sheet, row)))
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
        if tick:
            tick.end()
    finally:
        sheet.close()
        if out:
            out.close()
    report.distinct = len(cache)
    return report
