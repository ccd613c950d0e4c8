"""The results store: one row per board tested at a station, with each
rule's outcome, in a database the whole line can share.

- ``sqlite:///PATH`` (the default: ``results.db`` in the user data
  directory, ``$FLASHCHECK_DATA_DIR`` or ``~/.local/share/flashcheck``):
  WAL journal, a 30 s busy timeout and ``BEGIN IMMEDIATE`` transactions, so
  several workers and several station processes on one PC can write at once.
- ``postgresql+psycopg://user:pass@host/db`` (psycopg 3) when a whole line
  shares one database; ``postgresql://`` means the same.

The tool creates and upgrades the schema itself: a ``schema_version`` table
and the steps in :data:`MIGRATIONS`, run in one transaction under a lock
(PostgreSQL advisory lock; SQLite write lock), so two stations starting at
once do not race.

When the database cannot be reached, records go to a *spool* (JSON lines,
fsynced, ``spool-<hash of the URL>.jsonl`` in the data directory, one per
database) and are sent, oldest first, before the next record and at exit.
Each record carries a UUID the database keeps unique, so a record whose
commit succeeded but whose acknowledgement was lost is never stored twice.

SQLAlchemy 2 is imported only when a store is opened.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import threading
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator

from flashcheck.errors import EXIT_HARDWARE, FlashcheckError, InputError

SCHEMA_VERSION = 3
_PG_LOCK_KEY = 0x666C6368  # "flch": the advisory lock migrations take
_RECORD_FIELDS = (
    "uuid", "time", "station", "fixture", "serial", "serial_source", "board", "expect", "part",
    "jedec_id", "unique_id", "verdict", "reason", "probe_s", "timings", "flashcheck_version", "parts_db_version",
)


def _rejections() -> tuple[type[BaseException], ...]:
    import sqlalchemy as sa

    return (sa.exc.IntegrityError, sa.exc.DataError, KeyError, ValueError, TypeError)


class DatabaseError(FlashcheckError):
    """The results database cannot be used (unreachable, or newer than this
    flashcheck)."""

    exit_code = EXIT_HARDWARE


# -- where things live ------------------------------------------------------------


def data_dir() -> Path:
    """``$FLASHCHECK_DATA_DIR``, else the user data directory plus
    ``flashcheck`` (``~/.local/share/flashcheck`` on Linux)."""
    env = os.environ.get("FLASHCHECK_DATA_DIR")
    if env:
        return Path(env)
    from flashcheck.data.resources import user_data_dir

    return user_data_dir()


def default_url() -> str:
    return f"sqlite:///{data_dir() / 'results.db'}"


def normalise_url(text: str | None) -> str:
    """A database URL: ``None`` -> the default SQLite file; a bare path ->
    ``sqlite:///PATH``; ``postgresql://`` -> psycopg 3."""
    if text is None:
        return default_url()
    text = text.strip()
    if not text:
        raise InputError("--db: empty database URL")
    if "://" not in text:
        return f"sqlite:///{Path(text).expanduser()}"
    scheme, rest = text.split("://", 1)
    if scheme.lower() in ("postgresql", "postgres"):
        return f"postgresql+psycopg://{rest}"
    return text


def display_url(url: str) -> str:
    """The URL without its password, for messages."""
    try:
        from sqlalchemy.engine import make_url

        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - only for display
        return url.split("@")[-1] if "@" in url else url


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


