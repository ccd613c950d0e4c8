"""``rule: power_up_protection``: a host that never clears block protection
needs a part that does not power up write-protected."""

from __future__ import annotations

from flashcheck.rules.common import missing, sources
from flashcheck.rules.kinds import RuleKind
from flashcheck.rules.verdict import Check

NAME = "power-up protection"


def judge(rule, part, layouts, board):
    src = sources(rule, part)
    if rule.params["host_unlocks"]:
        return [Check(NAME, True, "host clears block protection at start", src)]
    state = (part.power_up or {}).get("block_protection")
    if state is None:
        return [missing(rule, part, NAME, "power-up protection state")]
    if state == "all":
        how = (part.power_up or {}).get("unlock")
        return [Check(NAME, False, f"{part.name} powers up with every block write-protected"
                      + (f" (cleared by {how})" if how else "") + "; the host never clears it, so writes and erases fail", src,
                      headline="powers up write-protected; the host never unlocks it")]
    detail = "no block protection at power-up" if state == "none" else "protection bits are non-volatile and ship cleared"
    return [Check(NAME, True, f"{part.name}: {detail}", src)]


def describe(p) -> str:
    return "host clears power-up protection" if p["host_unlocks"] else "no power-up protection (host never unlocks)"


KIND = RuleKind("power_up_protection", judge, describe, what="whether the host clears block protection at start")
