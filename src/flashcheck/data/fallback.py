"""The fallback for parts not in ``parts/``: the ``spiflash`` package's
merged chip tables (flashrom, Linux, U-Boot and others).

Parts built here are marked ``curated=False``.  Where the upstream records
disagree on a fact a rule uses (erase layout, size, voltage) the fact is put
in :attr:`Part.disagreements`, and the rules then answer unknown for it.
spiflash is imported only when this module's functions run: its import
costs about a second.
"""

from __future__ import annotations

import pickle
import re
from pathlib import Path

from flashcheck import record as records
from flashcheck.record import field, record
from flashcheck.data.cache import load_value, save_value
from flashcheck.data.database import _HEX_ID, Match, normalise
from flashcheck.data.parts import EraseOp, Layout, Part, Region, Source

TYPE_CHECKING = False  # typing is not imported at run time: the offline check starts faster
if TYPE_CHECKING:
    from typing import Any

# nearest names are ranked on the first 32 characters of a code: past the
# longest name in the tables extra characters only add cost, never change the ranking
_NEAREST_CHARS = 32


def _spiflash():
    try:
        import spiflash
    except ImportError:  # pragma: no cover - dependency missing
        return None
    return spiflash


#: Sources whose tables list every erase command a chip has (flashrom's
#: block erasers, Linux's and U-Boot's SECT_4K flags): when one of them
#: lists erasers for a chip but not an opcode another source claims, the
#: opcode is disputed.  Emulator tables (QEMU, openFPGALoader) and tables
#: with one erase command per chip (OpenOCD) are not witnesses of absence.
COMPLETE_SOURCES = frozenset({"flashrom", "flashprog", "linux", "u-boot"})


def _claims(flash: Any, size: int) -> tuple[dict[int, dict[tuple, set[str]]], dict[str, set[int]]]:
    """Per opcode, each block layout claimed and by which sources; and for
    each complete source that lists erase commands for the chip, the opcodes
    it mentions (an assumed one included: Linux's implied 0xD8)."""
    by_op: dict[int, dict[tuple, set[str]]] = {}
    witnesses: dict[str, set[int]] = {}
    for rec in flash.records:
        if rec.erasers and rec.source.value in COMPLETE_SOURCES:
            witnesses.setdefault(rec.source.value, set()).update(er.opcode for er in rec.erasers)
        for er in rec.erasers:
            if er.opcode is None or er.assumed:
                continue
            blocks = tuple((b.size, b.count) for b in er.blocks)
            if len(blocks) == 1 and blocks[0][0] == size:  # chip erase
                continue
            if sum(s * c for s, c in blocks) != size:
                continue
            by_op.setdefault(er.opcode, {}).setdefault(blocks, set()).add(rec.source.value)
    return by_op, witnesses


def _describe(claims: dict[tuple, set[str]]) -> str:
    return "; ".join(
        f"{'+'.join(f'{c}x{s // 1024}K' for s, c in b)} ({', '.join(sorted(src))})" for b, src in claims.items()
    )


def _regions(blocks: tuple) -> tuple[Region, ...]:
    merged: list[Region] = []
    pos = 0
    for bsize, count in blocks:
        r = Region(pos, pos + bsize * count, bsize)
        pos = r.end
        if merged and merged[-1].size == r.size and merged[-1].end == r.start:
            merged[-1] = Region(merged[-1].start, r.end, r.size)  # a run of one size
        else:
            merged.append(r)
    return tuple(merged)


def _layouts(flash: Any, size: int) -> tuple[tuple[Layout, ...], dict[str, str]]:
    """Erase commands per opcode, from every record.  An opcode whose
    sources give different layouts, or that a complete source leaves out,
    is disputed: left out of the layout and described (every one of them)
    under ``disagreements["erasers"]``."""
    by_op, witnesses = _claims(flash, size)
    disputes: list[str] = []
    ops = []
    for opcode, claims in sorted(by_op.items()):
        silent = sorted(src for src, mentioned in witnesses.items() if opcode not in mentioned)
        if len(claims) > 1:
            disputes.append(f"0x{opcode:02X}: {_describe(claims)}")
        elif silent:
            disputes.append(f"0x{opcode:02X}: {_describe(claims)}; not listed by {', '.join(silent)}")
        else:
            ops.append(EraseOp(opcode, _regions(next(iter(claims)))))
    disagreements = {"erasers": "; ".join(disputes)} if disputes else {}
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


# --------------------------------------------------------------------------
# The compact index: every chip of the merged tables as a pickled Part, found
# by name and by JEDEC ID without importing spiflash.  Built once per
# spiflash release and kept in the data cache.

_INDEX_FORMAT = 2


@record
class Index:
    version: str
    names: dict[str, list[int]]  # normalised exact names -> chips
    wild: list[tuple[str, int]]  # flashrom names with '.' wildcards (W25Q128.V), as regexes
    ids: dict[str, list[int]]  # JEDEC ID hex -> chips
    blobs: list[bytes]  # one pickled Part per chip
    nearest: list[str] = field(default_factory=list)  # every literal name, for suggestions

    def part(self, i: int, name: str | None = None) -> Part:
        """Chip ``i``, named as the query named it (MX25L1605D, not the
        merged record's MX25L1606E)."""
        part = pickle.loads(self.blobs[i])
        if name and name != part.name:
            others = tuple(n for n in (part.name, *part.aliases) if n != name)
            part = records.replace(part, name=name, aliases=others)
        return part


