"""The erase-test journal: what ``flashcheck test`` needs to put a chip
back as it was when a run stops half way (power loss, USB gone, crash).

Format
======

One file per run, ``<dir>/<UTC time>-<JEDEC ID>-<unique ID or "nouid">-<pid>.jsonl``:
UTF-8 text, one JSON object per line, appended and never rewritten.  Every
record carries:

``seq``
    0, 1, 2, ... in file order (a missing or repeated number is corruption);
``type``
    what the record says (below);
``sha256``
    hex SHA-256 of the record's canonical JSON without this field
    (``json.dumps(rec, sort_keys=True, separators=(",", ":"))``).

Record types:

``run`` (always first)
    ``version`` (format, 2), ``tool`` (flashcheck version), ``started``
    (ISO 8601 UTC), ``transport`` (description), ``url``, ``jedec_id`` (hex
    of the 0x9F bytes read), ``unique_id`` (hex, or null when the chip has
    none), ``sfdp_sha256`` (hex SHA-256 of the chip's SFDP area, or null).
``backup``
    the chip's contents from 0 to ``size`` as read before anything was
    changed, in the file ``file`` (next to the journal, raw bytes) whose
    hex SHA-256 is ``image_sha256``.  Written, fsynced and renamed into place
    before this record, and this record made durable before the first
    change to the chip: the whole array can always be put back from it.
``protect``
    the run is about to change write protection: ``kind`` ``"bpr"`` (SST26
    block-protection register, ``value`` hex of its bytes as read by 0x72)
    or ``"sr"`` (status/configuration registers: ``registers`` maps each
    register the chip layer's vendor hook reads for protection to its
    value as found, ``value`` the same bytes in hex; journals from before
    ``registers`` hold SR1 alone in ``value``).  ``protect-restored`` (``ref`` = the
    ``seq`` of the ``protect`` record) when it has been put back.
``begin``
    a step is about to change the array: ``entry`` (its number),
    ``address`` and ``size`` (the block under test), ``opcode`` (the erase
    under test), ``window_start``, ``window_size`` (what it may change).
``done``
    ``entry``: the window has been restored and read back equal; ``by``
    ``"test"`` or ``"recover"``.
``end``
    the run finished (``result``: ``"complete"``, ``"interrupted"``,
    ``"recovered"``).

Durability: ``backup``, ``begin`` and ``protect`` are fsynced before the
change they announce.  Closing records (``done``, ``protect-restored``,
``end``) are not: one lost in a crash only makes ``recover`` compare a chip
that is already right.  While a test runs it holds an ``flock`` on its
journal: ``recover`` refuses a journal in use and takes over one whose
test has died.

A journal whose entries are all closed is deleted (with its backup) at the
end of the run, or by ``recover`` once the chip reads back equal to the
backup.

A torn last line (the run stopped, or the disk filled, while it was being
written: no newline at its end) is ignored: the durable record before it
is complete, and the change the torn one announced never started.  Any
other damage -- a line that is not JSON, a ``sha256`` that does not match,
records missing -- makes the file unusable: :class:`JournalError` names
the file and line, nothing in it is applied, and other journals in the
directory are unaffected.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flashcheck.errors import InputError

FORMAT_VERSION = 2
SUFFIX = ".jsonl"
IMAGE_SUFFIX = ".img"


class JournalError(InputError):
    """A journal file is corrupt or truncated; the message names it."""


def default_dir() -> Path:
    """``$FLASHCHECK_JOURNAL_DIR``, else the platform's user data directory
    plus ``flashcheck/journal`` (``~/.local/share/flashcheck/journal`` on
    Linux, honouring ``$XDG_DATA_HOME``)."""
    env = os.environ.get("FLASHCHECK_JOURNAL_DIR")
    if env:
        return Path(env)
    from flashcheck.data.resources import user_data_dir

    return user_data_dir() / "journal"


def _canonical(rec: dict[str, Any]) -> bytes:
    return json.dumps(rec, sort_keys=True, separators=(",", ":")).encode()


def _seal(rec: dict[str, Any]) -> str:
    body = {k: v for k, v in rec.items() if k != "sha256"}
    body["sha256"] = hashlib.sha256(_canonical(body)).hexdigest()
    return json.dumps(body, sort_keys=True, separators=(",", ":"))


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return  # not possible on this platform (Windows): the file's fsync has to do
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@dataclass
class Entry:
    """One step that changes the array (a ``begin`` record)."""

    entry: int
    address: int
    size: int
    opcode: int
    window_start: int
    window_size: int
    closed: bool = False

    @property
    def window_end(self) -> int:
        return self.window_start + self.window_size


@dataclass
class Protect:
    seq: int
    kind: str
    value: bytes
    mask: int = 0
    #: register name -> value as found (``sr``), for the vendor's relock
    registers: dict[str, int] = field(default_factory=dict)
    restored: bool = False


@dataclass
class Backup:
    file: str
    size: int
    sha256: str


@dataclass
class Journal:
    """A journal file read back (:func:`read`)."""

    path: Path
    jedec_id: str
    unique_id: str | None
    transport: str
    started: str
    url: str = ""
    sfdp_sha256: str | None = None
    backup: Backup | None = None
    entries: list[Entry] = field(default_factory=list)
    protects: list[Protect] = field(default_factory=list)
    ended: str | None = None
    next_seq: int = 0
    torn: bool = False  # the last line was torn and is ignored
    good_length: int = 0  # bytes of the file up to the last whole record

    @property
    def open_entries(self) -> list[Entry]:
        return [e for e in self.entries if not e.closed]

    @property
    def open_protects(self) -> list[Protect]:
        return [p for p in self.protects if not p.restored]

    @property
    def unfinished(self) -> bool:
        return bool(self.open_entries or self.open_protects)

    @property
    def image_path(self) -> Path | None:
        return self.path.parent / self.backup.file if self.backup else None

    def identity(self) -> str:
        return f"JEDEC ID {self.jedec_id}, unique ID {self.unique_id or 'none'}"

    def load_image(self) -> bytes:
        """The backup's bytes, checked against the journal's SHA-256."""
        if self.backup is None:
            raise JournalError(f"journal {self.path}: no backup image recorded")
        path = self.image_path
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise JournalError(f"journal {self.path}: its backup {path} cannot be read: {exc.strerror or exc}") from None
        if len(data) != self.backup.size or hashlib.sha256(data).hexdigest() != self.backup.sha256:
            raise JournalError(f"journal {self.path}: its backup {path} does not match the size and SHA-256 the "
                               "journal recorded (altered or damaged); nothing was applied")
        return data


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


def _no_space(path: Path, exc: OSError, what: str) -> InputError:
    return InputError(f"journal {path}: cannot write {what}: {exc.strerror or exc}; "
                      "free space in the journal directory (or use --journal-dir) and try again")


class Writer:
    """Appends records to a new journal file, each made durable before
    :meth:`append` returns.  Holds an ``flock`` on it while open."""

    def __init__(self, directory: Path, *, jedec_id: str, unique_id: str | None, transport: str, tool: str,
                 url: str = "", sfdp_sha256: str | None = None) -> None:
        from flashcheck.workflows.erasetest.lock import try_flock

        try:
            directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise InputError(f"journal directory {directory}: cannot create: {exc.strerror or exc}") from None
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        name = f"{stamp}-{jedec_id}-{unique_id or 'nouid'}-{os.getpid()}-{time.monotonic_ns() % 10**6}{SUFFIX}"
        self.path = directory / name
        try:
            self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o600)
        except OSError as exc:
            raise InputError(f"journal {self.path}: cannot create: {exc.strerror or exc}") from None
        try_flock(self._fd)
        self.seq = 0
        self.length = 0
        self.append("run", version=FORMAT_VERSION, tool=tool, url=url, transport=transport,
                    started=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), jedec_id=jedec_id,
                    unique_id=unique_id, sfdp_sha256=sfdp_sha256)
        _fsync_dir(directory)

    @classmethod
    def reopen(cls, journal: Journal) -> "Writer":
        """Append to an existing journal (``recover`` closing its entries);
        a torn last line is cut off first."""
        self = cls.__new__(cls)
        self.path = journal.path
        try:
            self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND)
            if journal.torn:
                os.ftruncate(self._fd, journal.good_length)
        except OSError as exc:
            raise InputError(f"journal {self.path}: cannot open for writing: {exc.strerror or exc}") from None
        self.seq = journal.next_seq
        self.length = journal.good_length
        return self

    def append(self, rtype: str, /, *, durable: bool = True, **fields: Any) -> int:
        """Append one record; with ``durable`` (the default) it is on disk
        (fsync) before this returns.  When the write fails (disk full) the
        file is cut back to its last whole record and InputError says so."""
        seq = self.seq
        data = (_seal({"seq": seq, "type": rtype, **fields}) + "\n").encode()
        try:
            _write_all(self._fd, data)
            if durable:
                os.fsync(self._fd)
        except OSError as exc:
            try:
                os.ftruncate(self._fd, self.length)
            except OSError:
                pass  # a torn last line is recognised when read
            raise _no_space(self.path, exc, f"its {rtype!r} record") from None
        self.length += len(data)
        self.seq += 1
        return seq

    def save_backup(self, image: bytes) -> None:
        """Write the chip's contents next to the journal (fsynced, renamed
        into place), then the durable ``backup`` record naming it."""
        final = self.path.with_suffix(IMAGE_SUFFIX)
        tmp = final.with_suffix(".part")
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            try:
                _write_all(fd, image)
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(tmp, final)
            _fsync_dir(final.parent)
        except OSError as exc:
            for p in (tmp, final):
                remove(p)
            raise _no_space(final, exc, f"the {len(image)}-byte backup of the chip") from None
        self.append("backup", file=final.name, size=len(image), image_sha256=hashlib.sha256(image).hexdigest())

    def begin(self, entry: int, *, address: int, size: int, opcode: int, window_start: int, window_size: int) -> None:
        self.append("begin", entry=entry, address=address, size=size, opcode=opcode, window_start=window_start,
                    window_size=window_size)

    def done(self, entry: int, by: str = "test") -> None:
        self.append("done", durable=False, entry=entry, by=by)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> "Writer":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _bad(path: Path, line: int, why: str) -> JournalError:
    return JournalError(
        f"journal {path}:{line}: {why}; the file is refused and nothing in it was applied "
        "(inspect it, then move it out of the journal directory; its .img file is the chip's contents "
        "before the test)"
    )


def _need(rec: dict, path: Path, line: int, **types: type | tuple) -> None:
    for key, t in types.items():
        if key not in rec or not isinstance(rec[key], t) or isinstance(rec[key], bool):
            raise _bad(path, line, f"{rec.get('type')} record lacks a valid {key!r}")


def _record(line: bytes, path: Path, n: int) -> dict:
    try:
        rec = json.loads(line)
    except (ValueError, UnicodeDecodeError):
        raise _bad(path, n, "not a complete JSON record (truncated or overwritten)") from None
    if not isinstance(rec, dict):
        raise _bad(path, n, "not a JSON object")
    want = rec.get("sha256")
    body = {k: v for k, v in rec.items() if k != "sha256"}
    if not isinstance(want, str) or hashlib.sha256(_canonical(body)).hexdigest() != want:
        raise _bad(path, n, "checksum mismatch (the record was altered or damaged)")
    if rec.get("seq") != n - 1:
        raise _bad(path, n, f"record number {rec.get('seq')!r} where {n - 1} was expected (records missing or reordered)")
    return rec


def _run_record(rec: dict, path: Path) -> Journal:
    if rec.get("type") != "run":
        raise _bad(path, 1, "the first record is not a 'run' record")
    if rec.get("version") != FORMAT_VERSION:
        raise _bad(path, 1, f"journal format version {rec.get('version')!r}; this flashcheck reads {FORMAT_VERSION}")
    _need(rec, path, 1, jedec_id=str, transport=str, started=str)
    for key in ("unique_id", "sfdp_sha256"):
        if rec.get(key) is not None and not isinstance(rec[key], str):
            raise _bad(path, 1, f"run record has a bad {key!r}")
    return Journal(path, rec["jedec_id"], rec.get("unique_id"), rec["transport"], rec["started"],
                   url=str(rec.get("url") or ""), sfdp_sha256=rec.get("sfdp_sha256"))


def _apply(j: Journal, rec: dict, path: Path, n: int, by_entry: dict, by_protect: dict) -> None:
    kind = rec.get("type")
    if kind == "backup":
        _need(rec, path, n, file=str, size=int, image_sha256=str)
        if "/" in rec["file"] or "\\" in rec["file"] or rec["file"].startswith("."):
            raise _bad(path, n, "the backup file name points outside the journal directory")
        j.backup = Backup(rec["file"], rec["size"], rec["image_sha256"])
    elif kind == "begin":
        _need(rec, path, n, entry=int, address=int, size=int, opcode=int, window_start=int, window_size=int)
        if rec["entry"] in by_entry:
            raise _bad(path, n, f"entry {rec['entry']} begins twice")
        e = Entry(rec["entry"], rec["address"], rec["size"], rec["opcode"], rec["window_start"], rec["window_size"])
        if not (e.window_start <= e.address and e.address + e.size <= e.window_end):
            raise _bad(path, n, "the window does not contain the block under test")
        by_entry[e.entry] = e
        j.entries.append(e)
    elif kind == "done":
        _need(rec, path, n, entry=int)
        if rec["entry"] not in by_entry:
            raise _bad(path, n, f"'done' for entry {rec['entry']}, which never began")
        by_entry[rec["entry"]].closed = True
    elif kind == "protect":
        _need(rec, path, n, kind=str, value=str)
        try:
            value = bytes.fromhex(rec["value"])
        except ValueError:
            raise _bad(path, n, "protect record has a bad 'value'") from None
        regs = rec.get("registers") or {}
        if not isinstance(regs, dict) or not all(isinstance(v, int) and 0 <= v <= 0xFF for v in regs.values()):
            raise _bad(path, n, "protect record has bad 'registers' (expected name -> byte value)")
        p = Protect(rec["seq"], rec["kind"], value, int(rec.get("mask") or 0), dict(regs))
        by_protect[p.seq] = p
        j.protects.append(p)
    elif kind == "protect-restored":
        _need(rec, path, n, ref=int)
        if rec["ref"] not in by_protect:
            raise _bad(path, n, f"'protect-restored' refers to record {rec['ref']}, not a 'protect' record")
        by_protect[rec["ref"]].restored = True
    elif kind == "end":
        j.ended = str(rec.get("result"))
    else:
        raise _bad(path, n, f"unknown record type {kind!r}")


def read(path: Path) -> Journal:
    """Read and check a journal file; :class:`JournalError` if it is
    damaged anywhere but in a torn last line."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise JournalError(f"journal {path}: cannot read: {exc.strerror or exc}") from None
    lines = raw.split(b"\n")
    torn = lines.pop()  # b"" when the file ends with a newline
    if not lines:
        raise _bad(path, 1, "no complete record (the run stopped while creating it)")
    j = _run_record(_record(lines[0], path, 1), path)
    by_entry: dict[int, Entry] = {}
    by_protect: dict[int, Protect] = {}
    for n, line in enumerate(lines[1:], start=2):
        _apply(j, _record(line, path, n), path, n, by_entry, by_protect)
    j.next_seq = len(lines)
    j.torn = bool(torn)
    j.good_length = len(raw) - len(torn)
    return j


