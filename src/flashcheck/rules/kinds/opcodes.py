"""``rule: opcodes``: the part knows every command the host sends, and each
erase opcode erases the size the host expects of it, everywhere."""

from __future__ import annotations

from flashcheck.rules.common import disputed, missing, per_layout, sources
from flashcheck.rules.kinds import RuleKind
from flashcheck.rules.verdict import Check
from flashcheck.units import format_size, parse_size


def parse(doc, raw, keys):
    erase = {}
    for op, size in (raw.get("erase") or {}).items():
        try:
            code = int(str(op), 16) if str(op).lower().startswith("0x") else int(op)
            if not 0 <= code <= 255:
                raise ValueError
        except ValueError:
            raise doc.error(f"erase opcode {op!r} is not a byte such as '0x20'", *keys, "erase", op) from None
        try:
            erase[code] = parse_size(size)
        except ValueError as exc:
            raise doc.error(str(exc), *keys, "erase", op) from None
    return {"erase": erase, "commands": list(raw.get("commands") or [])}


def _known(part, layouts) -> set[int]:
    known: set[int] = set(part.commands or ())
    if part.chip_erase:
        known.update(part.chip_erase.get("opcodes", ()))
    if part.program and "opcode" in part.program:
        known.add(part.program["opcode"])
    for lay in layouts:
        known.update(op.opcode for op in lay.erase)
    return known


def _commands(rule, part, layouts) -> list[Check]:
    commands = rule.params.get("commands") or []
    if not commands:
        return []
    bad = disputed(rule, part, "opcodes", "erasers")
    if bad:
        return [bad]
    if part.commands is None:
        return [missing(rule, part, "opcodes", "command list")]
    unlisted = [c for c in commands if c not in _known(part, layouts)]
    if unlisted:
        return [Check("opcodes", False, f"host sends {', '.join(f'0x{c:02X}' for c in unlisted)}, which {part.name} does not list",
                      sources(rule, part))]
    return [Check("opcodes", True, f"{part.name} lists every command the host sends ({len(commands)})", sources(rule, part))]


def _erase_judge(part, opcode: int, size: int):
    def judge(lay):
        ops = [op for op in lay.erase if op.opcode == opcode]
        if not ops:
            return False, f"host sends 0x{opcode:02X} to erase {format_size(size)}; {part.name} has no such erase command", []
        op = ops[0]
        regions = ", ".join(f"{format_size(r.size)} at {r}" for r in op.regions)
        ev = [f"{part.name} 0x{opcode:02X}: {regions}"]
        uniform = op.uniform_size(part.capacity_of(lay))
        if uniform == size:
            return True, f"0x{opcode:02X} erases {format_size(size)} everywhere, as the host expects", ev
        if uniform is not None:
            return False, f"host expects 0x{opcode:02X} to erase {format_size(size)}; on {part.name} it erases {format_size(uniform)}", ev
        return (False, f"host expects 0x{opcode:02X} to erase {format_size(size)} everywhere; on {part.name} it erases {regions}",
                ev, f"0x{opcode:02X} is not a {format_size(size)} erase everywhere")

    return judge


def judge(rule, part, layouts, board):
    checks = _commands(rule, part, layouts)
    for opcode, size in sorted((rule.params.get("erase") or {}).items()):
        name = f"opcode 0x{opcode:02X}"
        bad = disputed(rule, part, name, "erasers", "sector_size")
        checks.append(bad or per_layout(name, rule, part, layouts, _erase_judge(part, opcode, size)))
    return checks


def describe(p) -> str:
    cmds = " ".join(f"{c:02X}" for c in p.get("commands", []))
    erase = ", ".join(f"0x{o:02X}={format_size(s)}" for o, s in p.get("erase", {}).items())
    return f"opcodes {cmds}" + (f"; erase {erase}" if erase else "")


KIND = RuleKind("opcodes", judge, describe, parse, what="the commands the host sends")
