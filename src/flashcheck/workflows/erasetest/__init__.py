"""Non-destructive erase/verify timing test, and recovery after a run that
stopped half way.

:func:`make_plan` decides what to test: for each erase size the board
requires, the first and last block of every distinct region of the array
(so both sides of every region boundary the database or the chip's SFDP
sector map knows), restricted to the board's scratch range when it has one,
or the blocks ``--sectors`` names.

:func:`run_test` tests each block in turn, changing nothing for good:

1. read a *window* around the block (the block and its neighbours: the
   aligned block of the largest erase the chip may do, at least 64 KiB and
   four times the block), and journal it durably (:mod:`flashcheck.workflows.erasetest.journal`);
2. erase the block (timed), read the window back: the block must be blank
   and every neighbouring byte unchanged -- an erase that is ignored,
   smaller or larger than the block shows here;
3. program a pattern into the block (whole pages, timed, for the first 16
   pages and the last; a few bytes in every other page) and read it back;
4. erase again (timed) and check as in 2 (the pattern makes this erase
   conclusive even where the block was blank to begin with);
5. put the window back as it was (:func:`restore_window`), read it back
   equal, and close the journal entry.

Write protection is read first (status BP bits; SST26 block-protection
register); protected blocks are reported and skipped unless ``unlock``,
and then the protection is journaled, cleared, and put back afterwards.

Measured times are judged against the datasheet maximum (database first,
else the chip's SFDP): above it fails; with no maximum known the timing
check is unknown, never pass.

:func:`recover` finds the unfinished journal entries of the chip on a
transport (same JEDEC ID and unique ID), restores their windows and closes
them; a chip whose identity matches no unfinished journal is refused.
After a power loss a changed block is erased before it is programmed back
(``strict``): an erase or program cut short can leave cells that read
blank without being erased.  A chip that still has an unfinished journal
is not tested again until it has been recovered, and a journal whose
entries are all closed is deleted.

Vendor quirk handled: a Spansion FL-S part that refuses an erase sets
E_ERR and keeps WIP set until CLSR (30h); that is reported as a failed
erase, not as a chip stuck busy.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flashcheck import __version__
from flashcheck.workflows.erasetest import journal
from flashcheck.chip.spinor import SpiNor
from flashcheck.errors import ChipTimeout, FlashcheckError, HardwareError, InputError, TransportError
from flashcheck.rules import Check, reason_of, verdict_of
from flashcheck.units import format_addr, format_size

KiB = 1024
#: The erase opcode the industry uses for a size when nothing says otherwise.
CONVENTIONAL = {4 * KiB: 0x20, 32 * KiB: 0x52, 64 * KiB: 0xD8}
#: 4-byte-address twins of erase opcodes: never tested with 3-byte addresses.
_FOUR_BYTE = {0x21, 0x5C, 0xDC}
WRBPR = 0x42
#: Pages of each block programmed whole (and timed) with the test pattern.
TIMED_PAGES = 16
#: Bytes of the pattern put at the start of every other page.
SPARSE_BYTES = 16


# ---------------------------------------------------------------------------
# Plan


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
        return f"0x{self.opcode:02X} {format_size(self.size)} at {format_addr(self.address)}"


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

    @property
    def jedec_hex(self) -> str:
        return self.facts.raw_id.hex()

    @property
    def uid_hex(self) -> str | None:
        return self.facts.unique_id.hex() if self.facts.unique_id else None


def _align_down(a: int, s: int) -> int:
    return a - a % s


def _cite(part) -> str:
    where = f" ({part.source.where})" if part.source.where else ""
    return f"{part.name}: {part.source}{where}"


def _sfdp_program_limit(info) -> Limit | None:
    """Page-program typical and maximum from BFPT DWORD 11 (JESD216A+)."""
    if info is None or info.page_program_us is None or len(info.bfpt_dwords) < 11:
        return None
    typ = info.page_program_us / 1000.0
    mult = 2 * ((info.bfpt_dwords[10] & 0x0F) + 1)
    return Limit(typ, typ * mult, f"the chip's SFDP (JESD216 {info.revision}, BFPT DWORD 11)")


def _parse_sectors(text: str) -> list[tuple[int, int | None]]:
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
        raise InputError("--sectors: no addresses given (use auto, or ADDR[:SIZE],...)")
    return out


def make_plan(nor: SpiNor, app, board, sectors: str | None = None) -> Plan:
    """Read the chip, identify it, and choose the blocks to test."""
    from flashcheck.data.parts import parse_address
    from flashcheck.workflows import probe

    facts = probe.read_facts(nor)
    match = probe.identify(facts, app)
    notes: list[str] = []
    layouts = []
    for part in match.parts:
        try:
            lay, how = probe.current_layout(nor, facts, part)
        except HardwareError:
            raise
        layouts.append((part, lay, how))
    info = facts.sfdp
    # capacity and page size: the chip's own word first
    if info is not None:
        capacity = info.size
    elif layouts:
        capacity = max(p.capacity_of(lay) for p, lay, _ in layouts)
    elif 0x10 <= facts.raw_id[2] <= 0x1F:
        capacity = 1 << facts.raw_id[2]
        notes.append(f"capacity {format_size(capacity)} assumed from the JEDEC ID's capacity byte")
    else:
        raise HardwareError(
            f"cannot tell the size of the chip (JEDEC ID {facts.id_hex}: no SFDP, not in the database); "
            "nothing was erased"
        )
    page_size = (info.page_size if info and info.page_size else None) or next(
        (p.page_size for p in match.parts if p.page_size), None) or 256
    if capacity > 1 << 24:
        notes.append("only the first 16 MiB is tested (3-byte addressing)")
    reach = min(capacity, 1 << 24)

    # what erases what, where
    known: set[tuple[int, int]] = set()
    cuts = {0, capacity}
    for _part, lay, _how in layouts:
        for op in lay.erase:
            if op.opcode in _FOUR_BYTE or (op.address_bytes or 3) == 4:
                continue
            for r in op.regions:
                known.add((op.opcode, r.size))
                cuts.update((r.start, r.end))
    sm_regions: list[tuple[int, int, set[tuple[int, int]]]] = []
    if info is not None:
        for size, opcode, _t, _m in info.erase_types:
            if opcode not in _FOUR_BYTE:
                known.add((opcode, size))
        if info.sector_map:
            try:
                config = nor.sector_map_in_use(info)
            except HardwareError as exc:
                config = None
                notes.append(f"sector map in use not known: {exc}")
            if config is not None:
                for r in config.regions:
                    cuts.update((r.start, r.start + r.size))
                    sm_regions.append((r.start, r.start + r.size, {(e.opcode, e.size) for e in r.erase_types}))
    largest = max((s for _o, s in known), default=64 * KiB)

    def says(size: int, addr: int) -> tuple[bool | None, int | None]:
        """(whether the data says ``size`` erases at ``addr``, by which opcode)."""
        votes: list[tuple[bool, int | None]] = []
        for _part, lay, _how in layouts:
            hit = None
            for op in lay.erase:
                if op.opcode in _FOUR_BYTE or (op.address_bytes or 3) == 4:
                    continue
                for r in op.regions:
                    if r.start <= addr < r.end and r.size == size:
                        hit = op.opcode
            votes.append((hit is not None, hit))
        for start, end, types in sm_regions:
            if start <= addr < end:
                ops = [o for o, s in types if s == size]
                votes.append((bool(ops), ops[0] if ops else None))
        if not votes:
            return None, None
        oks = {v for v, _ in votes}
        op = next((o for _, o in votes if o is not None), None)
        return (oks.pop() if len(oks) == 1 else None), op

    def default_opcode(size: int) -> tuple[int | None, str | None]:
        ops = sorted({o for o, s in known if s == size})
        if ops:
            return ops[0], None
        if size in CONVENTIONAL:
            return CONVENTIONAL[size], (
                f"no database entry or SFDP erase type erases {format_size(size)}; "
                f"the conventional opcode 0x{CONVENTIONAL[size]:02X} is tried"
            )
        return None, None

    def limit_for(opcode: int, size: int, addr: int) -> Limit | None:
        db: set[tuple[float | None, float | None]] = set()
        cite = None
        for part, lay, _how in layouts:
            for op in lay.erase:
                if op.opcode == opcode and any(r.start <= addr < r.end and r.size == size for r in op.regions):
                    db.add((op.typ_ms, op.max_ms))
                    cite = _cite(part)
        if len(db) == 1:
            typ, mx = db.pop()
            if mx is not None:
                return Limit(typ, mx, cite or "database")
        if info is not None:
            for s, o, t, m in info.erase_types:
                if s == size and o == opcode and m is not None:
                    return Limit(t, m, f"the chip's SFDP (JESD216 {info.revision}, BFPT erase types)")
        return None

    # sizes the board needs, with the range each rule limits it to
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
    scratch = (board.test or {}).get("scratch")
    allowed = (0, reach)
    if scratch:
        try:
            allowed = (parse_address(scratch["from"], capacity), min(parse_address(scratch["to"], capacity), reach))
        except ValueError as exc:
            raise InputError(f"board {board.name}: test.scratch: {exc}") from None
        notes.append(f"board {board.name} limits testing to its scratch range {format_addr(allowed[0])}-{format_addr(allowed[1] - 1)}")

    points = sorted(c for c in cuts if 0 <= c <= capacity)
    regions = list(zip(points, points[1:]))
    targets: list[Target] = []
    seen: set[tuple[int, int]] = set()

    def window_of(addr: int, size: int) -> tuple[int, int]:
        w = min(capacity, max(64 * KiB, 4 * size, largest))
        start = _align_down(addr, w)
        return start, min(start + w, capacity)

    def add(addr: int, size: int, region: tuple[int, int], why: str) -> None:
        if (addr, size) in seen:
            return
        seen.add((addr, size))
        expected, op = says(size, addr)
        note = None
        if op is None:
            op, note = default_opcode(size)
        if op is None:
            targets.append(Target(addr, size, -1, region, why, expected, None, window_of(addr, size),
                                  f"no erase command of {format_size(size)} is known for this chip"))
            return
        targets.append(Target(addr, size, op, region, why, expected, limit_for(op, size, addr),
                              window_of(addr, size), note))

    if sectors and sectors != "auto":
        for addr, size in _parse_sectors(sectors):
            for s in ([size] if size else sorted(sizes)):
                a = _align_down(addr, s)
                if a + s > reach:
                    raise InputError(f"--sectors {format_addr(addr)}: the {format_size(s)} block is past the end of the chip ({format_size(capacity)})")
                region = next(((lo, hi) for lo, hi in regions if lo <= a < hi), (0, capacity))
                add(a, s, region, "named with --sectors")
        if scratch:
            notes.append("--sectors overrides the board's scratch range")
    else:
        for size in sorted(sizes):
            for lo, hi in regions:
                for first, why in ((True, "first"), (False, "last")):
                    a = _align_down(lo if first else hi - 1, size)
                    if a + size > reach or a < allowed[0] or a + size > allowed[1]:
                        # inside the scratch range: the nearest whole block within it
                        lo2, hi2 = max(lo, allowed[0]), min(hi, allowed[1])
                        if lo2 >= hi2:
                            continue
                        a = -(-lo2 // size) * size if first else _align_down(hi2, size) - size
                        if a >= hi2 or a + size <= lo2 or a < allowed[0] or a + size > allowed[1] or a + size > reach or a < 0:
                            continue
                    if not any(s <= a < e for s, e in sizes[size]):
                        continue
                    add(a, size, (lo, hi), f"{why} {format_size(size)} block of region {format_addr(lo)}-{format_addr(hi - 1)}")
        if not targets:
            notes.append("no block of a required size fits the allowed range: nothing tested")
    targets.sort(key=lambda t: (t.size, t.address))

    if match.parts:
        names = ", ".join(p.name for p in match.parts)
        identity = f"{names} ({match.how})"
    else:
        identity = f"JEDEC ID {facts.id_hex}: not in the database, no SFDP"
    program_limit = None
    plims = {(p.program or {}).get("max_ms") for p in match.parts}
    if len(plims) == 1 and None not in plims:
        p0 = match.parts[0]
        program_limit = Limit((p0.program or {}).get("typ_ms"), plims.pop(), _cite(p0))
    if program_limit is None:
        program_limit = _sfdp_program_limit(info)
    return Plan(
        facts=facts, identity=identity, parts=list(match.parts), layouts=layouts, capacity=capacity,
        page_size=page_size, sizes=sorted(sizes), targets=targets, erasers=sorted(known, key=lambda x: (x[1], x[0])),
        program_limit=program_limit, notes=notes,
    )


# ---------------------------------------------------------------------------
# Protection


@dataclass
class Protection:
    kind: str | None  # "bpr", "sr" or None
    value: bytes = b""  # BPR bytes, or the SR1 byte
    mask: int = 0  # SR: the BP bits
    locked: Callable[[int, int], bool] | None = None  # (start, size) -> protected
    detail: str = ""

    @property
    def active(self) -> bool:
        return self.kind is not None


def _sst26_blocks(plan: Plan) -> list[tuple[int, int]]:
    """The SST26 0xD8 blocks in address order, from the database or the
    chip's sector map: the units the block-protection register locks."""
    for _part, lay, _how in plan.layouts:
        for op in lay.erase:
            if op.opcode == 0xD8 and len(op.sizes) > 1:
                return [(a, r.size) for r in op.regions for a in range(r.start, r.end, r.size)]
    return []