def iso_utc(t: datetime) -> str:
    if t.tzinfo is None:
        t = t.replace(tzinfo=timezone.utc)
    return t.astimezone(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_iso(text: str) -> datetime:
    """ISO 8601 -> aware UTC datetime (naive means UTC)."""
    t = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if t.tzinfo is None:
        t = t.replace(tzinfo=timezone.utc)
    return t.astimezone(timezone.utc)


# -- schema ------------------------------------------------------------------------


def _tables(sa, metadata, version: int = SCHEMA_VERSION):
    pk = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
    cols = [
        sa.Column("id", pk, primary_key=True, autoincrement=True),
        sa.Column("uuid", sa.String(36), nullable=False, unique=True),
        sa.Column("time_utc", sa.DateTime(), nullable=False),
        sa.Column("station", sa.String(200), nullable=False),
        sa.Column("fixture", sa.String(500), nullable=False),
        sa.Column("serial", sa.String(200), nullable=False),
        sa.Column("serial_source", sa.String(20)),
        sa.Column("board", sa.String(200), nullable=False),
        sa.Column("expect", sa.String(200)),
        sa.Column("part", sa.String(200)),
        sa.Column("jedec_id", sa.String(32)),
        sa.Column("unique_id", sa.String(64)),
        sa.Column("verdict", sa.String(10), nullable=False),
        sa.Column("reason", sa.Text()),
        sa.Column("probe_s", sa.Float()),
        sa.Column("flashcheck_version", sa.String(40)),
        sa.Column("parts_db_version", sa.String(80)),
    ]
    if version >= 2:
        cols.append(sa.Column("timings", sa.Text()))  # JSON
    results = sa.Table("results", metadata, *cols)
    checks = sa.Table(
        "checks", metadata,
        sa.Column("id", pk, primary_key=True, autoincrement=True),
        sa.Column("result_id", pk, sa.ForeignKey("results.id", ondelete="CASCADE"), nullable=False, index=True),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("rule", sa.String(200), nullable=False),
        sa.Column("ok", sa.Boolean()),  # NULL: unknown
        sa.Column("detail", sa.Text()),
    )
    return results, checks


def _step1(conn, sa) -> None:
    md = sa.MetaData()
    _tables(sa, md, version=1)
    md.create_all(conn)


def _step2(conn, sa) -> None:
    conn.execute(sa.text("ALTER TABLE results ADD COLUMN timings TEXT"))
    conn.execute(sa.text("CREATE INDEX ix_results_time_utc ON results (time_utc)"))


def _store_checks(sa, metadata):
    return sa.Table(
        "store_checks", metadata,
        sa.Column("uuid", sa.String(36), primary_key=True),
        sa.Column("time_utc", sa.DateTime(), nullable=False),
    )


def _step3(conn, sa) -> None:
    md = sa.MetaData()
    _store_checks(sa, md)
    md.create_all(conn)


#: (version, what it does, step).  Append; never edit a released step.
MIGRATIONS = [
    (1, "results and per-rule checks", _step1),
    (2, "timings (JSON: probe and erase-test steps); index on time", _step2),
    (3, "store_checks: the station's start-up write-and-read-back test", _step3),
]


def schema_version(conn) -> int:
    import sqlalchemy as sa

    if not sa.inspect(conn).has_table("schema_version"):
        return 0
    v = conn.execute(sa.text("SELECT max(version) FROM schema_version")).scalar()
    return int(v or 0)


def migrate(engine, upto: int = SCHEMA_VERSION) -> int:
    """Create or upgrade the schema to ``upto``; the version reached."""
    import sqlalchemy as sa

    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_LOCK_KEY})
        if not sa.inspect(conn).has_table("schema_version"):
            conn.execute(sa.text("CREATE TABLE schema_version (version INTEGER NOT NULL)"))
            conn.execute(sa.text("INSERT INTO schema_version (version) VALUES (0)"))
        v = schema_version(conn)
        if v > SCHEMA_VERSION:
            raise DatabaseError(
                f"{display_url(str(engine.url))}: results schema version {v} is newer than this flashcheck "
                f"knows ({SCHEMA_VERSION}): upgrade flashcheck")
        for n, _what, step in MIGRATIONS:
            if v < n <= upto:
                step(conn, sa)
                conn.execute(sa.text("UPDATE schema_version SET version = :v"), {"v": n})
                v = n
        return v


# -- engine ------------------------------------------------------------------------


def _sqlite_path(url: str) -> Path | None:
    u = parse_url(url)
    if u.get_backend_name() != "sqlite" or not u.database or u.database == ":memory:":
        return None
    return Path(u.database)


