"""Probe: read what is really fitted, identify it, cross-check what the chip
says about itself against the database, and judge it against a board.

Steps, each usable on its own by other workflows (erase test, station):

- :func:`read_facts`: JEDEC ID with extended bytes, SFDP, status and
  protection, unique ID.
- :func:`identify`: candidate parts (curated database by ID, narrowed by
  extended bytes and the SFDP density; then spiflash; then the chip's own
  SFDP as a last resort).
- :func:`current_layout`: which configuration the chip is in now (its SFDP
  sector map, or a vendor register quirk, else the factory default).
- :func:`cross_check`: facts the chip states that disagree with the database
  fail (wrong or counterfeit part).
- :func:`probe`: all of it, plus the board's rules, judged with the chip's
  own figures where the database has none.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from flashcheck import record as records
from typing import Any

from flashcheck.app import App
from flashcheck.data.boards import Board
from flashcheck.chip.spinor import SpiNor
from flashcheck.data.database import Match
from flashcheck.rules.erasemap import coverage, segments
from flashcheck.errors import FlashcheckError, InputError
from flashcheck.data.parts import EraseOp, Layout, Part, Region, Source
from flashcheck.rules import Check, Result, judge_part, merge_candidates, verdict_of
from flashcheck.units import format_size

@dataclass
class ChipFacts:
    raw_id: bytes
    status: int
    sfdp_raw: bytes | None = None
    sfdp: Any = None  # chip.sfdp.SfdpInfo
    sfdp_error: str | None = None
    unique_id: bytes | None = None
    protection: dict[str, Any] = field(default_factory=dict)
    #: what was sent to wake the chip before its ID was read
    woken: list[str] = field(default_factory=list)
    #: protected byte ranges (start, end), end exclusive
    protected_ranges: list[tuple[int, int]] = field(default_factory=list)

    @property
    def id_hex(self) -> str:
        return self.raw_id[:3].hex()

    @property
    def ext_hex(self) -> str:
        return self.raw_id[3:].hex()

    def to_json(self) -> dict[str, Any]:
        return {
            "jedec_id": self.id_hex,
            "jedec_ext": self.ext_hex,
            "sfdp": self.sfdp.to_json() if self.sfdp else None,
            "sfdp_error": self.sfdp_error,
            "protection": self.protection,
            "unique_id": self.unique_id.hex() if self.unique_id else None,
            "woken": self.woken,
        }


#: SFDP bytes read with the first batch: enough for the header, the
#: parameter headers and the BFPT of most chips, so a probe usually needs one
#: USB round trip (the rest, if any, is read after).
_SFDP_FIRST_READ = 256


def read_facts(nor: SpiNor) -> ChipFacts:
    """Everything the probe reads from the chip, changing nothing: ID,
    status, SFDP and unique ID in one batch (one USB round trip on an
    FT232H), then whatever that batch shows is still needed."""
    from flashcheck.chip import sfdp as sfdp_mod
    from flashcheck.chip.spinor import RDID, RDSFDP, RDSR, RUID, checked_id, unique_id_or_none

    woken = wake(nor)  # HardwareError when nothing answers
    ident, status, sfdp_start, uid = nor.batch([
        (bytes([RDID]), 6),
        (bytes([RDSR]), 1),
        (bytes([RDSFDP, 0, 0, 0, 0]), _SFDP_FIRST_READ),
        (bytes([RUID]) + bytes(4), 8),
    ])
    nor.raw_id = checked_id(ident)  # as read after the wake-up (and reset)
    facts = ChipFacts(raw_id=nor.raw_id, status=status[0], woken=woken)
    facts.sfdp_raw = nor.complete_sfdp_image(sfdp_start)
    if facts.sfdp_raw:
        try:
            facts.sfdp = sfdp_mod.parse(facts.sfdp_raw)
            nor.size = facts.sfdp.size
        except sfdp_mod.SfdpError as exc:  # the chip's own table is broken: say so
            facts.sfdp_error = str(exc)
    state = nor.read_protection()
    facts.protection = {"status": f"0x{facts.status:02X}", **state.to_json()}
    facts.protected_ranges = list(state.ranges)
    facts.unique_id = unique_id_or_none(uid)
    return facts


def wake(nor: SpiNor) -> list[str]:
    """Wake the chip before identifying it: release from deep power-down
    (0xAB), read the ID, and where the chip's vendor has the 0x66/0x99
    software reset, reset it (a host may have left it in 4-byte mode or with
    an operation suspended) and read the ID again.  Returns what was sent."""
    sent = [nor.wake()]
    nor.identify()
    if nor.vendor.soft_reset:
        sent.append(nor.soft_reset())
    return sent


# -- identification -----------------------------------------------------------


def identify(facts: ChipFacts, app: App) -> Match:
    query = facts.id_hex + facts.ext_hex[:6]
    match = app.parts.resolve(query)
    if len(match.parts) > 1 and facts.sfdp:
        same = [p for p in match.parts if p.capacity == facts.sfdp.size]
        if same:
            match.parts = same
    if not match.parts and app.fallback:
        from flashcheck.data import fallback as uncurated

        match = uncurated.resolve(Match(facts.id_hex, [], "none"))
    if not match.parts and facts.sfdp:
        match = Match(facts.id_hex, [part_from_sfdp(facts)], "the chip's SFDP (no database entry)")
    match.how = f"{match.how} read from the chip"
    return match


def _sfdp_source(facts: ChipFacts) -> Source:
    return Source("the chip's SFDP tables", f"JESD216 {facts.sfdp.revision}", where=f"JEDEC ID {facts.id_hex}")


def _layout_from_sector_map(config, capacity: int, name: str) -> Layout:
    ops: dict[tuple[int, int], list[Region]] = {}
    for r in config.regions:
        for et in r.erase_types:
            ops.setdefault((et.opcode, et.size), []).append(Region(r.start, r.start + r.size, et.size))
    erase = []
    for opcode in sorted({o for o, _ in ops}):
        regions = sorted((reg for (o, _), regs in ops.items() if o == opcode for reg in regs), key=lambda r: r.start)
        erase.append(EraseOp(opcode, tuple(regions)))
    return Layout(name, tuple(erase), f"sector map configuration {config.id}", True)


def part_from_sfdp(facts: ChipFacts) -> Part:
    """A part described only by what the chip says: no voltage, no clock."""
    info = facts.sfdp
    if info.sector_map:
        layouts = tuple(_layout_from_sector_map(c, info.size, f"map-{c.id}") for c in info.sector_map)
    else:
        ops = []
        for et in info.erase_type_list:
            if et.size == 4096 and info.uniform_4k is False:
                continue  # 4 KiB exists but not everywhere, and the BFPT does not say where
            ops.append(EraseOp(et.opcode, (Region(0, info.size, et.size),), typ_ms=et.typ_ms, max_ms=et.max_ms))
        layouts = (Layout("default", tuple(ops)),)
    ab = info.address_bytes
    return Part(
        name=f"chip-{facts.id_hex}",
        manufacturer=f"JEDEC 0x{facts.raw_id[0]:02X}",
        jedec_ids=(facts.id_hex,),
        capacity=info.size,
        layouts=layouts,
        source=_sfdp_source(facts),
        curated=False,
        page_size=info.page_size,
        address_bytes=(3, 4) if ab == "3or4" else ((4,) if ab == "4" else ((3,) if ab == "3" else None)),
        sfdp=True,
    )


def current_layout(nor: SpiNor, facts: ChipFacts, part: Part) -> tuple[Layout, str]:
    """The configuration the chip is in now, and how that was found."""
    if len(part.layouts) == 1:
        return part.layouts[0], "the part has one configuration"
    if facts.sfdp and facts.sfdp.sector_map:
        config = nor.sector_map_in_use(facts.sfdp)
        chip_layout = _layout_from_sector_map(config, facts.sfdp.size, f"map-{config.id}")
        for lay in part.layouts:
            if segments(lay, part.capacity_of(lay)) == segments(chip_layout, facts.sfdp.size):
                return lay, f"the chip's SFDP sector map (configuration {config.id})"
        return chip_layout, f"the chip's SFDP sector map (configuration {config.id}; no database configuration matches it)"
    geo = nor.vendor.geometry(nor) if nor.vendor.has_geometry(facts.raw_id) else None
    if geo is not None:
        for lay in part.layouts:
            cap = part.capacity_of(lay)
            four = coverage(lay, cap, 4096)
            where = None if not four else ("bottom" if four[0][0] == 0 else ("top" if four[-1][1] == cap else "middle"))
            big = max((s for op in lay.erase for s in op.sizes), default=0)
            if where == geo.parameter_sectors and big == geo.block_size:
                return lay, f"the chip's registers: {geo.how}"
    default = next((lay for lay in part.layouts if lay.default), part.layouts[0])
    return default, "assumed: the factory default (the chip does not say)"


def fill_from_sfdp(part: Part, layout: Layout, facts: ChipFacts) -> tuple[Part, Layout, list[str]]:
    """Erase times and page size the database lacks, from the chip's SFDP."""
    if not facts.sfdp:
        return part, layout, []
    filled: list[str] = []
    ops = []
    by_key = {(e.opcode, e.size): (e.typ_ms, e.max_ms) for e in facts.sfdp.erase_type_list}
    for op in layout.erase:
        typ, mx = op.typ_ms, op.max_ms
        for size in op.sizes:
            t, m = by_key.get((op.opcode, size), (None, None))
            if typ is None and t is not None:
                typ = t
            if mx is None and m is not None:
                mx = m
        if (typ, mx) != (op.typ_ms, op.max_ms):
            filled.append(f"0x{op.opcode:02X} erase time typ {typ} ms, max {mx} ms from the chip's SFDP")
        ops.append(records.replace(op, typ_ms=typ, max_ms=mx))
    new_layout = records.replace(layout, erase=tuple(ops))
    page_size = part.page_size or facts.sfdp.page_size
    if page_size != part.page_size:
        filled.append(f"page size {page_size} from the chip's SFDP")
    layouts = tuple(new_layout if lay is layout else lay for lay in part.layouts)
    if layout not in part.layouts:
        layouts = (new_layout,)
    new_part = records.replace(part, layouts=layouts, page_size=page_size, notes=part.notes + tuple(filled))
    return new_part, new_layout, filled