def read_protection(nor: SpiNor, plan: Plan) -> Protection:
    facts = plan.facts
    p = facts.protection or {}
    if p.get("bpr") is not None:
        value = bytes.fromhex(p["bpr"])
        if not any(value):
            return Protection(None)
        bits = int.from_bytes(value, "big")
        blocks = _sst26_blocks(plan)
        # SST26 BPR: one write-lock bit per 32/64 KiB block from bit 0 in
        # address order, then a (write, read) pair per 8 KiB block.
        large = [(a, s) for a, s in blocks if s != 8 * KiB]
        small = [(a, s) for a, s in blocks if s == 8 * KiB]
        units = [(a, s, i) for i, (a, s) in enumerate(large)] + [(a, s, len(large) + 2 * k) for k, (a, s) in enumerate(small)]
        decoded = bool(units) and (len(large) + 2 * len(small) + 7) // 8 == len(value)

        def locked(start: int, size: int) -> bool:
            if not decoded:
                return True
            return any(bits >> bit & 1 and start < a + s and a < start + size for a, s, bit in units)

        how = "per block" if decoded else "not decoded for this layout, so every block counts as locked"
        return Protection("bpr", value, 0, locked, f"SST26 block-protection register {value.hex()} ({how})")
    from flashcheck.workflows.probe import bp_mask

    mask = bp_mask(facts.raw_id)
    sr = nor.read_status()
    if sr & mask:
        return Protection(
            "sr", bytes([sr & ~0x03 & 0xFF]), mask, lambda s, n: True,
            f"status register 0x{sr:02X}: block-protect bits 0x{sr & mask:02X} set (the protected range is "
            "vendor-specific and not decoded, so every block counts as protected)",
        )
    return Protection(None)


