"""The fallback for parts not in ``parts/``: the ``spiflash`` package's
merged chip tables (flashrom, Linux, U-Boot and others).

Parts built here are marked ``curated=False``.  Where the upstream records
disagree on a fact a rule uses (erase layout, size, voltage) the fact is put
in :attr:`Part.disagreements`, and the rules then answer unknown for it.
spiflash is imported only when this module's functions run: its import
costs about a second.
"""

from __future__ import annotations

from typing import Any

from flashcheck.data.database import Match, normalise
from flashcheck.data.parts import EraseOp, Layout, Part, Region, Source

_NEAREST_CHARS = 32


def _spiflash():
    try:
        import spiflash
    except ImportError:  # pragma: no cover - dependency missing
        return None
    return spiflash


def _layouts(flash: Any, size: int) -> tuple[tuple[Layout, ...], dict[str, str]]:
    """Erase commands per opcode, from every record; disagreements noted."""
    by_op: dict[int, dict[tuple, set[str]]] = {}
    for rec in flash.records:
        for er in rec.erasers:
            if er.opcode is None or er.assumed:
                continue
            blocks = tuple((b.size, b.count) for b in er.blocks)
            if len(blocks) == 1 and blocks[0][0] == size:  # chip erase
                continue
            if sum(s * c for s, c in blocks) != size:
                continue
            by_op.setdefault(er.opcode, {}).setdefault(blocks, set()).add(rec.source.value)
    disagreements: dict[str, str] = {}
    ops = []
    for opcode, claims in sorted(by_op.items()):
        if len(claims) > 1:
            disagreements["erasers"] = f"0x{opcode:02X}: " + "; ".join(
                f"{'+'.join(f'{c}x{s // 1024}K' for s, c in b)} ({', '.join(sorted(src))})" for b, src in claims.items()
            )
            continue
        blocks = next(iter(claims))
        regions, pos = [], 0
        for bsize, count in blocks:
            regions.append(Region(pos, pos + bsize * count, bsize))
            pos += bsize * count
        # merge runs of the same size
        merged: list[Region] = []
        for r in regions:
            if merged and merged[-1].size == r.size and merged[-1].end == r.start:
                merged[-1] = Region(merged[-1].start, r.end, r.size)
            else:
                merged.append(r)
        ops.append(EraseOp(opcode, tuple(merged)))
    return ((Layout("default", tuple(ops)),) if ops else ()), disagreements


def part_from_flash(flash: Any, spiflash: Any) -> Part | None:
    size = flash.size
    if not size:
        return None
    layouts, disagreements = _layouts(flash, size)
    for attr in ("size", "voltage", "page_size", "sector_size"):
        if attr in flash.conflicts:
            disagreements[attr] = "; ".join(
                f"{v} ({', '.join(s.value for s in srcs)})" for v, srcs in flash.conflicts[attr].items()
            )
    if not layouts:
        disagreements.setdefault("erasers", "no source gives an erase layout")
        layouts = (Layout("default", ()),)
    volt = flash.voltage
    ab = flash.address_bytes
    address_bytes = None
    if ab is not None:
        text = str(getattr(ab, "value", ab))
        address_bytes = tuple(int(c) for c in text if c in "34") or None
    sources = ", ".join(s.value for s in flash.sources)
    return Part(
        name=flash.name,
        manufacturer=flash.manufacturer or "unknown",
        jedec_ids=(flash.id_hex.lower(),),
        capacity=size,
        layouts=layouts,
        source=Source(f"spiflash {spiflash.__version__} merged tables", None, None, None, f"from {sources}"),
        curated=False,
        aliases=tuple(n for n in flash.names if n != flash.name),
        page_size=flash.page_size,
        voltage=(volt.minimum_mv / 1000, volt.maximum_mv / 1000) if volt else None,
        address_bytes=address_bytes,
        disagreements=disagreements,
    )


def resolve(match: Match) -> Match:
    """Try spiflash for a query the curated database does not know."""
    spiflash = _spiflash()
    if spiflash is None:
        return match
    q = normalise(match.query)
    from flashcheck.data.database import _HEX_ID

    m = _HEX_ID.match(q)
    note = None
    if m:
        hexid = m.group(1).lower()
        flashes = spiflash.lookup(hexid)
        how = "JEDEC ID (spiflash)"
    else:
        from spiflash.model import name_matches

        found = spiflash.find(q)
        flashes = [f for f in found if any(name_matches(n, q) for n in f.names)]
        how = "family name (spiflash)"
        if not flashes:
            def longest(f: Any) -> int:
                return max((len(normalise(n)) for n in f.names if q.startswith(normalise(n))), default=0)

            best = max((longest(f) for f in found), default=0)
            prefix = [f for f in found if best >= 5 and longest(f) == best]
            if prefix:
                flashes = prefix
                names = sorted({n for f in flashes for n in f.names if q.startswith(normalise(n))}, key=len)
                how = "name prefix (spiflash)"
                note = (
                    f"order code not decoded: only the name {names[-1]} at its start is known (uncurated), "
                    "so package, temperature and variant suffixes are unchecked"
                )
    parts = [p for f in flashes if (p := part_from_flash(f, spiflash)) is not None]
    if not parts:
        if not match.suggestions:
            # the search is linear in the code's length per name: past the longest
            # name in the tables (24) extra characters only add the same tail cost to
            # every name, so the ranking is that of the first 32
            match.suggestions = [n.name for n in spiflash.find_nearest(q[:_NEAREST_CHARS], 3)] if not m else []
        return match
    return Match(match.query, parts, how, note=note, suggestions=match.suggestions)
