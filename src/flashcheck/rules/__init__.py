"""Judging a part against a board: each rule gives ok / not ok / unknown
with the evidence behind it, and the verdict follows from the rules.

- Any rule not ok -> ``fail``.
- Else any rule unknown (missing data, sources that disagree, a result that
  depends on which of several candidate parts or configurations is fitted)
  -> ``unknown``.
- Else ``pass``.  Missing or disagreeing data never passes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from flashcheck.data.boards import Board, Rule
from flashcheck.data.database import Match
from flashcheck.rules.erasemap import coverage, fmt_range, gaps
from flashcheck.data.parts import Layout, Part
from flashcheck.units import format_size

PASS, FAIL, UNKNOWN = "pass", "fail", "unknown"


@dataclass
class Check:
    rule: str
    ok: bool | None
    detail: str
    sources: list[str] = field(default_factory=list)
    evidence: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"rule": self.rule, "ok": self.ok, "detail": self.detail, "sources": self.sources, "evidence": self.evidence}


@dataclass
class Result:
    query: str
    verdict: str
    part: Part | None
    checks: list[Check]
    candidates: list[Part] = field(default_factory=list)
    match: Match | None = None
    curated: bool = True

    @property
    def reason(self) -> str:
        return reason_of(self.checks, "all rules met")

    def who(self, sep: str = "/") -> str:
        """The part as people name it: manufacturer and family, or the
        candidates joined by ``sep``, or "not identified"."""
        if self.part:
            return f"{self.part.manufacturer} {self.part.name}"
        return sep.join(p.name for p in self.candidates) or "not identified"

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "query": self.query,
            "verdict": self.verdict,
            "part": self.part.summary_json() if self.part else None,
            "checks": [c.to_json() for c in self.checks],
            "curated": self.curated,
        }
        if self.match is not None:
            out["matched_by"] = self.match.how
            if self.match.fields:
                out["order_code_fields"] = self.match.fields
        if len(self.candidates) > 1:
            out["candidates"] = [p.summary_json() for p in self.candidates]
        return out


def reason_of(checks: list[Check], all_ok: str) -> str:
    """The one-line reason: the first failing check, else the first unknown,
    else ``all_ok`` and the checks' names."""
    for want in (False, None):
        for c in checks:
            if c.ok is want:
                return f"{c.rule}: {c.detail}"
    return f"{all_ok}: " + ", ".join(c.rule for c in checks)


def verdict_of(checks: list[Check]) -> str:
    if any(c.ok is False for c in checks):
        return FAIL
    if any(c.ok is None for c in checks):
        return UNKNOWN
    return PASS


def exit_code(verdicts: list[str]) -> int:
    from flashcheck.errors import EXIT_FAIL, EXIT_PASS, EXIT_UNKNOWN

    if FAIL in verdicts:
        return EXIT_FAIL
    if UNKNOWN in verdicts:
        return EXIT_UNKNOWN
    return EXIT_PASS


# --------------------------------------------------------------------------


def _cite(part: Part) -> str:
    kind = "" if part.curated else "uncurated: "
    where = f" ({part.source.where})" if part.source.where else ""
    return f"{kind}{part.name}: {part.source}{where}"


def _board_cite(rule: Rule) -> str:
    return f"board: {rule.source}"


def _missing(rule: Rule, part: Part, name: str, what: str) -> Check:
    return Check(name, None, f"{part.name}: {what} not in the database", [_board_cite(rule), _cite(part)])


def _disagree(part: Part, *fields: str) -> str | None:
    for f in fields:
        if f in part.disagreements:
            return f"sources disagree on {f}: {part.disagreements[f]}"
    return None


