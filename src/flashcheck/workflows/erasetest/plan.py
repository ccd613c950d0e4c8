"""What the erase test tries: identify the chip, learn its geometry, and
choose the blocks (see the package docstring)."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

from flashcheck.chip.spinor import SpiNor
from flashcheck.chip.vendors import vendor_for
from flashcheck.errors import HardwareError, InputError
from flashcheck.units import format_addr, format_size

KiB = 1024
MiB = 1024 * KiB
#: The erase opcode the industry uses for a size when nothing says otherwise.
CONVENTIONAL = {4 * KiB: 0x20, 32 * KiB: 0x52, 64 * KiB: 0xD8}
#: 4-byte-address twins of erase opcodes: never tested with 3-byte addresses.
FOUR_BYTE_OPS = {0x21, 0x5C, 0xDC}
#: The largest erase any SPI NOR part does (M25P128, S25FL-S uniform
#: sectors): a block's window covers its aligned 256 KiB, so an erase that
#: is up to that large shows as changed neighbours at once.
WINDOW = 256 * KiB
#: Random blocks per region and erase size on top of its first and last.
SAMPLES = 4
#: The fraction of an array whose fault the printed miss chance is for.
BAD_FRACTION = 0.10
#: 3-byte addresses reach this far.
REACH_3B = 1 << 24


@dataclass(frozen=True)
class Limit:
    """A datasheet time: typical and maximum in ms, and where they come from."""

    typ_ms: float | None
    max_ms: float | None
    source: str

    def to_json(self) -> dict[str, Any]:
        return {"typ_ms": self.typ_ms, "max_ms": self.max_ms, "source": self.source}


@dataclass
class Target:
    address: int
    size: int
    opcode: int
    region: tuple[int, int]
    why: str
    expected: bool | None  # what the database/SFDP says: the size erases here
    limit: Limit | None
    window: tuple[int, int]
    note: str | None = None

    def label(self) -> str:
        op = "--" if self.opcode < 0 else f"0x{self.opcode:02X}"
        return f"{op} {format_size(self.size)} at {format_addr(self.address)}"


@dataclass
class Plan:
    facts: Any  # workflows.probe.ChipFacts
    identity: str  # how the chip was identified
    parts: list  # candidate Part entries
    layouts: list  # (Part, Layout, how)
    capacity: int
    page_size: int
    sizes: list[int]
    targets: list[Target]
    erasers: list[tuple[int, int]]  # (opcode, size) known for the chip
    program_limit: Limit | None
    notes: list[str] = field(default_factory=list)
    identity_checks: list = field(default_factory=list)  # probe's cross-checks (Check)
    reach: int = REACH_3B  # the test reads, backs up and verifies [0, reach)
    sampling: str = ""  # how many blocks, and the chance of missing a bad fraction
    geo: Any = None  # Geometry

    @property
    def jedec_hex(self) -> str:
        return self.facts.raw_id.hex()

    @property
    def uid_hex(self) -> str | None:
        return self.facts.unique_id.hex() if self.facts.unique_id else None

    @property
    def identity_failed(self) -> bool:
        return any(c.ok is False for c in self.identity_checks)


def align_down(a: int, s: int) -> int:
    return a - a % s


def cite(part) -> str:
    where = f" ({part.source.where})" if part.source.where else ""
    return f"{part.name}: {part.source}{where}"


def _sfdp_program_limit(info) -> Limit | None:
    """Page-program typical and maximum from BFPT DWORD 11 (JESD216A+)."""
    if info is None or info.page_program_us is None or len(info.bfpt_dwords) < 11:
        return None
    typ = info.page_program_us / 1000.0
    mult = 2 * ((info.bfpt_dwords[10] & 0x0F) + 1)
    return Limit(typ, typ * mult, f"the chip's SFDP (JESD216 {info.revision}, BFPT DWORD 11)")


def parse_sectors(text: str) -> list[tuple[int, int | None]]:
    """``ADDR[:SIZE],...`` of ``--sectors``."""
    from flashcheck.units import parse_size

    out: list[tuple[int, int | None]] = []
    for item in text.split(","):
        item = item.strip()
        if not item:
            continue
        addr_s, _, size_s = item.partition(":")
        try:
            addr = int(addr_s, 0) if addr_s.lower().startswith("0x") or addr_s.isdigit() else parse_size(addr_s)
            size = parse_size(size_s) if size_s else None
        except ValueError:
            raise InputError(f"--sectors {item!r}: expected ADDR or ADDR:SIZE (0x10000, 0x10000:4K)") from None
        if size is not None and (size <= 0 or size & (size - 1)):
            raise InputError(f"--sectors {item!r}: the size must be a power of two")
        out.append((addr, size))
    if not out:
        raise InputError("--sectors: no addresses given (use auto, all, or ADDR[:SIZE],...)")
    return out


# ---------------------------------------------------------------------------
# Geometry: what erases what, where


@dataclass
class Geometry:
    """The chip's erase commands by region, from the database layouts in
    use and the chip's own SFDP (sector map)."""

    layouts: list
    sm_regions: list[tuple[int, int, set[tuple[int, int]]]]
    known: set[tuple[int, int]]
    cuts: set[int]
    info: Any

    def says(self, size: int, addr: int) -> tuple[bool | None, int | None]:
        """(whether the data says ``size`` erases at ``addr``, by which opcode)."""
        votes: list[tuple[bool, int | None]] = []
        for _part, lay, _how in self.layouts:
            hit = None
            for op in _three_byte_ops(lay):
                if any(r.start <= addr < r.end and r.size == size for r in op.regions):
                    hit = op.opcode
            votes.append((hit is not None, hit))
        for start, end, types in self.sm_regions:
            if start <= addr < end:
                ops = [o for o, s in types if s == size]
                votes.append((bool(ops), ops[0] if ops else None))
        if not votes:
            return None, None
        oks = {v for v, _ in votes}
        op = next((o for _, o in votes if o is not None), None)
        return (oks.pop() if len(oks) == 1 else None), op

    def default_opcode(self, size: int) -> tuple[int | None, str | None]:
        ops = sorted({o for o, s in self.known if s == size})
        if ops:
            return ops[0], None
        if size in CONVENTIONAL:
            return CONVENTIONAL[size], (
                f"no database entry or SFDP erase type erases {format_size(size)}; "
                f"the conventional opcode 0x{CONVENTIONAL[size]:02X} is tried"
            )
        return None, None

    def erasers_at(self, addr: int) -> list[tuple[int, int]]:
        """(opcode, size) pairs the data says erase at ``addr``, smallest first."""
        known = self.known or {(o, s) for s, o in CONVENTIONAL.items()}
        return sorted(((o, s) for o, s in known if self.says(s, addr)[0] is not False), key=lambda x: (x[1], x[0]))

    def limit_for(self, opcode: int, size: int, addr: int) -> Limit | None:
        db: set[tuple[float | None, float | None]] = set()
        source = None
        for part, lay, _how in self.layouts:
            for op in lay.erase:
                if op.opcode == opcode and any(r.start <= addr < r.end and r.size == size for r in op.regions):
                    db.add((op.typ_ms, op.max_ms))
                    source = cite(part)
        if len(db) == 1:
            typ, mx = db.pop()
            if mx is not None:
                return Limit(typ, mx, source or "database")
        info = self.info
        if info is not None:
            for s, o, t, m in info.erase_types:
                if s == size and o == opcode and m is not None:
                    return Limit(t, m, f"the chip's SFDP (JESD216 {info.revision}, BFPT erase types)")
        return None


