"""Board profiles: what a host needs from its flash, as declarative rules
that each cite a source.  Loaded from the built-in ``hw/boards/`` and any
user directories (a user's board overrides a built-in of the same name)."""

from __future__ import annotations

from flashcheck.record import field, record
from pathlib import Path

from flashcheck.data import resources
from flashcheck.data.cache import Cache
from flashcheck.errors import InputError
from flashcheck.data.parts import Source
from flashcheck.units import parse_size

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any
    from flashcheck.data.yamlio import Located


@record(frozen=True)
class Rule:
    kind: str  # a key of flashcheck.rules.kinds.kinds(): erase, voltage, capacity, ...
    params: dict[str, Any]
    source: Source
    why: str | None = None
    where: str | None = None


@record
class Board:
    name: str
    title: str
    rules: list[Rule]
    sources: dict[str, Source]
    description: str | None = None
    spi: dict[str, Any] = field(default_factory=dict)
    wiring: dict[str, Any] = field(default_factory=dict)
    test: dict[str, Any] = field(default_factory=dict)
    where: str | None = None
    command_set: str = "spi-nor"
    program_bytes: int = 256  # the most bytes the host writes with one 0x02
    # Requirement kinds stated as not applying (kind -> (why, source or None))
    # and as not known (kind -> why).  Every kind is a rule, one of these,
    # or unstated; unstated and not known cap a verdict at unknown.
    not_applicable: dict[str, tuple[str, Source | None]] = field(default_factory=dict)
    not_known: dict[str, str] = field(default_factory=dict)


def parse_sizes(doc: Located, values: list, *keys: Any) -> list[int]:
    """Sizes of a rule ('4 KiB', 65536, ...); a bad one names its file and line."""
    out = []
    for i, v in enumerate(values):
        try:
            out.append(parse_size(v))
        except ValueError as exc:
            raise doc.error(str(exc), *keys, i) from None
    return out


def parse_board(doc: Located) -> Board:
    # Each rule kind parses its own parameters (flashcheck.rules.kinds): a
    # board profile is written in the rules' terms.
    from flashcheck.rules import kinds

    data = doc.data
    sources = {
        key: Source(s["title"], s.get("revision"), s.get("document"), None, doc.where("sources", key))
        for key, s in data["sources"].items()
    }
    rules = []
    for i, raw in enumerate(data["rules"]):
        k = ("rules", i)
        key = raw["source"]
        if key not in sources:
            raise doc.error(f"source {key!r} is not one of sources: {', '.join(sources)}", *k, "source")
        params = {n: v for n, v in raw.items() if n not in ("rule", "source", "why")}
        kind = raw["rule"]
        params.update(kinds.get(kind).parse(doc, raw, k))
        rules.append(Rule(kind, params, sources[key], raw.get("why"), doc.where(*k)))
    not_applicable, not_known = _statements(doc, sources, {r.kind for r in rules})
    return Board(
        name=data["name"],
        title=data["title"],
        rules=rules,
        sources=sources,
        description=data.get("description"),
        spi=data.get("spi") or {},
        wiring=data.get("wiring") or {},
        test=data.get("test") or {},
        where=str(doc.path),
        command_set=data.get("command_set", "spi-nor"),
        program_bytes=data.get("program_bytes", 256),
        not_applicable=not_applicable,
        not_known=not_known,
    )


def _statements(doc: Located, sources: dict[str, Source], ruled: set[str]):
    """``not_applicable`` and ``not_known``: a kind stated twice (as a rule
    and here, or in both) is an error naming its line."""
    not_applicable: dict[str, tuple[str, Source | None]] = {}
    for kind, entry in (doc.data.get("not_applicable") or {}).items():
        key = entry.get("source")
        if key is not None and key not in sources:
            raise doc.error(f"source {key!r} is not one of sources: {', '.join(sources)}", "not_applicable", kind, "source")
        not_applicable[kind] = (entry["why"], sources.get(key) if key else None)
    not_known = dict(doc.data.get("not_known") or {})
    for section, kinds_ in (("not_applicable", not_applicable), ("not_known", not_known)):
        for kind in kinds_:
            if kind in ruled:
                raise doc.error(f"{kind} is stated as a rule and under {section}", section, kind)
    for kind in set(not_applicable) & set(not_known):
        raise doc.error(f"{kind} is under both not_applicable and not_known", "not_known", kind)
    return not_applicable, not_known


def _load_file(path: Path, schema: Path) -> Board:
    from flashcheck.data.yamlio import load_yaml, validate

    doc = load_yaml(path)
    if not isinstance(doc.data, dict):
        raise InputError(f"{path}:1: expected a mapping with name, title, sources and rules")
    validate(doc, schema)
    board = parse_board(doc)
    if board.name != path.stem:
        raise doc.error(f"name {board.name!r} does not match the file name {path.name!r}", "name")
    return board


class BoardsDB:
    def __init__(self, boards: dict[str, Board]):
        self.boards = boards

    @classmethod
    def load(cls, extra_dirs: tuple[Path, ...] = ()) -> "BoardsDB":
        schema = resources.boards_dir() / "schema.json"
        boards: dict[str, Board] = {}
        for directory in (resources.boards_dir(), *extra_dirs):
            if not directory.is_dir():
                raise InputError(f"{directory}: no such boards directory")
            cache = Cache("boards", directory)
            for path in sorted(directory.glob("*.yaml")):
                board = cache.get(path, schema, lambda p=path: _load_file(p, schema))
                boards[board.name] = board
            cache.save()
        return cls(boards)

    def get(self, name: str) -> Board:
        """A board by name, or by path to a YAML file."""
        if name.endswith((".yaml", ".yml")):
            path = Path(name)
            if not path.is_file():
                raise InputError(f"{name}: no such board file")
            return _load_file(path, resources.boards_dir() / "schema.json")
        try:
            return self.boards[name]
        except KeyError:
            known = ", ".join(sorted(self.boards))
            raise InputError(f"unknown board {name!r} (known: {known})") from None
