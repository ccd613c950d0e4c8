"""Reading the station results store without ever writing to it.

The station's own reader (:func:`flashcheck.data.results.fetch`) creates or
upgrades the schema first; a dashboard must not.  Here the database is
opened read-only where the driver can enforce it:

- SQLite: a ``file:PATH?mode=ro`` URI, so the file cannot be written by this
  process whatever SQL is sent (``attempt to write a readonly database``);
- PostgreSQL: every session starts with ``default_transaction_read_only=on``
  and every transaction is ``READ ONLY`` (``cannot execute INSERT in a
  read-only transaction``).

Records are kept in memory and read incrementally: each poll asks for the
row count and the highest id; only rows above the last id seen are fetched,
and anything else that changed (rows deleted, or a PostgreSQL transaction
committing an older id late) reloads everything.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

from flashcheck.data import results as store
from flashcheck.errors import InputError

_MIN_SCHEMA = 2  # the first version with the timings column this reader selects


def _sqlite_uri(path: Path) -> str:
    from urllib.request import pathname2url

    return f"file:{pathname2url(str(path.resolve()))}?mode=ro"


def open_readonly(url: str):
    """A SQLAlchemy engine on ``url`` that cannot write."""
    import sqlalchemy as sa

    u = store.parse_url(url)
    backend = u.get_backend_name()
    shown = store.display_url(url)
    if backend == "sqlite":
        if not u.database or u.database == ":memory:":
            raise InputError(f"--db {shown}: an in-memory database holds no results; give the station's file")
        path = Path(u.database)
        if not path.is_file():
            raise InputError(f"--db {shown}: no such database file")
        import sqlite3

        uri = _sqlite_uri(path)
        return sa.create_engine("sqlite://", creator=lambda: sqlite3.connect(uri, uri=True, check_same_thread=False,
                                                                            timeout=5))
    if backend == "postgresql":
        try:
            engine = sa.create_engine(u, pool_pre_ping=True, connect_args={
                "connect_timeout": 3, "options": "-c default_transaction_read_only=on"})
        except ImportError as exc:
            raise InputError(f"--db {shown}: database driver missing: {exc} (pip install 'psycopg[binary]')") from None
        return engine.execution_options(postgresql_readonly=True)
    raise InputError(f"--db {shown}: unsupported database {backend!r}; use sqlite:///PATH or "
                     "postgresql+psycopg://USER:PASS@HOST/DB")


def _one_line(exc: BaseException) -> str:
    orig = getattr(exc, "orig", None) or exc
    return " ".join(str(orig).split()) or type(orig).__name__


def _record(row: dict[str, Any], checks: list[dict[str, Any]]) -> dict[str, Any]:
    """A database row as the station wrote it (the shape fetch() returns)."""
    rec = {k: row.get(k) for k in store._RECORD_FIELDS if k not in ("time", "timings")}
    rec["time"] = store.iso_utc(row["time_utc"])
    rec["timings"] = json.loads(row["timings"]) if row.get("timings") else {}
    rec["checks"] = checks
    return rec


class ReadOnlyResults:
    """The records of one results database, kept up to date on demand.

    Thread-safe; :meth:`records` returns the records oldest first."""

    def __init__(self, url: str):
        import sqlalchemy as sa

        self.url = store.normalise_url(url)
        self.shown_url = store.display_url(self.url)
        self.engine = open_readonly(self.url)
        self._results, self._checks = store._tables(sa, sa.MetaData())
        self._lock = threading.Lock()
        self._by_id: dict[int, dict[str, Any]] = {}
        self._max_id = 0
        self._sorted: list[dict[str, Any]] = []
        self.version = 0  # bumped whenever the records change

    def check(self) -> int:
        """Connect and check that this is a results store this flashcheck can
        read; the schema version.  InputError if it is not one,
        DatabaseError if the server cannot be reached."""
        import sqlalchemy as sa

        try:
            with self.engine.connect() as conn:
                if not sa.inspect(conn).has_table("schema_version"):
                    raise InputError(f"--db {self.shown_url}: not a flashcheck results database "
                                     "(no schema_version table; a station creates it)")
                v = store.schema_version(conn)
        except sa.exc.SQLAlchemyError as exc:
            why = _one_line(exc)
            if "not a database" in why or "unable to open" in why or "does not exist" in why \
                    or "authentication failed" in why:
                raise InputError(f"--db {self.shown_url}: {why}") from None
            raise store.DatabaseError(f"{self.shown_url}: cannot read results: {why}") from None
        if v > store.SCHEMA_VERSION:
            raise store.DatabaseError(f"{self.shown_url}: results schema version {v} is newer than this flashcheck "
                                      f"knows ({store.SCHEMA_VERSION}): upgrade flashcheck")
        if v < _MIN_SCHEMA:
            raise InputError(f"--db {self.shown_url}: results schema version {v} is older than this dashboard reads "
                             f"({_MIN_SCHEMA}); run `flashcheck report --db ...` once to upgrade it")
        return v

    def refresh(self) -> bool:
        """Read what changed since the last call; True if anything did.
        DatabaseError when the database cannot be read now."""
        import sqlalchemy as sa

        r = self._results
        with self._lock:
            try:
                with self.engine.connect() as conn:
                    count, top = conn.execute(sa.select(sa.func.count(), sa.func.max(r.c.id))).one()
                    top = top or 0
                    if count == len(self._by_id) and top == self._max_id:
                        return False
                    after = self._max_id if top > self._max_id else 0
                    new = self._read(conn, after)
                    if after and len(self._by_id) + len(new) != count:
                        new = self._read(conn, 0)  # rows went away or came in late: read all again
                        after = 0
            except sa.exc.SQLAlchemyError as exc:
                raise store.DatabaseError(f"{self.shown_url}: cannot read results: {_one_line(exc)}") from None
            if not after:
                self._by_id = {}
            self._by_id.update(new)
            self._max_id = max(self._by_id, default=0)
            self._sorted = sorted(self._by_id.values(), key=lambda rec: (rec["time"], rec["_id"]))
            self.version += 1
            return True

    def _read(self, conn, after: int) -> dict[int, dict[str, Any]]:
        import sqlalchemy as sa

        r, c = self._results, self._checks
        rows = [dict(x) for x in conn.execute(sa.select(r).where(r.c.id > after).order_by(r.c.id)).mappings().all()]
        checks: dict[int, list[dict[str, Any]]] = {}
        if rows:
            q = sa.select(c.c.result_id, c.c.rule, c.c.ok, c.c.detail).order_by(c.c.result_id, c.c.seq)
            if after:  # (a whole table is read faster by scanning it than through the index)
                q = q.where(c.c.result_id > after)
            for rid, rule, ok, detail in conn.execute(q).all():
                checks.setdefault(rid, []).append({"rule": rule, "ok": ok, "detail": detail})
        out = {}
        for row in rows:
            rec = _record(row, checks.get(row["id"], []))
            rec["_id"] = row["id"]
            out[row["id"]] = rec
        return out

    def records(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._sorted)

    def close(self) -> None:
        self.engine.dispose()