def unlock(nor: SpiNor, prot: Protection) -> None:
    if prot.kind == "bpr":
        nor.global_unlock()
        nor.wait_ready(1.0, opcode=0x98)
        now = nor.read_bpr(len(prot.value))
        if any(now):
            raise HardwareError(f"global unlock (0x98) did not clear the block-protection register (reads {now.hex()})")
    elif prot.kind == "sr":
        nor.write_status(bytes([prot.value[0] & ~prot.mask & 0xFF]))
        if nor.read_status() & prot.mask:
            raise HardwareError("clearing the status register's block-protect bits did not take (WP# pin held low, or SRP set?)")


def relock(nor: SpiNor, kind: str, value: bytes, mask: int = 0) -> None:
    """Put saved protection back, and read it back equal."""
    if kind == "bpr":
        nor.write_enable()
        nor.command(WRBPR, value)
        nor.wait_ready(1.0, opcode=WRBPR)
        now = nor.read_bpr(len(value))
        if now != value:
            raise HardwareError(f"block-protection register reads {now.hex()} after writing back {value.hex()}")
    elif kind == "sr":
        nor.write_status(value[:1])
        now = nor.read_status()
        if now & mask != value[0] & mask:
            raise HardwareError(f"status register reads 0x{now:02X} after writing back 0x{value[0]:02X}")


# ---------------------------------------------------------------------------
# Restore


def _first_diff(a: bytes, b: bytes) -> int:
    for i, (x, y) in enumerate(zip(a, b)):
        if x != y:
            return i
    return min(len(a), len(b))


def _last_diff(a: bytes, b: bytes) -> int:
    i = len(a) - 1
    while i >= 0 and a[i] == b[i]:
        i -= 1
    return i


def _program(nor: SpiNor, addr: int, data: bytes, timeout_s: float) -> float:
    """WREN, page program, wait: the seconds waited.  Unlike
    :meth:`SpiNor.page_program` WEL is not read back first: every program
    here is read back afterwards, which shows a chip that did not listen,
    and the run is one transaction per page shorter."""
    nor.command(0x06)
    nor.command(0x02, nor._addr(addr) + bytes(data))
    return nor.wait_ready(timeout_s, opcode=0x02, addr=addr)