def _per_layout(
    name: str, rule: Rule, part: Part, layouts: tuple[Layout, ...], judge: Callable[[Layout], tuple[bool | None, str, list[str]]]
) -> Check:
    """Run ``judge`` on each configuration; combine: all ok -> ok, all not
    ok -> not ok, anything else -> unknown (depends on configuration)."""
    results = [(lay, *judge(lay)) for lay in layouts]
    sources = [_board_cite(rule), _cite(part)]
    evidence = [e for _, _, _, ev in results for e in ev]
    oks = {ok for _, ok, _, _ in results}
    if len(results) == 1:
        _, ok, detail, _ = results[0]
        return Check(name, ok, detail, sources, evidence)
    if oks == {True}:
        return Check(name, True, results[0][2] + f" (in all {len(results)} configurations)", sources, evidence)
    if oks == {False}:
        details = "; ".join(f"[{lay.name}] {d}" for lay, _, d, _ in results)
        return Check(name, False, f"in every configuration: {details}", sources, evidence)
    good = [lay.name for lay, ok, _, _ in results if ok]
    bad = [(lay.name, d) for lay, ok, d, _ in results if not ok]
    detail = (
        f"depends on configuration, which the order code does not fix: ok in {', '.join(good) or 'none'}; "
        + "; ".join(f"[{n}] {d}" for n, d in bad)
    )
    return Check(name, None, detail, sources, evidence)


def check_erase(rule: Rule, part: Part, layouts: tuple[Layout, ...]) -> list[Check]:
    rng = rule.params.get("range")
    from flashcheck.data.parts import parse_address

    checks = []
    for size in rule.params["sizes"]:
        name = f"erase {format_size(size)}"
        bad = _disagree(part, "erasers", "sector_size")
        if bad:
            checks.append(Check(name, None, bad, [_board_cite(rule), _cite(part)]))
            continue

        def judge(lay: Layout, size: int = size) -> tuple[bool | None, str, list[str]]:
            cap = part.capacity_of(lay)
            start = parse_address(rng["from"], cap) if rng else 0
            end = min(parse_address(rng["to"], cap), cap) if rng else cap
            where = "across the whole array" if not rng else f"across {fmt_range(start, end)}"
            cov = coverage(lay, cap, size)
            missing = gaps(cov, start, end)
            ops = [op for op in lay.erase if size in op.sizes]
            evidence = []
            for op in lay.erase:
                regions = ", ".join(f"{format_size(r.size)} at {r}" for r in op.regions)
                evidence.append(f"{part.name}{'' if lay.name == 'default' else ' [' + lay.name + ']'} 0x{op.opcode:02X}: {regions}")
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
                return False, f"{format_size(size)} erase missing at {holes}: {have}", evidence
            others = ", ".join(sorted({format_size(s) for op in lay.erase for s in op.sizes}, key=lambda x: x))
            return False, f"no {format_size(size)} erase at all (erase sizes: {others})", evidence

        checks.append(_per_layout(name, rule, part, layouts, judge))
    return checks


def check_voltage(rule: Rule, part: Part) -> Check:
    supply = float(rule.params["supply"])
    tol = float(rule.params.get("tolerance", 0.0))
    lo, hi = supply * (1 - tol), supply * (1 + tol)
    want = f"{supply:g} V" + (f" +-{tol * 100:g}%" if tol else "")
    bad = _disagree(part, "voltage")
    if bad:
        return Check("voltage", None, bad, [_board_cite(rule), _cite(part)])
    if part.voltage is None:
        return _missing(rule, part, "voltage", "supply voltage range")
    vmin, vmax = part.voltage
    ok = vmin <= lo and hi <= vmax
    detail = f"supply {want}; {part.name} runs at {vmin:g}-{vmax:g} V"
    if not ok:
        detail += " (a 1.8 V part on a 3.3 V board)" if vmax < 2.5 <= lo else " (outside the part's range)"
    return Check("voltage", ok, detail, [_board_cite(rule), _cite(part)])


def check_capacity(rule: Rule, part: Part) -> Check:
    lo, hi = rule.params.get("min"), rule.params.get("max")
    bad = _disagree(part, "size")
    if bad:
        return Check("capacity", None, bad, [_board_cite(rule), _cite(part)])
    cap = part.capacity
    ok = (lo is None or cap >= lo) and (hi is None or cap <= hi)
    bounds = " to ".join(x for x in (lo and f"at least {format_size(lo)}", hi and f"at most {format_size(hi)}") if x)
    return Check("capacity", ok, f"{part.name} is {format_size(cap)}; board needs {bounds}", [_board_cite(rule), _cite(part)])


