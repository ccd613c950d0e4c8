"""The part model: what the database says about one flash family.

A :class:`Part` is one family at one density (W25Q128FV).  Its erase
geometry is a list of :class:`Layout` (one per configuration the chip can be
put in; most parts have one), each a list of :class:`EraseOp` that say,
region by region, which size an erase opcode erases there.

Parts come from the curated YAML files (``curated=True``) or from the
``spiflash`` package's merged tables (``curated=False``, see
:mod:`flashcheck.data.fallback`).
"""

from __future__ import annotations

import functools
import re
from flashcheck.record import field, record


from flashcheck.units import format_size, parse_size

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any
    from flashcheck.data.yamlio import Located


@record(frozen=True)
class Source:
    """Where a fact comes from: a datasheet (title, revision) or a table."""

    title: str
    revision: str | None = None
    document: str | None = None
    date: str | None = None
    where: str | None = None  # file:line of the entry that cites it

    def __str__(self) -> str:
        parts = [self.title]
        if self.document:
            parts.append(self.document)
        if self.revision:
            parts.append(self.revision)
        return ", ".join(parts)

    def to_json(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v is not None}


@record(frozen=True)
class Region:
    start: int
    end: int  # exclusive
    size: int  # what one erase command erases here

    def __str__(self) -> str:
        from flashcheck.units import format_addr

        return f"{format_addr(self.start)}-{format_addr(self.end - 1)}"


@record(frozen=True)
class EraseOp:
    opcode: int
    regions: tuple[Region, ...]
    name: str | None = None
    outside: str = "undefined"  # ignored | undefined
    typ_ms: float | None = None
    max_ms: float | None = None
    address_bytes: int | None = None

    @property
    def sizes(self) -> frozenset[int]:
        return frozenset(r.size for r in self.regions)

    def uniform_size(self, capacity: int) -> int | None:
        """The size it erases if it erases one size across the whole array."""
        if len(self.sizes) != 1:
            return None
        covered = sum(r.end - r.start for r in self.regions)
        return next(iter(self.sizes)) if covered == capacity else None


@record(frozen=True)
class Layout:
    """The erase commands of one configuration."""

    name: str
    erase: tuple[EraseOp, ...]
    select: str | None = None
    default: bool = True
    capacity: int | None = None  # where this configuration's array differs from the family's


@record(frozen=True)
class OrderCode:
    """An order-code pattern.  Compiled on first use, and only tried on
    codes that start with its literal prefix, so a look-up compiles one or
    two patterns rather than the whole database's."""

    text: str
    configurations: tuple[str, ...] = ()
    note: str | None = None

    @property
    def prefix(self) -> str:
        return literal_prefix(self.text)

    @property
    def pattern(self) -> re.Pattern:
        return _compile(self.text)

    def fullmatch(self, code: str) -> re.Match | None:
        if not code.startswith(self.prefix):
            return None
        return self.pattern.fullmatch(code)


_META = set(".^$*+?{}[]\\|()")


def literal_prefix(pattern: str) -> str:
    """The upper-cased literal text a pattern starts with (``W25Q128JV`` of
    ``W25Q128JV(?P<package>...)``), stopping before a character a following
    quantifier could make optional."""
    if _top_level_alternation(pattern):
        return ""
    out = []
    for ch in pattern:
        if ch in _META:
            if ch in "?*{" and out:
                out.pop()
            break
        out.append(ch)
    return "".join(out).upper()


def _top_level_alternation(pattern: str) -> bool:
    depth, in_class, escaped = 0, False, False
    for ch in pattern:
        if escaped:
            escaped = False
        elif ch == "\\":
            escaped = True
        elif in_class:
            in_class = ch != "]"
        elif ch == "[":
            in_class = True
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif ch == "|" and depth == 0:
            return True
    return False


#: Longest order-code pattern accepted, in characters.
MAX_PATTERN = 1000
_REPEATS = ("MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT")


def check_pattern(text: str) -> str | None:
    """Why an order-code pattern could take exponential time (Python's
    ``re`` backtracks and has no time limit), or None.  Refused: a repeat
    (``*``, ``+``, ``{m,n}`` with n > 1) around another repeat or around an
    alternation (``(A+)+``, ``(A|AB)*``), and more than two unbounded
    repeats in one pattern (``.*.*.*X`` is polynomial of high degree).  A
    look-up also bounds the code's length, so what remains is fast."""
    if len(text) > MAX_PATTERN:
        return f"pattern of {len(text)} characters (at most {MAX_PATTERN})"
    try:
        from re import _parser as sre_parse  # Python 3.11+
    except ImportError:  # pragma: no cover
        import sre_parse  # type: ignore[no-redef]
    try:
        tree = sre_parse.parse(text, re.IGNORECASE)
    except (re.error, RecursionError, OverflowError) as exc:
        return f"does not compile: {exc}"
    unbounded = 0

    def walk(items, inside_repeat: bool) -> str | None:
        nonlocal unbounded
        for op, av in items:
            name = str(op)
            if name in _REPEATS:
                lo, hi, body = av
                if hi > 1 and inside_repeat:
                    return "a repeat inside a repeat (like (A+)+) can take exponential time"
                if hi == sre_parse.MAXREPEAT:
                    unbounded += 1
                why = walk(body, inside_repeat or hi > 1)
            elif name == "BRANCH":
                if inside_repeat:
                    return "an alternation inside a repeat (like (A|AB)*) can take exponential time"
                why = next((w for b in av[1] if (w := walk(b, inside_repeat))), None)
            elif name == "SUBPATTERN":
                why = walk(av[-1], inside_repeat)
            elif name in ("ASSERT", "ASSERT_NOT"):
                why = walk(av[1], inside_repeat)
            elif name == "GROUPREF_EXISTS":
                why = next((w for b in av[1:] if b is not None and (w := walk(b, inside_repeat))), None)
            else:
                why = None
            if why:
                return why
        return None

    why = walk(tree, False)
    if why is None and unbounded > 2:
        why = f"{unbounded} unbounded repeats (* or +); at most 2, so that matching stays fast"
    return why


