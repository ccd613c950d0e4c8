"""Chip model definitions for the simulator, and the loader for user YAML.

A model is plain data: the built-in ones (:mod:`flashcheck.sim.models`) are
written as Python dicts in the same schema a user writes in YAML for
``sim:PATH.yaml``, and both go through :func:`model_from_dict`.  The schema
is described in ``docs/sim-format.md`` and repeated here.

Schema (sizes accept ``parse_size`` forms: ``4096``, ``"4 KiB"``,
``"128 Mbit"``; opcodes accept ints or ``"0x20"``)::

    name: MYCHIP                   # required
    jedec_id: "ef 40 18"           # bytes answered to 0x9F, extended bytes too
    id_fill: ff                    # what follows the id bytes: ff | 00 | repeat
    size: 16 MiB                   # required
    page_size: 256
    address_bytes: 3               # 3, or 4 (a 3-byte part that also takes
                                   # B7/E9 to switch to 4-byte addressing
                                   # when it is larger than 16 MiB)
    program: {typ_ms: 0.4, max_ms: 3}
    write_status: {typ_ms: 10, max_ms: 15}
    chip_erase: {opcodes: [0xC7, 0x60], typ_ms: 40000, max_ms: 200000}
    erase:                         # every sector/block erase opcode
      0x20: {typ_ms: 45, max_ms: 400, block: 4 KiB}    # block: uniform size
      0xD8: {typ_ms: 150, max_ms: 2000, block: 64 KiB}
    regions:                       # optional: non-uniform layout; replaces
      - size: 64 KiB               # every erase's "block".  Contiguous from
        blocks: {0x20: 4 KiB, 0xD8: 64 KiB}   # address 0; an opcode missing
      - size: 16320 KiB            # from a region does nothing there.
        blocks: {0xD8: 64 KiB}
    configurations:                # optional: layout chosen by register bits
      detect:                      # each read gives one bit, first = MSB
        - {read: 0x35, mask: 0x04}
      maps:                        # config id -> regions (as above)
        0: [...]
        1: [...]
    registers:                     # SR1 is always there (read 0x05)
      - {name: SR1, read: 0x05, value: 0x00, writable: 0x7C}
      - {name: SR2, read: 0x35, value: 0x00, writable: 0x43, nonvolatile: true}
    write_registers: [SR1, SR2]    # what the bytes after 0x01 go to
    write_status_bytes: [1, 2]     # optional: 0x01 runs only when CS# rises
                                   # after this many data bytes (a register's
                                   # own write opcode: after one); any other
                                   # count is not executed.  Default: any
                                   # count, bytes past write_registers ignored
    short_write_clears: {SR2: 0x42}   # optional: 0x01 with fewer bytes than
                                   # write_registers clears these bits of the
                                   # registers it did not write (GD25Q16C,
                                   # W25Q80DV: CMP and QE)
    protection:                    # optional
      kind: bp                     # bp: status-register block protect
      register: SR1
      mask: 0x1C                   # the BP bits
      unit: 256 KiB                # protected by BP=1; doubles per step
      tb: {register: SR1, mask: 0x20}   # optional: set = from the bottom
      sec: {register: SR1, mask: 0x40}  # optional: 4 KiB granularity
    # or  protection: {kind: bpr}  # SST26-style per-block register (0x72,
                                   # 0x42, 0x98), all blocks locked at power-up
    erase_sizes:                   # optional: a time per (opcode, block) where
      0xD8: {256 KiB: {typ_ms: 520, max_ms: 2600}}   # one opcode erases
                                   # different sizes in different layouts
    jedec_id_by_config: {2: "01 20 18 4d 00 80"}     # optional
    busy_bits: 0x01                # SR1 bits set while busy (SST26: 0x81)
    unique_id: {dummy_bytes: 4, length: 8}   # 0x4B; omit if the part has none
    res_id: 0x17                   # optional: answer to 0xAB
    sfdp:                          # omit for a part without SFDP
      revision: "1.6"              # header and BFPT revision
      bfpt_dwords: 16              # 9 for JESD216 (1.0), 16 for 1.5/1.6
      sector_map: false            # true: add a Sector Map table (0xFF81)
      erase_types: [[4 KiB, 0x20], [64 KiB, 0xD8]]   # default: from layout

Everything that is not given takes the value shown or "absent".
Bad values raise :class:`flashcheck.errors.InputError` naming the field.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from flashcheck.errors import InputError
from flashcheck.units import parse_hex_bytes, parse_size

# ---------------------------------------------------------------------------
# Dataclasses


@dataclass(frozen=True)
class Timing:
    typ_ms: float
    max_ms: float


@dataclass(frozen=True)
class Region:
    """A contiguous address range and, per erase opcode, the block size that
    opcode erases there (blocks are aligned to the region start)."""

    start: int
    size: int
    blocks: dict[int, int]

    @property
    def end(self) -> int:
        return self.start + self.size


@dataclass(frozen=True)
class Detect:
    """A configuration-detection read: opcode, and the bit mask tested."""

    opcode: int
    mask: int
    address: int = 0


@dataclass(frozen=True)
class RegisterDef:
    name: str
    read: int | None
    value: int
    writable: int
    nonvolatile: bool = False
    otp: int = 0  # bits that can be set once and never cleared
    write: int | None = None  # its own write opcode (Winbond SR2 0x31, SR3 0x11)


@dataclass(frozen=True)
class Protection:
    kind: str  # "bp" or "bpr"
    register: str = "SR1"
    mask: int = 0
    unit: int = 0
    tb_register: str | None = None
    tb_mask: int = 0
    sec_register: str | None = None
    sec_mask: int = 0
    cmp: tuple[str, int] | None = None  # (register, mask): complement the range
    srp: tuple[str, int] | None = None  # with WP# low, status registers are locked


@dataclass(frozen=True)
class ErrorBits:
    """Spansion-style program/erase error flags in SR1, cleared by ``clear``."""

    erase: int = 0x20
    program: int = 0x40
    clear: int = 0x30


@dataclass(frozen=True)
class Suspend:
    """Erase/program suspend and resume opcodes, and the status bit that
    shows a suspended operation."""

    suspend: int = 0x75
    resume: int = 0x7A
    register: str = "SR2"
    mask: int = 0x80


@dataclass(frozen=True)
class SfdpSpec:
    major: int
    minor: int
    bfpt_dwords: int
    sector_map: bool
    erase_types: tuple[tuple[int, int], ...] | None  # (size, opcode); None = derive
    raw: bytes | None = None  # the chip's own SFDP bytes; None = build from the layout


@dataclass(frozen=True)
class ChipModel:
    name: str
    jedec_id: bytes
    size: int
    page_size: int = 256
    id_fill: str = "ff"
    address_bytes: int = 3
    program: Timing = Timing(0.7, 3.0)
    write_status: Timing = Timing(10.0, 15.0)
    chip_erase_opcodes: tuple[int, ...] = (0xC7, 0x60)
    chip_erase: Timing = Timing(40000.0, 200000.0)
    erase: dict[int, Timing] = field(default_factory=dict)
    #: (opcode, block size) -> timing, overriding ``erase`` for that size
    erase_sizes: dict[tuple[int, int], Timing] = field(default_factory=dict)
    jedec_id_by_config: dict[int, bytes] = field(default_factory=dict)
    busy_bits: int = 0x01
    #: config id -> regions; a model without configurations has only id 0.
    layouts: dict[int, tuple[Region, ...]] = field(default_factory=dict)
    detect: tuple[Detect, ...] = ()
    registers: tuple[RegisterDef, ...] = ()
    write_registers: tuple[str, ...] = ("SR1",)
    #: data byte counts 0x01 accepts (None: any); others are not executed
    write_status_bytes: tuple[int, ...] | None = None
    #: register -> bits a 0x01 shorter than ``write_registers`` clears in it
    short_write_clears: dict[str, int] = field(default_factory=dict)
    protection: Protection | None = None
    unique_id: tuple[int, int] | None = None  # (dummy bytes, length)
    res_id: int | None = None
    sfdp: SfdpSpec | None = None
    #: False for a made-up part (the hybrid demo): no datasheet behind it.
    real: bool = True
    source: str = ""
    #: the ``source:`` block: title, revision, where (figure -> table/section)
    citation: dict[str, Any] = field(default_factory=dict)
    power_down: tuple[int, int] | None = (0xB9, 0xAB)  # (enter, release)
    asleep: bool = False  # starts in deep power-down
    soft_reset: bool = True  # 0x66 then 0x99
    error_bits: ErrorBits | None = None
    suspend: Suspend | None = None
    #: 4-byte-address opcode -> the 3-byte command it is (0x21 -> 0x20 ...)
    four_byte_opcodes: dict[int, int] = field(default_factory=dict)

    def erase_timing(self, opcode: int, block: int) -> Timing:
        return self.erase_sizes.get((opcode, block)) or self.erase[opcode]

    def register(self, name: str) -> RegisterDef | None:
        for r in self.registers:
            if r.name == name:
                return r
        return None


# ---------------------------------------------------------------------------
# Loader


#: Largest simulated array: twice the largest SPI NOR made (2 Gbit, 256 MiB),
#: so that the array, held in memory, can never exhaust it.
MAX_SIM_SIZE = 512 << 20
#: Largest chip definition file read (a model with its SFDP bytes in hex is
#: a few KiB).
MAX_FILE = 1 << 20
#: Most YAML nodes a definition may expand to with its aliases resolved.
MAX_NODES = 100_000


def _err(where: str, msg: str) -> InputError:
    return InputError(f"{where}: {msg}")


def _size(value: Any, where: str) -> int:
    try:
        n = parse_size(value)
    except ValueError as e:
        raise _err(where, str(e)) from None
    return n


def _int(value: Any, where: str, lo: int = 0, hi: int = 0xFF) -> int:
    if isinstance(value, bool):
        raise _err(where, f"not a number: {value!r}")
    if isinstance(value, int):
        n = value
    elif isinstance(value, str):
        try:
            n = int(value.strip(), 0)
        except ValueError:
            raise _err(where, f"not a number: {value!r}") from None
    else:
        raise _err(where, f"not a number: {value!r}")
    if not lo <= n <= hi:
        raise _err(where, f"{n:#x} out of range {lo:#x}..{hi:#x}")
    return n


def _num(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _err(where, f"not a number: {value!r}")
    if value < 0:
        raise _err(where, f"negative: {value!r}")
    return float(value)


def _timing(d: Any, where: str, default: Timing) -> Timing:
    if d is None:
        return default
    if not isinstance(d, dict):
        raise _err(where, "expected a mapping with typ_ms and max_ms")
    unknown = set(d) - {"typ_ms", "max_ms", "block", "opcodes"}
    if unknown:
        raise _err(where, f"unknown field {sorted(unknown)[0]!r}")
    typ = _num(d.get("typ_ms", default.typ_ms), f"{where}.typ_ms")
    mx = _num(d.get("max_ms", max(typ, default.max_ms)), f"{where}.max_ms")
    if mx < typ:
        raise _err(where, f"max_ms {mx} is below typ_ms {typ}")
    return Timing(typ, mx)


def _regions(items: Any, size: int, where: str) -> tuple[Region, ...]:
    if not isinstance(items, list) or not items:
        raise _err(where, "expected a non-empty list of regions")
    out = []
    start = 0
    for i, item in enumerate(items):
        w = f"{where}[{i}]"
        if not isinstance(item, dict) or "size" not in item:
            raise _err(w, "expected a mapping with size and blocks")
        unknown = set(item) - {"size", "blocks", "start"}
        if unknown:
            raise _err(w, f"unknown field {sorted(unknown)[0]!r}")
        rsize = _size(item["size"], f"{w}.size")
        if "start" in item and _size(item["start"], f"{w}.start") != start:
            raise _err(w, f"start must be {start:#x} (regions are contiguous from 0)")
        blocks_in = item.get("blocks") or {}
        if not isinstance(blocks_in, dict):
            raise _err(f"{w}.blocks", "expected a mapping opcode -> block size")
        blocks = {}
        for op, bs in blocks_in.items():
            opc = _int(op, f"{w}.blocks")
            b = _size(bs, f"{w}.blocks.{opc:#04x}")
            if b <= 0 or rsize % b:
                raise _err(f"{w}.blocks.{opc:#04x}", f"block {b} does not divide the region size {rsize}")
            blocks[opc] = b
        if rsize <= 0:
            raise _err(f"{w}.size", "must be positive")
        out.append(Region(start, rsize, blocks))
        start += rsize
    if start != size:
        raise _err(where, f"regions add up to {start} bytes, the chip has {size}")
    return tuple(out)


_TOP_KEYS = {
    "name", "jedec_id", "id_fill", "size", "page_size", "address_bytes", "program",
    "write_status", "chip_erase", "erase", "regions", "configurations", "registers",
    "write_registers", "protection", "unique_id", "res_id", "sfdp", "real", "source",
    "erase_sizes", "jedec_id_by_config", "busy_bits", "power_down", "asleep", "soft_reset",
    "error_bits", "suspend", "four_byte_opcodes", "write_status_bytes", "short_write_clears",
}


def _mapping(d: Any, where: str, keys: set[str]) -> dict:
    if not isinstance(d, dict):
        raise _err(where, "expected a mapping")
    unknown = set(d) - keys
    if unknown:
        raise _err(where, f"unknown field {sorted(unknown)[0]!r}")
    return d


def _header(d: Any, where: str) -> tuple[str, str, int, bytes, str, int, int]:
    """name, where-prefix, size, jedec id, id_fill, page size, address bytes."""
    if not isinstance(d, dict):
        raise _err(where, "a chip model must be a mapping")
    _mapping(d, where, _TOP_KEYS)
    if "name" not in d or not isinstance(d["name"], str) or not d["name"].strip():
        raise _err(where, "name is required")
    name = d["name"].strip()
    where = f"{where} ({name})"
    if "size" not in d:
        raise _err(where, "size is required")
    size = _size(d["size"], f"{where}.size")
    if size < 4096 or size & (size - 1):
        raise _err(f"{where}.size", f"{size} is not a power of two of at least 4096")
    if size > MAX_SIM_SIZE:
        raise _err(f"{where}.size", f"{size:,} bytes is more than the simulator takes ({MAX_SIM_SIZE >> 20} MiB; "
                   "the largest SPI NOR made is 2 Gbit, 256 MiB)")
    try:
        jedec = parse_hex_bytes(str(d.get("jedec_id", "ff ff ff")))
    except ValueError as e:
        raise _err(f"{where}.jedec_id", str(e)) from None
    id_fill = str(d.get("id_fill", "ff")).lower()
    if id_fill not in ("ff", "00", "repeat"):
        raise _err(f"{where}.id_fill", f"{id_fill!r}: use ff, 00 or repeat")
    page = _size(d.get("page_size", 256), f"{where}.page_size")
    if page <= 0 or page & (page - 1) or page > size:
        raise _err(f"{where}.page_size", f"{page} is not a power of two")
    abytes = _int(d.get("address_bytes", 3), f"{where}.address_bytes", 3, 4)
    return name, where, size, jedec, id_fill, page, abytes


def _erase(d: dict, where: str, size: int) -> tuple[dict[int, Timing], dict[int, int]]:
    erase_in = d.get("erase") or {}
    if not isinstance(erase_in, dict):
        raise _err(f"{where}.erase", "expected a mapping opcode -> {typ_ms, max_ms, block}")
    erase: dict[int, Timing] = {}
    uniform_blocks: dict[int, int] = {}
    for op, spec in erase_in.items():
        opc = _int(op, f"{where}.erase")
        w = f"{where}.erase.{opc:#04x}"
        erase[opc] = _timing(spec, w, Timing(50.0, 500.0))
        if isinstance(spec, dict) and "block" in spec:
            b = _size(spec["block"], f"{w}.block")
            if b <= 0 or b & (b - 1) or size % b:
                raise _err(f"{w}.block", f"{b} does not divide the chip size")
            uniform_blocks[opc] = b
    return erase, uniform_blocks


def _detect(det: Any, w: str) -> tuple[Detect, ...]:
    if not isinstance(det, list) or len(det) > 8:
        raise _err(f"{w}.detect", "expected a list of at most 8 reads")
    dl = []
    for i, item in enumerate(det):
        if not isinstance(item, dict) or "read" not in item or "mask" not in item:
            raise _err(f"{w}.detect[{i}]", "expected {read: opcode, mask: bits}")
        dl.append(Detect(_int(item["read"], f"{w}.detect[{i}].read"),
                         _int(item["mask"], f"{w}.detect[{i}].mask"),
                         _int(item.get("address", 0), f"{w}.detect[{i}].address", 0, 0xFFFFFFFF)))
    return tuple(dl)


def _layouts(d: dict, where: str, size: int, erase: dict[int, Timing],
             uniform: dict[int, int]) -> tuple[dict[int, tuple[Region, ...]], tuple[Detect, ...]]:
    layouts: dict[int, tuple[Region, ...]] = {}
    detect: tuple[Detect, ...] = ()
    if "configurations" in d:
        c = d["configurations"]
        w = f"{where}.configurations"
        if not isinstance(c, dict) or "maps" not in c:
            raise _err(w, "expected detect and maps")
        if "regions" in d:
            raise _err(where, "give regions or configurations, not both")
        detect = _detect(c.get("detect") or [], w)
        maps = c["maps"]
        if not isinstance(maps, dict) or not maps:
            raise _err(f"{w}.maps", "expected a mapping config id -> regions")
        for k, v in maps.items():
            cid = _int(k, f"{w}.maps", 0, (1 << len(detect)) - 1)
            layouts[cid] = _regions(v, size, f"{w}.maps.{cid}")
        for cid in range(1 << len(detect)):
            if cid not in layouts:
                raise _err(f"{w}.maps", f"no map for configuration {cid}")
    elif "regions" in d:
        layouts[0] = _regions(d["regions"], size, f"{where}.regions")
    else:
        layouts[0] = (Region(0, size, dict(uniform)),)
    for regions in layouts.values():
        for r in regions:
            for opc in r.blocks:
                if opc not in erase:
                    raise _err(f"{where}", f"opcode {opc:#04x} is used in a region but has no entry under erase")
    return layouts, detect


def _registers(d: dict, where: str) -> tuple[tuple[RegisterDef, ...], tuple[str, ...]]:
    regs_in = d.get("registers") or []
    if not isinstance(regs_in, list):
        raise _err(f"{where}.registers", "expected a list")
    regs = []
    for i, r in enumerate(regs_in):
        w = f"{where}.registers[{i}]"
        if not isinstance(r, dict) or not isinstance(r.get("name"), str):
            raise _err(w, "expected a mapping with name")
        _mapping(r, w, {"name", "read", "value", "writable", "nonvolatile", "otp", "write"})
        regs.append(RegisterDef(
            r["name"],
            None if r.get("read") is None else _int(r["read"], f"{w}.read"),
            _int(r.get("value", 0), f"{w}.value"),
            _int(r.get("writable", 0), f"{w}.writable"),
            bool(r.get("nonvolatile", False)),
            _int(r.get("otp", 0), f"{w}.otp"),
            None if r.get("write") is None else _int(r["write"], f"{w}.write"),
        ))
    if not any(r.name == "SR1" for r in regs):
        regs.insert(0, RegisterDef("SR1", 0x05, 0, 0x1C))
    names = [r.name for r in regs]
    if len(set(names)) != len(names):
        raise _err(f"{where}.registers", "duplicate register name")
    wregs = d.get("write_registers", ["SR1"])
    if not isinstance(wregs, list) or any(w not in names for w in wregs):
        raise _err(f"{where}.write_registers", f"must name registers among {names}")
    return tuple(regs), tuple(wregs)


def _write_status_form(d: dict, where: str, wregs: tuple[str, ...]) -> dict[str, Any]:
    """``write_status_bytes`` and ``short_write_clears`` (see the schema)."""
    out: dict[str, Any] = {}
    counts = d.get("write_status_bytes")
    if counts is not None:
        w = f"{where}.write_status_bytes"
        if not isinstance(counts, list) or not counts:
            raise _err(w, "expected a list of data byte counts")
        out["write_status_bytes"] = tuple(_int(c, w, 1, len(wregs)) for c in counts)
    clears = d.get("short_write_clears")
    if clears is not None:
        w = f"{where}.short_write_clears"
        _mapping(clears, w, set(wregs[1:]))
        out["short_write_clears"] = {k: _int(v, f"{w}.{k}", 0, 0xFF) for k, v in clears.items()}
    return out


def _bit(p: dict, key: str, w: str, names: list[str]) -> tuple[str, int] | None:
    """An optional ``{register, mask}`` sub-field of protection."""
    val = p.get(key)
    if not val:
        return None
    _mapping(val, f"{w}.{key}", {"register", "mask"})
    reg = val.get("register", "SR1")
    if reg not in names:
        raise _err(f"{w}.{key}.register", f"unknown register {reg!r}")
    return reg, _int(val.get("mask", 0), f"{w}.{key}.mask", 1, 0xFF)


def _protection(d: dict, where: str, size: int, names: list[str]) -> Protection | None:
    if d.get("protection") is None:
        return None
    w = f"{where}.protection"
    p = _mapping(d["protection"], w, {"kind", "register", "mask", "unit", "tb", "sec", "cmp", "srp"})
    if p.get("kind") not in ("bp", "bpr"):
        raise _err(w, "kind must be bp or bpr")
    srp = _bit(p, "srp", w, names)
    if p["kind"] == "bpr":
        return Protection("bpr", srp=srp)
    reg = p.get("register", "SR1")
    if reg not in names:
        raise _err(f"{w}.register", f"unknown register {reg!r}")
    mask = _int(p.get("mask", 0x1C), f"{w}.mask")
    if not mask:
        raise _err(f"{w}.mask", "must not be 0")
    tb, sec = _bit(p, "tb", w, names), _bit(p, "sec", w, names)
    return Protection(
        "bp", reg, mask, _size(p.get("unit", size // 64), f"{w}.unit"),
        tb[0] if tb else None, tb[1] if tb else 0,
        sec[0] if sec else None, sec[1] if sec else 0,
        cmp=_bit(p, "cmp", w, names), srp=srp,
    )


def _sfdp(d: dict, where: str, base_dir: str | None) -> SfdpSpec | None:
    if d.get("sfdp") is None:
        return None
    w = f"{where}.sfdp"
    s = _mapping(d["sfdp"], w, {"revision", "bfpt_dwords", "sector_map", "erase_types", "hex", "file"})
    raw = _sfdp_raw(s, w, base_dir)
    rev = str(s.get("revision", "1.6"))
    try:
        major, minor = (int(x) for x in rev.split("."))
    except ValueError:
        raise _err(f"{w}.revision", f"{rev!r} is not like 1.6") from None
    if major != 1 or minor > 9:
        raise _err(f"{w}.revision", f"{rev!r}: JESD216 revisions are 1.0 to 1.9")
    ndw = _int(s.get("bfpt_dwords", 9 if minor == 0 else 16), f"{w}.bfpt_dwords", 9, 23)
    ets = None
    if s.get("erase_types") is not None:
        if not isinstance(s["erase_types"], list) or len(s["erase_types"]) > 4:
            raise _err(f"{w}.erase_types", "expected at most 4 [size, opcode] pairs")
        ets = tuple((_size(a, f"{w}.erase_types"), _int(b, f"{w}.erase_types")) for a, b in s["erase_types"])
    return SfdpSpec(major, minor, ndw, bool(s.get("sector_map", False)), ets, raw)


def _sfdp_raw(s: dict, w: str, base_dir: str | None) -> bytes | None:
    """The SFDP bytes a model states (``hex:`` or ``file:``), or None."""
    if "hex" in s and "file" in s:
        raise _err(w, "give hex or file, not both")
    if "hex" in s:
        try:
            raw = parse_hex_bytes(str(s["hex"]))
        except ValueError as e:
            raise _err(f"{w}.hex", str(e)) from None
    elif "file" in s:
        name = str(s["file"])
        path = name if os.path.isabs(name) or base_dir is None else os.path.join(base_dir, name)
        try:
            with open(path, "rb") as f:
                raw = f.read()
        except OSError as e:
            raise _err(f"{w}.file", f"{path}: cannot read: {e.strerror}") from None
    else:
        return None
    if raw[:4] != b"SFDP":
        raise _err(w, f"the bytes start {raw[:4].hex(' ')}, not the 'SFDP' signature")
    return raw


def _erase_sizes(d: dict, where: str, erase: dict[int, Timing]) -> dict[tuple[int, int], Timing]:
    esz: dict[tuple[int, int], Timing] = {}
    es_in = d.get("erase_sizes") or {}
    if not isinstance(es_in, dict):
        raise _err(f"{where}.erase_sizes", "expected opcode -> {size: {typ_ms, max_ms}}")
    for op, by in es_in.items():
        opc = _int(op, f"{where}.erase_sizes")
        if opc not in erase or not isinstance(by, dict):
            raise _err(f"{where}.erase_sizes.{opc:#04x}", "opcode not under erase, or not a mapping")
        for bs, t in by.items():
            b = _size(bs, f"{where}.erase_sizes.{opc:#04x}")
            esz[(opc, b)] = _timing(t, f"{where}.erase_sizes.{opc:#04x}.{b}", erase[opc])
    return esz


def _ids_by_config(d: dict, where: str) -> dict[int, bytes]:
    idc: dict[int, bytes] = {}
    for k, v in (d.get("jedec_id_by_config") or {}).items():
        cid = _int(k, f"{where}.jedec_id_by_config", 0, 255)
        try:
            idc[cid] = parse_hex_bytes(str(v))
        except ValueError as e:
            raise _err(f"{where}.jedec_id_by_config.{cid}", str(e)) from None
    return idc


def _source(d: dict, where: str) -> tuple[str, dict[str, Any]]:
    """(one-line citation, the ``source:`` block as given)."""
    s = d.get("source", "")
    if isinstance(s, str):
        return s, ({"title": s} if s else {})
    w = f"{where}.source"
    _mapping(s, w, {"title", "revision", "document", "where", "relative", "not_confirmed", "url"})
    if not isinstance(s.get("title"), str) or not s["title"].strip():
        raise _err(f"{w}.title", "the datasheet title is required")
    if "where" in s and not isinstance(s["where"], dict):
        raise _err(f"{w}.where", "expected a mapping figure -> table or section")
    line = s["title"] + (f", {s['revision']}" if s.get("revision") else "")
    return line, dict(s)


def _behaviour(d: dict, where: str, size: int) -> dict[str, Any]:
    """Power-down, reset, error flags, suspend and 4-byte opcodes."""
    out: dict[str, Any] = {}
    pd = d.get("power_down", {"enter": 0xB9, "release": 0xAB})
    if pd is not None and pd is not False:
        _mapping(pd, f"{where}.power_down", {"enter", "release"})
        out["power_down"] = (_int(pd.get("enter", 0xB9), f"{where}.power_down.enter"),
                             _int(pd.get("release", 0xAB), f"{where}.power_down.release"))
    out["asleep"] = bool(d.get("asleep", False))
    if out["asleep"] and "power_down" not in out:
        raise _err(f"{where}.asleep", "a chip without power_down cannot start asleep")
    out["soft_reset"] = bool(d.get("soft_reset", True))
    if d.get("error_bits") is not None:
        e = _mapping(d["error_bits"], f"{where}.error_bits", {"erase", "program", "clear"})
        out["error_bits"] = ErrorBits(_int(e.get("erase", 0x20), f"{where}.error_bits.erase"),
                                      _int(e.get("program", 0x40), f"{where}.error_bits.program"),
                                      _int(e.get("clear", 0x30), f"{where}.error_bits.clear"))
    if d.get("suspend") is not None:
        s = _mapping(d["suspend"], f"{where}.suspend", {"suspend", "resume", "register", "mask"})
        out["suspend"] = Suspend(_int(s.get("suspend", 0x75), f"{where}.suspend.suspend"),
                                 _int(s.get("resume", 0x7A), f"{where}.suspend.resume"),
                                 str(s.get("register", "SR2")),
                                 _int(s.get("mask", 0x80), f"{where}.suspend.mask"))
    default4 = _FOUR_BYTE_OPCODES if size > 1 << 24 else {}
    f4 = d.get("four_byte_opcodes", default4) or {}
    if not isinstance(f4, dict):
        raise _err(f"{where}.four_byte_opcodes", "expected a mapping 4-byte opcode -> 3-byte opcode")
    out["four_byte_opcodes"] = {_int(k, f"{where}.four_byte_opcodes"): _int(v, f"{where}.four_byte_opcodes.{k}")
                                for k, v in f4.items()}
    return out


#: JEDEC / common 4-byte-address opcodes and the 3-byte command each one is.
_FOUR_BYTE_OPCODES = {0x13: 0x03, 0x0C: 0x0B, 0x12: 0x02, 0x21: 0x20, 0x5C: 0x52, 0xDC: 0xD8}


def model_from_dict(d: Any, where: str = "model", base_dir: str | None = None) -> ChipModel:
    """Check and convert one model definition (a parsed YAML document);
    ``base_dir`` is where ``sfdp: {file: ...}`` is looked for."""
    name, where, size, jedec, id_fill, page, abytes = _header(d, where)
    erase, uniform = _erase(d, where, size)
    layouts, detect = _layouts(d, where, size, erase, uniform)
    regs, wregs = _registers(d, where)
    for r in regs:
        if r.write is not None and r.write in _RESERVED_WRITE:
            raise _err(f"{where}.registers", f"{r.name}: write opcode {r.write:#04x} is another command")
    prot = _protection(d, where, size, [r.name for r in regs])
    uid = None
    if d.get("unique_id") is not None:
        u = d["unique_id"]
        w = f"{where}.unique_id"
        if not isinstance(u, dict):
            raise _err(w, "expected {dummy_bytes, length}")
        uid = (_int(u.get("dummy_bytes", 4), f"{w}.dummy_bytes", 0, 8), _int(u.get("length", 8), f"{w}.length", 1, 32))
    ce = d.get("chip_erase") or {}
    ce_ops = tuple(_int(o, f"{where}.chip_erase.opcodes") for o in ce.get("opcodes", [0xC7, 0x60]))
    source, citation = _source(d, where)
    return ChipModel(
        name=name,
        jedec_id=jedec,
        size=size,
        page_size=page,
        id_fill=id_fill,
        address_bytes=abytes,
        program=_timing(d.get("program"), f"{where}.program", Timing(0.7, 3.0)),
        write_status=_timing(d.get("write_status"), f"{where}.write_status", Timing(10.0, 15.0)),
        chip_erase_opcodes=ce_ops,
        chip_erase=_timing({k: v for k, v in ce.items() if k != "opcodes"} or None,
                           f"{where}.chip_erase", Timing(40000.0, 200000.0)),
        erase=erase,
        erase_sizes=_erase_sizes(d, where, erase),
        jedec_id_by_config=_ids_by_config(d, where),
        busy_bits=_int(d.get("busy_bits", 1), f"{where}.busy_bits", 1, 0xFF),
        layouts=layouts,
        detect=detect,
        registers=regs,
        write_registers=wregs,
        **_write_status_form(d, where, wregs),
        protection=prot,
        unique_id=uid,
        res_id=None if d.get("res_id") is None else _int(d["res_id"], f"{where}.res_id"),
        sfdp=_sfdp(d, where, base_dir),
        real=bool(d.get("real", True)),
        source=source,
        citation=citation,
        **_behaviour(d, where, size),
    )


#: Opcodes a register's own ``write`` opcode must not shadow.
_RESERVED_WRITE = {0x01, 0x02, 0x03, 0x05, 0x06, 0x04, 0x0B, 0x9F, 0x5A, 0xAB, 0xB9, 0x66, 0x99}


def load_yaml_model(path: str) -> ChipModel:
    """Read a user chip definition (see the module docstring)."""
    doc = _read_yaml(path)
    return model_from_dict(doc, path, os.path.dirname(os.path.abspath(path)))


def _read_yaml(path: str) -> Any:
    """The parsed document; InputError (one line naming the file) for a file
    that is missing, too big, not UTF-8 text, not YAML, or whose aliases
    expand it past :data:`MAX_NODES` values."""
    import yaml  # noqa: PLC0415 - lazy: keep import flashcheck fast

    try:
        with open(path, "rb") as f:
            raw = f.read(MAX_FILE + 1)
    except FileNotFoundError:
        raise InputError(f"{path}: no such chip definition file") from None
    except OSError as e:
        raise InputError(f"{path}: cannot read: {e.strerror}") from None
    if len(raw) > MAX_FILE:
        raise InputError(f"{path}: over {MAX_FILE >> 20} MiB, too big for a chip definition")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise InputError(f"{path}: not UTF-8 text (byte {e.start}: {e.reason}); "
                         "a chip definition is a UTF-8 YAML file") from None
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        node = yaml.compose(text, Loader=loader)
        _bound_aliases(path, node)
        return yaml.load(text, Loader=loader)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        problem = " ".join(str(getattr(e, "problem", None) or e).split())
        raise InputError(f"{path}{line}: not valid YAML: {problem}") from None


def _bound_aliases(path: str, root: Any) -> None:
    """InputError when aliases expand the document past :data:`MAX_NODES`
    values (a "billion laughs" file) or an anchor is used inside itself.
    Each node's expanded size is computed once, so this costs no more than
    the text."""
    import yaml  # noqa: PLC0415

    size: dict[int, int] = {}
    stack: list[tuple[Any, bool]] = [(root, False)] if root is not None else []
    open_: set[int] = set()
    while stack:
        node, done = stack.pop()
        kids = ([n for pair in node.value for n in pair] if isinstance(node, yaml.MappingNode)
                else node.value if isinstance(node, yaml.SequenceNode) else [])
        if done:
            open_.discard(id(node))
            size[id(node)] = 1 + sum(size[id(k)] for k in kids)
            if size[id(node)] > MAX_NODES:
                raise InputError(f"{path}:{node.start_mark.line + 1}: aliases expand the definition past "
                                 f"{MAX_NODES:,} values (an alias bomb?)")
        elif id(node) not in size:
            if id(node) in open_:
                raise InputError(f"{path}:{node.start_mark.line + 1}: an alias used inside its own anchor")
            open_.add(id(node))
            stack.append((node, True))
            stack.extend((k, False) for k in kids if id(k) not in size)
