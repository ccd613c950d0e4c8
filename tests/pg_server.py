"""A real PostgreSQL server on loopback for the results-store tests.

Debian's server binaries (``apt-get install postgresql``:
/usr/lib/postgresql/*/bin/initdb, pg_ctl) initialise a cluster in a fresh
temporary directory and start it on a free 127.0.0.1 port.  As root,
PostgreSQL refuses to run, so the directory is given to the ``postgres``
user and the binaries run under ``runuser -u postgres --``.  Tests that need
the server are skipped, saying why, only where PostgreSQL is not installed.

Use it from a test module with ``from pg_server import pg  # noqa: F401``.
"""

from __future__ import annotations

import glob
import os
import shlex
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import pytest


def find_bindir() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                   key=lambda p: int(p.split("/")[4]) if p.split("/")[4].isdigit() else 0)
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PgServer:
    def __init__(self, bindir: Path, base: Path, port: int, as_user: list[str], uid: int | None, gid: int | None):
        self.bindir, self.base, self.port = bindir, base, port
        self.data = base / "data"
        self.log = base / "server.log"
        self._as = as_user
        self._uid, self._gid = uid, gid
        self.dbname = "flashcheck_test"
        self.running = False

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{self.dbname}"

    def _run(self, *args: str) -> None:
        if self._as[:1] == ["su"]:  # su -c takes one command string
            cmd = [*self._as, " ".join(shlex.quote(a) for a in args)]
        else:
            cmd = [*self._as, *args]
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        if res.returncode != 0:
            log = self.log.read_text() if self.log.exists() else ""
            raise RuntimeError(f"{' '.join(args)} failed ({res.returncode}): {res.stdout}{res.stderr}\n{log}")

    def initdb(self) -> None:
        self._run(str(self.bindir / "initdb"), "-D", str(self.data), "-U", "postgres", "-A", "trust",
                  "-E", "UTF8", "--no-locale", "--no-sync")

    def start(self) -> None:
        opts = f"-h 127.0.0.1 -p {self.port} -k {self.base} -c fsync=off -c full_page_writes=off"
        self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-l", str(self.log), "-o", opts, "-w", "-t", "60", "start")
        self.running = True

    def stop(self) -> None:
        if self.running:
            self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "-t", "60", "stop")
            self.running = False

    def create_db(self) -> None:
        import psycopg

        with psycopg.connect(host="127.0.0.1", port=self.port, user="postgres", dbname="postgres", autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{self.dbname}"')

    def fresh_db(self, name: str) -> str:
        """A new empty database on this server; its URL."""
        import psycopg

        with psycopg.connect(host="127.0.0.1", port=self.port, user="postgres", dbname="postgres", autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{name}"


def start_server() -> PgServer:
    bindir = find_bindir()
    if bindir is None:
        pytest.skip("PostgreSQL server binaries not found (Debian: apt-get install postgresql); "
                    "the PostgreSQL results-store tests need a real server")
    try:
        import psycopg  # noqa: F401
    except ImportError:
        pytest.skip("psycopg 3 not installed (pip install 'psycopg[binary]')")
    base = Path(tempfile.mkdtemp(prefix="flashcheck-pg-"))  # under /tmp: the postgres user can reach it
    as_user: list[str] = []
    uid = gid = None
    if os.geteuid() == 0:
        import pwd

        try:
            pw = pwd.getpwnam("postgres")
        except KeyError:
            shutil.rmtree(base, ignore_errors=True)
            pytest.skip("running as root and there is no 'postgres' user to run the server as")
        uid, gid = pw.pw_uid, pw.pw_gid
        os.chown(base, uid, gid)
        runuser = shutil.which("runuser")
        as_user = [runuser, "-u", "postgres", "--"] if runuser else ["su", "postgres", "-s", "/bin/sh", "-c"]
    srv = PgServer(bindir, base, free_port(), as_user, uid, gid)
    srv.initdb()
    srv.start()
    srv.create_db()
    return srv


@pytest.fixture(scope="module")
def pg():
    """A running PostgreSQL server with an empty database; ``pg.url``,
    ``pg.stop()``, ``pg.start()``, ``pg.fresh_db(name)``."""
    srv = start_server()
    try:
        yield srv
    finally:
        try:
            srv.stop()
        finally:
            shutil.rmtree(srv.base, ignore_errors=True)