@functools.lru_cache(maxsize=None)
def _compile(text: str) -> re.Pattern:
    return re.compile(text, re.IGNORECASE)


@record
class Part:
    name: str
    manufacturer: str
    jedec_ids: tuple[str, ...]
    capacity: int
    layouts: tuple[Layout, ...]
    source: Source
    curated: bool = True
    aliases: tuple[str, ...] = ()
    ext_id: str | None = None
    order_codes: tuple[OrderCode, ...] = ()
    fields: dict[str, dict[str, str]] = field(default_factory=dict)
    page_size: int | None = None
    voltage: tuple[float, float] | None = None
    max_clock_mhz: float | None = None
    read_clock_mhz: float | None = None
    address_bytes: tuple[int, ...] | None = None
    commands: frozenset[int] | None = None
    chip_erase: dict[str, Any] | None = None
    program: dict[str, Any] | None = None
    power_up: dict[str, Any] | None = None
    sfdp: bool | None = None
    command_set: str = "spi-nor"
    unconfirmed: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    # Facts the sources disagree on (uncurated parts): field -> description.
    disagreements: dict[str, str] = field(default_factory=dict)

    @property
    def jedec_id(self) -> str:
        return self.jedec_ids[0]

    def capacity_of(self, layout: Layout) -> int:
        return layout.capacity or self.capacity

    def layouts_for(self, names: tuple[str, ...] = ()) -> tuple[Layout, ...]:
        if not names:
            return self.layouts
        return tuple(lay for lay in self.layouts if lay.name in names)

    def summary_json(self) -> dict[str, Any]:
        return {"name": self.name, "manufacturer": self.manufacturer, "jedec_id": self.jedec_id}


# --------------------------------------------------------------------------
# Parsing one family from its YAML mapping


def parse_address(value: Any, capacity: int) -> int:
    """An address: bytes, a size string, ``end`` or ``end - SIZE``."""
    if isinstance(value, str) and value.strip().startswith("end"):
        rest = value.strip()[3:].strip()
        if not rest:
            return capacity
        if not rest.startswith("-"):
            raise ValueError(f"bad address {value!r} (use 'end' or 'end - 64 KiB')")
        return capacity - parse_size(rest[1:].strip())
    return parse_size(value)


def _erase_ops(doc: Located, raw: list, capacity: int, keys: tuple) -> tuple[EraseOp, ...]:
    ops = []
    seen: set[tuple[int, int | None]] = set()
    for i, e in enumerate(raw):
        k = keys + (i,)
        op = e["opcode"]
        if (op, e.get("address_bytes")) in seen:
            raise doc.error(f"erase opcode 0x{op:02X} listed twice", *k)
        seen.add((op, e.get("address_bytes")))
        if "size" in e:
            try:
                size = parse_size(e["size"])
            except ValueError as exc:
                raise doc.error(f"size: {exc}", *k, "size") from None
            if size == 0 or capacity % size:
                raise doc.error(f"size {e['size']} does not divide the capacity {format_size(capacity)}", *k, "size")
            regions = (Region(0, capacity, size),)
        else:
            regs = []
            for j, r in enumerate(e["regions"]):
                rk = k + ("regions", j)
                try:
                    start = parse_address(r["from"], capacity)
                    end = parse_address(r["to"], capacity)
                    size = parse_size(r["size"])
                except ValueError as exc:
                    raise doc.error(str(exc), *rk) from None
                if not 0 <= start < end <= capacity:
                    raise doc.error(
                        f"region {r['from']}..{r['to']} is empty or outside the array (capacity {format_size(capacity)})", *rk
                    )
                if size == 0 or start % size or (end - start) % size:
                    raise doc.error(f"region {r['from']}..{r['to']} is not a whole number of aligned {format_size(size)} blocks", *rk)
                regs.append(Region(start, end, size))
            regs.sort(key=lambda r: r.start)
            for a, b in zip(regs, regs[1:]):
                if b.start < a.end:
                    raise doc.error(f"regions {a} and {b} of opcode 0x{op:02X} overlap", *k, "regions")
            regions = tuple(regs)
        typ, mx = e.get("typ_ms"), e.get("max_ms")
        if typ is not None and mx is not None and typ > mx:
            raise doc.error(f"typ_ms {typ} is above max_ms {mx}", *k)
        ops.append(
            EraseOp(
                opcode=op,
                regions=regions,
                name=e.get("name"),
                outside=e.get("outside", "undefined"),
                typ_ms=typ,
                max_ms=mx,
                address_bytes=e.get("address_bytes"),
            )
        )
    return tuple(ops)


