"""The part database: every curated family, loaded from the built-in
``parts/`` and any user directories, and the look-up of a query (order
code, family name or JEDEC ID) against it.

A query resolves to a :class:`Match`: the candidate parts, how they were
found, the order-code fields decoded, and the configurations the order code
fixes.  Nothing here guesses: a name that only resembles a known one gives
no candidates and a list of suggestions.
"""

from __future__ import annotations

import re
from flashcheck.record import field, record
from pathlib import Path

from flashcheck.data import resources
from flashcheck.data.cache import Cache
from flashcheck.errors import InputError
from flashcheck.data.parts import Part, parse_parts_file

_HEX_ID = re.compile(r"^(?:0x)?((?:[0-9a-f]{2}){3,})$", re.IGNORECASE)

# How BOMs, carts and distributors decorate an order code, tried only when
# the code as written does not resolve; each strip is reported.
_PACKING_WORD = r"(?:TR|T&R|REEL|TAPE|CT|CUT|CUTTAPE|TUBE|TRAY|DKR)"
_STRIPS: tuple[tuple[str, re.Pattern], ...] = (
    ("distributor prefix", re.compile(r"^(\d{2,4})-(?=[A-Z])")),  # Digi-Key 256-, Mouser 454-
    ("Digi-Key suffix", re.compile(r"(?<=[0-9A-Z])((?:CT|TR|DKR)?-ND)$")),  # ...CT-ND, ...TR-ND, ...-ND
    ("packing suffix", re.compile(r"(?:[-/#]" + _PACKING_WORD + r"|\(TR\))$")),  # -TR, /TR, #TR, (TR)
    ("packing suffix", re.compile(r"(?<=[0-9A-Z])TR$")),  # W25Q32JVSSIQTR as carts write it
)
_SPACED_PACKING = re.compile(r"\s+" + _PACKING_WORD + r"$", re.IGNORECASE)  # 'GD25Q64CSIG TR'
#: Maker names a BOM may put before the code ('Winbond W25Q128JVSIQ').
MAKERS = ("WINBOND", "MACRONIX", "GIGADEVICE", "GIGA", "MICRON", "NUMONYX", "ST", "STMICROELECTRONICS", "SPANSION",
          "CYPRESS", "INFINEON", "MICROCHIP", "SST", "ISSI", "ADESTO", "ATMEL", "RENESAS", "DIALOG", "EON", "PUYA",
          "XMC", "ZBIT", "BOYA", "FM", "FUDAN")


#: Longest query looked up, in characters (after dropping spaces).  Real
#: order codes are under 30; the cap keeps order-code patterns and the
#: nearest-name search (quadratic in the length) fast on any input.
MAX_QUERY = 64


def check_query_length(code: str) -> None:
    """InputError for a query too long to be an order code."""
    n = len(normalise(code))
    if n > MAX_QUERY:
        raise InputError(f"{code[:24]!r}... ({n} characters) is too long for an order code, family name or "
                         f"JEDEC ID (at most {MAX_QUERY})")


def normalise(code: str) -> str:
    return re.sub(r"\s+", "", code).upper()


def strip_decorations(query: str) -> tuple[str, list[str]]:
    """The order code inside a BOM or cart entry, and what was taken off it
    (``"packing suffix ' TR'"``): a leading maker name, a packing word after
    a space, distributor prefixes and suffixes, a trailing -TR."""
    removed: list[str] = []
    text = query.strip()
    words = text.split()
    if len(words) > 1 and words[0].upper().strip(",") in MAKERS:
        removed.append(f"maker name {words[0]!r}")
        text = " ".join(words[1:])
    m = _SPACED_PACKING.search(text)
    if m and m.start() > 0:
        removed.append(f"packing suffix {m.group(0).strip()!r}")
        text = text[: m.start()]
    code = normalise(text)
    for what, rx in _STRIPS:
        m = rx.search(code)
        if m and len(code) - len(m.group(0)) >= 5:
            removed.append(f"{what} {m.group(0)!r}")
            code = code[: m.start()] + code[m.end():]
    return code, removed


@record
class Match:
    query: str
    parts: list[Part]
    how: str  # "order code", "family name", "JEDEC ID", "spiflash ...", "none"
    fields: dict[str, str] = field(default_factory=dict)
    configurations: dict[str, tuple[str, ...]] = field(default_factory=dict)
    suggestions: list[str] = field(default_factory=list)
    note: str | None = None  # why the match is weak, if it is
    ext_id: str | None = None  # extended ID bytes given in the query
    stripped: str | None = None  # the order code looked up, where decorations were taken off the query
    removed: list[str] = field(default_factory=list)  # what was taken off, for --explain and --json

    @property
    def undecoded(self) -> bool:
        """A code that starts with a curated family's name but does not
        decode: never handed to the fallback's looser name matching."""
        return self.how == "undecoded"


def _part_files(directory: Path) -> list[Path]:
    return sorted(p for p in directory.glob("*.y*ml") if p.suffix in (".yaml", ".yml"))


