"""Is the array as large as the chip claims?  A counterfeit that answers a
16 MiB part's ID on an 8 MiB die wraps addresses: the top half reads the
bottom half."""

from __future__ import annotations

from flashcheck.chip.spinor import SpiNor
from flashcheck.rules import Check
from flashcheck.units import format_addr, format_size

KiB = 1024
MARK = bytes(range(0x10, 0x30))  # 32 bytes, no 0xFF


def _blank_page(image: bytes, half: int, page: int, writable) -> int | None:
    blank = b"\xff" * page
    for a in range(0, half, page):
        if image[a : a + page] == blank and writable(a):
            return a
    return None


def check_size(nor: SpiNor, image: bytes, page: int, prepare, writable) -> tuple[Check, int | None]:
    """(the check, the address of a marker page written or None).

    Halves that differ in ``image`` (the backup just read) prove the array
    does not wrap.  Identical halves (a blank chip, or a wrapped one) are
    settled by writing a marker into a blank page of the bottom half and
    reading it back at the same offset above each power of two: where it
    shows, the array really ends.  ``prepare(addr, blank)`` journals the
    page and, when it is not blank, erases its sector (the backup holds
    it); it returns the page's address.  Only pages ``writable(addr)``
    (not write-protected) are used."""
    cap = len(image)
    half = cap // 2
    name = "array size"
    src = ["the chip (0x03 reads across the array)"]
    if cap < 128 * KiB:
        return Check(name, True, f"{format_size(cap)}: too small to check for wrap-around", src), None
    if image[:half] != image[half:]:
        return Check(name, True, f"{format_size(cap)}: the two halves hold different data, so addresses do not "
                     "wrap", src), None
    if not any(writable(a) for a in range(0, half, 64 * KiB)):
        return Check(name, None, "both halves read the same and the bottom half is write-protected, so no marker "
                     "can be written to tell whether addresses wrap (--unlock lifts the protection)", src), None
    found = _blank_page(image, half, page, writable)
    if found is not None:
        a = prepare(found, True)
    else:
        a = prepare(next(a for a in range(0, half, 64 * KiB) if writable(a)), False)
    if a >= half:
        return Check(name, None, "no page of the bottom half could take a marker", src), None
    if nor.read(a, page) != b"\xff" * page:
        return Check(name, None, f"both halves read the same and no page could be erased for a marker: cannot "
                     f"tell whether the array is {format_size(cap)} or wraps", src), a
    nor.page_program(a, MARK)
    if nor.read(a, len(MARK)) != MARK:
        return Check(name, None, f"the size marker at {format_addr(a)} did not program", src), a
    seen = [s for s in _powers(cap)
            if image[a + s : a + s + len(MARK)] != MARK and nor.read(a + s, len(MARK)) == MARK]
    if seen:
        real = min(seen)
        return Check(name, False, f"the array wraps at {format_size(real)}: a marker written at {format_addr(a)} "
                     f"reads back at {format_addr(a + real)}; the chip claims {format_size(cap)}: counterfeit or "
                     "relabelled part; no block was erase-tested", src), a
    return Check(name, True, f"{format_size(cap)}: a marker at {format_addr(a)} did not reappear above any power "
                 "of two, so addresses do not wrap", src), a


def _powers(cap: int) -> list[int]:
    out, s = [], 64 * KiB
    while s < cap:
        out.append(s)
        s *= 2
    return out