def _three_byte_ops(lay):
    return [op for op in lay.erase if op.opcode not in FOUR_BYTE_OPS and (op.address_bytes or 3) != 4]


def geometry(nor: SpiNor, layouts: list, info, capacity: int, notes: list[str]) -> Geometry:
    known: set[tuple[int, int]] = set()
    cuts = {0, capacity}
    for _part, lay, _how in layouts:
        for op in _three_byte_ops(lay):
            for r in op.regions:
                known.add((op.opcode, r.size))
                cuts.update((r.start, r.end))
    sm_regions: list[tuple[int, int, set[tuple[int, int]]]] = []
    if info is not None:
        known.update((size, opcode)[::-1] for size, opcode, _t, _m in info.erase_types if opcode not in FOUR_BYTE_OPS)
        config = None
        if info.sector_map:
            try:
                config = nor.sector_map_in_use(info)
            except HardwareError as exc:
                notes.append(f"sector map in use not known: {exc}")
        for r in config.regions if config is not None else ():
            cuts.update((r.start, r.start + r.size))
            sm_regions.append((r.start, r.start + r.size, {(e.opcode, e.size) for e in r.erase_types}))
    return Geometry(layouts, sm_regions, known, cuts, info)


# ---------------------------------------------------------------------------
# Identity and size


