"""Errors and the exit codes they map to.

Every command uses the same exit codes:

====  ==========================================================
0     every part / board passed
1     at least one failed
2     bad input or usage (file, line or field named in the message)
3     at least one unknown and none failed
4     hardware or transport fault (no device, USB gone, no chip)
====  ==========================================================
"""

from __future__ import annotations

EXIT_PASS = 0
EXIT_FAIL = 1
EXIT_USAGE = 2
EXIT_UNKNOWN = 3
EXIT_HARDWARE = 4


class FlashcheckError(Exception):
    """Base class: a message meant for the user, and an exit code."""

    exit_code = EXIT_USAGE


class InputError(FlashcheckError):
    """Bad input: a file, a line, a field or a command-line value.

    The message names where the problem is (``parts/winbond.yaml:42: ...``).
    """

    exit_code = EXIT_USAGE


class HardwareError(FlashcheckError):
    """A fault at the chip or the transport: no device, USB gone, no chip
    answering, chip stuck busy.  The message says what to check."""

    exit_code = EXIT_HARDWARE


class TransportError(HardwareError):
    """The transport itself failed (device vanished, link closed)."""


class ChipTimeout(HardwareError):
    """The chip stayed busy past the time allowed."""
