"""Decode an SFDP area (JEDEC JESD216, revisions 1.0 to 1.8 / A-D).

:func:`parse` reads the SFDP header, the parameter headers, the Basic Flash
Parameter Table (BFPT, 0xFF00) and the Sector Map Parameter Table (0xFF81),
and returns an :class:`SfdpInfo`.  The layout follows Linux
``drivers/mtd/spi-nor/sfdp.c`` (``spi_nor_parse_bfpt``,
``spi_nor_parse_smpt``); spiflash's :func:`spiflash.parse_sfdp` decodes the
same BFPT fields and the tests compare the two.  spiflash does not decode
the sector map: this module does.

Anything malformed (no signature, a header or table past the end of the
data, a truncated BFPT, lengths or sizes no chip has, a sector map whose
regions do not cover the chip) raises :class:`SfdpError`, an
:class:`~flashcheck.errors.InputError` with a one-line message; nothing
else escapes (no IndexError, no struct.error).

``load_dump(path)`` reads a dump saved as binary (Linux's
``/sys/bus/spi/devices/*/spi-nor/sfdp``) or as hex text (``xxd``/``hexdump
-C`` output, or plain hex bytes).
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flashcheck.errors import InputError

SIGNATURE = b"SFDP"
BFPT_ID = 0xFF00
SECTOR_MAP_ID = 0xFF81

_ERASE_UNITS_MS = (1, 16, 128, 1000)
_CHIP_ERASE_UNITS_MS = (16, 256, 4000, 64000)
#: Largest density accepted: 2^40 bits (128 GiB); no NOR part is near it.
_MAX_DENSITY_BITS = 1 << 40


class SfdpError(InputError):
    """The SFDP data is malformed; the message says where."""


@dataclass(frozen=True)
class EraseType:
    """One BFPT erase type (DWORDs 8-9), with its times from DWORD 10."""

    index: int  # 1..4, as the table numbers them
    size: int
    opcode: int
    typ_ms: float | None = None
    max_ms: float | None = None

    def to_json(self) -> dict[str, Any]:
        return {"size": self.size, "opcode": self.opcode, "typ_ms": self.typ_ms, "max_ms": self.max_ms}


@dataclass(frozen=True)
class ParameterHeader:
    id: int
    major: int
    minor: int
    length: int  # dwords
    pointer: int


@dataclass(frozen=True)
class DetectCommand:
    """A sector-map configuration-detection read."""

    opcode: int
    address: int
    address_bytes: int  # 0, 3, 4, or -1: the current address mode
    dummy_cycles: int  # -1: variable (the current read dummy)
    mask: int


@dataclass(frozen=True)
class Region:
    start: int
    size: int
    #: The erase types that work in this region.
    erase_types: tuple[EraseType, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "start": self.start,
            "size": self.size,
            "erase_types": [{"size": e.size, "opcode": e.opcode} for e in self.erase_types],
        }


@dataclass(frozen=True)
class SectorMapConfig:
    id: int
    regions: tuple[Region, ...]

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "regions": [r.to_json() for r in self.regions]}


@dataclass(frozen=True)
class SfdpInfo:
    """What an SFDP area says about the chip's geometry."""

    revision: str
    size: int
    page_size: int | None
    erase_types: list[tuple[int, int, float | None, float | None]]
    uniform_4k: bool | None
    sector_map: list[SectorMapConfig] | None
    # more detail, not in to_json()
    major: int = 1
    minor: int = 0
    erase_4k_opcode: int | None = None
    address_bytes: str | None = None  # "3", "3or4", "4"
    page_program_us: float | None = None
    chip_erase_ms: float | None = None
    bfpt_revision: str = ""
    bfpt_dwords: tuple[int, ...] = ()
    headers: tuple[ParameterHeader, ...] = ()
    sector_map_detect: tuple[DetectCommand, ...] = ()
    erase_type_list: tuple[EraseType, ...] = field(default=())

    def to_json(self) -> dict[str, Any]:
        return {
            "revision": self.revision,
            "size": self.size,
            "page_size": self.page_size,
            "erase_types": [
                {"size": s, "opcode": o, "typ_ms": t, "max_ms": m} for s, o, t, m in self.erase_types
            ],
            "uniform_4k": self.uniform_4k,
            "sector_map": None if self.sector_map is None else [c.to_json() for c in self.sector_map],
        }


