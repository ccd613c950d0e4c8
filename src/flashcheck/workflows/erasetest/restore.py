"""Putting data back: one window (after a block's test), or the whole chip
from the backup image (the end of every run, and ``recover``).  Nothing is
called restored here until it has been read back and compared."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flashcheck.chip.spinor import OperationFailed, SpiNor
from flashcheck.errors import HardwareError
from flashcheck.units import format_addr

KiB = 1024
#: Whole-chip restores work in aligned chunks of this size.
CHUNK = 64 * KiB


def align_down(a: int, s: int) -> int:
    return a - a % s


def first_diff(a: bytes, b: bytes) -> int:
    for i, (x, y) in enumerate(zip(a, b)):
        if x != y:
            return i
    return min(len(a), len(b))


def last_diff(a: bytes, b: bytes) -> int:
    i = len(a) - 1
    while i >= 0 and a[i] == b[i]:
        i -= 1
    return i


def program(nor: SpiNor, addr: int, data: bytes, timeout_s: float) -> float:
    """WREN, page program, wait: the seconds the chip took.  Where the
    transport batches (FT232H), WREN, the program and a first status read
    go in one USB round trip, timed from sending; elsewhere the wait is
    timed from after the program command, as before.  WEL is not read back
    first: every program here is read back afterwards."""
    cmd = b"\x02" + nor._addr(addr) + bytes(data)  # noqa: SLF001 - this layer's address encoding
    if getattr(nor.transport, "exchange_many", None) is None:
        nor.command(0x06)
        nor.command(0x02, cmd[1:])
        return nor.wait_ready(timeout_s, opcode=0x02, addr=addr)
    t0 = nor._clock()  # noqa: SLF001 - the clock wait_ready uses
    if nor.batch([(b"\x06", 0), (cmd, 0), (b"\x05", 1)])[2][0] & 0x01:
        nor.wait_ready(timeout_s, opcode=0x02, addr=addr)
    return nor._clock() - t0  # noqa: SLF001


def erase_timed(nor: SpiNor, opcode: int, addr: int, timeout: float, jedec: bytes = b"") -> tuple[float, bool, str | None]:
    """Erase: (ms waited, whether the chip went busy, an error the chip
    reported or None).  A chip that reports a failed erase through its
    vendor hook (Spansion FL-S E_ERR: :class:`OperationFailed`) has its
    error cleared by the vendor's :meth:`SpiNor.clear_error` and the erase
    counts as failed, not as a chip stuck busy.  ``jedec`` is unused (kept
    for callers)."""
    saved = nor.poll_interval_s
    nor.poll_interval_s = min(saved, 0.0001) if saved else 0.0
    t0 = nor._clock()  # noqa: SLF001 - the clock wait_ready uses
    try:
        s = nor.erase(opcode, addr, timeout)
    except OperationFailed as exc:
        nor.clear_error()
        nor.wait_ready(1.0)
        ms = (nor._clock() - t0) * 1000.0  # noqa: SLF001
        return ms, True, f"{exc} (cleared)"
    finally:
        nor.poll_interval_s = saved
    return s * 1000.0, nor.last_busy_seen, None


def _pick_eraser(erasers, need: int, start: int, end: int, orig: bytes, tried: set) -> tuple[int, int, int] | None:
    """The erase to clear ``need``: the largest whose block in ``orig`` is
    blank (nothing to program back), else the smallest; always an aligned
    block wholly inside [start, end), never one tried before."""
    fits = [(op, size, align_down(need, size)) for op, size in erasers(need)
            if align_down(need, size) >= start and align_down(need, size) + size <= end]
    fits = [(op, size, blk) for op, size, blk in fits if (op, blk) not in tried]
    for op, size, blk in sorted(fits, key=lambda x: (-x[1], x[0])):
        chunk = orig[blk - start : blk - start + size]
        if chunk.count(0xFF) == len(chunk):
            return op, blk, size
    smallest = sorted(fits, key=lambda x: (x[1], x[0]))
    return (smallest[0][0], smallest[0][2], smallest[0][1]) if smallest else None


def _plan_pages(cur: bytes, orig: bytes, page_size: int, fresh: bytearray, strict: bool):
    """(pages that only need programming, first address needing an erase or None)."""
    todo: list[tuple[int, int, int]] = []
    for p in range(0, len(orig), page_size):
        c, o = cur[p : p + page_size], orig[p : p + page_size]
        if c == o:
            continue
        oi = int.from_bytes(o, "big")
        if int.from_bytes(c, "big") & oi == oi and (not strict or fresh[p // page_size]):
            todo.append((p, first_diff(c, o), last_diff(c, o)))
        else:
            return todo, p + first_diff(c, o)
    return todo, None


def _mark_fresh(fresh: bytearray, before: bytes, after: bytes, start: int, blk: int, size: int, page_size: int) -> None:
    for p in range(0, len(after), page_size):
        page = after[p : p + page_size]
        if page.count(0xFF) == len(page) and (blk <= start + p < blk + size or before[p : p + page_size] != page):
            fresh[p // page_size] = 1  # blanked by this erase


def _program_pages(nor: SpiNor, start: int, orig: bytes, todo) -> int:
    saved = nor.poll_interval_s
    nor.poll_interval_s = 0.0
    try:
        for p, i, j in todo:
            program(nor, start + p + i, orig[p + i : p + j + 1], 1.0)
    finally:
        nor.poll_interval_s = saved
    return len(todo)


def restore_window(
    nor: SpiNor,
    start: int,
    orig: bytes,
    erasers: list[tuple[int, int]] | Callable[[int], list[tuple[int, int]]],
    page_size: int = 256,
    *,
    erase_timeout: Callable[[int, int], float] = lambda op, size: 30.0,
    first: bytes | None = None,
    strict: bool = False,
    jedec: bytes = b"",
) -> dict[str, Any]:
    """Make ``[start, start + len(orig))`` read ``orig`` again, and read it
    back equal (HardwareError when it cannot).

    Bytes that only need bits cleared are programmed.  Where a bit must go
    back to 1 an erase of ``erasers`` (opcode, size) whose aligned block
    lies wholly inside the window is tried (:func:`_pick_eraser`; each
    opcode and block once); what it erased is programmed back next pass.
    ``strict`` (after a power loss): a page that differs is not programmed
    over until an erase of this call has blanked it, because an erase or
    program cut short can leave cells that read 1 but are weakly erased."""
    n = len(orig)
    end = start + n
    listed = erasers
    if not callable(erasers):
        erasers = lambda _a: listed  # noqa: E731
    tried: set[tuple[int, int]] = set()
    fresh = bytearray(n // page_size + 1)
    info: dict[str, Any] = {"erases": [], "pages": 0}
    cur = first if first is not None else nor.read(start, n)
    last_programmed: bytes | None = None
    for _ in range(16 + 8 * max(1, n // 4096)):
        if cur == orig:
            return info
        todo, need = _plan_pages(cur, orig, page_size, fresh, strict)
        if need is not None:
            pick = _pick_eraser(erasers, start + need, start, end, orig, tried)
            if pick is None:
                raise HardwareError(
                    f"cannot restore {format_addr(start + need)}: no erase command left to try inside "
                    f"{format_addr(start)}-{format_addr(end - 1)} (tried "
                    f"{', '.join(f'0x{o:02X} at {format_addr(b)}' for o, b in sorted(tried)) or 'none'})")
            op, blk, size = pick
            tried.add((op, blk))
            erase_timed(nor, op, blk, erase_timeout(op, size), jedec)
            info["erases"].append((op, blk))
            after = nor.read(start, n)
            _mark_fresh(fresh, cur, after, start, blk, size, page_size)
            cur = after
            continue
        if last_programmed == cur:
            raise HardwareError(f"programming does not take at {format_addr(start + todo[0][0])}: "
                                f"{format_addr(start)}-{format_addr(end - 1)} could not be restored")
        last_programmed = cur
        info["pages"] += _program_pages(nor, start, orig, todo)
        cur = nor.read(start, n)
    raise HardwareError(f"{format_addr(start)}-{format_addr(end - 1)} could not be restored")


def differing_chunks(cur: bytes, image: bytes, chunk: int = CHUNK) -> list[int]:
    """Start addresses of the ``chunk``-aligned pieces where the two differ."""
    return [a for a in range(0, len(image), chunk) if cur[a : a + chunk] != image[a : a + chunk]]


def restore_image(nor: SpiNor, image: bytes, erasers_at: Callable[[int], list[tuple[int, int]]],
                  page_size: int = 256, *, strict: bool = False, avoid: frozenset[int] = frozenset(),
                  current: bytes | None = None, passes: int = 3, jedec: bytes = b"") -> dict[str, Any]:
    """Make the chip's ``[0, len(image))`` read ``image`` and read the whole
    range back equal (HardwareError naming what still differs otherwise).

    Works chunk by chunk (:data:`CHUNK`, erasers valid there from
    ``erasers_at(address)``) with :func:`restore_window`; erase opcodes in ``avoid`` (seen to
    erase beyond their block) are not used.  An erase that reaches outside
    its chunk anyway is caught by the whole-range read that follows each
    pass."""
    def usable(a: int) -> list[tuple[int, int]]:
        return [(o, s) for o, s in erasers_at(a) if o not in avoid and s <= chunk]

    chunk = CHUNK
    cur = current if current is not None else nor.read(0, len(image))
    stats: dict[str, Any] = {"chunks": 0, "bytes": 0, "passes": 0}
    for _ in range(passes):
        bad = differing_chunks(cur, image, chunk)
        if not bad:
            return stats
        stats["passes"] += 1
        for a in bad:
            want = image[a : a + chunk]
            stats["bytes"] += sum(1 for x, y in zip(cur[a : a + chunk], want) if x != y)
            restore_window(nor, a, want, usable, page_size, first=cur[a : a + chunk], strict=strict, jedec=jedec,
                           erase_timeout=lambda op, size: 10.0 if size <= 64 * KiB else 30.0)
            stats["chunks"] += 1
        cur = nor.read(0, len(image))
    bad = differing_chunks(cur, image, chunk)
    if bad:
        raise HardwareError(f"the chip still differs from its backup at {len(bad)} chunk(s) from "
                            f"{format_addr(bad[0])} after {passes} restore passes")
    return stats
