"""``rule: erase``: erase sizes that must work across the array (or a range)."""

from __future__ import annotations


from flashcheck.data.parts import parse_address
from flashcheck.rules.common import disputed, per_layout
from flashcheck.rules.erasemap import coverage, fmt_range, gaps
from flashcheck.rules.kinds import RuleKind
from flashcheck.units import format_size

TYPE_CHECKING = False  # typing is not imported at run time: the offline check starts faster
if TYPE_CHECKING:
    from typing import Any


def parse(doc, raw: dict[str, Any], keys: tuple) -> dict[str, Any]:
    from flashcheck.data.boards import parse_sizes

    params = {"sizes": parse_sizes(doc, raw["sizes"], *keys, "sizes")}
    if "range" in raw:
        params["range"] = dict(raw["range"])
    return params


def _evidence(part, lay) -> list[str]:
    tag = "" if lay.name == "default" else f" [{lay.name}]"
    return [f"{part.name}{tag} 0x{op.opcode:02X}: " + ", ".join(f"{format_size(r.size)} at {r}" for r in op.regions)
            for op in lay.erase]


def _missing_words(size: int, missing: list[tuple[int, int]], cap: int) -> str:
    """"no 4 KiB erase above 0x010000": the gap in a few words."""
    from flashcheck.rules.erasemap import format_addr

    (start, end), more = missing[0], len(missing) - 1
    if more == 0 and end >= cap:
        where = f"above {format_addr(start)}"
    elif more == 0 and start == 0:
        where = f"below {format_addr(end)}"
    else:
        where = f"at {fmt_range(start, end)}" + (f" (+{more} more)" if more else "")
    return f"no {format_size(size)} erase {where}"


def _judge_size(part, rng, size: int):
    def judge(lay):
        cap = part.capacity_of(lay)
        start = parse_address(rng["from"], cap) if rng else 0
        end = min(parse_address(rng["to"], cap), cap) if rng else cap
        where = "across the whole array" if not rng else f"across {fmt_range(start, end)}"
        missing = gaps(coverage(lay, cap, size), start, end)
        ops = [op for op in lay.erase if size in op.sizes]
        evidence = _evidence(part, lay)
        if not missing:
            opnames = "/".join(f"0x{op.opcode:02X}" for op in ops)
            return True, f"{format_size(size)} erase ({opnames}) works {where}", evidence
        holes = ", ".join(fmt_range(s, e) for s, e in missing[:3]) + (" ..." if len(missing) > 3 else "")
        if ops:
            have = "; ".join(
                f"0x{op.opcode:02X} erases {format_size(size)} only at "
                + ", ".join(str(r) for r in op.regions if r.size == size)
                + (" and is ignored elsewhere" if op.outside == "ignored" else "")
                for op in ops
            )
            return False, f"{format_size(size)} erase missing at {holes}: {have}", evidence, _missing_words(size, missing, cap)
        others = ", ".join(sorted({format_size(s) for op in lay.erase for s in op.sizes}))
        return False, f"no {format_size(size)} erase at all (erase sizes: {others})", evidence, f"no {format_size(size)} erase at all"

    return judge


def judge(rule, part, layouts, board):
    checks = []
    for size in rule.params["sizes"]:
        name = f"erase {format_size(size)}"
        bad = disputed(rule, part, name, "erasers", "sector_size")
        checks.append(bad or per_layout(name, rule, part, layouts, _judge_size(part, rule.params.get("range"), size)))
    return checks


def describe(p: dict[str, Any]) -> str:
    where = f" in {p['range']['from']}..{p['range']['to']}" if "range" in p else " across the whole array"
    return "erase " + " and ".join(format_size(s) for s in p["sizes"]) + where


KIND = RuleKind("erase", judge, describe, parse, what="the erase sizes the host uses, and where")
