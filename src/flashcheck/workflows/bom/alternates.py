"""Alternates for a line that does not pass: same capacity, voltage class and package."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from flashcheck.data.database import normalise as normalise_code


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


