"""Reading the YAML data files (parts, boards) with errors that name the
file and line, and validation against the JSON Schema kept beside them.

PyYAML's libyaml loader is used when present.  jsonschema is imported only
when a file is actually validated (see :mod:`flashcheck.data.cache`, which
keeps validated results so that a normal run never pays for it).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from flashcheck.errors import InputError


def _yaml():
    """PyYAML and its fastest safe loader.  Imported only when a file must
    be parsed (its import alone costs ~80 ms: a cached run never pays it)."""
    import yaml

    return yaml, getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class Located:
    """A loaded document plus where each part of it came from."""

    def __init__(self, path: Path, data: Any, lines: dict[tuple, int]):
        self.path = path
        self.data = data
        self._lines = lines

    def line(self, *keys: Any) -> int | None:
        """Line (1-based) of the value at ``keys`` or of its nearest parent."""
        path = tuple(keys)
        while path:
            if path in self._lines:
                return self._lines[path]
            path = path[:-1]
        return self._lines.get((), 1)

    def where(self, *keys: Any) -> str:
        return f"{display_path(self.path)}:{self.line(*keys)}"

    def error(self, message: str, *keys: Any) -> InputError:
        return InputError(f"{self.where(*keys)}: {message}")


def display_path(path: Path) -> str:
    """Built-in files as ``parts/x.yaml`` / ``hw/boards/x.yaml``; others as given."""
    from flashcheck.data import resources

    try:
        rp = path.resolve()
        for base, label in ((resources.parts_dir(), "parts"), (resources.boards_dir(), "hw/boards")):
            if rp.parent == base.resolve():
                return f"{label}/{rp.name}"
    except OSError:
        pass
    return str(path)


def _index_lines(node: Any, path: tuple, out: dict[tuple, int]) -> None:
    import yaml

    out[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = key_node.value
            out[path + (key,)] = key_node.start_mark.line + 1
            _index_lines(value_node, path + (key,), out)
            out[path + (key,)] = key_node.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _index_lines(item, path + (i,), out)


#: Largest data file read, in bytes (the biggest built-in one is ~100 KB).
MAX_FILE = 4 << 20
#: Most nodes a document may expand to with its aliases resolved: a
#: "billion laughs" file of a few lines expands to billions.
MAX_NODES = 200_000


def _check_nodes(path: Path, root: Any) -> None:
    """InputError for a duplicate mapping key (file:line: a second ``name:``
    would silently win), a recursive alias, or a document whose aliases
    expand it past :data:`MAX_NODES`.  Each node is visited once (sizes
    memoised), so a bomb costs no more than its text."""
    import yaml

    size: dict[int, int] = {}
    active: set[int] = set()
    stack: list[tuple[Any, bool]] = [(root, False)]
    while stack:  # iterative: a deeply nested document must not overflow Python's stack
        node, done = stack.pop()
        key = id(node)
        if done:
            active.discard(key)
            kids = _children(node, yaml)
            size[key] = 1 + sum(size[id(k)] for k in kids)
            if size[key] > MAX_NODES:
                raise InputError(f"{path}:{node.start_mark.line + 1}: aliases expand this document past "
                                 f"{MAX_NODES:,} values (a 'billion laughs' file?)")
            continue
        if key in size:
            continue
        if key in active:
            raise InputError(f"{path}:{node.start_mark.line + 1}: recursive alias (an anchor used inside itself)")
        active.add(key)
        if isinstance(node, yaml.MappingNode):
            _no_duplicates(path, node, yaml)
        stack.append((node, True))
        stack.extend((k, False) for k in _children(node, yaml) if id(k) not in size)


def _children(node: Any, yaml) -> list[Any]:
    if isinstance(node, yaml.MappingNode):
        return [n for pair in node.value for n in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


def _no_duplicates(path: Path, node: Any, yaml) -> None:
    seen: dict[Any, int] = {}
    for k, _v in node.value:
        if not isinstance(k, yaml.ScalarNode) or k.value == "<<" and k.tag.endswith(":merge"):
            continue
        line = k.start_mark.line + 1
        if k.value in seen:
            raise InputError(f"{path}:{line}: duplicate key {k.value!r} (first at line {seen[k.value]}); "
                             "the second would silently replace the first")
        seen[k.value] = line


def load_yaml(path: Path) -> Located:
    """Parse ``path``; a syntax error becomes an InputError naming file and
    line, as do a duplicate key, an alias bomb and a file over
    :data:`MAX_FILE` bytes."""
    try:
        if path.stat().st_size > MAX_FILE:
            raise InputError(f"{path}: {path.stat().st_size:,} bytes, over the {MAX_FILE >> 20} MiB a data file may be")
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    yaml, loader = _yaml()
    try:
        node = yaml.compose(text, Loader=loader)
        if node is not None:
            _check_nodes(path, node)
        data = yaml.load(text, Loader=loader)
    except RecursionError:
        raise InputError(f"{path}: nested too deeply to be a data file") from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 1
        problem = exc.problem or exc.context or "YAML syntax error"
        raise InputError(f"{path}:{line}: YAML syntax error: {problem}") from None
    except yaml.YAMLError as exc:
        raise InputError(f"{path}: YAML error: {exc}") from None
    lines: dict[tuple, int] = {}
    if node is not None:
        _index_lines(node, (), lines)
    return Located(path, data, lines)


_validators: dict[Path, Any] = {}


def validate(doc: Located, schema_path: Path) -> None:
    """Validate against the JSON Schema at ``schema_path``; the first error
    (the one deepest in the document) is raised naming file, line and field."""
    validator = _validators.get(schema_path)
    if validator is None:
        import jsonschema  # heavy: only when a file is not in the cache

        schema = json.loads(schema_path.read_text(encoding="utf-8"))
        cls = jsonschema.validators.validator_for(schema)
        validator = cls(schema)
        _validators[schema_path] = validator
    errors = list(validator.iter_errors(doc.data))
    if not errors:
        return
    import jsonschema

    best = jsonschema.exceptions.best_match(errors)
    path = tuple(best.absolute_path)
    if best.validator == "additionalProperties" and isinstance(best.instance, dict):
        extra = [k for k in best.instance if k not in best.schema.get("properties", {})]
        if extra:  # point at the unknown field itself
            path += (extra[0],)
            raise doc.error(f"{'.'.join(str(p) for p in path)}: unknown field (see the schema for the fields allowed here)", *path)
    field = ".".join(str(p) for p in path) or "(top level)"
    raise doc.error(f"{field}: {_short(best)}", *path)


def _short(err: Any) -> str:
    msg = err.message
    if err.validator == "type" and err.validator_value == "string" and isinstance(err.instance, (int, float)):
        return f"{msg}: quote it (YAML reads unquoted digits as a number, and a leading 0 as octal)"
    if err.validator == "pattern":
        desc = err.schema.get("description")
        return f"{err.instance!r} is not valid here" + (f": expected {desc}" if desc else f" (pattern {err.validator_value})")
    if err.validator == "additionalProperties":
        return msg.replace("Additional properties are not allowed", "unknown field")
    if err.validator in ("oneOf", "anyOf") and err.context:
        deepest = max(err.context, key=lambda e: len(e.absolute_path))
        return deepest.message
    return msg if len(msg) < 200 else msg[:197] + "..."
