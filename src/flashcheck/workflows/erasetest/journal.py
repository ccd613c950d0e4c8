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
    ``version`` (format, 1), ``tool`` (flashcheck version), ``started``
    (ISO 8601 UTC), ``transport`` (description), ``jedec_id`` (hex of the
    0x9F bytes read), ``unique_id`` (hex, or null when the chip has none).
``protect``
    the run is about to change write protection: ``kind`` ``"bpr"`` (SST26
    block-protection register, ``value`` hex of its bytes as read by 0x72)
    or ``"sr"`` (status register 1, ``value`` hex of the byte as read by
    0x05, ``mask`` the bits cleared).  ``protect-restored`` (``ref`` = the
    ``seq`` of the ``protect`` record) when it has been put back.
``begin``
    one sector test is about to change the array: ``entry`` (its number),
    ``address`` and ``size`` (the block under test), ``opcode`` (the erase
    under test), ``window_start``, ``window_size`` (the range saved: the
    block and its neighbours), ``data`` (base64 of the window's bytes as
    read before anything was erased), ``data_sha256`` (hex SHA-256 of those
    bytes), ``erasers`` (``[[opcode, size], ...]``, the erase commands
    restoring may use inside the window, smallest first).
``done``
    ``entry``: the window has been restored and read back equal; ``by``
    ``"test"`` or ``"recover"``.
``end``
    the run finished (``result``: ``"complete"``, ``"interrupted"``).

A ``begin`` (and a ``protect``) record is written and made durable (the
file fsynced, and its directory when the file is new) before the first
erase of its sector (before protection is changed).  Closing records
(``done``, ``protect-restored``, ``end``) are written but not fsynced: one
lost in a crash only makes ``recover`` redo a restore that finds nothing
to change.  An
entry is *open* from its ``begin`` until its ``done``; ``flashcheck
recover`` restores open entries and closes them by appending ``done``.

A journal whose entries are all closed (and whose protection is put
back) is deleted at the end of the run, or by ``recover`` once it has
closed them: the directory only keeps what may still be needed.

A line that is not complete JSON (a run killed while writing it), a record
whose ``sha256`` does not match, or a ``data`` whose ``data_sha256`` does not
match makes the whole file unusable: :class:`JournalError` names the file and
line, and nothing in it is applied.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flashcheck.errors import InputError

FORMAT_VERSION = 1
SUFFIX = ".jsonl"


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
    """One sector's saved window (a ``begin`` record)."""

    entry: int
    address: int
    size: int
    opcode: int
    window_start: int
    data: bytes
    erasers: list[tuple[int, int]]
    closed: bool = False

    @property
    def window_end(self) -> int:
        return self.window_start + len(self.data)


@dataclass
class Protect:
    seq: int
    kind: str
    value: bytes
    mask: int = 0
    restored: bool = False


@dataclass
class Journal:
    """A journal file read back (:func:`read`)."""

    path: Path
    jedec_id: str
    unique_id: str | None
    transport: str
    started: str
    entries: list[Entry] = field(default_factory=list)
    protects: list[Protect] = field(default_factory=list)
    ended: str | None = None
    next_seq: int = 0

    @property
    def open_entries(self) -> list[Entry]:
        return [e for e in self.entries if not e.closed]

    @property
    def open_protects(self) -> list[Protect]:
        return [p for p in self.protects if not p.restored]

    @property
    def unfinished(self) -> bool:
        return bool(self.open_entries or self.open_protects)

    def identity(self) -> str:
        return f"JEDEC ID {self.jedec_id}, unique ID {self.unique_id or 'none'}"


class Writer:
    """Appends records to a new journal file, each made durable before
    :meth:`append` returns."""

    def __init__(self, directory: Path, *, jedec_id: str, unique_id: str | None, transport: str, tool: str) -> None:
        try:
            directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise InputError(f"journal directory {directory}: cannot create: {exc.strerror or exc}") from None
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        name = f"{stamp}-{jedec_id}-{unique_id or 'nouid'}-{os.getpid()}{SUFFIX}"
        self.path = directory / name
        try:
            self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o600)
        except OSError as exc:
            raise InputError(f"journal {self.path}: cannot create: {exc.strerror or exc}") from None
        self.seq = 0
        self.append(
            "run",
            durable=False,  # the first begin record's fsync carries it to disk
            version=FORMAT_VERSION,
            tool=tool,
            started=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            transport=transport,
            jedec_id=jedec_id,
            unique_id=unique_id,
        )
        _fsync_dir(directory)

    @classmethod
    def reopen(cls, journal: Journal) -> "Writer":
        """Append to an existing journal (``recover`` closing its entries)."""
        self = cls.__new__(cls)
        self.path = journal.path
        try:
            self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND)
        except OSError as exc:
            raise InputError(f"journal {self.path}: cannot open for writing: {exc.strerror or exc}") from None
        self.seq = journal.next_seq
        return self

    def append(self, rtype: str, /, *, durable: bool = True, **fields: Any) -> int:
        """Append one record; with ``durable`` (the default) it is on disk
        (fsync) before this returns.  Records that only close something
        (``done``, ``protect-restored``, ``end``) may skip that: if one is
        lost, recover redoes an idempotent restore."""
        seq = self.seq
        line = _seal({"seq": seq, "type": rtype, **fields}) + "\n"
        data = line.encode()
        try:
            view = memoryview(data)
            while view:
                n = os.write(self._fd, view)
                view = view[n:]
            if durable:
                os.fsync(self._fd)
        except OSError as exc:
            raise InputError(f"journal {self.path}: cannot write: {exc.strerror or exc}") from None
        self.seq += 1
        return seq

    def begin(self, entry: int, *, address: int, size: int, opcode: int, window_start: int, data: bytes,
              erasers: list[tuple[int, int]]) -> None:
        self.append(
            "begin",
            entry=entry,
            address=address,
            size=size,
            opcode=opcode,
            window_start=window_start,
            window_size=len(data),
            data=base64.b64encode(data).decode("ascii"),
            data_sha256=hashlib.sha256(data).hexdigest(),
            erasers=[[op, sz] for op, sz in erasers],
        )

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
        "(inspect it, restore by hand from its 'data' fields if you must, then move it out of the journal directory)"
    )


