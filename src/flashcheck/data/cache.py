"""A cache of validated, parsed data files.

Validating YAML against a JSON Schema needs jsonschema, whose import alone
costs more than the whole offline check may take.  Parsed results are kept
in one pickle per user and data directory (the built-in ``parts/`` is not
slowed by the user's own directories), keyed by each file's path, size and
modification time and by flashcheck's version; a file is validated again
only when it changes, and entries of files that are gone are dropped.  Set ``FLASHCHECK_CACHE_DIR`` to move it, or to ``off`` to disable.
"""

from __future__ import annotations

import os
import pickle
from pathlib import Path

from flashcheck import __version__

TYPE_CHECKING = False  # typing is not imported at run time: the offline check starts faster
if TYPE_CHECKING:
    from typing import Any, Callable

_FORMAT = 2  # 2: records are flashcheck.record classes, one cache file per directory


def cache_path(kind: str, directory: Path | None = None) -> Path | None:
    env = os.environ.get("FLASHCHECK_CACHE_DIR")
    if env == "off":
        return None
    if env:
        base = Path(env)
    else:
        base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "flashcheck"
    if directory is None:
        return base / f"{kind}-{__version__}.pickle"
    import zlib

    tag = f'{zlib.crc32(str(directory).encode("utf-8", "surrogateescape")):08x}'
    return base / f"{kind}-{__version__}-{tag}.pickle"


def _stamp(path: Path, schema: Path) -> tuple:
    st = path.stat()
    sc = schema.stat()
    return (st.st_size, st.st_mtime_ns, sc.st_size, sc.st_mtime_ns, _FORMAT)


class Cache:
    """Parsed files of one data directory."""

    def __init__(self, kind: str, directory: Path):
        self.path = cache_path(kind, directory.resolve())
        self.entries: dict[str, tuple[tuple, Any]] = {}
        self.dirty = False
        if self.path is not None:
            try:
                with open(self.path, "rb") as fh:
                    loaded = pickle.load(fh)
                if isinstance(loaded, dict):
                    self.entries = loaded
            except Exception:  # missing, stale or unreadable: rebuild
                self.entries = {}

    def get(self, path: Path, schema: Path, build: Callable[[], Any]) -> Any:
        key = str(path.resolve())
        stamp = _stamp(path, schema)
        hit = self.entries.get(key)
        if hit is not None and hit[0] == stamp:
            return hit[1]
        value = build()
        self.entries[key] = (stamp, value)
        self.dirty = True
        return value

    def save(self) -> None:
        if not self.dirty or self.path is None:
            return
        self.entries = {k: v for k, v in self.entries.items() if os.path.exists(k)}
        _write(self.path, self.entries)


def load_value(kind: str, stamp: Any) -> Any:
    """A value saved with :func:`save_value` under the same ``stamp``, or None."""
    path = cache_path(kind)
    if path is None:
        return None
    try:
        with open(path, "rb") as fh:
            saved_stamp, value = pickle.load(fh)
    except Exception:  # missing, stale or unreadable
        return None
    return value if saved_stamp == stamp else None


def save_value(kind: str, stamp: Any, value: Any) -> None:
    path = cache_path(kind)
    if path is None:
        return
    _write(path, (stamp, value))


def _write(path: Path, value: Any) -> None:
    """Pickle ``value`` to ``path`` atomically; a read-only home is no reason
    to fail a check, so errors are ignored."""
    import tempfile

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        with os.fdopen(fd, "wb") as fh:
            pickle.dump(value, fh, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, path)
    except OSError:
        pass
