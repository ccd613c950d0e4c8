"""``rule: erase_time``: the longest erase the host uses ends within the
time the host waits for it."""

from __future__ import annotations

from flashcheck.rules.common import per_layout
from flashcheck.rules.kinds import RuleKind


def parse(doc, raw, keys):
    from flashcheck.data.boards import parse_sizes

    return {"sizes": parse_sizes(doc, raw["sizes"], *keys, "sizes")} if "sizes" in raw else {}


def _sizes(rule, board) -> list[int]:
    sizes = rule.params.get("sizes")
    return sizes or sorted({s for r in board.rules if r.kind == "erase" for s in r.params["sizes"]})


def judge(rule, part, layouts, board):
    limit = float(rule.params["max_ms"])
    sizes = _sizes(rule, board)

    def judge_layout(lay):
        ops = [op for op in lay.erase if not sizes or op.sizes & set(sizes)]
        if not ops:
            return None, "no erase command of the sizes the host uses", []
        ev = [f"0x{op.opcode:02X}: max {op.max_ms:g} ms" for op in ops if op.max_ms]
        slow = [op for op in ops if op.max_ms and op.max_ms > limit]
        if slow:
            op = max(slow, key=lambda o: o.max_ms)
            return False, f"0x{op.opcode:02X} may take up to {op.max_ms:g} ms; the host waits {limit:g} ms", ev
        unknown = [op for op in ops if not op.max_ms]
        if unknown:
            return None, "maximum erase time not in the database for " + ", ".join(f"0x{o.opcode:02X}" for o in unknown), ev
        worst = max(ops, key=lambda o: o.max_ms)
        return True, f"longest erase 0x{worst.opcode:02X} max {worst.max_ms:g} ms, within the host's {limit:g} ms", ev

    return [per_layout("erase time", rule, part, layouts, judge_layout)]


def describe(p) -> str:
    return f"erase within {p['max_ms']:g} ms"


KIND = RuleKind("erase_time", judge, describe, parse, what="how long the host waits for an erase")
