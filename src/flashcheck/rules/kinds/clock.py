"""``rule: clock``: the part reads at the host's highest SPI clock."""

from __future__ import annotations

from flashcheck.rules.common import missing, sources
from flashcheck.rules.kinds import RuleKind
from flashcheck.rules.verdict import Check


def judge(rule, part, layouts, board):
    mhz = float(rule.params["mhz"])
    plain = rule.params.get("read_opcode") == 0x03
    limit = part.read_clock_mhz if plain else part.max_clock_mhz
    what = "read (0x03)" if plain else "fast read"
    if limit is None:
        return [missing(rule, part, "clock", f"maximum {what} clock")]
    return [Check("clock", mhz <= limit, f"host clocks up to {mhz:g} MHz; {part.name} {what} up to {limit:g} MHz",
                  sources(rule, part))]


def describe(p) -> str:
    return f"clock {p['mhz']:g} MHz"


KIND = RuleKind("clock", judge, describe, what="the host's highest SPI clock")
