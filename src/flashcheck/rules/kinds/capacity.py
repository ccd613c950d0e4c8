"""``rule: capacity``: the part's size is within the board's bounds."""

from __future__ import annotations

from flashcheck.rules.common import disputed, sources
from flashcheck.rules.kinds import RuleKind
from flashcheck.rules.verdict import Check
from flashcheck.units import format_size, parse_size


def parse(doc, raw, keys):
    params = {}
    for bound in ("min", "max"):
        if bound in raw:
            try:
                params[bound] = parse_size(raw[bound])
            except ValueError as exc:
                raise doc.error(str(exc), *keys, bound) from None
    return params


def judge(rule, part, layouts, board):
    lo, hi = rule.params.get("min"), rule.params.get("max")
    bad = disputed(rule, part, "capacity", "size")
    if bad:
        return [bad]
    cap = part.capacity
    ok = (lo is None or cap >= lo) and (hi is None or cap <= hi)
    bounds = " to ".join(x for x in (lo and f"at least {format_size(lo)}", hi and f"at most {format_size(hi)}") if x)
    return [Check("capacity", ok, f"{part.name} is {format_size(cap)}; board needs {bounds}", sources(rule, part))]


def describe(p) -> str:
    return "capacity " + " to ".join(
        x for x in (p.get("min") and f">= {format_size(p['min'])}", p.get("max") and f"<= {format_size(p['max'])}") if x)


KIND = RuleKind("capacity", judge, describe, parse, what="the smallest and largest flash the host can use")