def parse_url(url: str):
    """``url`` as a SQLAlchemy URL; a malformed one (a port that is not a
    number too) is an InputError naming it, credentials hidden."""
    import sqlalchemy as sa

    try:
        u = sa.engine.make_url(url)
        u.port  # noqa: B018 - a port that is not a number fails here
    except (sa.exc.ArgumentError, ValueError) as exc:
        raise InputError(f"--db {display_url(url)}: not a database URL ({exc})") from None
    return u


def check_url(url: str) -> None:
    """Refuse, before connecting, a store that could never keep a result:
    in memory (gone when the process exits), read-only, a directory, a
    backend other than SQLite and PostgreSQL, a port out of range."""
    u = parse_url(url)
    backend = u.get_backend_name()
    shown = display_url(url)
    if backend == "sqlite":
        q = {k.lower(): str(v).lower() for k, v in u.query.items()}
        if not u.database or u.database == ":memory:" or q.get("mode") == "memory":
            raise InputError(f"--db {shown}: an in-memory database is lost when the station exits; "
                             "give a file: sqlite:///PATH")
        if q.get("mode") == "ro" or q.get("immutable") not in (None, "0", "false"):
            raise InputError(f"--db {shown}: a read-only database cannot keep results; drop mode=ro/immutable")
        path = Path(u.database)
        if path.is_dir():
            raise InputError(f"--db {shown}: {path} is a directory; give a database file: sqlite:///{path}/results.db")
        if path.exists() and not os.access(path, os.W_OK):
            raise InputError(f"--db {shown}: {path} is not writable")
        if not path.exists() and path.parent.is_dir() and not os.access(path.parent, os.W_OK | os.X_OK):
            raise InputError(f"--db {shown}: cannot create {path}: directory {path.parent} is not writable")
    elif backend == "postgresql":
        if u.port is not None and not 0 < u.port < 65536:
            raise InputError(f"--db {shown}: port {u.port} is out of range (1-65535)")
    else:
        raise InputError(f"--db {shown}: unsupported database {backend!r}; use sqlite:///PATH or "
                         "postgresql+psycopg://USER:PASS@HOST/DB")


# Server and driver messages that mean the URL or the database is wrong,
# not that it is away: retrying later cannot help.
_CONFIG_WORDS = ("does not exist", "authentication failed", "no pg_hba.conf entry", "no password supplied",
                 "connection is bad: invalid", "invalid connection option", "invalid dsn", "permission denied",
                 "read-only", "readonly", "not a database", "unable to open database file", "disk i/o error",
                 "database disk image is malformed")


def _one_line(exc: BaseException) -> str:
    """A driver's message on one line (libpq adds a tab-indented hint line)."""
    orig = getattr(exc, "orig", None) or exc
    return " ".join(str(orig).split()) or type(orig).__name__


def config_problem(exc: BaseException) -> str | None:
    """The one-line reason when ``exc`` says the store is misconfigured
    (retrying cannot help); None for an outage (unreachable, timed out,
    shutting down), which the spool rides out."""
    orig = getattr(exc, "orig", None) or exc
    text = _one_line(exc)
    low = text.lower()
    if any(w in low for w in _CONFIG_WORDS) or isinstance(exc, (ValueError, TypeError)):
        return text.removeprefix("connection is bad: ") or type(orig).__name__
    sqlstate = getattr(orig, "sqlstate", None)
    if sqlstate and sqlstate[:2] in ("25", "28", "3D", "42"):  # read-only, auth, no database, privileges
        return text
    return None


