"""`flashcheck dashboard`: the JSON endpoint against the report's own
figures, read-only-ness, bad --db/--listen, loopback only; and in a real
headless Chromium (Debian's chromium + chromium-driver through selenium):
the page shows what the database holds and updates, without a reload, when
a station run writes new results after the page was opened."""

from __future__ import annotations

import hashlib
import importlib.util
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from pg_server import pg  # noqa: F401  (fixture)

pytest.importorskip("sqlalchemy")
pytest.importorskip("starlette", reason="the dashboard needs starlette: pip install '.[dashboard]'")
pytest.importorskip("uvicorn", reason="the dashboard needs uvicorn: pip install '.[dashboard]'")

import flashcheck  # noqa: E402
from flashcheck.data import results  # noqa: E402
from flashcheck.output import report  # noqa: E402

SRC = str(Path(flashcheck.__file__).resolve().parent.parent)
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("FLASHCHECK_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("FLASHCHECK_JOURNAL_DIR", str(tmp_path / "journal"))


def _env():
    return dict(os.environ, PYTHONPATH=SRC + os.pathsep + os.environ.get("PYTHONPATH", ""))


def cli(*args, timeout=300):
    res = subprocess.run([sys.executable, "-m", "flashcheck.cli", *map(str, args)], capture_output=True, text=True,
                         env=_env(), timeout=timeout)
    return res.returncode, res.stdout, res.stderr


def station_run(db: str, count: int, *urls: str, name: str = "line-a"):
    args = []
    for u in urls:
        args += ["--url", u]
    code, out, err = cli("station", *args, "--board", "imp003", "--expect", "W25Q128JVSIQ", "--db", db,
                         "--count", count, "--no-wait", "--plain", "--station", name)
    assert code in (0, 1), err
    return code


@pytest.fixture(scope="module")
def station_db(tmp_path_factory):
    """A SQLite store written by a real station run: 3 W25Q128JV (pass) and
    3 S25FL127S (fail) boards."""
    d = tmp_path_factory.mktemp("dash")
    url = f"sqlite:///{d / 'r.db'}"
    with pytest.MonkeyPatch.context() as mp:  # (module scope: the autouse fixture is not set up yet)
        mp.setenv("FLASHCHECK_DATA_DIR", str(d / "data"))
        mp.setenv("FLASHCHECK_JOURNAL_DIR", str(d / "journal"))
        station_run(url, 6, "sim://W25Q128JV", "sim://S25FL127S")
    return d / "r.db", url


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _client(url: str):
    from starlette.testclient import TestClient

    from flashcheck.output.dashboard import create_app
    from flashcheck.output.dashboard.reader import ReadOnlyResults

    reader = ReadOnlyResults(url)
    reader.check()
    return TestClient(create_app(reader)), reader


# -- HTTP, no browser -------------------------------------------------------------


def test_summary_is_the_reports_figures(station_db):
    path, url = station_db
    client, reader = _client(url)
    with client:
        d = client.get("/api/summary?last=4").json()
    reader.close()
    recs = results.fetch(url)  # the station's own reader
    want = report.summarise(recs)
    assert d["summary"] == want
    assert d["summary"]["boards"] == 6 and d["summary"]["passed"] == 3 and d["summary"]["yield"] == 0.5
    causes = {p["cause"] for p in d["summary"]["failures_by_cause"]}
    assert "erase 4 KiB" in causes  # the S25FL127S's real defect for the imp003
    assert [s["station"] for s in d["per_station"]] == ["line-a"] and d["per_station"][0]["boards"] == 6
    assert len(d["latest"]) == 4
    assert [r["serial"] for r in d["latest"]] == [r["serial"] for r in reversed(recs[-4:])]
    assert all(r["reason"] for r in d["latest"])
    assert sum(p["boards"] for p in d["over_time"]["points"]) == 6
    assert d["now"]["boards"] == 6 and d["now"]["yield"] == 0.5


def test_since_filters_and_bad_since_is_400(station_db):
    _path, url = station_db
    client, reader = _client(url)
    with client:
        future = client.get("/api/summary?since=2999-01-01").json()
        bad = client.get("/api/summary?since=yesterday-ish")
        page = client.get("/")
        js = client.get("/static/dashboard.js")
    reader.close()
    assert future["summary"]["boards"] == 0 and future["latest"] == []
    assert bad.status_code == 400 and "--since" in bad.json()["error"]
    assert page.status_code == 200 and "flashcheck line dashboard" in page.text
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert "<script>" not in page.text and "http" not in re.sub(r"<meta[^>]*>", "", page.text)  # nothing from outside
    assert js.status_code == 200 and "textContent" in js.text and "innerHTML" not in js.text


def test_new_rows_are_seen_incrementally(tmp_path):
    """A copy of a station store; rows added, then one deleted: the reader
    follows both."""
    url = f"sqlite:///{tmp_path / 'r.db'}"
    store = results.ResultStore(url)
    rec = {"uuid": str(uuid.uuid4()), "time": "2026-01-01T08:00:00.000Z", "station": "s1", "fixture": "f1",
           "serial": "A1", "board": "imp003", "verdict": "pass", "reason": "ok", "checks": [{"rule": "erase 4 KiB", "ok": True}]}
    assert store.record(rec)
    client, reader = _client(url)
    with client:
        assert client.get("/api/summary").json()["summary"]["boards"] == 1
        for i in range(3):
            assert store.record({**rec, "uuid": str(uuid.uuid4()), "serial": f"B{i}", "verdict": "fail", "reason": "no",
                                 "checks": [{"rule": "erase 4 KiB", "ok": False, "detail": "x"}]})
        d = client.get("/api/summary").json()
        assert d["summary"]["boards"] == 4 and d["summary"]["failures_by_cause"][0] == {
            "cause": "erase 4 KiB", "boards": 3, "percent": 100.0, "cumulative_percent": 100.0}
        with store.engine.begin() as conn:
            conn.exec_driver_sql("DELETE FROM results WHERE serial = 'B0'")
        d = client.get("/api/summary").json()
        assert d["summary"]["boards"] == 3 and {r["serial"] for r in d["latest"]} == {"A1", "B1", "B2"}
    reader.close()
    store.close()


def test_database_unchanged_and_write_impossible(station_db, tmp_path):
    path, _ = station_db
    copy = tmp_path / "copy.db"
    shutil.copy(path, copy)
    before = _digest(copy)
    client, reader = _client(f"sqlite:///{copy}")
    with client:
        for _ in range(3):
            assert client.get("/api/summary").status_code == 200
        assert client.post("/api/summary").status_code == 405
        assert client.delete("/").status_code == 405
    import sqlalchemy as sa

    with pytest.raises(sa.exc.OperationalError, match="readonly"):
        with reader.engine.begin() as conn:
            conn.exec_driver_sql("DELETE FROM results")
    reader.close()
    assert _digest(copy) == before
    assert sqlite3.connect(copy).execute("SELECT count(*) FROM results").fetchone()[0] == 6


def test_postgresql_is_read_only(pg):  # noqa: F811
    if not pg.running:
        pg.start()
    url = pg.fresh_db("d" + uuid.uuid4().hex[:12])
    store = results.ResultStore(url)
    assert store.record({"uuid": str(uuid.uuid4()), "time": "2026-01-01T08:00:00.000Z", "station": "s", "fixture": "f",
                         "serial": "P1", "board": "imp003", "verdict": "pass", "reason": "ok", "checks": []})
    store.close()
    client, reader = _client(url)
    with client:
        d = client.get("/api/summary").json()
    assert d["summary"]["boards"] == 1 and d["latest"][0]["serial"] == "P1"
    import sqlalchemy as sa

    with pytest.raises(sa.exc.InternalError, match="read-only transaction"):
        with reader.engine.begin() as conn:
            conn.exec_driver_sql("DELETE FROM results")
    reader.close()
    assert len(results.fetch(url)) == 1


@pytest.mark.parametrize("db, why", [
    ("sqlite:///{tmp}/missing.db", "no such database file"),
    ("{tmp}/notadb.db", "not a flashcheck results database"),
    ("{tmp}/garbage.db", "not a database"),
    ("mysql://u@h/db", "unsupported database"),
    ("postgresql://u@h:notaport/db", "not a database URL"),
    ("sqlite://", "in-memory"),
])
def test_bad_db_is_one_line_exit_2(tmp_path, db, why):
    sqlite3.connect(tmp_path / "notadb.db").execute("CREATE TABLE t (x)").connection.commit()
    (tmp_path / "garbage.db").write_bytes(b"this is not sqlite at all" * 100)
    code, out, err = cli("dashboard", "--db", db.format(tmp=tmp_path), "--listen", "127.0.0.1:0")
    assert code == 2, err
    assert why in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err


@pytest.mark.parametrize("listen, why", [
    ("8080", "expected HOST:PORT"),
    ("127.0.0.1:http", "is not a number"),
    ("127.0.0.1:70000", "out of range"),
    ("no-such-host.invalid:8080", "cannot resolve"),
    ("0.0.0.0:0", "not a loopback address"),
    ("192.0.2.1:0", "--allow-remote"),
])
def test_bad_listen_is_one_line_exit_2(station_db, listen, why):
    _path, url = station_db
    code, out, err = cli("dashboard", "--db", url, "--listen", listen)
    assert code == 2, err
    assert why in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_loopback_rule():
    from flashcheck.commands.dashboard import is_loopback

    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.0.2.1") and not is_loopback("::")


# -- the user's path: the server as a process, a real browser ---------------------


def _script():
    spec = importlib.util.spec_from_file_location("dashboard_screenshot", ROOT / "scripts" / "dashboard_screenshot.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


SHOT = _script()  # the browser and server helpers the screenshot script uses


class Server:
    def __init__(self, db: str, *args: str):
        self.proc, self.url = SHOT.start_dashboard(db, *args, env=_env())

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=20)


def test_remote_address_with_allow_remote(station_db):
    _path, url = station_db
    srv = Server(url, "--listen", "0.0.0.0:0", "--allow-remote")
    try:
        import urllib.request

        port = srv.url.rsplit(":", 1)[1].strip("/")
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/summary", timeout=20) as res:
            assert b'"boards":6' in res.read()
    finally:
        srv.stop()


def _browser():
    why = SHOT.browser_missing()
    if why:
        pytest.skip(why)
    return SHOT.headless_chromium()


def _wait(driver, cond, what: str, timeout: float = 60):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            if cond():
                return
        except Exception:  # noqa: BLE001 - the page is redrawing
            pass
        time.sleep(0.2)
    raise AssertionError(f"page never showed {what}; body: {driver.find_element('tag name', 'body').text[:2000]}")


def _texts(driver, css: str) -> list[str]:
    """Read in one script call: the page redraws its tables on every poll."""
    js = "return [...document.querySelectorAll(arguments[0])].map(e => (e.innerText ?? e.textContent).replace(/\\u200b/g, ''))"
    return driver.execute_script(js, css)


def test_browser_shows_the_database_and_updates_live(tmp_path):
    url = f"sqlite:///{tmp_path / 'live.db'}"
    station_run(url, 4, "sim://W25Q128JV", "sim://S25FL127S")
    srv = Server(url, "--poll", "0.5")
    driver = _browser()
    try:
        driver.get(srv.url)
        _wait(driver, lambda: driver.find_element("id", "boards").text == "4", "4 boards")
        s = report.summarise(results.fetch(url))
        assert driver.find_element("id", "yield").text == f"{100 * s['yield']:.1f}%" == "50.0%"
        assert driver.find_element("id", "not-passed").text == str(s["not_passed"]) == "2"
        assert _texts(driver, "#pareto td[data-field=cause]") == [p["cause"] for p in s["failures_by_cause"]]
        assert _texts(driver, "#per-part td[data-field=part]") == [p["part"] for p in s["per_part"]]
        assert len(_texts(driver, "#latest tbody tr")) == 4
        assert len(_texts(driver, "#chart-pareto svg rect")) == len(s["failures_by_cause"])
        assert driver.find_element("id", "error").get_attribute("hidden")
        marker = driver.execute_script("window.__notReloaded = 'yes'; return window.__notReloaded")

        # a second station, writing while the page is open
        station_run(url, 3, "sim://W25Q128JV", name="line-b")
        _wait(driver, lambda: driver.find_element("id", "boards").text == "7", "7 boards after the new run")
        assert driver.execute_script("return window.__notReloaded") == marker  # same page, no reload
        assert driver.find_element("id", "yield").text == f"{100 * 5 / 7:.1f}%"
        assert set(_texts(driver, "#per-station td[data-field=station]")) == {"line-a", "line-b"}
        newest = _texts(driver, "#latest tbody tr")[0]
        assert "line-b" in newest and "PASS" in newest.upper()
        if os.environ.get("FLASHCHECK_SCREENSHOT"):
            driver.save_screenshot(os.environ["FLASHCHECK_SCREENSHOT"])
    finally:
        driver.quit()
        srv.stop()