# -- cross-checks -------------------------------------------------------------


def cross_check(facts: ChipFacts, part: Part, layout: Layout, expect: Match | None = None) -> list[Check]:
    checks: list[Check] = []
    chip = f"chip {facts.id_hex} {facts.ext_hex}".strip()
    cite = [f"{part.name}: {part.source}" + (f" ({part.source.where})" if part.source.where else ""), "the chip (0x9F, 0x5A)"]
    if expect is not None:
        if not expect.parts:
            checks.append(Check("expected part", None, f"--expect {expect.query!r} is not a known part", []))
        else:
            ok_parts = [
                p for p in expect.parts
                if facts.id_hex in p.jedec_ids and (not p.ext_id or facts.ext_hex.startswith(p.ext_id))
            ]
            names = ", ".join(p.name for p in expect.parts)
            if ok_parts:
                checks.append(Check("expected part", True, f"{chip} answers as {names} should", cite))
            else:
                ids = ", ".join(sorted({i for p in expect.parts for i in p.jedec_ids}))
                checks.append(Check(
                    "expected part", False,
                    f"expected {names} (JEDEC ID {ids}), but the chip answers {facts.id_hex}"
                    + (f" ({part.name})" if part.curated else "") + ": wrong or counterfeit part fitted", cite))
    if facts.sfdp_error:
        checks.append(Check("chip SFDP", False, f"the chip's SFDP tables are malformed: {facts.sfdp_error}", cite))
    info = facts.sfdp
    if info is None:
        if part.sfdp:
            checks.append(Check("chip SFDP", False, f"{part.name} has SFDP tables per its datasheet; this chip answers none (wrong or counterfeit part?)", cite))
        else:
            checks.append(Check("chip SFDP", True, "no SFDP tables to cross-check; identified by JEDEC ID", cite))
        return checks
    if not part.curated and part.source.title == "the chip's SFDP tables":
        return checks
    cap = part.capacity_of(layout)
    if info.size != cap:
        checks.append(Check("density", False, f"the chip's SFDP says {format_size(info.size)}; {part.name} is {format_size(cap)}: wrong or counterfeit part, or a mislabelled die", cite))
    else:
        checks.append(Check("density", True, f"{format_size(cap)}, as the chip's SFDP says", cite))
    bad = []
    for et in info.erase_type_list:
        size, opcode = et.size, et.opcode
        ops = [op for op in layout.erase if op.opcode == opcode]
        if not ops:
            bad.append(f"the chip says 0x{opcode:02X} erases {format_size(size)}; {part.name} [{layout.name}] has no 0x{opcode:02X}")
        elif size not in ops[0].sizes:
            have = "/".join(format_size(s) for s in sorted(ops[0].sizes))
            bad.append(f"the chip says 0x{opcode:02X} erases {format_size(size)}; {part.name} says {have}")
    if bad:
        checks.append(Check("erase types", False, "; ".join(bad), cite))
    else:
        types = ", ".join(f"0x{e.opcode:02X}={format_size(e.size)}" for e in info.erase_type_list)
        checks.append(Check("erase types", True, f"the chip's erase types ({types}) agree with the database", cite))
    if info.uniform_4k is not None and not info.sector_map:
        db_uniform = coverage(layout, cap, 4096) == [(0, cap)]
        if info.uniform_4k != db_uniform:
            say = "works throughout the array" if info.uniform_4k else "does not work throughout the array"
            checks.append(Check("4 KiB erase everywhere", False,
                                f"the chip's SFDP says 4 KiB erase {say}; {part.name} [{layout.name}] says the opposite", cite))
    return checks


