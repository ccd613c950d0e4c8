"""``rule: address_mode``: the part speaks the host's 3- or 4-byte addresses."""

from __future__ import annotations

from flashcheck.rules.common import missing, sources
from flashcheck.rules.kinds import RuleKind
from flashcheck.rules.verdict import Check
from flashcheck.units import format_size


def judge(rule, part, layouts, board):
    want = rule.params["bytes"]
    if part.address_bytes is None:
        return [missing(rule, part, "address mode", "address modes")]
    modes = "/".join(str(b) for b in part.address_bytes)
    detail = f"host uses {want}-byte addresses; {part.name} supports {modes}-byte"
    if want not in part.address_bytes:
        return [Check("address mode", False, detail, sources(rule, part))]
    if want == 3 and part.capacity > (1 << 24):
        detail += f"; the host reaches only the first 16 MiB of {format_size(part.capacity)}"
    return [Check("address mode", True, detail, sources(rule, part))]


def describe(p) -> str:
    return f"{p['bytes']}-byte addressing"


KIND = RuleKind("address_mode", judge, describe, what="3- or 4-byte addressing")