def read_all(directory: Path) -> tuple[list[Journal], list[tuple[Path, JournalError]]]:
    """Every journal in ``directory``: those that read, and the damaged
    ones with why (one bad file never hides the others)."""
    good, bad = [], []
    for p in files(directory):
        try:
            good.append(read(p))
        except JournalError as exc:
            bad.append((p, exc))
    return good, bad


def in_use(path: Path) -> bool:
    """Whether a running test holds this journal's lock."""
    from flashcheck.workflows.erasetest.lock import try_flock

    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return False
    try:
        return not try_flock(fd)
    finally:
        os.close(fd)


def tag(jedec_id: str, unique_id: str | None) -> str:
    return f"-{jedec_id}-{unique_id or 'nouid'}-"


def remove(path: Path) -> None:
    """Delete a finished journal (nothing in it is needed any more)."""
    try:
        path.unlink()
    except OSError:
        pass


def remove_with_backup(j: Journal | Path) -> None:
    path = j if isinstance(j, Path) else j.path
    remove(path.with_suffix(IMAGE_SUFFIX))
    remove(path)


def files(directory: Path) -> list[Path]:
    """The journal files in ``directory``, oldest first."""
    if not directory.is_dir():
        return []
    return sorted(p for p in directory.iterdir() if p.suffix == SUFFIX and p.is_file())