def _stamp() -> tuple | None:
    """spiflash's installed data files (size, mtime), found without importing it."""
    import importlib.util

    spec = importlib.util.find_spec("spiflash")
    if spec is None or not spec.submodule_search_locations:
        return None
    base = Path(next(iter(spec.submodule_search_locations)))
    files = sorted((base / "data").glob("*.json")) + [base / "_version.py"]
    return (_INDEX_FORMAT, *((f.name, f.stat().st_size, f.stat().st_mtime_ns) for f in files if f.exists()))


def build_index() -> Index | None:
    spiflash = _spiflash()
    if spiflash is None:
        return None
    index = Index(spiflash.__version__, {}, [], {}, [])
    for flash in spiflash.flashes():
        part = part_from_flash(flash, spiflash)
        if part is None:
            continue
        i = len(index.blobs)
        index.blobs.append(pickle.dumps(part, protocol=pickle.HIGHEST_PROTOCOL))
        index.ids.setdefault(flash.id_hex.lower(), []).append(i)
        for n in flash.names:
            if "." in n:
                index.wild.append(("".join("." if c == "." else re.escape(c) for c in normalise(n)), i))
            else:
                index.names.setdefault(normalise(n), []).append(i)
    index.nearest = sorted(index.names)
    return index


_INDEX: Index | None = None


def index() -> Index | None:
    """The index, from the data cache when it is current, else built (about
    ten seconds, once per spiflash release) and saved."""
    global _INDEX
    if _INDEX is None:
        stamp = _stamp()
        if stamp is None:
            return None
        _INDEX = load_value("fallback-index", stamp)
        if _INDEX is None:
            _INDEX = build_index()
            if _INDEX is not None:
                save_value("fallback-index", stamp, _INDEX)
    return _INDEX


def _by_name(idx: Index, q: str) -> tuple[list[Part], str | None]:
    """Chips named ``q`` exactly (or by a wildcard name); else, by the
    longest known name an order code starts with (noted as undecoded)."""
    hits = {i: q for i in idx.names.get(q, [])}
    for rx, i in idx.wild:
        if i not in hits and re.fullmatch(rx, q):
            hits[i] = None
    if hits:
        return [idx.part(i, n) for i, n in hits.items()], None
    for end in range(len(q) - 1, 4, -1):
        head = q[:end]
        if head in idx.names:
            note = (f"order code not decoded: only the name {head} at its start is known (uncurated), "
                    "so package, temperature and variant suffixes are unchecked")
            return [idx.part(i, head) for i in idx.names[head]], note
    return [], None


def by_jedec(idx: Index, hexid: str) -> list[Part]:
    """Chips answering JEDEC ID ``hexid`` (3 bytes; a 2-byte SPI NAND ID when none)."""
    found = idx.ids.get(hexid[:6]) or idx.ids.get(hexid[:4]) or []
    return [idx.part(i) for i in found]


def resolve(match: Match) -> Match:
    """Try the merged tables for a query the curated database does not know."""
    idx = index()
    if idx is None:
        return match
    q = normalise(match.stripped or match.query)
    m = _HEX_ID.match(q)
    note = None
    if m:
        parts = by_jedec(idx, m.group(1).lower())
        how = "JEDEC ID (spiflash)"
    else:
        parts, note = _by_name(idx, q)
        how = "name prefix (spiflash)" if note else "family name (spiflash)"
    if not parts:
        if not match.suggestions and not m:
            import difflib

            match.suggestions = difflib.get_close_matches(q[:_NEAREST_CHARS], idx.nearest, n=3, cutoff=0.6)
        return match
    out = Match(match.query, parts, how, note=note, suggestions=match.suggestions)
    out.stripped, out.removed = match.stripped, match.removed
    return out


def _covered(db: Any, name: str) -> bool:
    """Whether a merged-table name is a curated family: its name, alias or
    order code, or a generic name a curated one extends (Linux's W25Q128)."""
    q = normalise(name)
    return bool(db.resolve(name).parts) or any(n.startswith(q) for n in db.by_name)


def others_with_id(match: Match, db: Any) -> Match:
    """Route 2: an ID query must see every part that answers the ID.  Add
    the merged tables' chips for the ID under the names no curated family
    or alias covers (c22016: MX25L3205, MX25L3205A... beside the curated
    MX25L3233F), each as an uncurated candidate."""
    idx = index()
    if idx is None or match.how != "JEDEC ID" or not match.parts:
        return match
    extra = []
    for part in by_jedec(idx, match.parts[0].jedec_id):
        names = [n for n in (part.name, *part.aliases) if "." not in n and not _covered(db, n)]
        if names and part.capacity in {p.capacity for p in match.parts}:
            extra.append(records.replace(part, name=names[0], aliases=tuple(names[1:])))
    if extra:
        match.parts = match.parts + extra
        listed = "; ".join(f"{p.name} (also {', '.join(p.aliases)})" if p.aliases else p.name for p in extra)
        match.note = (match.note + "; " if match.note else "") + f"the merged tables list more parts for this ID: {listed}"
    return match