def check_address_mode(rule: Rule, part: Part) -> Check:
    want = rule.params["bytes"]
    if part.address_bytes is None:
        return _missing(rule, part, "address mode", "address modes")
    modes = "/".join(str(b) for b in part.address_bytes)
    src = [_board_cite(rule), _cite(part)]
    if want not in part.address_bytes:
        return Check("address mode", False, f"host uses {want}-byte addresses; {part.name} supports {modes}-byte", src)
    detail = f"host uses {want}-byte addresses; {part.name} supports {modes}-byte"
    if want == 3 and part.capacity > (1 << 24):
        detail += f"; the host reaches only the first 16 MiB of {format_size(part.capacity)}"
    return Check("address mode", True, detail, src)


def check_opcodes(rule: Rule, part: Part, layouts: tuple[Layout, ...]) -> list[Check]:
    checks = []
    commands = rule.params.get("commands") or []
    src = [_board_cite(rule), _cite(part)]
    if commands:
        known: set[int] = set(part.commands or ())
        if part.chip_erase:
            known.update(part.chip_erase.get("opcodes", ()))
        if part.program and "opcode" in part.program:
            known.add(part.program["opcode"])
        for lay in layouts:
            known.update(op.opcode for op in lay.erase)
        if part.commands is None:
            checks.append(Check("opcodes", None, f"{part.name}: command list not in the database", src))
        else:
            missing = [c for c in commands if c not in known]
            if missing:
                checks.append(
                    Check("opcodes", False, f"host sends {', '.join(f'0x{c:02X}' for c in missing)}, which {part.name} does not list", src)
                )
            else:
                checks.append(Check("opcodes", True, f"{part.name} lists every command the host sends ({len(commands)})", src))
    for opcode, size in sorted((rule.params.get("erase") or {}).items()):
        name = f"opcode 0x{opcode:02X}"

        def judge(lay: Layout, opcode: int = opcode, size: int = size) -> tuple[bool | None, str, list[str]]:
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
            return False, f"host expects 0x{opcode:02X} to erase {format_size(size)} everywhere; on {part.name} it erases {regions}", ev

        checks.append(_per_layout(name, rule, part, layouts, judge))
    return checks


def check_erase_time(rule: Rule, part: Part, layouts: tuple[Layout, ...], board: Board) -> Check:
    limit = float(rule.params["max_ms"])
    sizes = rule.params.get("sizes")
    if not sizes:  # the sizes the board's erase rules use
        sizes = sorted({s for r in board.rules if r.kind == "erase" for s in r.params["sizes"]})

    def judge(lay: Layout) -> tuple[bool | None, str, list[str]]:
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

    return _per_layout("erase time", rule, part, layouts, judge)


def check_power_up(rule: Rule, part: Part) -> Check:
    unlocks = rule.params["host_unlocks"]
    src = [_board_cite(rule), _cite(part)]
    state = (part.power_up or {}).get("block_protection")
    if unlocks:
        return Check("power-up protection", True, "host clears block protection at start", src)
    if state is None:
        return _missing(rule, part, "power-up protection", "power-up protection state")
    if state == "all":
        how = (part.power_up or {}).get("unlock")
        return Check(
            "power-up protection", False,
            f"{part.name} powers up with every block write-protected" + (f" (cleared by {how})" if how else "")
            + "; the host never clears it, so writes and erases fail",
            src,
        )
    detail = "no block protection at power-up" if state == "none" else "protection bits are non-volatile and ship cleared"
    return Check("power-up protection", True, f"{part.name}: {detail}", src)


def check_clock(rule: Rule, part: Part) -> Check:
    mhz = float(rule.params["mhz"])
    plain = rule.params.get("read_opcode") == 0x03
    limit = part.read_clock_mhz if plain else part.max_clock_mhz
    what = "read (0x03)" if plain else "fast read"
    if limit is None:
        return _missing(rule, part, "clock", f"maximum {what} clock")
    return Check(
        "clock", mhz <= limit, f"host clocks up to {mhz:g} MHz; {part.name} {what} up to {limit:g} MHz",
        [_board_cite(rule), _cite(part)],
    )