def _bits(v: int, hi: int, lo: int) -> int:
    return (v >> lo) & ((1 << (hi - lo + 1)) - 1)


def _headers(data: bytes) -> tuple[int, int, list[ParameterHeader]]:
    if not isinstance(data, bytes | bytearray | memoryview):
        raise SfdpError(f"SFDP data must be bytes, not {type(data).__name__}")
    data = bytes(data)
    if len(data) < 8:
        raise SfdpError(f"SFDP data is {len(data)} bytes: too short for the 8-byte header")
    if data[:4] != SIGNATURE:
        raise SfdpError(f"no SFDP signature: the data starts {data[:4].hex(' ')}, expected 53 46 44 50 ('SFDP')")
    minor, major, nph = data[4], data[5], data[6] + 1
    if major != 1:
        raise SfdpError(f"SFDP major revision {major}: only JESD216 revision 1.x is defined")
    end = 8 + 8 * nph
    if end > len(data):
        raise SfdpError(f"SFDP header announces {nph} parameter headers, which end at byte {end}, past the {len(data)}-byte data")
    headers = []
    for i in range(nph):
        lsb, hminor, hmajor, length, p0, p1, p2, msb = struct.unpack_from("<8B", data, 8 + 8 * i)
        headers.append(ParameterHeader(msb << 8 | lsb, hmajor, hminor, length, p0 | p1 << 8 | p2 << 16))
    return major, minor, headers


def _table(data: bytes, h: ParameterHeader, name: str) -> tuple[int, ...]:
    if h.length == 0:
        raise SfdpError(f"{name} parameter header gives length 0")
    if h.pointer % 4:
        raise SfdpError(f"{name} pointer 0x{h.pointer:X} is not DWORD aligned")
    end = h.pointer + 4 * h.length
    if h.pointer >= len(data):
        raise SfdpError(f"{name} pointer 0x{h.pointer:X} is past the end of the {len(data)}-byte data")
    if end > len(data):
        raise SfdpError(
            f"{name} is truncated: {h.length} DWORDs at 0x{h.pointer:X} end at byte {end}, the data has {len(data)}"
        )
    return struct.unpack_from(f"<{h.length}I", data, h.pointer)