# -- the whole probe ---------------------------------------------------------------


@dataclass
class ProbeResult:
    url: str
    facts: ChipFacts
    result: Result
    layout: Layout | None
    layout_how: str | None
    filled: list[str]

    @property
    def verdict(self) -> str:
        return self.result.verdict

    def to_json(self) -> dict[str, Any]:
        out = self.result.to_json()
        out.update(self.facts.to_json())
        out["url"] = self.url
        out["configuration"] = {"name": self.layout.name, "how": self.layout_how} if self.layout else None
        out["from_chip"] = self.filled
        return out


def probe_chip(nor: SpiNor, app: App, board: Board | None, expect: str | None = None, url: str = "") -> ProbeResult:
    facts = read_facts(nor)
    woke = Check("wake", True, f"sent {' then '.join(facts.woken)} before reading the ID; "
                 f"the chip then answered 0x9F with {facts.id_hex} {facts.ext_hex}".rstrip(), ["the chip (0x9F)"])
    match = identify(facts, app)
    expect_match = app.resolve(expect) if expect else None
    if expect_match and expect_match.parts and len(match.parts) > 1:
        # Several parts answer this ID; the user says which one is fitted.
        named = {p.name for p in expect_match.parts}
        narrowed = [p for p in match.parts if p.name in named]
        if narrowed:
            match.parts = narrowed
            match.how += f", narrowed by --expect {expect}"
    if not match.parts:
        check = Check("identify", None, f"JEDEC ID {facts.id_hex} is in no table and the chip has no SFDP", [])
        checks = [woke, check] + (cross_check_expect_only(facts, expect_match) if expect_match else [])
        return ProbeResult(url, facts, Result(url, verdict_of(checks), None, checks, match=match), None, None, [])
    per_part = []
    for part in match.parts:
        layout, how = current_layout(nor, facts, part)
        part2, layout2, filled = fill_from_sfdp(part, layout, facts)
        checks = [woke] + cross_check(facts, part2, layout2, expect_match)
        if board is not None:
            checks += judge_part(part2, board, (layout2.name,))
            checks += protection_now(board, facts)
        per_part.append((part2, layout2, how, filled, checks))
    if len(per_part) == 1:
        part, layout, how, filled, checks = per_part[0]
        res = Result(url, verdict_of(checks), part, checks, [part], match, part.curated)
        return ProbeResult(url, facts, res, layout, how, filled)
    # several database entries answer this ID: one answer only if all agree
    checks = merge_candidates(f"JEDEC ID {facts.id_hex} {facts.ext_hex}".rstrip() + " matches",
                              [(p, c) for p, _, _, _, c in per_part], hint="; say which is fitted with --expect")
    agree = checks[0].ok is True
    part, layout, how, filled, _ = per_part[0]
    res = Result(url, verdict_of(checks), None, checks, [p for p, *_ in per_part], match, all(p.curated for p, *_ in per_part))
    return ProbeResult(url, facts, res, layout if agree else None, how, filled)