def open_engine(url: str):
    """An engine for ``url``: SQLite with WAL/busy timeout/``BEGIN
    IMMEDIATE``; PostgreSQL with pre-ping and a connect timeout."""
    try:
        import sqlalchemy as sa
        from sqlalchemy import event
    except ImportError:
        raise InputError("the results store needs SQLAlchemy 2: pip install 'sqlalchemy>=2'") from None
    u = parse_url(url)
    backend = u.get_backend_name()
    try:
        if backend == "sqlite":
            engine = sa.create_engine(u, connect_args={"timeout": 30, "check_same_thread": False})

            @event.listens_for(engine, "connect")
            def _on_connect(dbapi_conn, _record) -> None:
                dbapi_conn.isolation_level = None  # we issue BEGIN ourselves
                cur = dbapi_conn.cursor()
                try:
                    cur.execute("PRAGMA busy_timeout = 30000")
                    cur.execute("PRAGMA foreign_keys = ON")
                    with contextlib.suppress(Exception):
                        cur.execute("PRAGMA journal_mode = WAL")
                finally:
                    cur.close()

            @event.listens_for(engine, "begin")
            def _on_begin(conn) -> None:
                conn.exec_driver_sql("BEGIN IMMEDIATE")

        elif backend == "postgresql":
            engine = sa.create_engine(u, pool_pre_ping=True, connect_args={"connect_timeout": 3})
        else:
            engine = sa.create_engine(u, pool_pre_ping=True)
    except ImportError as exc:
        hint = " (pip install 'psycopg[binary]')" if backend == "postgresql" else ""
        raise InputError(f"--db {display_url(url)}: database driver missing: {exc}{hint}") from None
    except sa.exc.NoSuchModuleError as exc:
        raise InputError(f"--db {display_url(url)}: {exc}") from None
    return engine


# -- records -----------------------------------------------------------------------


def _insert(conn, results, checks, rec: dict[str, Any]) -> bool:
    """Insert one record unless its UUID is there already; True if inserted."""
    import sqlalchemy as sa

    if conn.execute(sa.select(results.c.id).where(results.c.uuid == rec["uuid"])).first():
        return False
    row = {k: rec.get(k) for k in _RECORD_FIELDS if k not in ("time", "timings")}
    row["time_utc"] = parse_iso(rec["time"]).replace(tzinfo=None)
    row["timings"] = json.dumps(rec.get("timings") or {}, sort_keys=True)
    rid = conn.execute(sa.insert(results).values(**row)).inserted_primary_key[0]
    rows = [{"result_id": rid, "seq": i, "rule": c["rule"], "ok": c.get("ok"), "detail": c.get("detail")}
            for i, c in enumerate(rec.get("checks") or [])]
    if rows:
        conn.execute(sa.insert(checks), rows)
    return True


class Spool:
    """Records waiting for the database: JSON lines, appended and fsynced,
    under a file lock shared by every process on this PC."""

    def __init__(self, path: Path):
        self.path = path
        self.lock_path = path.with_name(path.name + ".lock")
        self._tlock = threading.RLock()
        self._depth = 0

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        with self._tlock:
            if self._depth:  # this thread holds the file lock already
                self._depth += 1
                try:
                    yield
                finally:
                    self._depth -= 1
                return
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fh = open(self.lock_path, "a+b")  # noqa: SIM115
            try:
                try:
                    import fcntl
                except ImportError:  # Windows: one process per data directory
                    fcntl = None
                if fcntl:
                    fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
                self._depth = 1
                try:
                    yield
                finally:
                    self._depth = 0
            finally:
                fh.close()  # releases the lock

    def append(self, rec: dict[str, Any]) -> None:
        with self.locked(), open(self.path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(rec, sort_keys=True) + "\n")
            fh.flush()
            os.fsync(fh.fileno())

    def read(self) -> list[dict[str, Any]]:
        """The records waiting.  A torn last line (a process killed while
        writing it) is moved to ``<spool>.bad`` so it never blocks the rest."""
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return []
        out, bad = [], []
        for line in text.splitlines():
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
                if not isinstance(rec, dict) or "uuid" not in rec:
                    raise ValueError
                out.append(rec)
            except ValueError:
                bad.append(line)
        if bad:
            with open(self.path.with_name(self.path.name + ".bad"), "a", encoding="utf-8") as fh:
                fh.write("\n".join(bad) + "\n")
            self.rewrite(out)
        return out

    def rewrite(self, recs: list[dict[str, Any]]) -> None:
        if not recs:
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()
            return
        tmp = self.path.with_name(self.path.name + ".tmp")
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.writelines(json.dumps(r, sort_keys=True) + "\n" for r in recs)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.path)

    def count(self) -> int:
        try:
            with open(self.path, encoding="utf-8") as fh:
                return sum(1 for line in fh if line.strip())
        except FileNotFoundError:
            return 0


