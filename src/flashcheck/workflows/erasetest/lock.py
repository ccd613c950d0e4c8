"""One erase test or recover per chip at a time.

A lock file per chip (JEDEC ID, unique ID, and the URL it is reached by)
in one directory every run sees whatever its ``--journal-dir``:
``$FLASHCHECK_LOCK_DIR``, else ``<tmp>/flashcheck-locks-<uid>``.  It is an
``flock`` held while the test runs: the kernel drops it when the process
ends, however it ends (``kill -9`` included), so a lock left by a dead run
is simply free again and is taken over.  A simulated chip without
``image=`` lives in its process only, and needs no lock.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from pathlib import Path

from flashcheck.errors import InputError

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: no advisory locks; runs are not serialised
    fcntl = None  # type: ignore[assignment]


def lock_dir() -> Path:
    env = os.environ.get("FLASHCHECK_LOCK_DIR")
    if env:
        return Path(env)
    uid = os.getuid() if hasattr(os, "getuid") else 0
    return Path(tempfile.gettempdir()) / f"flashcheck-locks-{uid}"


def chip_key(jedec_hex: str, uid_hex: str | None, url: str) -> str | None:
    """The name of a chip's lock, or None for a chip no other process can reach."""
    if url.startswith("sim") and "image=" not in url:
        return None
    base = re.sub(r"([?&])(fail_after|time_scale)=[^&]*", r"\1", url).rstrip("?&")
    digest = hashlib.sha256(f"{jedec_hex}|{uid_hex or ''}|{base}".encode()).hexdigest()[:16]
    return f"{jedec_hex}-{uid_hex or 'nouid'}-{digest}"


def try_flock(fd: int) -> bool:
    """An exclusive lock on ``fd`` without waiting: False when another
    process holds it."""
    if fcntl is None:
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


class ChipLock:
    """Held from :meth:`acquire` to :meth:`release` (or process end)."""

    def __init__(self, key: str | None, what: str) -> None:
        self.key = key
        self.what = what
        self._fd: int | None = None

    def acquire(self) -> "ChipLock":
        if self.key is None:
            return self
        d = lock_dir()
        d.mkdir(parents=True, exist_ok=True)
        path = d / f"{self.key}.lock"
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        if not try_flock(fd):
            holder = os.pread(fd, 200, 0).decode(errors="replace").strip() or "another process"
            os.close(fd)
            raise InputError(
                f"{self.what}: another flashcheck test or recover is running on this chip ({holder}); "
                "wait for it to finish (it holds the chip's journal), then try again")
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()}".encode(), 0)
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing drops the flock
            self._fd = None

    def __enter__(self) -> "ChipLock":
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()
