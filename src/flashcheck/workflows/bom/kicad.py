"""Reading a KiCad 6+ schematic (``.kicad_sch``, hierarchical sheets
included) or project (``.kicad_pro``, which names the root sheet) as a BOM.

Parsing is sexpdata's (a maintained S-expression reader, imported only when
a schematic is read); this module only walks the tree.  What it reads, as
KiCad writes it (file format ``version`` 20211014, KiCad 6.0, or later):

- ``(symbol (lib_id ...) (unit N) (in_bom yes) (dnp yes) (uuid U)
  (property "Reference" "U3") (property "MPN" "...") ...)`` placed symbols;
- ``(sheet (uuid S) (property "Sheetname"|"Sheet name" ...)
  (property "Sheetfile"|"Sheet file" "flash.kicad_sch"))`` sub-sheets,
  read recursively (a sheet used twice is two instances with their own
  references);
- references per instance: KiCad 7+ in each symbol's
  ``(instances (project P (path "/ROOT/S" (reference "U3"))))``, KiCad 6 in
  the root file's ``(symbol_instances (path "/S/U" (reference "U3")))``;
  the symbol's own Reference property when neither has it;
- ``(lib_symbols (symbol "power:GND" (power) ...))`` to tell power symbols.

Each placed symbol becomes one row: sheet path, reference, value, order
code (the first field named like an MPN column, see
:data:`~flashcheck.workflows.bom.columns.MPN_HEADERS`, or ``--column``;
the Value when it has none), manufacturer, description, sheet file.  The
row's line number is the symbol's line in its own sheet file.  Power
symbols, DNP symbols (``(dnp yes)``, ``(in_bom no)``, or a DNP/DNF field
that is set) and the second and later units of a multi-unit symbol are not
rows; they are counted in :attr:`Sheet.excluded`.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flashcheck.errors import InputError
from flashcheck.workflows.bom.columns import DESCRIPTION_HEADERS, MANUFACTURER_HEADERS, MPN_HEADERS, header_key

MIN_VERSION = 20211014  # the oldest KiCad 6.0 schematic format
KICAD_SUFFIXES = (".kicad_sch", ".kicad_pro", ".sch")  # .sch: KiCad 5, refused with a clear line
HEADER = ["Sheet", "Reference", "Value", "", "Manufacturer", "Description", "Sheet file"]
SHEET_COL, REF_COL, VALUE_COL, CODE_COL, MANU_COL, DESC_COL, FILE_COL = range(7)
_DNP_FIELDS = ("dnp", "dnf", "donotpopulate", "donotplace", "nopop")
_FALSE = ("", "0", "no", "false", "n")
_MAX_DEPTH = 64  # sheets inside sheets; deeper is a loop KiCad would not save


def is_kicad(path: Path) -> bool:
    return path.suffix.lower() in KICAD_SUFFIXES


# --------------------------------------------------------------------------
# The S-expression tree


def _head(node: Any) -> str | None:
    if isinstance(node, list) and node and isinstance(node[0], str) and type(node[0]) is not str:
        return str(node[0])  # a sexpdata Symbol (a str subclass), not a quoted string
    return None


def _children(node: list, name: str) -> list[list]:
    return [c for c in node[1:] if _head(c) == name]


def _atom(node: list, name: str, default: Any = None) -> Any:
    """The first value of the first child called ``name``: (uuid X) -> X."""
    for c in _children(node, name):
        if len(c) > 1:
            return c[1] if isinstance(c[1], (str, int, float)) else str(c[1])
    return default


def _flag(node: list, name: str) -> bool | None:
    """(dnp yes) -> True, (dnp no) -> False, absent -> None; a bare (power) is True."""
    for c in _children(node, name):
        return len(c) == 1 or str(c[1]).lower() in ("yes", "true")
    return None


def _child(node: list, name: str) -> list:
    """The first child called ``name``, or an empty node."""
    return next(iter(_children(node, name)), [None])


def _properties(node: list) -> dict[str, str]:
    props: dict[str, str] = {}
    for c in _children(node, "property"):
        if len(c) >= 3 and isinstance(c[1], str):
            props.setdefault(c[1], str(c[2]))
    return props


@dataclass
class _File:
    path: Path
    text: str
    tree: list
    version: int

    lines: dict[str, int] = field(default_factory=dict)

    def line_of(self, uuid: str | None) -> int:
        """The line of the item with this uuid (uuids are unique in a file),
        from one pass over the text the first time."""
        if not self.lines:
            import re

            line, pos = 1, 0
            for m in re.finditer(r'\(uuid\s+"?([^")\s]+)', self.text):
                line += self.text.count("\n", pos, m.start())
                pos = m.start()
                self.lines.setdefault(m.group(1), line)
        return self.lines.get(uuid or "", 1)


def _parse(path: Path, named_by: str = "") -> _File:
    where = f" (named by {named_by})" if named_by else ""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise InputError(f"{named_by or path}: sheet file {path} not found") from None
    except IsADirectoryError:
        raise InputError(f"{path}:1: is a directory; expected a KiCad schematic (.kicad_sch){where}") from None
    except OSError as exc:
        raise InputError(f"{path}:1: cannot read: {exc.strerror or exc}{where}") from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise InputError(f"{path}:{line}: not UTF-8 text (byte 0x{data[exc.start]:02X}); not a KiCad schematic{where}") from None
    start = text.lstrip()
    if start.startswith("EESchema Schematic File"):
        raise InputError(f"{path}:1: KiCad 5 (legacy .sch) schematic; open it in KiCad 6 or later and save it "
                         f"as .kicad_sch{where}")
    if not start.startswith("(kicad_sch"):
        first = start.split("\n", 1)[0][:40]
        raise InputError(f"{path}:1: not a KiCad schematic: expected '(kicad_sch', found {first!r}{where}")
    tree = _sexp(path, text, where)
    version = _atom(tree, "version")
    if not isinstance(version, int):
        raise InputError(f"{path}:1: version: missing or not a number ({version!r}); not a KiCad 6+ schematic{where}")
    if version < MIN_VERSION:
        raise InputError(f"{path}:1: version: {version} is a format older than KiCad 6.0 ({MIN_VERSION}); open it "
                         f"in KiCad 6 or later and save it again{where}")
    return _File(path, text, tree, version)


def _sexp(path: Path, text: str, where: str) -> list:
    import sexpdata

    try:
        tree = sexpdata.loads(text, nil=None, true=None, false=None)
    except sexpdata.ExpectClosingBracket as exc:
        line = text.count("\n") + 1 if exc.args and exc.args[0] is None else 1
        raise InputError(f"{path}:{line}: malformed KiCad schematic: a '(' is never closed (file truncated?){where}") from None
    except (AssertionError, sexpdata.ExpectNothing):  # sexpdata: a ")" too many, or more than one expression
        raise InputError(f"{path}:1: malformed KiCad schematic: unbalanced parentheses (a ')' too many, or text after "
                         f"the closing one){where}") from None
    except RecursionError:
        raise InputError(f"{path}:1: malformed KiCad schematic: nested too deeply{where}") from None
    except Exception as exc:  # sexpdata's other parse errors
        raise InputError(f"{path}:1: malformed KiCad schematic ({type(exc).__name__}: {exc}){where}") from None
    if _head(tree) != "kicad_sch":
        raise InputError(f"{path}:1: malformed KiCad schematic: the file is not one (kicad_sch ...) expression{where}")
    return tree


def root_of_project(path: Path) -> Path:
    """The root sheet of a ``.kicad_pro``: the schematic of the same name
    beside it (KiCad's rule), after checking the project file is JSON."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8-sig"))
    except FileNotFoundError:
        raise InputError(f"{path}:1: no such project file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}:1: cannot read the project: {exc}") from None
    except json.JSONDecodeError as exc:
        raise InputError(f"{path}:{exc.lineno}: not a KiCad 6+ project (JSON): {exc.msg}") from None
    if not isinstance(doc, dict):
        raise InputError(f"{path}:1: not a KiCad 6+ project: expected a JSON object")
    root = path.with_suffix(".kicad_sch")
    if not root.is_file():
        raise InputError(f"{path}:1: root sheet {root.name} not found beside the project (KiCad names it after the project)")
    return root


# --------------------------------------------------------------------------
# Walking the hierarchy


@dataclass
class Placed:
    """One symbol instance that goes on the board."""

    sheet: str  # "/", "/Flash/", ...
    file: _File
    line: int
    reference: str
    props: dict[str, str]


@dataclass
class Walk:
    root: _File
    lib_power: dict[str, bool] = field(default_factory=dict)
    legacy_refs: dict[str, str] = field(default_factory=dict)  # KiCad 6 root symbol_instances
    placed: dict[tuple[str, str], Placed] = field(default_factory=dict)  # (sheet uuid path, reference)
    excluded: Counter = field(default_factory=Counter)
    files: dict[Path, _File] = field(default_factory=dict)

    def run(self) -> None:
        for inst in _children(_child(self.root.tree, "symbol_instances"), "path"):
            ref = _atom(inst, "reference")
            if len(inst) > 1 and ref:
                self.legacy_refs[str(inst[1])] = str(ref)
        root_uuid = str(_atom(self.root.tree, "uuid", ""))
        self.sheet(self.root, "/", [root_uuid], [])

    def sheet(self, f: _File, names: str, chain: list[str], stack: list[Path]) -> None:
        if len(stack) > _MAX_DEPTH or f.path.resolve() in stack:
            raise InputError(f"{f.path}:1: sheet includes itself (hierarchy loop through {names})")
        stack = stack + [f.path.resolve()]
        for lib in _children(_child(f.tree, "lib_symbols"), "symbol"):
            if len(lib) > 1:
                self.lib_power[f"{f.path}\0{lib[1]}"] = bool(_flag(lib, "power"))
        for sym in _children(f.tree, "symbol"):
            self.symbol(f, sym, names, chain)
        for sh in _children(f.tree, "sheet"):
            self.subsheet(f, sh, names, chain, stack)

    def subsheet(self, f: _File, sh: list, names: str, chain: list[str], stack: list[Path]) -> None:
        props = _properties(sh)
        uuid = str(_atom(sh, "uuid", ""))
        line = f.line_of(uuid)
        name = props.get("Sheetname", props.get("Sheet name", "")) or uuid[:8]
        file = props.get("Sheetfile", props.get("Sheet file"))
        if not file:
            raise InputError(f"{f.path}:{line}: sheet {name!r}: Sheetfile: missing")
        target = next((p for p in (f.path.parent / file, self.root.path.parent / file) if p.is_file()),
                      f.path.parent / file)
        key = target.resolve()
        if key not in self.files:
            self.files[key] = _parse(target, f"{f.path}:{line}: sheet {name!r}: Sheetfile")
        self.sheet(self.files[key], f"{names}{name}/", chain + [uuid], stack)

    def symbol(self, f: _File, sym: list, names: str, chain: list[str]) -> None:
        props = _properties(sym)
        uuid = str(_atom(sym, "uuid", ""))
        lib_id = str(_atom(sym, "lib_id", ""))
        ref = self.reference(sym, chain, uuid) or props.get("Reference", "?")
        if self.lib_power.get(f"{f.path}\0{lib_id}") or ref.startswith("#"):
            self.excluded["power symbols"] += 1
            return
        key = ("/".join(chain), ref)
        if key in self.placed:  # another unit of a multi-unit symbol: counted once
            first = self.placed[key]
            for k, v in props.items():
                if v and not first.props.get(k):
                    first.props[k] = v
            self.excluded["extra units of multi-unit symbols"] += 1
            return
        dnp_field = any(header_key(k) in _DNP_FIELDS and v.strip().lower() not in _FALSE for k, v in props.items())
        if _flag(sym, "dnp") or _flag(sym, "in_bom") is False or dnp_field:
            self.excluded["DNP / not in BOM"] += 1
            self.placed[key] = Placed(names, f, 0, ref, {})  # its other units are not rows either
            return
        self.placed[key] = Placed(names, f, f.line_of(uuid), ref, props)

    def reference(self, sym: list, chain: list[str], uuid: str) -> str | None:
        want = "/" + "/".join(chain)
        for inst in _children(sym, "instances"):
            for project in _children(inst, "project"):
                for path in _children(project, "path"):
                    if len(path) > 1 and str(path[1]).rstrip("/") == want.rstrip("/"):
                        ref = _atom(path, "reference")
                        if ref:
                            return str(ref)
        return self.legacy_refs.get("/" + "/".join(chain[1:] + [uuid]))


# --------------------------------------------------------------------------
# As a BOM sheet


def _code_field(props: dict[str, str], column: str | None) -> tuple[str, str]:
    """(field name, order code) of one symbol."""
    keys = {header_key(k): k for k in props}
    if column is not None:
        k = keys.get(header_key(column))
        return (k, props[k]) if k else (column, "")
    for want in MPN_HEADERS[:-1]:
        k = keys.get(want)
        if k and props[k].strip():
            return k, props[k]
    return "Value", props.get("Value", "")


def _first(props: dict[str, str], names: tuple[str, ...]) -> str:
    keys = {header_key(k): k for k in props}
    return next((props[keys[n]] for n in names if n in keys and props[keys[n]].strip()), "")


def open_kicad(path: Path, column: str | None = None):
    """A :class:`~flashcheck.workflows.bom.sheet.Sheet` over the symbols of
    a schematic (or of a project's root schematic) and its sub-sheets."""
    from flashcheck.workflows.bom.sheet import Sheet

    path = Path(path)
    root = root_of_project(path) if path.suffix.lower() == ".kicad_pro" else path
    walk = Walk(_parse(root))
    walk.files[root.resolve()] = walk.root
    walk.run()
    placed = sorted((p for p in walk.placed.values() if p.line),
                    key=lambda p: (p.sheet, _ref_key(p.reference)))
    rows, used = [], Counter()
    for p in placed:
        name, code = _code_field(p.props, column)
        if code.strip():
            used[name] += 1
        rows.append((p.line, [p.sheet, p.reference, p.props.get("Value", ""), code, _first(p.props, MANUFACTURER_HEADERS),
                              _first(p.props, DESCRIPTION_HEADERS), str(p.file.path.name)]))
    if column is not None and not used:
        raise InputError(f"{root}:1: no symbol has a field named {column!r} (hierarchy of {len(walk.files)} sheet files read)")
    header = list(HEADER)
    header[CODE_COL] = " / ".join(n for n, _ in used.most_common()) or "MPN"
    return Sheet(path, "kicad", header, 0, CODE_COL, MANU_COL, DESC_COL, [], iter(rows),
                 sheet_col=SHEET_COL, ref_col=REF_COL, file_col=FILE_COL, excluded=dict(walk.excluded),
                 total=len(rows))


def _ref_key(ref: str) -> tuple:
    """U10 after U9."""
    head = ref.rstrip("0123456789")
    tail = ref[len(head):]
    return (head, int(tail) if tail else -1, ref)