def _bfpt(dw: tuple[int, ...], h: ParameterHeader) -> dict[str, Any]:
    if len(dw) < 9:
        raise SfdpError(f"BFPT has {len(dw)} DWORDs; JESD216 requires at least 9")
    out: dict[str, Any] = {}
    dw1 = dw[0]
    code = _bits(dw1, 1, 0)
    out["uniform_4k"] = {0b01: True, 0b11: False}.get(code)
    op4k = _bits(dw1, 15, 8)
    out["erase_4k_opcode"] = op4k if code == 0b01 and op4k != 0xFF else None
    out["address_bytes"] = {0: "3", 1: "3or4", 2: "4"}.get(_bits(dw1, 18, 17))
    dw2 = dw[1]
    if dw2 >> 31:
        exp = _bits(dw2, 30, 0)
        if exp < 15 or exp > 40:
            raise SfdpError(f"BFPT density 2^{exp} bits is not credible")
        bits = 1 << exp
    else:
        bits = dw2 + 1
        if bits < 1 << 15:
            raise SfdpError(f"BFPT density {bits} bits is not credible")
    if bits % 8:
        raise SfdpError(f"BFPT density {bits} bits is not a whole number of bytes")
    if bits > _MAX_DENSITY_BITS:
        raise SfdpError(f"BFPT density {bits} bits is not credible")
    size = bits // 8
    out["size"] = size

    types = []
    for i, (d, shift) in enumerate(((7, 0), (7, 16), (8, 0), (8, 16)), start=1):
        exp = _bits(dw[d], shift + 7, shift)
        opcode = _bits(dw[d], shift + 15, shift + 8)
        if exp == 0:
            continue
        if exp > 31 or (1 << exp) > size:
            raise SfdpError(f"BFPT erase type {i} size 2^{exp} bytes is larger than the chip ({size} bytes)")
        types.append(EraseType(i, 1 << exp, opcode))
    # as Linux: a field is read when the table is long enough to hold it
    # (JESD216 tables are 9 DWORDs; A and later 16 or more)
    if len(dw) >= 10:
        dw10 = dw[9]
        mult = 2 * (_bits(dw10, 3, 0) + 1)
        timed = []
        for e in types:
            lo = 4 + 7 * (e.index - 1)
            count = _bits(dw10, lo + 4, lo) + 1
            unit = _ERASE_UNITS_MS[_bits(dw10, lo + 6, lo + 5)]
            typ = float(count * unit)
            timed.append(EraseType(e.index, e.size, e.opcode, typ, typ * mult))
        types = timed
    out["erase_types"] = types
    out["page_size"] = None
    out["page_program_us"] = None
    out["chip_erase_ms"] = None
    if len(dw) >= 11:
        dw11 = dw[10]
        out["page_size"] = 1 << _bits(dw11, 7, 4)
        out["page_program_us"] = float((_bits(dw11, 12, 8) + 1) * (64 if _bits(dw11, 13, 13) else 8))
        out["chip_erase_ms"] = float((_bits(dw11, 28, 24) + 1) * _CHIP_ERASE_UNITS_MS[_bits(dw11, 30, 29)])
    return out


def _sector_map(
    dw: tuple[int, ...], size: int, types: list[EraseType]
) -> tuple[tuple[DetectCommand, ...], list[SectorMapConfig]]:
    by_index = {e.index: e for e in types}
    detect = []
    configs: list[SectorMapConfig] = []
    i = 0
    n = len(dw)
    # detection command descriptors: two DWORDs each, until the first map
    while i < n and not dw[i] & 0b10:
        if i + 1 >= n:
            raise SfdpError("Sector Map table is truncated inside a detection command descriptor")
        d = dw[i]
        alen = {0: 0, 1: 3, 2: 4, 3: -1}[_bits(d, 23, 22)]
        dummy = _bits(d, 19, 16)
        detect.append(DetectCommand(_bits(d, 15, 8), dw[i + 1], alen, -1 if dummy == 0xF else dummy, _bits(d, 31, 24)))
        i += 2
        if len(detect) > 8:
            raise SfdpError("Sector Map table has more than 8 detection commands")
    if i >= n:
        raise SfdpError("Sector Map table has no map descriptor")
    seen: set[int] = set()
    while i < n:
        d = dw[i]
        if not d & 0b10:
            raise SfdpError(f"Sector Map DWORD {i + 1}: expected a map descriptor, found a command descriptor")
        cid = _bits(d, 15, 8)
        count = _bits(d, 23, 16) + 1
        if i + 1 + count > n:
            raise SfdpError(f"Sector Map configuration {cid} announces {count} regions, past the end of the table")
        if cid in seen:
            raise SfdpError(f"Sector Map configuration {cid} is described twice")
        seen.add(cid)
        regions = []
        start = 0
        for k in range(count):
            r = dw[i + 1 + k]
            rsize = (_bits(r, 31, 8) + 1) * 256
            mask = _bits(r, 3, 0)
            usable = []
            for bit in range(4):
                if mask >> bit & 1:
                    et = by_index.get(bit + 1)
                    if et is None:
                        raise SfdpError(
                            f"Sector Map configuration {cid} region {k}: erase type {bit + 1} is not in the BFPT"
                        )
                    usable.append(et)
            regions.append(Region(start, rsize, tuple(usable)))
            start += rsize
        if start != size:
            raise SfdpError(
                f"Sector Map configuration {cid}: regions cover {start} bytes, the BFPT density is {size}"
            )
        configs.append(SectorMapConfig(cid, tuple(regions)))
        i += 1 + count
        if d & 0b01:
            break
    return tuple(detect), configs


