"""The erase map of a layout: the array cut into segments, each with the
erase sizes (and opcodes) that work there; and a terminal drawing of it."""

from __future__ import annotations

from flashcheck.record import record

from flashcheck.data.parts import Layout
from flashcheck.units import format_addr, format_size


@record(frozen=True)
class Segment:
    start: int
    end: int  # exclusive
    sizes: dict[int, tuple[int, ...]]  # erase size -> opcodes erasing it here

    def __str__(self) -> str:
        return f"{format_addr(self.start)}-{format_addr(self.end - 1)}"


def segments(layout: Layout, capacity: int) -> list[Segment]:
    cuts = {0, capacity}
    for op in layout.erase:
        for r in op.regions:
            cuts.update((r.start, r.end))
    points = sorted(c for c in cuts if 0 <= c <= capacity)
    out = []
    for start, end in zip(points, points[1:]):
        sizes: dict[int, list[int]] = {}
        for op in layout.erase:
            for r in op.regions:
                if r.start <= start and end <= r.end:
                    sizes.setdefault(r.size, []).append(op.opcode)
        out.append(Segment(start, end, {s: tuple(sorted(set(o))) for s, o in sorted(sizes.items())}))
    # merge neighbours that look the same
    merged: list[Segment] = []
    for seg in out:
        if merged and merged[-1].sizes == seg.sizes:
            merged[-1] = Segment(merged[-1].start, seg.end, seg.sizes)
        else:
            merged.append(seg)
    return merged


def coverage(layout: Layout, capacity: int, size: int) -> list[tuple[int, int]]:
    """Address ranges where an erase of exactly ``size`` works."""
    ranges = sorted((r.start, r.end) for op in layout.erase for r in op.regions if r.size == size)
    merged: list[list[int]] = []
    for s, e in ranges:
        if merged and s <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], e)
        else:
            merged.append([s, e])
    return [(s, e) for s, e in merged]


def gaps(covered: list[tuple[int, int]], start: int, end: int) -> list[tuple[int, int]]:
    """Parts of [start, end) not in ``covered``."""
    out = []
    pos = start
    for s, e in covered:
        if e <= pos:
            continue
        if s >= end:
            break
        if s > pos:
            out.append((pos, min(s, end)))
        pos = max(pos, e)
    if pos < end:
        out.append((pos, end))
    return out


def fmt_range(start: int, end: int) -> str:
    return f"{format_addr(start)}-{format_addr(end - 1)}"


def draw(layout: Layout, capacity: int, width: int = 64) -> list[tuple[str, str]]:
    """One bar per erase size: ``(label, bar)``; '#' where that size works,
    '.' where it does not.  Each segment gets at least one column so a small
    parameter area stays visible."""
    segs = segments(layout, capacity)
    # columns per segment: proportional, at least 1
    raw = [(s.end - s.start) / capacity * width for s in segs]
    cols = [max(1, round(x)) for x in raw]
    while sum(cols) > width and max(cols) > 1:
        cols[cols.index(max(cols))] -= 1
    sizes = sorted({sz for s in segs for sz in s.sizes})
    rows = []
    for sz in sizes:
        bar = "".join(("#" if sz in s.sizes else ".") * c for s, c in zip(segs, cols))
        ops = sorted({o for s in segs for o in s.sizes.get(sz, ())})
        label = f"{format_size(sz):>8} " + "/".join(f"0x{o:02X}" for o in ops)
        rows.append((label, bar))
    return rows