def parse_family(doc: Located, manufacturer: str, raw: dict, index: int) -> Part:
    keys = ("families", index)
    try:
        capacity = parse_size(raw["capacity"])
    except ValueError as exc:
        raise doc.error(f"capacity: {exc}", *keys, "capacity") from None
    if capacity <= 0 or capacity & (capacity - 1):
        raise doc.error(f"capacity {raw['capacity']} is not a power of two", *keys, "capacity")
    default_erase = _erase_ops(doc, raw["erase"], capacity, keys + ("erase",))
    layouts: list[Layout] = []
    configs = raw.get("configurations") or []
    if configs:
        names = set()
        for j, c in enumerate(configs):
            if c["name"] in names:
                raise doc.error(f"configuration {c['name']!r} listed twice", *keys, "configurations", j)
            names.add(c["name"])
            ccap = None
            if "capacity" in c:
                try:
                    ccap = parse_size(c["capacity"])
                except ValueError as exc:
                    raise doc.error(f"capacity: {exc}", *keys, "configurations", j, "capacity") from None
            erase = (
                _erase_ops(doc, c["erase"], ccap or capacity, keys + ("configurations", j, "erase"))
                if "erase" in c
                else default_erase
            )
            layouts.append(Layout(c["name"], erase, c["select"], bool(c.get("default", False)), ccap))
        if sum(lay.default for lay in layouts) > 1:
            raise doc.error("more than one configuration is marked default", *keys, "configurations")
    else:
        layouts.append(Layout("default", default_erase, None, True))
    order_codes = []
    for j, oc in enumerate(raw.get("order_codes") or []):
        why = check_pattern(oc["pattern"])
        if why is not None:
            raise doc.error(f"order code pattern refused: {why}", *keys, "order_codes", j, "pattern")
        unknown = [c for c in oc.get("configurations", []) if c not in {lay.name for lay in layouts}]
        if unknown:
            raise doc.error(f"order code names unknown configuration(s) {', '.join(unknown)}", *keys, "order_codes", j)
        order_codes.append(OrderCode(oc["pattern"], tuple(oc.get("configurations", ())), oc.get("note")))
    ids = raw["jedec_id"]
    ids = (ids,) if isinstance(ids, str) else tuple(ids)
    v = raw["voltage"]
    if v["min"] > v["max"]:
        raise doc.error(f"voltage min {v['min']} is above max {v['max']}", *keys, "voltage")
    ds = raw["datasheet"]
    try:
        page_size = parse_size(raw["page_size"]) if "page_size" in raw else None
    except ValueError as exc:
        raise doc.error(f"page_size: {exc}", *keys, "page_size") from None
    return Part(
        name=raw["name"],
        manufacturer=manufacturer,
        jedec_ids=tuple(i.lower() for i in ids),
        capacity=capacity,
        layouts=tuple(layouts),
        source=Source(ds["title"], ds.get("revision"), ds.get("document"), ds.get("date"), doc.where(*keys)),
        aliases=tuple(raw.get("aliases", ())),
        ext_id=raw.get("ext_id", "").lower() or None,
        order_codes=tuple(order_codes),
        fields=raw.get("fields") or {},
        page_size=page_size,
        voltage=(float(v["min"]), float(v["max"])),
        max_clock_mhz=raw.get("max_clock_mhz"),
        read_clock_mhz=raw.get("read_clock_mhz"),
        address_bytes=tuple(raw["address_bytes"]) if "address_bytes" in raw else None,
        commands=frozenset(raw["commands"]) if "commands" in raw else None,
        chip_erase=raw.get("chip_erase"),
        program=raw.get("program"),
        power_up=raw.get("power_up"),
        sfdp=raw.get("sfdp"),
        command_set=raw.get("command_set", "spi-nor"),
        unconfirmed=tuple(raw.get("unconfirmed", ())),
        notes=tuple(raw.get("notes", ())),
    )


def parse_parts_file(doc: Located) -> list[Part]:
    data = doc.data
    manufacturer = data["manufacturer"]
    mid = data["jedec_manufacturer"]
    if isinstance(mid, str):  # quoted, as the JEDEC IDs are: 'ef' or '0xEF'
        mid = int(mid, 16)
    parts = []
    for i, raw in enumerate(data["families"]):
        part = parse_family(doc, manufacturer, raw, i)
        for jid in part.jedec_ids:
            if int(jid[:2], 16) != mid:
                raise doc.error(
                    f"JEDEC ID {jid} does not start with the file's manufacturer ID 0x{mid:02X}",
                    "families", i, "jedec_id",
                )
        parts.append(part)
    return parts
