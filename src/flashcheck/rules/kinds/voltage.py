"""``rule: voltage``: the part runs at the board's supply (with tolerance)."""

from __future__ import annotations

from flashcheck.rules.common import disputed, missing, sources
from flashcheck.rules.kinds import RuleKind
from flashcheck.rules.verdict import Check


def judge(rule, part, layouts, board):
    supply = float(rule.params["supply"])
    tol = float(rule.params.get("tolerance", 0.0))
    lo, hi = supply * (1 - tol), supply * (1 + tol)
    want = f"{supply:g} V" + (f" +-{tol * 100:g}%" if tol else "")
    bad = disputed(rule, part, "voltage", "voltage")
    if bad:
        return [bad]
    if part.voltage is None:
        return [missing(rule, part, "voltage", "supply voltage range")]
    vmin, vmax = part.voltage
    ok = vmin <= lo and hi <= vmax
    detail = f"supply {want}; {part.name} runs at {vmin:g}-{vmax:g} V"
    if not ok:
        detail += " (a 1.8 V part on a 3.3 V board)" if vmax < 2.5 <= lo else " (outside the part's range)"
    return [Check("voltage", ok, detail, sources(rule, part), headline="" if ok else f"runs at {vmin:g}-{vmax:g} V, board supplies {want}")]


def describe(p) -> str:
    return f"supply {p['supply']:g} V"


KIND = RuleKind("voltage", judge, describe, what="the flash supply voltage")