def _need(rec: dict, path: Path, line: int, **types: type | tuple) -> None:
    for key, t in types.items():
        if key not in rec or not isinstance(rec[key], t) or isinstance(rec[key], bool):
            raise _bad(path, line, f"{rec.get('type')} record lacks a valid {key!r}")


def read(path: Path) -> Journal:
    """Read and check a journal file; :class:`JournalError` if it is
    corrupt or truncated in any way."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise JournalError(f"journal {path}: cannot read: {exc.strerror or exc}") from None
    if not raw:
        raise _bad(path, 1, "the file is empty (the run stopped while creating it)")
    if not raw.endswith(b"\n"):
        n = raw.count(b"\n") + 1
        raise _bad(path, n, "the last line is incomplete (truncated)")
    journal: Journal | None = None
    by_entry: dict[int, Entry] = {}
    by_protect: dict[int, Protect] = {}
    for n, line in enumerate(raw.split(b"\n")[:-1], start=1):
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
        kind = rec.get("type")
        if n == 1:
            if kind != "run":
                raise _bad(path, n, "the first record is not a 'run' record")
            if rec.get("version") != FORMAT_VERSION:
                raise _bad(path, n, f"journal format version {rec.get('version')!r}; this flashcheck reads {FORMAT_VERSION}")
            _need(rec, path, n, jedec_id=str, transport=str, started=str)
            uid = rec.get("unique_id")
            if uid is not None and not isinstance(uid, str):
                raise _bad(path, n, "run record has a bad 'unique_id'")
            journal = Journal(path, rec["jedec_id"], uid, rec["transport"], rec["started"])
            continue
        assert journal is not None
        if kind == "begin":
            _need(rec, path, n, entry=int, address=int, size=int, opcode=int, window_start=int, window_size=int,
                  data=str, data_sha256=str, erasers=list)
            try:
                data = base64.b64decode(rec["data"], validate=True)
            except ValueError:
                raise _bad(path, n, "the saved data is not valid base64") from None
            if hashlib.sha256(data).hexdigest() != rec["data_sha256"] or len(data) != rec["window_size"]:
                raise _bad(path, n, "the saved data does not match its checksum or size")
            try:
                erasers = [(int(op), int(sz)) for op, sz in rec["erasers"]]
            except (TypeError, ValueError):
                raise _bad(path, n, "bad 'erasers' list") from None
            if rec["entry"] in by_entry:
                raise _bad(path, n, f"entry {rec['entry']} begins twice")
            e = Entry(rec["entry"], rec["address"], rec["size"], rec["opcode"], rec["window_start"], data, erasers)
            if not (e.window_start <= e.address and e.address + e.size <= e.window_end):
                raise _bad(path, n, "the saved window does not contain the block under test")
            by_entry[e.entry] = e
            journal.entries.append(e)
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
            p = Protect(rec["seq"], rec["kind"], value, int(rec.get("mask") or 0))
            by_protect[p.seq] = p
            journal.protects.append(p)
        elif kind == "protect-restored":
            _need(rec, path, n, ref=int)
            if rec["ref"] not in by_protect:
                raise _bad(path, n, f"'protect-restored' refers to record {rec['ref']}, not a 'protect' record")
            by_protect[rec["ref"]].restored = True
        elif kind == "end":
            journal.ended = str(rec.get("result"))
        else:
            raise _bad(path, n, f"unknown record type {kind!r}")
        journal.next_seq = n
    assert journal is not None
    journal.next_seq = len(raw.split(b"\n")) - 1
    return journal


def unfinished_for(directory: Path, jedec_id: str, unique_id: str | None) -> list[Journal]:
    """The unfinished journals of one chip (found by file name, then read
    and checked: :class:`JournalError` for a corrupt one)."""
    tag = f"-{jedec_id}-{unique_id or 'nouid'}-"
    return [j for j in (read(p) for p in files(directory) if tag in p.name) if j.unfinished]


def remove(path: Path) -> None:
    """Delete a finished journal (nothing in it is needed any more)."""
    try:
        path.unlink()
    except OSError:
        pass


def files(directory: Path) -> list[Path]:
    """The journal files in ``directory``, oldest first."""
    if not directory.is_dir():
        return []
    return sorted(p for p in directory.iterdir() if p.suffix == SUFFIX and p.is_file())
