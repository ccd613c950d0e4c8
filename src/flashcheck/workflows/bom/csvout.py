"""The annotated BOM written back as CSV, formula-safe."""

from __future__ import annotations

import csv
import os
from pathlib import Path

from flashcheck.errors import InputError
from flashcheck.output.text import inert


# --------------------------------------------------------------------------
# Formula-safe CSV

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