class PartsDB:
    def __init__(self, parts: list[Part]):
        self.parts = parts
        self.by_name: dict[str, list[Part]] = {}
        self.by_id: dict[str, list[Part]] = {}
        for p in parts:
            for n in (p.name, *p.aliases):
                self.by_name.setdefault(normalise(n), []).append(p)
            for jid in p.jedec_ids:
                self.by_id.setdefault(jid, []).append(p)

    # -- loading ----------------------------------------------------------
    @classmethod
    def load(cls, extra_dirs: tuple[Path, ...] = ()) -> "PartsDB":
        schema = resources.parts_dir() / "schema.json"
        layers: list[list[Part]] = []
        for directory in (resources.parts_dir(), *extra_dirs):
            if not directory.is_dir():
                raise InputError(f"{directory}: no such parts directory")
            cache = Cache("parts", directory)
            layer: list[Part] = []
            seen: dict[str, str] = {}
            for path in _part_files(directory):
                for part in cache.get(path, schema, lambda p=path: _load_file(p, schema)):
                    if part.name in seen:
                        raise InputError(f"{part.source.where}: family {part.name} is already defined at {seen[part.name]}")
                    seen[part.name] = part.source.where or str(path)
                    layer.append(part)
            layers.append(layer)
            cache.save()
        merged: dict[str, Part] = {}
        for layer in layers:  # later layers (user directories) override
            for part in layer:
                merged[part.name] = part
        return cls(list(merged.values()))

    # -- queries ------------------------------------------------------------
    def resolve(self, query: str) -> Match:
        q = normalise(query)
        if not q:
            raise InputError("empty part query")
        check_query_length(query)
        m = _HEX_ID.match(q)
        if m:
            return self._by_jedec(query, m.group(1).lower())
        found = self._by_code_or_name(query, q)
        if found is not None:
            return found
        code, removed = strip_decorations(query)
        if removed and code:
            found = self._by_code_or_name(query, code)
            if found is not None:
                found.stripped, found.removed = code, removed
                return found
        match = self._undecoded(query, code or q)
        match.stripped, match.removed = (code, removed) if removed else (None, [])
        return match

    def _by_code_or_name(self, query: str, q: str) -> Match | None:
        found = self._by_order_code(query, q)
        if found is not None:
            return found
        parts = self.by_name.get(q, [])
        return Match(query, list(parts), "family name") if parts else None

    def _undecoded(self, query: str, q: str) -> Match:
        """No part: when the code starts with a curated family's name it is
        that family's code written in a way its patterns do not accept, and
        the answer is unknown naming the family, not a guess."""
        heads = sorted((n for n in self.by_name if q.startswith(n) and len(n) >= 5), key=len, reverse=True)
        if not heads:
            return Match(query, [], "none", suggestions=self.suggest(q))
        families = list(dict.fromkeys(p.name for p in self.by_name[heads[0]]))
        note = (f"{q} starts with {', '.join(families)} but does not decode as its order code "
                "(package, temperature, option or packing letters not in the datasheet's ordering table)")
        return Match(query, [], "undecoded", suggestions=families, note=note)

    def _by_order_code(self, query: str, q: str) -> Match | None:
        hits: list[tuple[Part, dict[str, str], tuple[str, ...]]] = []
        for p in self.parts:
            configs: set[str] = set()
            fields: dict[str, str] | None = None
            for oc in p.order_codes:
                mm = oc.fullmatch(q)
                if mm:
                    fields = {k: v for k, v in mm.groupdict().items() if v}
                    if oc.configurations:
                        configs.update(oc.configurations)
                    else:
                        configs = set()
                        break
            if fields is not None:
                hits.append((p, fields, tuple(sorted(configs))))
        if not hits:
            return None
        match = Match(query, [h[0] for h in hits], "order code")
        if len(hits) == 1:
            match.fields = hits[0][1]
        for p, _, configs in hits:
            if configs:
                match.configurations[p.name] = configs
        return match

    def _by_jedec(self, query: str, hexid: str) -> Match:
        base, ext = hexid[:6], hexid[6:]
        parts = list(self.by_id.get(base, []))
        if ext:
            narrowed = [p for p in parts if p.ext_id and (ext.startswith(p.ext_id) or p.ext_id.startswith(ext))]
            if narrowed:
                parts = narrowed
            elif any(p.ext_id for p in parts):
                # The database tells members apart by ext ID and none matches.
                parts = [p for p in parts if not p.ext_id]
        return Match(query, parts, "JEDEC ID", ext_id=ext or None)

    def suggest(self, q: str, count: int = 3) -> list[str]:
        names = list(self.by_name)
        prefix = sorted((n for n in names if q.startswith(n) and len(n) >= 5), key=len, reverse=True)
        import difflib

        close = difflib.get_close_matches(q, names, n=count, cutoff=0.6)
        # an order code is a family name plus suffixes: compare like with like
        heads = sorted(
            ((difflib.SequenceMatcher(None, q[: len(n)], n).ratio(), n) for n in names if len(n) >= 5),
            reverse=True,
        )
        close += [n for r, n in heads[:count] if r >= 0.8]
        out: list[str] = []
        for n in prefix + close:
            real = self.by_name[n][0].name
            if real not in out:
                out.append(real)
        return out[:count]


def _load_file(path: Path, schema: Path) -> list[Part]:
    from flashcheck.data.yamlio import load_yaml, validate

    doc = load_yaml(path)
    if not isinstance(doc.data, dict):
        raise InputError(f"{path}:1: expected a mapping with manufacturer, jedec_manufacturer and families")
    validate(doc, schema)
    return parse_parts_file(doc)