def parse(data: bytes) -> SfdpInfo:
    """Decode an SFDP area; SfdpError when it is malformed."""
    try:
        return _parse(data)
    except SfdpError:
        raise
    except (IndexError, struct.error, ValueError, KeyError, OverflowError) as e:  # pragma: no cover - belt and braces
        raise SfdpError(f"malformed SFDP data: {e}") from None


def _parse(data: bytes) -> SfdpInfo:
    major, minor, headers = _headers(data)
    data = bytes(data)
    bfpts = [h for h in headers if h.id == BFPT_ID and h.major == 1]
    if not bfpts:
        raise SfdpError("no Basic Flash Parameter Table (ID 0xFF00, major revision 1) in the SFDP headers")
    if headers[0].id != BFPT_ID:
        raise SfdpError(f"the first parameter header is 0x{headers[0].id:04X}, JESD216 requires the BFPT first")
    # as Linux: the highest minor revision, then the longest
    best = max(bfpts, key=lambda h: (h.minor, h.length))
    dw = _table(data, best, "BFPT")
    b = _bfpt(dw, best)
    types: list[EraseType] = b["erase_types"]

    sector_map = None
    detect: tuple[DetectCommand, ...] = ()
    smpt = [h for h in headers if h.id == SECTOR_MAP_ID]
    if smpt:
        sdw = _table(data, smpt[0], "Sector Map table")
        detect, sector_map = _sector_map(sdw, b["size"], types)
    for h in headers:
        if h not in bfpts and h not in smpt:
            _table(data, h, f"parameter table 0x{h.id:04X}")  # checks bounds only

    return SfdpInfo(
        revision=f"{major}.{minor}",
        size=b["size"],
        page_size=b["page_size"],
        erase_types=[(e.size, e.opcode, e.typ_ms, e.max_ms) for e in types],
        uniform_4k=b["uniform_4k"],
        sector_map=sector_map,
        major=major,
        minor=minor,
        erase_4k_opcode=b["erase_4k_opcode"],
        address_bytes=b["address_bytes"],
        page_program_us=b["page_program_us"],
        chip_erase_ms=b["chip_erase_ms"],
        bfpt_revision=f"{best.major}.{best.minor}",
        bfpt_dwords=tuple(dw),
        headers=tuple(headers),
        sector_map_detect=detect,
        erase_type_list=tuple(types),
    )


#: Largest SFDP image read from a dump: JESD216 tables are a few hundred
#: bytes, and every pointer is 24-bit.
MAX_DUMP = 1 << 20


