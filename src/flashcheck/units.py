"""Sizes, times and addresses as people write them in YAML and on the
command line ("4 KiB", "64K", "16 MiB", "128 Mbit", 0x10000)."""

from __future__ import annotations

import re

_SIZE_RE = re.compile(
    r"^\s*(?P<num>\d+(?:\.\d+)?)\s*(?P<unit>[KMG]i?B?|[KMG]bit|[KMG]b|B|bytes?)?\s*$",
    re.IGNORECASE,
)
_MULT = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30}


def parse_size(value: object) -> int:
    """Bytes from an int, or a string such as ``"4 KiB"``, ``"64K"``,
    ``"16MB"``, ``"128 Mbit"`` or ``"0x10000"``.  Binary multiples are
    meant throughout, as flash datasheets mean them.  Raises ValueError."""
    if isinstance(value, bool):
        raise ValueError(f"not a size: {value!r}")
    if isinstance(value, int):
        if value < 0:
            raise ValueError(f"negative size: {value}")
        return value
    if not isinstance(value, str):
        raise ValueError(f"not a size: {value!r}")
    text = value.strip()
    if re.fullmatch(r"0x[0-9a-fA-F]+", text):
        return int(text, 16)
    m = _SIZE_RE.match(text)
    if not m:
        raise ValueError(f"not a size: {value!r} (use e.g. 4096, 0x1000, '4 KiB', '128 Mbit')")
    num = float(m.group("num"))
    unit = (m.group("unit") or "").strip()
    bits = unit.lower().endswith("bit") or (unit.endswith("b") and not unit.endswith("B") and len(unit) > 1)
    letter = unit[:1].upper() if unit[:1].upper() in "KMG" else ""
    result = num * _MULT[letter]
    if bits:
        result /= 8
    if result != int(result):
        raise ValueError(f"not a whole number of bytes: {value!r}")
    return int(result)


def format_size(n: int) -> str:
    """``4096`` -> ``"4 KiB"``; exact binary multiples only, else bytes."""
    for unit, mult in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= mult and n % mult == 0:
            return f"{n // mult} {unit}"
    return f"{n} B"


def format_addr(n: int) -> str:
    return f"0x{n:06X}" if n < (1 << 24) else f"0x{n:08X}"


def parse_hex_bytes(value: str) -> bytes:
    """``"ef4018"``, ``"EF 40 18"``, ``"0xef4018"`` -> bytes.  ValueError if not hex."""
    text = value.strip().lower().replace(" ", "").replace(":", "")
    if text.startswith("0x"):
        text = text[2:]
    if not text or len(text) % 2 or not re.fullmatch(r"[0-9a-f]+", text):
        raise ValueError(f"not a hex byte string: {value!r}")
    return bytes.fromhex(text)