def spool_path(url: str, directory: Path | None = None) -> Path:
    key = hashlib.sha256(url.encode()).hexdigest()[:16]
    return (directory or data_dir()) / f"spool-{key}.jsonl"


class ResultStore:
    """Where a station's records go: the database, else the spool.

    Thread-safe: the station's workers share one store."""

    def __init__(self, url: str | None = None, spool_dir: Path | None = None):
        self.url = normalise_url(url)
        self.shown_url = display_url(self.url)
        path = _sqlite_path(self.url)
        if path is not None:
            if url is None:
                path.parent.mkdir(parents=True, exist_ok=True)
            elif not path.parent.is_dir():
                raise InputError(f"--db {url}: no such directory {path.parent}")
        check_url(self.url)
        self.engine = open_engine(self.url)
        self.spool = Spool(spool_path(self.url, spool_dir))
        self._lock = threading.RLock()
        self._ready = False
        self.online: bool | None = None  # None: not tried yet
        self.last_error: str | None = None
        self.pending = self.spool.count()
        self.stored = 0  # records this store put in the database (spooled ones included when sent)
        self.rejected = 0  # spooled records the database refused (kept in <spool>.bad)
        import sqlalchemy as sa

        self._results, self._checks = _tables(sa, sa.MetaData())

    def _down(self, exc: Exception) -> None:
        self.online = False
        self.last_error = _one_line(exc)

    def _ensure_schema(self) -> None:
        if not self._ready:
            migrate(self.engine)
            self._ready = True

    def connect(self, check_write: bool = False) -> bool:
        """Try the database now (create/upgrade the schema; with
        ``check_write``, also write a row, read it back on a fresh
        connection and delete it); True if up, False if unreachable (an
        outage: records will be spooled).  InputError when the database is
        there but can never keep records (no such database, wrong password,
        read-only, not a database file)."""
        import sqlalchemy as sa

        with self._lock:
            try:
                self._ensure_schema()
                if check_write:
                    self._write_check()
                self.online = True
                self.last_error = None
            except (sa.exc.SQLAlchemyError, ValueError, TypeError) as exc:
                why = config_problem(exc)
                if why is not None:
                    raise InputError(f"--db {self.shown_url}: {why}") from None
                self._down(exc)
            return bool(self.online)

    def _write_check(self) -> None:
        import sqlalchemy as sa

        table = _store_checks(sa, sa.MetaData())
        token = str(uuid.uuid4())
        with self.engine.begin() as conn:
            conn.execute(sa.insert(table).values(uuid=token, time_utc=utc_now().replace(tzinfo=None)))
        self.engine.dispose()  # read back on a new connection, not from this one's cache
        with self.engine.begin() as conn:
            back = conn.execute(sa.select(table.c.uuid).where(table.c.uuid == token)).first()
            conn.execute(sa.delete(table).where(table.c.uuid == token))
        if back is None:
            raise InputError(f"--db {self.shown_url}: a test row written at start-up could not be read back; "
                             "results would be lost")

    def flush(self) -> int:
        """Send the spool, oldest first, in one transaction; the number
        still waiting afterwards.  A record the database rejects for what it
        holds (not for being unreachable) goes to ``<spool>.bad`` with the
        reason, so it cannot hold the others back."""
        import sqlalchemy as sa

        with self._lock, self.spool.locked():
            recs = self.spool.read()
            if not recs:
                self.pending = 0
                return 0
            rejected: list[tuple[dict[str, Any], str]] = []
            sent = 0
            try:
                self._ensure_schema()
                with self.engine.begin() as conn:
                    for r in recs:
                        try:
                            with conn.begin_nested():
                                sent += _insert(conn, self._results, self._checks, r)
                        except _rejections() as exc:
                            rejected.append((r, f"{type(exc).__name__}: {str(getattr(exc, 'orig', exc)).strip()}"))
            except sa.exc.SQLAlchemyError as exc:
                self._down(exc)
                self.pending = len(recs)
                return self.pending
            if rejected:
                with open(self.spool.path.with_name(self.spool.path.name + ".bad"), "a", encoding="utf-8") as fh:
                    for r, why in rejected:
                        fh.write(json.dumps({"rejected": why, "record": r}, sort_keys=True) + "\n")
                    fh.flush()
                    os.fsync(fh.fileno())
            self.spool.rewrite([])
            self.stored += sent
            self.rejected += len(rejected)
            self.online, self.last_error, self.pending = True, None, 0
            return 0

    def record(self, rec: dict[str, Any]) -> bool:
        """Store one record (a station's ``BoardRecord.to_json()``); True if
        it is in the database now, False if it waits in the spool (whatever
        went wrong: the record is never dropped)."""
        with self._lock:
            try:
                if self.flush() == 0:
                    self._ensure_schema()
                    with self.engine.begin() as conn:
                        _insert(conn, self._results, self._checks, rec)
                    self.online, self.last_error = True, None
                    self.stored += 1
                    return True
            except Exception as exc:  # noqa: BLE001 - unreachable, or anything else: keep it locally
                self._down(exc)
            self.spool.append(rec)
            self.pending = self.spool.count()
            return False

    def status(self) -> str:
        if self.online is False:
            return (f"DATABASE UNREACHABLE: {self.pending} result(s) kept locally, sent when it is back "
                    f"({self.last_error})")
        if self.pending:
            return f"database {self.shown_url}: {self.pending} result(s) waiting to be sent"
        return f"database {self.shown_url}: OK"

    def close(self) -> None:
        self.engine.dispose()