def identify(nor: SpiNor, app, expect: str | None):
    """Probe the chip (ID, SFDP, ``--expect``) as ``flashcheck probe``
    does: (facts, parts, how, cross-checks, layouts)."""
    from flashcheck.workflows import probe

    pr = probe.probe_chip(nor, app, None, expect)
    facts = pr.facts
    res = pr.result
    parts = [res.part] if res.part else list(res.candidates)
    match = res.match
    layouts = [(p, *probe.current_layout(nor, facts, p)) for p in parts]
    how = match.how if match is not None else "not identified"
    return facts, parts, how, [c for c in res.checks if c.rule != "identify" or c.ok is not True], layouts


def chip_capacity(facts, layouts, notes: list[str]) -> int:
    info = facts.sfdp
    if info is not None:
        return info.size
    if layouts:
        return max(p.capacity_of(lay) for p, lay, _ in layouts)
    capacity = vendor_for(facts.raw_id).size_from_id(facts.raw_id)
    if capacity:
        notes.append(f"capacity {format_size(capacity)} assumed from the JEDEC ID's capacity byte")
        return capacity
    raise HardwareError(
        f"cannot tell the size of the chip (JEDEC ID {facts.id_hex}: no SFDP, not in the database); "
        "nothing was erased"
    )


def _program_limit(parts, info) -> Limit | None:
    plims = {(p.program or {}).get("max_ms") for p in parts}
    if parts and len(plims) == 1 and None not in plims:
        p0 = parts[0]
        return Limit((p0.program or {}).get("typ_ms"), plims.pop(), cite(p0))
    return _sfdp_program_limit(info)


# ---------------------------------------------------------------------------
# Choosing blocks


@dataclass
class _Chooser:
    geo: Geometry
    capacity: int
    reach: int
    regions: list[tuple[int, int]]
    targets: list[Target] = field(default_factory=list)
    seen: set[tuple[int, int]] = field(default_factory=set)

    def window_of(self, addr: int, size: int) -> tuple[int, int]:
        w = min(self.capacity, max(WINDOW, 4 * size))
        start = align_down(addr, w)
        return start, min(start + w, self.capacity)

    def region_of(self, a: int) -> tuple[int, int]:
        return next(((lo, hi) for lo, hi in self.regions if lo <= a < hi), (0, self.capacity))

    def add(self, addr: int, size: int, region: tuple[int, int], why: str) -> None:
        if (addr, size) in self.seen:
            return
        self.seen.add((addr, size))
        expected, op = self.geo.says(size, addr)
        note = None
        if op is None:
            op, note = self.geo.default_opcode(size)
        if op is None:
            self.targets.append(Target(addr, size, -1, region, why, expected, None, self.window_of(addr, size),
                                       f"no erase command of {format_size(size)} is known for this chip"))
            return
        self.targets.append(Target(addr, size, op, region, why, expected, self.geo.limit_for(op, size, addr),
                                   self.window_of(addr, size), note))


def _blocks_in(lo: int, hi: int, size: int, allowed: tuple[int, int]) -> list[int]:
    """The aligned ``size`` blocks that touch the region [lo, hi) (a block
    may reach past a region smaller than it: the erase must still work
    there) and lie wholly inside ``allowed``."""
    first = align_down(max(lo, allowed[0]), size)
    last = align_down(min(hi, allowed[1]) - 1, size)
    return [a for a in range(first, last + 1, size) if a >= allowed[0] and a + size <= allowed[1]]


def _choose_auto(ch: _Chooser, sizes, allowed, rng: random.Random, sweep: bool) -> int:
    """First, last and SAMPLES random blocks of each region (every block
    with ``sweep``); returns how many blocks were sampled at random."""
    sampled = 0
    for size in sorted(sizes):
        for lo, hi in ch.regions:
            blocks = [a for a in _blocks_in(lo, hi, size, allowed) if any(s <= a < e for s, e in sizes[size])]
            if not blocks:
                continue
            span = f"region {format_addr(lo)}-{format_addr(hi - 1)}"
            if sweep:
                for a in blocks:
                    ch.add(a, size, (lo, hi), f"every {format_size(size)} block ({span})")
                continue
            ch.add(blocks[0], size, (lo, hi), f"first {format_size(size)} block of {span}")
            ch.add(blocks[-1], size, (lo, hi), f"last {format_size(size)} block of {span}")
            middle = blocks[1:-1]
            for a in sorted(rng.sample(middle, min(SAMPLES, len(middle)))):
                ch.add(a, size, (lo, hi), f"random {format_size(size)} block of {span}")
                sampled += 1
    return sampled


