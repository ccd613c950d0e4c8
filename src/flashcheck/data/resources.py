"""Where the built-in data lives: inside the installed package
(``flashcheck/_data/``), or at the top of a source checkout."""

from __future__ import annotations

import os
import sys
from pathlib import Path

_HERE = Path(__file__).resolve().parent.parent  # the flashcheck package


def _first(*candidates: Path) -> Path:
    for c in candidates:
        if c.is_dir():
            return c
    return candidates[0]


def parts_dir() -> Path:
    return _first(_HERE / "_data" / "parts", _HERE.parent.parent / "parts")


def boards_dir() -> Path:
    return _first(_HERE / "_data" / "boards", _HERE.parent.parent / "hw" / "boards")


def user_data_dir() -> Path:
    """The platform's per-user data directory plus ``flashcheck``
    (``~/.local/share/flashcheck`` on Linux, honouring ``$XDG_DATA_HOME``)."""
    home = Path.home()
    if sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA") or home / "AppData" / "Local")
    elif sys.platform == "darwin":
        base = home / "Library" / "Application Support"
    else:
        base = Path(os.environ.get("XDG_DATA_HOME") or home / ".local" / "share")
    return base / "flashcheck"