def cross_check_expect_only(facts: ChipFacts, expect: Match) -> list[Check]:
    if not expect.parts:
        return []
    ok = any(facts.id_hex in p.jedec_ids for p in expect.parts)
    return [Check("expected part", ok, f"expected {', '.join(p.name for p in expect.parts)}; chip answers {facts.id_hex}")]


def protection_now(board: Board, facts: ChipFacts) -> list[Check]:
    """The protection the chip has as fitted, against a host that never unlocks."""
    rules = [r for r in board.rules if r.kind == "power_up_protection" and not r.params["host_unlocks"]]
    if not rules or not facts.protection:
        return []
    p = facts.protection
    if p.get("protected"):
        where = ", ".join(f"0x{a:06X}-0x{b - 1:06X}" for a, b in facts.protected_ranges) or "range not decoded"
        regs = ", ".join(f"{k} {v}" for k, v in p.get("registers", {}).items()) or f"status {p['status']}"
        return [Check("protection as fitted", False,
                      f"the chip is write-protected now: {where} ({p['method']}: {regs}"
                      + (f", BPR {p['bpr']}" if p.get("bpr") else "") + "); the host never clears it",
                      [f"board: {rules[0].source}", "the chip (0x05" + (", 0x72)" if p.get("bpr") else ")")])]
    return [Check("protection as fitted", True, f"no blocks write-protected now ({p['method']})",
                  [f"board: {rules[0].source}", "the chip (0x05)"])]


def probe(url: str, app: App, board: Board | None = None, expect: str | None = None, freq_hz: float | None = None) -> ProbeResult:
    """Open the transport the URL names, probe, close."""
    from flashcheck.transport import close_quietly, open_for_board

    if expect is not None and not expect.strip():
        raise InputError("--expect needs an order code, family or JEDEC ID")
    transport = open_for_board(url, board, freq_hz=freq_hz)
    try:
        return probe_chip(SpiNor(transport), app, board, expect, url)
    finally:
        close_quietly(transport)