def _choose_named(ch: _Chooser, sectors: str, sizes) -> None:
    for addr, size in parse_sectors(sectors):
        for s in ([size] if size else sorted(sizes)):
            a = align_down(addr, s)
            if a + s > ch.reach:
                raise InputError(f"--sectors {format_addr(addr)}: the {format_size(s)} block is past the end of "
                                 f"what can be tested ({format_size(ch.reach)})")
            ch.add(a, s, ch.region_of(a), "named with --sectors")


def _miss_chance(plan_targets: list[Target], capacity: int) -> str:
    by_size: dict[int, int] = {}
    for t in plan_targets:
        by_size[t.size] = by_size.get(t.size, 0) + 1
    parts = []
    for size, n in sorted(by_size.items()):
        p = (1 - BAD_FRACTION) ** n
        parts.append(f"{n} {format_size(size)} block(s): an erase fault over {BAD_FRACTION:.0%} of the array is "
                     f"missed with probability {p:.2g}")
    return "; ".join(parts) + " (--sectors all tries every block)"


def _required_sizes(board, capacity: int) -> dict[int, list[tuple[int, int]]]:
    from flashcheck.data.parts import parse_address

    sizes: dict[int, list[tuple[int, int]]] = {}
    for rule in board.rules:
        if rule.kind != "erase":
            continue
        rng = rule.params.get("range")
        span = (0, capacity)
        if rng:
            span = (parse_address(rng["from"], capacity), min(parse_address(rng["to"], capacity), capacity))
        for s in rule.params["sizes"]:
            sizes.setdefault(s, []).append(span)
    return sizes


def _allowed(board, capacity: int, reach: int, notes: list[str]) -> tuple[int, int]:
    from flashcheck.data.parts import parse_address

    scratch = (board.test or {}).get("scratch")
    if not scratch:
        return (0, reach)
    try:
        allowed = (parse_address(scratch["from"], capacity), min(parse_address(scratch["to"], capacity), reach))
    except ValueError as exc:
        raise InputError(f"board {board.name}: test.scratch: {exc}") from None
    notes.append(f"board {board.name} limits testing to its scratch range "
                 f"{format_addr(allowed[0])}-{format_addr(allowed[1] - 1)}")
    return allowed


def make_plan(nor: SpiNor, app, board, sectors: str | None = None, *, expect: str | None = None,
              seed: int = 0) -> Plan:
    """Identify the chip and choose the blocks to test (nothing is written)."""
    facts, parts, how, id_checks, layouts = identify(nor, app, expect)
    notes: list[str] = []
    info = facts.sfdp
    capacity = chip_capacity(facts, layouts, notes)
    page_size = (info.page_size if info and info.page_size else None) or next(
        (p.page_size for p in parts if p.page_size), None) or 256
    reach = capacity  # over 16 MiB the run addresses it in 4-byte mode (.addressing)
    geo = geometry(nor, layouts, info, capacity, notes)
    sizes = _required_sizes(board, capacity)
    allowed = _allowed(board, capacity, reach, notes)
    points = sorted(c for c in geo.cuts if 0 <= c <= capacity)
    ch = _Chooser(geo, capacity, reach, list(zip(points, points[1:])))
    sampling = ""
    if sectors and sectors not in ("auto", "all"):
        _choose_named(ch, sectors, sizes)
        if allowed != (0, reach):
            notes.append("--sectors overrides the board's scratch range")
    else:
        n = _choose_auto(ch, sizes, allowed, random.Random(seed), sectors == "all")
        sampling = (f"every block ({len(ch.targets)})" if sectors == "all"
                    else f"{len(ch.targets)} blocks ({n} at random, seed {seed}); " + _miss_chance(ch.targets, capacity))
        if not ch.targets:
            notes.append("no block of a required size fits the allowed range: nothing tested")
    ch.targets.sort(key=lambda t: (t.size, t.address))
    names = ", ".join(p.name for p in parts)
    identity = f"{names} ({how})" if parts else f"JEDEC ID {facts.id_hex}: not in the database, no SFDP"
    return Plan(
        facts=facts, identity=identity, parts=parts, layouts=layouts, capacity=capacity, page_size=page_size,
        sizes=sorted(sizes), targets=ch.targets, erasers=sorted(geo.known, key=lambda x: (x[1], x[0])),
        program_limit=_program_limit(parts, info), notes=notes, identity_checks=id_checks, reach=reach,
        sampling=sampling, geo=geo,
    )