def load_dump(path: str | Path) -> bytes:
    """The bytes of an SFDP dump file: binary (starts with ``SFDP``), or hex
    text: plain hex bytes (``53 46 44 50 ...`` or ``53464450...``), or
    ``xxd`` / ``hexdump -C`` output (offsets and the ASCII column are
    dropped).  SfdpError for a file that is neither, or whose image would be
    over :data:`MAX_DUMP` bytes."""
    p = Path(path)
    try:
        with open(p, "rb") as f:
            raw = f.read(4 * MAX_DUMP + 1)  # hex text takes up to ~4 characters a byte
    except FileNotFoundError:
        raise SfdpError(f"{p}: no such file") from None
    except IsADirectoryError:
        raise SfdpError(f"{p}: is a directory; expected an SFDP dump file") from None
    except OSError as e:
        raise SfdpError(f"{p}: cannot read: {e.strerror or e}") from None
    if len(raw) > 4 * MAX_DUMP or (raw.startswith(SIGNATURE) and len(raw) > MAX_DUMP):
        raise SfdpError(f"{p}: over {MAX_DUMP >> 10} KiB; an SFDP dump is a few hundred bytes")
    if raw.startswith(SIGNATURE):
        return raw
    try:
        text = raw.decode("ascii")
    except UnicodeDecodeError:
        raise SfdpError(f"{p}: neither an SFDP binary (no 'SFDP' signature) nor a hex text dump") from None
    out = bytearray()
    hexdump = "|" in text
    last_chunk = b""
    repeat = False
    for lineno, line in enumerate(text.splitlines(), start=1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        if line == "*":  # hexdump: the previous line repeats up to the next offset
            repeat = True
            continue
        tokens = line.split()
        offset = None
        if hexdump:  # hexdump -C: offset, bytes, |ASCII|; a last line with the length
            tokens = line.split("|", 1)[0].split()
            try:
                offset = int(tokens[0], 16)
            except (ValueError, IndexError):
                first = tokens[0] if tokens else line[:16]
                raise SfdpError(f"{p}:{lineno}: {first!r} is not a hexdump offset") from None
            if offset > MAX_DUMP:
                raise SfdpError(f"{p}:{lineno}: offset 0x{offset:x} is past {MAX_DUMP >> 10} KiB; "
                                "an SFDP dump is a few hundred bytes")
            tokens = tokens[1:]
        elif tokens[0].endswith(":"):  # xxd: offset:, groups, two spaces, ASCII
            rest = line.split(":", 1)[1].strip()
            tokens = re.split(r"\s{2,}", rest, maxsplit=1)[0].split()
        if offset is not None and repeat and last_chunk:
            while len(out) < offset:
                out += last_chunk[: offset - len(out)]
        repeat = False
        chunk = bytearray()
        for tok in tokens:
            tok = tok.lower().removeprefix("0x").rstrip(",")
            if not re.fullmatch(r"[0-9a-f]+", tok) or len(tok) % 2:
                raise SfdpError(f"{p}:{lineno}: {tok!r} is not hex bytes")
            chunk += bytes.fromhex(tok)
        if offset is not None and offset != len(out):
            raise SfdpError(f"{p}:{lineno}: offset 0x{offset:x} does not follow the bytes before it")
        out += chunk
        if len(out) > MAX_DUMP:
            raise SfdpError(f"{p}:{lineno}: over {MAX_DUMP >> 10} KiB of bytes; an SFDP dump is a few hundred")
        if chunk:
            last_chunk = bytes(chunk)
    if not out:
        raise SfdpError(f"{p}: empty dump")
    return bytes(out)


def parse_file(path: str | Path) -> SfdpInfo:
    """:func:`parse` of :func:`load_dump`."""
    return parse(load_dump(path))


def compare_with_spiflash(data: bytes) -> list[str]:
    """Where this decoder and spiflash's (:func:`spiflash.parse_sfdp`)
    disagree on ``data``: density, page size, erase types (size, opcode,
    typical time).  Empty when they agree.  Imports spiflash (about a
    second), so call it only when a second opinion is wanted."""
    import spiflash  # noqa: PLC0415 - heavy, on demand

    ours = parse(data)
    try:
        theirs = spiflash.parse_sfdp(bytes(data))
    except ValueError as e:
        return [f"spiflash cannot decode it: {e}"]
    out = []
    if ours.size != theirs.size:
        out.append(f"density: {ours.size} here, {theirs.size} in spiflash")
    if ours.page_size != theirs.page_size:
        out.append(f"page size: {ours.page_size} here, {theirs.page_size} in spiflash")
    mine = [(s, o, None if t is None else round(t * 1000)) for s, o, t, _m in ours.erase_types]
    bfpt = theirs.bfpt
    other = [(e.size, e.opcode, e.typical_us) for e in (bfpt.erase_types if bfpt else ())]
    if mine != other:
        out.append(f"erase types: {mine} here, {other} in spiflash")
    return out