_COMMAND_SETS = {
    "spi-nor": "the JEDEC 25-series SPI NOR command set (0x06 write enable, 0x05 status, 0x02 page program)",
    "dataflash": "the DataFlash command set (SRAM buffers, 0xD7 status, no write enable)",
}


def check_command_set(board: Board, part: Part) -> Check:
    """Every board speaks one command protocol (spi-nor unless it says
    otherwise); erase sizes only mean something within it."""
    src = [f"board: {board.title}" + (" (command_set)" if board.command_set != "spi-nor" else " (default: a host speaks spi-nor unless its profile says otherwise)"), _cite(part)]
    ok = part.command_set == board.command_set
    detail = f"host speaks {_COMMAND_SETS[board.command_set]}"
    if not ok:
        detail += f"; {part.name} uses {_COMMAND_SETS[part.command_set]}"
    return Check("command set", ok, detail, src)


def judge_part(part: Part, board: Board, configurations: tuple[str, ...] = ()) -> list[Check]:
    layouts = part.layouts_for(configurations) or part.layouts
    checks: list[Check] = [check_command_set(board, part)]
    for rule in board.rules:
        if rule.kind == "erase":
            checks += check_erase(rule, part, layouts)
        elif rule.kind == "voltage":
            checks.append(check_voltage(rule, part))
        elif rule.kind == "capacity":
            checks.append(check_capacity(rule, part))
        elif rule.kind == "address_mode":
            checks.append(check_address_mode(rule, part))
        elif rule.kind == "opcodes":
            checks += check_opcodes(rule, part, layouts)
        elif rule.kind == "erase_time":
            checks.append(check_erase_time(rule, part, layouts, board))
        elif rule.kind == "power_up_protection":
            checks.append(check_power_up(rule, part))
        elif rule.kind == "clock":
            checks.append(check_clock(rule, part))
    if not part.curated:
        for c in checks:
            c.detail += " [uncurated]"
    return checks


def judge(match: Match, board: Board) -> Result:
    """The verdict for a resolved query on a board."""
    if not match.parts:
        hint = f"; did you mean {', '.join(match.suggestions)}?" if match.suggestions else ""
        detail = f"{match.query!r} is not a known order code, family or JEDEC ID{hint}"
        if match.note:
            detail += f" ({match.note})"
        return Result(match.query, UNKNOWN, None, [Check("identify", None, detail)], match=match)
    curated = all(p.curated for p in match.parts)
    per_part = [(p, judge_part(p, board, match.configurations.get(p.name, ()))) for p in match.parts]
    if len(per_part) == 1:
        part, checks = per_part[0]
        if match.note:
            checks.insert(0, Check("identify", None, match.note, [_cite(part)]))
        return Result(match.query, verdict_of(checks), part, checks, [part], match, curated)
    # Several candidates: one answer only where they all give the same one.
    names = ", ".join(p.name for p, _ in per_part)
    verdicts = {verdict_of(c) for _, c in per_part}
    ident = Check("identify", True, f"{match.how} {match.query} matches {len(per_part)} parts: {names}")
    if len(verdicts) == 1:
        v = verdicts.pop()
        first = per_part[0][1]
        checks = [ident] + [
            Check(c.rule, c.ok, c.detail + f" (same for {names})", c.sources, c.evidence) for c in first
        ]
        if match.note:
            checks.insert(1, Check("identify", None, match.note))
        return Result(match.query, verdict_of(checks) if match.note else v, None, checks, [p for p, _ in per_part], match, curated)
    ident.ok = None
    if match.note:
        ident.detail += f" ({match.note})"
    ident.detail += " with different verdicts: " + "; ".join(
        f"{p.name} {verdict_of(c)}" + (f" ({next(x.rule + ': ' + x.detail for x in c if x.ok is not True)})" if verdict_of(c) != PASS else "")
        for p, c in per_part
    )
    return Result(match.query, UNKNOWN, None, [ident], [p for p, _ in per_part], match, curated)