# -- reading back ------------------------------------------------------------------


def fetch(url: str | None, since: datetime | None = None) -> list[dict[str, Any]]:
    """Every record (oldest first), each with its ``checks``, as the station
    wrote it; DatabaseError when the database cannot be read."""
    import sqlalchemy as sa

    url = normalise_url(url)
    path = _sqlite_path(url)
    if path is not None and not path.exists():
        raise InputError(f"--db {url}: no such database file")
    if path is None and parse_url(url).get_backend_name() == "sqlite":
        raise InputError(f"--db {display_url(url)}: an in-memory database holds no results; give the station's file")
    engine = open_engine(url)
    results, checks = _tables(sa, sa.MetaData())
    try:
        migrate(engine)
        with engine.connect() as conn:
            q = sa.select(results).order_by(results.c.time_utc, results.c.id)
            if since is not None:
                q = q.where(results.c.time_utc >= since.astimezone(timezone.utc).replace(tzinfo=None))
            rows = [dict(r._mapping) for r in conn.execute(q)]
            by_id: dict[int, list[dict[str, Any]]] = {}
            if rows:
                cq = sa.select(checks).order_by(checks.c.result_id, checks.c.seq)
                if since is not None:
                    cq = cq.where(checks.c.result_id.in_(sa.select(results.c.id).where(
                        results.c.time_utc >= since.astimezone(timezone.utc).replace(tzinfo=None))))
                for c in conn.execute(cq):
                    by_id.setdefault(c.result_id, []).append({"rule": c.rule, "ok": c.ok, "detail": c.detail})
    except (sa.exc.SQLAlchemyError, ValueError) as exc:
        why = config_problem(exc)
        if why is not None:
            raise InputError(f"--db {display_url(url)}: {why}") from None
        raise DatabaseError(f"{display_url(url)}: cannot read results: {_one_line(exc)}") from None
    finally:
        engine.dispose()
    out = []
    for r in rows:
        rec = {k: r.get(k) for k in _RECORD_FIELDS if k not in ("time", "timings")}
        rec["time"] = iso_utc(r["time_utc"])
        rec["timings"] = json.loads(r["timings"]) if r.get("timings") else {}
        rec["checks"] = by_id.get(r["id"], [])
        out.append(rec)
    return out
