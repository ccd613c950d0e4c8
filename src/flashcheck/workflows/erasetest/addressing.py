"""4-byte addressing around a run on a part over 16 MiB: the chip layer's
vendor hooks (:meth:`SpiNor.four_byte_mode`, :meth:`SpiNor.enter_4byte`,
:meth:`SpiNor.exit_4byte`: 0xB7/0xE9, Spansion's bank register ...) put
the chip in 4-byte mode for the run so every erase type reaches the whole
array, and the chip is left in the address mode it was found in."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager

from flashcheck.chip.spinor import SpiNor
from flashcheck.errors import HardwareError

#: 3-byte addresses reach this far.
REACH_3B = 1 << 24


@contextmanager
def whole_array(nor: SpiNor, capacity: int, notes: list[str] | None = None) -> Iterator[None]:
    """Address all of ``capacity`` on ``nor`` inside the block; afterwards
    the chip is in the mode it was found in (checked where the vendor can
    tell).  ``notes`` gets one line saying what was done."""
    if capacity <= REACH_3B:
        yield
        return
    found = nor.four_byte_mode()
    if found:
        nor.addr_width = 4
        _note(notes, "the chip was found in 4-byte address mode: addressed so and left so")
        yield
        return
    nor.enter_4byte()
    try:
        yield
    finally:
        _leave(nor, found, notes, failing=sys.exc_info()[0] is not None)


def _leave(nor: SpiNor, found: bool | None, notes: list[str] | None, *, failing: bool) -> None:
    try:
        nor.exit_4byte()
        if nor.four_byte_mode():
            raise HardwareError("the chip stays in 4-byte address mode after 0xE9 (exit 4-byte mode): "
                                "power-cycle it before the host uses it")
    except Exception:
        if not failing:
            raise
        return  # the run's own error is the one to report
    how = "read from the chip" if found is False else "not readable on this part: assumed 3-byte, the power-up default"
    _note(notes, f"4-byte address mode entered for the run and left again (mode before the test {how})")


def _note(notes: list[str] | None, text: str) -> None:
    if notes is not None:
        notes.append(text)