def restore_window(
    nor: SpiNor,
    start: int,
    orig: bytes,
    erasers: list[tuple[int, int]],
    page_size: int = 256,
    *,
    erase_timeout: Callable[[int, int], float] = lambda op, size: 30.0,
    first: bytes | None = None,
    strict: bool = False,
) -> dict[str, Any]:
    """Make ``[start, start + len(orig))`` read ``orig`` again.

    Bytes that only need bits cleared are programmed.  Where a bit must go
    back to 1, an erase is needed: the smallest of ``erasers`` (opcode,
    size) whose aligned block lies wholly inside the window is tried (each
    opcode and block once); whatever it erased is programmed back on the
    next pass.

    ``strict`` (after a power loss): a page that differs from ``orig`` is
    never programmed over until an erase of this call has blanked it,
    because an erase or program cut short can leave cells that read 1 but
    are not properly erased.  HardwareError when the window cannot be
    restored."""
    n = len(orig)
    end = start + n
    tried: set[tuple[int, int]] = set()
    fresh = bytearray(n // page_size + 1)  # pages blanked by an erase of this call
    info: dict[str, Any] = {"erases": [], "pages": 0}
    cur = first if first is not None else nor.read(start, n)
    last_programmed: bytes | None = None
    smallest = min((sz for _o, sz in erasers), default=n)
    for _ in range(16 + 2 * len(erasers) * max(1, n // max(1, smallest))):
        if cur == orig:
            return info
        need: int | None = None
        todo: list[tuple[int, int, int]] = []
        for p in range(0, n, page_size):
            c, o = cur[p : p + page_size], orig[p : p + page_size]
            if c == o:
                continue
            oi = int.from_bytes(o, "big")
            if int.from_bytes(c, "big") & oi == oi and (not strict or fresh[p // page_size]):
                todo.append((p, _first_diff(c, o), _last_diff(c, o)))
            else:
                need = start + p + _first_diff(c, o)
                break
        if need is not None:
            for op, size in sorted(erasers, key=lambda x: (x[1], x[0])):
                blk = _align_down(need, size)
                if blk < start or blk + size > end or (op, blk) in tried:
                    continue
                tried.add((op, blk))
                nor.erase(op, blk, erase_timeout(op, size))
                info["erases"].append((op, blk))
                after = nor.read(start, n)
                for p in range(0, n, page_size):
                    page = after[p : p + page_size]
                    if page.count(0xFF) == len(page) and (
                        blk <= start + p < blk + size or cur[p : p + page_size] != page
                    ):
                        fresh[p // page_size] = 1  # blanked by this erase
                cur = after
                break
            else:
                raise HardwareError(
                    f"cannot restore {format_addr(need)}: no erase command left to try inside the saved window "
                    f"{format_addr(start)}-{format_addr(end - 1)} (tried {', '.join(f'0x{o:02X} at {format_addr(b)}' for o, b in sorted(tried)) or 'none'})"
                )
            continue
        if last_programmed == cur:
            raise HardwareError(
                f"programming does not take at {format_addr(start + todo[0][0])}: the window "
                f"{format_addr(start)}-{format_addr(end - 1)} could not be restored"
            )
        last_programmed = cur
        saved = nor.poll_interval_s
        nor.poll_interval_s = 0.0
        try:
            for p, i, j in todo:
                _program(nor, start + p + i, orig[p + i : p + j + 1], 1.0)
                info["pages"] += 1
        finally:
            nor.poll_interval_s = saved
        cur = nor.read(start, n)
    raise HardwareError(f"the window {format_addr(start)}-{format_addr(end - 1)} could not be restored")


# ---------------------------------------------------------------------------
# The test


@dataclass
class Step:
    name: str
    ok: bool | None
    ms: float | None = None
    detail: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"step": self.name, "ok": self.ok, "ms": None if self.ms is None else round(self.ms, 4), "detail": self.detail}


@dataclass
class SectorResult:
    target: Target
    status: str  # tested, skipped, interrupted, untestable
    steps: list[Step] = field(default_factory=list)
    erase_ok: bool | None = None
    detail: str = ""
    erase_ms: list[float] = field(default_factory=list)
    program_ms: float | None = None  # the longest page program
    program_times: list[float] = field(default_factory=list)
    restored: bool = False

    def to_json(self) -> dict[str, Any]:
        t = self.target
        return {
            "address": t.address,
            "address_hex": format_addr(t.address),
            "size": t.size,
            "opcode": None if t.opcode < 0 else f"0x{t.opcode:02X}",
            "region": [t.region[0], t.region[1]],
            "why": t.why,
            "expected": t.expected,
            "status": self.status,
            "erase_ok": self.erase_ok,
            "detail": self.detail,
            "erase_ms": [round(x, 4) for x in self.erase_ms],
            "program_ms_max": None if self.program_ms is None else round(self.program_ms, 4),
            "limit": t.limit.to_json() if t.limit else None,
            "restored": self.restored,
            "note": t.note,
            "steps": [s.to_json() for s in self.steps],
        }


@dataclass
class TestReport:
    url: str
    board: str
    plan: Plan
    sectors: list[SectorResult]
    checks: list[Check]
    journal: Path | None
    interrupted: bool = False
    protection: str | None = None
    unlocked: bool = False
    journal_removed: bool = False

    @property
    def verdict(self) -> str:
        return verdict_of(self.checks)

    @property
    def reason(self) -> str:
        return reason_of(self.checks, "all checks met")

    def to_json(self) -> dict[str, Any]:
        f = self.plan.facts
        return {
            "url": self.url,
            "board": self.board,
            "verdict": self.verdict,
            "reason": self.reason,
            "interrupted": self.interrupted,
            "chip": {
                "jedec_id": f.raw_id.hex(),
                "unique_id": self.plan.uid_hex,
                "identified_as": self.plan.identity,
                "configuration": [{"part": p.name, "layout": lay.name, "how": how} for p, lay, how in self.plan.layouts],
                "capacity": self.plan.capacity,
            },
            "protection": self.protection,
            "unlocked": self.unlocked,
            "notes": self.plan.notes,
            "checks": [c.to_json() for c in self.checks],
            "sectors": [s.to_json() for s in self.sectors],
            "journal": str(self.journal) if self.journal else None,
            "journal_removed": self.journal_removed,
        }


def _pattern(addr: int, n: int) -> bytes:
    """A block's test pattern: pseudo-random, no 0xFF byte (every byte
    shows whether an erase reached it)."""
    seed = hashlib.sha256(addr.to_bytes(8, "big")).digest()
    base = b"".join(hashlib.sha256(seed + bytes([i])).digest() for i in range(32))  # 1 KiB
    reps = -(-n // (len(base) + 1))
    # 1025-byte period against 256-byte pages: no two pages alike
    return ((base + seed[:1]) * reps)[:n].replace(b"\xff", b"\x5a")


def _ranges(mask: list[int]) -> str:
    """'0x001000-0x001FFF, ...' of a sorted list of addresses."""
    if not mask:
        return ""
    out, lo, prev = [], mask[0], mask[0]
    for a in mask[1:]:
        if a != prev + 1:
            out.append((lo, prev))
            lo = a
        prev = a
    out.append((lo, prev))
    text = ", ".join(f"{format_addr(a)}-{format_addr(b)}" for a, b in out[:3])
    return text + (" ..." if len(out) > 3 else "")


def _judge_erase(t: Target, before: bytes, after: bytes, blank_before: bool) -> tuple[bool | None, str]:
    ws = t.window[0]
    lo, hi = t.address - ws, t.address - ws + t.size
    left = t.size - after[lo:hi].count(0xFF)
    changed = [ws + i for i in range(len(before)) if (i < lo or i >= hi) and before[i] != after[i]] \
        if before[:lo] != after[:lo] or before[hi:] != after[hi:] else []
    op = f"0x{t.opcode:02X} at {format_addr(t.address)}"
    if changed:
        return False, (f"{op} erased beyond its {format_size(t.size)} block: {len(changed)} neighbouring bytes "
                       f"changed at {_ranges(changed)}")
    if left:
        if after[lo:hi] == before[lo:hi]:
            return False, f"{op} did not erase: {left} bytes still programmed"
        return False, f"{op} erased only part of its block: {left} bytes still programmed"
    if blank_before:
        return None, f"{op}: the block was blank already, so this erase shows nothing"
    return True, f"{op} erased its {format_size(t.size)} block and nothing else"


class _Interrupt(Exception):
    pass


class Abandoned(FlashcheckError):
    """The user insisted (a second Ctrl-C): the journal keeps the block."""

    exit_code = 130


def _timed_erase(nor: SpiNor, t: Target, jedec: bytes = b"") -> tuple[float, bool, str | None]:
    """Erase ``t``: (ms waited, whether the chip went busy, an error the
    chip reported or None)."""
    if t.limit and t.limit.max_ms:
        timeout = max(2 * t.limit.max_ms / 1000.0, 0.5)
    else:
        timeout = 10.0 if t.size <= 64 * KiB else 30.0
    saved = nor.poll_interval_s
    nor.poll_interval_s = min(saved, 0.0001) if saved else 0.0
    try:
        s = nor.erase(t.opcode, t.address, timeout)
    except ChipTimeout:
        # Spansion FL-S: a failed erase sets E_ERR (SR1 bit 5) and leaves WIP
        # set until Clear Status Register (30h): the chip is not stuck.
        sr = nor.read_status()
        if jedec[:1] != b"\x01" or not sr & 0x60:
            raise
        nor.command(0x30)
        nor.wait_ready(1.0, opcode=0x30)
        return timeout * 1000.0, True, (f"the chip reported an erase error (SR1=0x{sr:02X}, E_ERR set; cleared with "
                                        "CLSR 30h)")
    finally:
        nor.poll_interval_s = saved
    return s * 1000.0, nor.last_busy_seen, None


def _test_sector(nor: SpiNor, plan: Plan, t: Target, writer: journal.Writer, entry: int,
                 stop: Callable[[], bool]) -> SectorResult:
    res = SectorResult(t, "tested")
    ws, we = t.window
    lo, hi = t.address - ws, t.address - ws + t.size
    before = nor.read(ws, we - ws)
    res.steps.append(Step("read", True, None, f"saved {format_addr(ws)}-{format_addr(we - 1)} ({format_size(we - ws)})"))
    erasers = [(t.opcode, t.size)] + [e for e in plan.erasers if e[1] <= we - ws and e != (t.opcode, t.size)]
    writer.begin(entry, address=t.address, size=t.size, opcode=t.opcode, window_start=ws, data=before, erasers=erasers)
    res.steps.append(Step("journal", True, None, str(writer.path)))
    neighbours_blank = before[:lo].count(0xFF) == lo and before[hi:].count(0xFF) == len(before) - hi
    outcomes: list[bool | None] = []
    cur = before
    try:
        # 1: erase what is there
        ms, busy, err = _timed_erase(nor, t, plan.facts.raw_id)
        cur = nor.read(ws, we - ws)
        ok, detail = _judge_erase(t, before, cur, before[lo:hi].count(0xFF) == t.size)
        if err:
            ok, detail = False, (detail if ok is False else f"0x{t.opcode:02X} at {format_addr(t.address)} failed") + f": {err}"
        res.steps.append(Step("erase", ok, ms, detail + ("" if busy or ok is not False else " (the chip never went busy)")))
        outcomes.append(ok)
        if ok is not False:
            res.erase_ms.append(ms)
        if ok is False or stop():
            raise _Interrupt
        # 2: program a pattern
        # Whole pages (timed: the datasheet's page-program time is for a
        # whole page) for the first TIMED_PAGES pages and the last; a few
        # bytes at the start of every other page, enough to show whether
        # the next erase reaches it (no erase is finer than a page), at a
        # fraction of the bus traffic.
        full = _pattern(t.address, t.size)
        ps = plan.page_size
        npages = max(1, t.size // ps)
        timed = set(range(min(TIMED_PAGES, npages))) | {npages - 1}
        pattern = bytearray(b"\xff" * t.size)
        times: list[float] = []
        saved = nor.poll_interval_s
        nor.poll_interval_s = 0.0
        ptimeout = max(4 * plan.program_limit.max_ms / 1000.0, 0.1) if plan.program_limit and plan.program_limit.max_ms else 0.5
        try:
            for k, p in enumerate(range(0, t.size, ps)):
                n = ps if k in timed else min(ps, SPARSE_BYTES)
                pattern[p : p + n] = full[p : p + n]
                ms = _program(nor, t.address + p, full[p : p + n], ptimeout) * 1000.0
                if k in timed:
                    times.append(ms)
        finally:
            nor.poll_interval_s = saved
        pattern = bytes(pattern)
        got = nor.read(t.address, t.size)
        bad = sum(1 for x, y in zip(got, pattern) if x != y) if got != pattern else 0
        worst = max(times)
        res.program_ms = worst
        res.program_times = times
        cur = None  # the window now differs from what was read
        res.steps.append(Step("program", not bad, worst,
                              f"pattern programmed and read back ({len(times)} whole pages timed, "
                              f"{SPARSE_BYTES} bytes in each other page)" if not bad else f"{bad} bytes read back wrong after programming the pattern"))
        if bad:
            outcomes.append(False)
            res.detail = f"program at {format_addr(t.address)}: {bad} bytes read back wrong"
            raise _Interrupt
        if stop():
            raise _Interrupt
        # 3: erase the pattern
        mid = before[:lo] + pattern + before[hi:]
        ms, busy, err = _timed_erase(nor, t, plan.facts.raw_id)
        cur = nor.read(ws, we - ws)
        ok, detail = _judge_erase(t, mid, cur, False)
        if err:
            ok, detail = False, (detail if ok is False else f"0x{t.opcode:02X} at {format_addr(t.address)} failed") + f": {err}"
        if ok and neighbours_blank:
            ok, detail = None, detail + "; but every neighbouring byte was blank, so an erase larger than the block would not show"
        res.steps.append(Step("erase again", ok, ms, detail + ("" if busy or ok is not False else " (the chip never went busy)")))
        outcomes.append(ok)
        if ok is not False:
            res.erase_ms.append(ms)
    except _Interrupt:
        pass
    if stop() and len(outcomes) < 2 and outcomes and outcomes[-1] is not False:
        res.status = "interrupted"
    # 4: restore
    info = restore_window(nor, ws, before, erasers, plan.page_size, first=cur,
                          erase_timeout=lambda op, size: 30.0)
    res.restored = True
    what = "read back equal"
    if info["erases"] or info["pages"]:
        what = (f"{len(info['erases'])} erase(s), {info['pages']} program(s); " if info["erases"] else f"{info['pages']} program(s); ") + what
    res.steps.append(Step("restore", True, None, what))
    writer.done(entry)
    if any(o is False for o in outcomes):
        res.erase_ok = False
        res.detail = res.detail or next(s.detail for s in res.steps if s.ok is False)
    elif res.status == "interrupted" or len(outcomes) < 2:
        res.erase_ok = None
        res.detail = "interrupted before the test finished" if res.status == "interrupted" else "not finished"
    else:
        res.erase_ok = outcomes[-1]
        res.detail = res.steps[-2].detail
    return res


def _checks(plan: Plan, results: list[SectorResult], prot: Protection, unlocked: bool) -> list[Check]:
    checks: list[Check] = []
    src = ["measured on the chip"]
    for size in sorted(set(plan.sizes) | {r.target.size for r in results}):
        mine = [r for r in results if r.target.size == size]
        name = f"erase {format_size(size)}"
        if not mine:
            checks.append(Check(name, None, f"no {format_size(size)} block tested", src))
            continue
        bad = [r for r in mine if r.erase_ok is False]
        tested = [r for r in mine if r.status == "tested" and r.erase_ok is not None]
        ev = [f"{r.target.label()} ({r.target.why}): {r.detail}" + (f" [{r.target.note}]" if r.target.note else "")
              for r in mine]
        if bad:
            more = (f" (also at {', '.join(format_addr(r.target.address) for r in bad[1:])})" if len(bad) > 1 else "")
            checks.append(Check(name, False, bad[0].detail + more, src, ev))
            continue
        skipped = [r for r in mine if r.status != "tested" or r.erase_ok is None]
        if skipped:
            r = skipped[0]
            checks.append(Check(name, None, f"{r.target.label()}: {r.detail}"
                                + (f" (and {len(skipped) - 1} more not conclusive)" if len(skipped) > 1 else ""), src, ev))
            continue
        where = ", ".join(format_addr(r.target.address) for r in tested)
        checks.append(Check(name, True, f"0x{tested[0].target.opcode:02X} erased exactly its {format_size(size)} block at "
                            f"{where}; data restored", src, ev))
    # erase times, per opcode and size
    groups: dict[tuple[int, int], list[SectorResult]] = {}
    for r in results:
        if r.erase_ms:
            groups.setdefault((r.target.opcode, r.target.size), []).append(r)
    for (op, size), rs in sorted(groups.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        name = f"erase time 0x{op:02X} {format_size(size)}"
        worst_r = max(rs, key=lambda r: max(r.erase_ms))
        worst = max(worst_r.erase_ms)
        lims = [r.target.limit for r in rs if r.target.limit and r.target.limit.max_ms]
        if not lims:
            checks.append(Check(name, None, f"measured up to {worst:.3f} ms at {format_addr(worst_r.target.address)}; "
                                "no datasheet maximum known (database or SFDP), so the time is not judged", src))
            continue
        over = [(max(r.erase_ms), r) for r in rs if r.target.limit and r.target.limit.max_ms and max(r.erase_ms) > r.target.limit.max_ms]
        if over:
            ms, r = max(over, key=lambda x: x[0])
            lim = r.target.limit
            checks.append(Check(name, False, f"measured {ms:.3f} ms at {format_addr(r.target.address)}, above the maximum "
                                f"{lim.max_ms:g} ms ({lim.source}): slow, worn or counterfeit part", src + [lim.source]))
            continue
        lim = worst_r.target.limit or lims[0]
        typ = f", typical {lim.typ_ms:g} ms" if lim.typ_ms else ""
        checks.append(Check(name, True, f"longest {worst:.3f} ms, within the maximum {lim.max_ms:g} ms{typ} ({lim.source})",
                            src + [lim.source]))
    times = sorted(x for r in results for x in r.program_times)
    if times:
        worst = times[-1]
        # A page program is short next to the host's own pauses (USB
        # latency, a scheduler tick, a disk flush): one slow reading in ten
        # is the host, a slow part is slow on most pages.
        p90 = times[min(len(times) - 1, int(0.9 * len(times)))]
        lim = plan.program_limit
        figures = f"{len(times)} pages, 90th percentile {p90:.3f} ms, longest {worst:.3f} ms"
        if lim is None or not lim.max_ms:
            checks.append(Check("program time", None, f"page program measured ({figures}); no datasheet maximum "
                                "known (database or SFDP), so the time is not judged", src))
        elif p90 > lim.max_ms:
            checks.append(Check("program time", False, f"page program above the maximum {lim.max_ms:g} ms ({lim.source}) on more "
                                f"than one page in ten ({figures}): slow, worn or counterfeit part", src + [lim.source]))
        else:
            typ = f", typical {lim.typ_ms:g} ms" if lim.typ_ms else ""
            checks.append(Check("program time", True, f"page program within the maximum {lim.max_ms:g} ms{typ} ({figures}; "
                                f"{lim.source})", src + [lim.source]))
    tested = [r for r in results if r.status in ("tested", "interrupted")]
    if tested:
        checks.append(Check("data restored", all(r.restored for r in tested),
                            f"{len(tested)} block(s) and their neighbours read back as they were", src))
    skipped = [r for r in results if r.status == "skipped"]
    if skipped:
        checks.append(Check("protection", None, f"{len(skipped)} block(s) skipped: write-protected ({prot.detail}); "
                            "run with --unlock to test them (protection is put back afterwards)", ["the chip (0x05/0x72)"]))
    if not any(r.status in ("tested", "interrupted") for r in results):
        checks.append(Check("tested", None, "no block was tested, so nothing is proven", src))
    return checks


def run_test(
    nor: SpiNor,
    plan: Plan,
    journal_dir: Path,
    *,
    url: str = "",
    board: str = "",
    allow_unlock: bool = False,
    stop: Callable[[], bool] = lambda: False,
    progress: Callable[[int, int, str], None] | None = None,
) -> TestReport:
    """Test every target of ``plan``; see the module docstring.

    HardwareError (device gone, chip stuck busy) leaves the journal as it
    is and says to run ``flashcheck recover``."""
    prot = read_protection(nor, plan)
    results: list[SectorResult] = []
    writer: journal.Writer | None = None
    unlocked = False
    report = TestReport(url, board, plan, results, [], None, protection=prot.detail or None)
    todo: list[Target] = []
    for t in plan.targets:
        if t.opcode < 0:
            results.append(SectorResult(t, "untestable", detail=f"{format_size(t.size)} at {format_addr(t.address)}: {t.note}", erase_ok=False))
        elif prot.active and prot.locked and prot.locked(t.address, t.size) and not allow_unlock:
            results.append(SectorResult(t, "skipped", detail=f"write-protected ({prot.detail}); not unlocked without --unlock"))
        else:
            todo.append(t)
    if todo:
        pending = journal.unfinished_for(journal_dir, plan.jedec_hex, plan.uid_hex)
        if pending:
            raise InputError(
                f"this chip ({plan.jedec_hex}, unique ID {plan.uid_hex or 'none'}) has unfinished journal(s) from an "
                f"earlier run: {', '.join(str(j.path) for j in pending)}; run `{recover_command(url, journal_dir)}` "
                "first (testing now would save half-restored data as the original)"
            )
    try:
        if todo:
            writer = journal.Writer(journal_dir, jedec_id=plan.jedec_hex, unique_id=plan.uid_hex,
                                    transport=getattr(nor.transport, "description", url), tool=__version__)
            report.journal = writer.path
            protect_seq = None
            if prot.active and any(prot.locked(t.address, t.size) for t in todo):
                protect_seq = writer.append("protect", kind=prot.kind, value=prot.value.hex(), mask=prot.mask)
                unlock(nor, prot)
                unlocked = True
            for i, t in enumerate(todo):
                if stop():
                    report.interrupted = True
                    break
                if progress:
                    progress(i, len(todo), t.label())
                results.append(_test_sector(nor, plan, t, writer, i, stop))
                if stop():
                    report.interrupted = True
                    break
            if progress:
                progress(len(todo), len(todo), "done")
            if unlocked:
                relock(nor, prot.kind, prot.value, prot.mask)
                writer.append("protect-restored", durable=False, ref=protect_seq)
            writer.append("end", durable=False, result="interrupted" if report.interrupted else "complete")
    except (TransportError, ChipTimeout, HardwareError) as exc:
        raise type(exc)(_recover_hint(str(exc), writer, url, journal_dir)) from exc
    except KeyboardInterrupt:  # a second Ctrl-C: the block in progress is abandoned
        raise Abandoned(_recover_hint("interrupted before the block in progress was restored", writer, url,
                                      journal_dir)) from None
    finally:
        if writer is not None:
            writer.close()
    if writer is not None:
        journal.remove(writer.path)  # every entry closed, protection put back: nothing left to keep
        report.journal_removed = True
    results.sort(key=lambda r: (r.target.size, r.target.address))
    report.unlocked = unlocked
    report.checks = _checks(plan, results, prot, unlocked)
    if report.interrupted:
        report.checks.append(Check("complete", None, "interrupted: the block in progress was restored; "
                                   f"{len(todo) - sum(1 for r in results if r.status in ('tested', 'interrupted'))} not tested"))
    return report


def recover_command(url: str, journal_dir: Path) -> str:
    """The command line that puts the chip back (a simulated failure's
    ``fail_after`` left out of the URL)."""
    import re
    import shlex

    if url:
        url = re.sub(r"([?&])fail_after=\d+&?", r"\1", url).rstrip("?&")
    where = "" if journal_dir == journal.default_dir() else f" --journal-dir {shlex.quote(str(journal_dir))}"
    return f"flashcheck recover --url {shlex.quote(url) if url else '<URL>'}{where}"


def _recover_hint(msg: str, writer: journal.Writer | None, url: str, journal_dir: Path) -> str:
    if writer is None:
        return msg + " (nothing had been erased)"
    return (f"{msg}; the original data is kept in the journal {writer.path}: when the device is back, run "
            f"`{recover_command(url, journal_dir)}` to put it back")


# ---------------------------------------------------------------------------
# Recovery


@dataclass
class RecoverReport:
    chip: str
    restored: list[tuple[Path, int, int, int]] = field(default_factory=list)  # (file, entry, address, size)
    protection: list[str] = field(default_factory=list)
    other: list[Path] = field(default_factory=list)  # unfinished journals of other chips

    @property
    def nothing(self) -> bool:
        return not self.restored and not self.protection

    def to_json(self) -> dict[str, Any]:
        return {
            "chip": self.chip,
            "restored": [{"journal": str(p), "entry": e, "address": a, "size": s} for p, e, a, s in self.restored],
            "protection": self.protection,
            "other_chips": [str(p) for p in self.other],
        }


def recover(nor: SpiNor, journal_dir: Path) -> RecoverReport:
    """Restore every unfinished journal entry of the chip on ``nor``."""
    paths = journal.files(journal_dir)
    journals = [journal.read(p) for p in paths]  # JournalError: refused, nothing applied
    unfinished = [j for j in journals if j.unfinished]
    raw_id = nor.read_id(6)
    uid = nor.read_unique_id()
    jedec_hex, uid_hex = raw_id.hex(), uid.hex() if uid else None
    who = f"JEDEC ID {jedec_hex}, unique ID {uid_hex or 'none'}"
    report = RecoverReport(who)
    if not unfinished:
        return report
    mine = [j for j in unfinished if j.jedec_id == jedec_hex and j.unique_id == uid_hex]
    report.other = [j.path for j in unfinished if j not in mine]
    if not mine:
        listing = "; ".join(f"{j.path.name} ({j.identity()})" for j in unfinished)
        raise InputError(
            f"the chip on this transport ({who}) is not the chip the unfinished journal(s) were written for: "
            f"{listing}; refusing to write anything (fit the chip the journal names, or use its --journal-dir)"
        )
    for j in mine:
        w = journal.Writer.reopen(j)
        try:
            now = current_protection(nor, raw_id) if j.open_entries else None
            seq = None
            if now is not None:
                # whatever protection the chip has now is lifted for the restore
                seq = w.append("protect", kind=now[0], value=now[1].hex(), mask=now[2])
                unlock(nor, Protection(now[0], now[1], now[2]))
            for e in j.open_entries:
                erasers = [(e.opcode, e.size)] + [x for x in e.erasers if x != (e.opcode, e.size)]
                restore_window(nor, e.window_start, e.data, erasers, strict=True)
                w.done(e.entry, by="recover")
                report.restored.append((j.path, e.entry, e.address, e.size))
            if j.open_protects:
                p0 = j.open_protects[0]  # the protection the chip had before the test
                relock(nor, p0.kind, p0.value, p0.mask)
                for p in j.open_protects:
                    w.append("protect-restored", ref=p.seq)
                report.protection.append(f"{p0.kind} protection put back as before the test ({p0.value.hex()})")
                if seq is not None:
                    w.append("protect-restored", ref=seq)
            elif now is not None:
                relock(nor, *now)
                w.append("protect-restored", ref=seq)
                report.protection.append(f"{now[0]} protection lifted for the restore and put back ({now[1].hex()})")
            w.append("end", result="recovered")
        finally:
            w.close()
        journal.remove(j.path)
    return report


def current_protection(nor: SpiNor, raw_id: bytes) -> tuple[str, bytes, int] | None:
    """(kind, value, mask) of the write protection the chip has now, or None."""
    if raw_id[:2] == b"\xbf\x26":
        from flashcheck.workflows.probe import _SST26_BPR_BYTES

        bpr = nor.read_bpr(_SST26_BPR_BYTES.get(raw_id[2], 18))
        return ("bpr", bpr, 0) if any(bpr) else None
    from flashcheck.workflows.probe import bp_mask

    mask = bp_mask(raw_id)
    sr = nor.read_status()
    return ("sr", bytes([sr & ~0x03 & 0xFF]), mask) if sr & mask else None
