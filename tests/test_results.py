"""The results store against a real PostgreSQL server (and SQLite): schema
creation and upgrade, concurrent writers, the spool when the database is
away, and the report formats."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
import xml.etree.ElementTree as ET
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pg_server import pg  # noqa: F401  (fixture)

sa = pytest.importorskip("sqlalchemy")

from flashcheck.output import report as rep  # noqa: E402
from flashcheck.data import results  # noqa: E402
from flashcheck.errors import InputError  # noqa: E402

import flashcheck  # noqa: E402

SRC = Path(flashcheck.__file__).resolve().parent.parent  # the flashcheck these tests import


@pytest.fixture(autouse=True)
def data_dir(tmp_path, monkeypatch):
    d = tmp_path / "data"
    monkeypatch.setenv("FLASHCHECK_DATA_DIR", str(d))
    return d


@pytest.fixture
def pgdb(pg):  # noqa: F811
    if not pg.running:
        pg.start()
    return pg.fresh_db("t" + uuid.uuid4().hex[:12])


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'r.db'}"
    return request.getfixturevalue("pgdb")


def rec(verdict="pass", serial=None, when=None, checks=None, **kw):
    r = {
        "uuid": str(uuid.uuid4()),
        "time": results.iso_utc(when or results.utc_now()),
        "station": "st1", "fixture": "sim://W25Q128JV", "serial": serial or uuid.uuid4().hex[:8],
        "serial_source": "scanner", "board": "imp003", "expect": None, "part": "W25Q128JV", "jedec_id": "ef4018",
        "unique_id": None, "verdict": verdict, "reason": "all rules met" if verdict == "pass" else "erase 4 KiB: missing",
        "checks": checks if checks is not None else [
            {"rule": "voltage", "ok": True, "detail": "3.3 V"},
            {"rule": "erase 4 KiB", "ok": verdict != "fail", "detail": "x"},
            {"rule": "clock", "ok": None if verdict == "unknown" else True, "detail": "y"},
        ],
        "probe_s": 0.01, "timings": {"probe_s": 0.01}, "flashcheck_version": "0.1.0", "parts_db_version": "sha256:abc",
    }
    r.update(kw)
    return r


def count_rows(url, table="results"):
    eng = results.open_engine(url)
    try:
        with eng.connect() as c:
            return c.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar()
    finally:
        eng.dispose()


# -- schema -------------------------------------------------------------------------


def test_schema_created_at_current_version(db):
    store = results.ResultStore(db)
    assert store.connect()
    eng = results.open_engine(db)
    with eng.connect() as c:
        assert results.schema_version(c) == results.SCHEMA_VERSION
        cols = {col["name"] for col in sa.inspect(c).get_columns("results")}
    eng.dispose()
    assert {"uuid", "time_utc", "station", "fixture", "serial", "board", "part", "jedec_id", "verdict",
            "timings", "flashcheck_version", "parts_db_version"} <= cols


def test_upgrade_from_version_1_keeps_rows(db):
    eng = results.open_engine(db)
    assert results.migrate(eng, upto=1) == 1
    with eng.begin() as c:
        c.execute(sa.text("INSERT INTO results (uuid, time_utc, station, fixture, serial, board, verdict) "
                          "VALUES ('old-1', :t, 's', 'f', 'SN-OLD', 'imp003', 'pass')"),
                  {"t": datetime(2025, 1, 1, 12, 0)})
    eng.dispose()
    store = results.ResultStore(db)
    assert store.record(rec(serial="SN-NEW"))
    got = {r["serial"]: r for r in results.fetch(db)}
    assert set(got) == {"SN-OLD", "SN-NEW"}
    assert got["SN-OLD"]["timings"] == {}  # added by step 2, empty for old rows
    assert got["SN-NEW"]["timings"] == {"probe_s": 0.01}
    eng = results.open_engine(db)
    with eng.connect() as c:
        assert results.schema_version(c) == results.SCHEMA_VERSION
    eng.dispose()


def test_newer_schema_is_refused(db):
    results.ResultStore(db).connect()
    eng = results.open_engine(db)
    with eng.begin() as c:
        c.execute(sa.text("UPDATE schema_version SET version = 99"))
    eng.dispose()
    with pytest.raises(results.DatabaseError, match="newer than this flashcheck"):
        results.fetch(db)


def test_record_round_trip(db):
    store = results.ResultStore(db)
    r = rec("unknown", serial="SN-1", unique_id="ca26ef6d31c47c07", expect="W25Q128JVSIQ")
    assert store.record(r) is True
    [got] = results.fetch(db)
    for k in ("uuid", "station", "fixture", "serial", "board", "part", "jedec_id", "unique_id", "verdict", "reason",
              "flashcheck_version", "parts_db_version", "expect", "timings"):
        assert got[k] == r[k], k
    assert results.parse_iso(got["time"]) == results.parse_iso(r["time"])
    assert [(c["rule"], c["ok"]) for c in got["checks"]] == [("voltage", True), ("erase 4 KiB", True), ("clock", None)]


def test_same_uuid_is_stored_once(db):
    store = results.ResultStore(db)
    r = rec()
    store.record(r)
    store.spool.append(r)  # as if the commit had succeeded but its answer was lost
    assert store.flush() == 0
    assert count_rows(db) == 1


def test_a_record_the_database_rejects_does_not_block_the_spool(db):
    store = results.ResultStore(db)
    good, poison = rec(serial="GOOD"), rec(serial=None)
    poison["serial"] = None  # NOT NULL: the database refuses it whatever happens
    store.spool.append(poison)
    store.spool.append(good)
    assert store.flush() == 0
    assert [r["serial"] for r in results.fetch(db)] == ["GOOD"]
    bad = store.spool.path.with_name(store.spool.path.name + ".bad").read_text().splitlines()
    assert len(bad) == 1 and json.loads(bad[0])["record"]["uuid"] == poison["uuid"]
    assert store.rejected == 1


def test_station_refuses_a_newer_schema(tmp_path):
    url = f"sqlite:///{tmp_path / 'n.db'}"
    results.ResultStore(url).connect()
    eng = results.open_engine(url)
    with eng.begin() as c:
        c.execute(sa.text("UPDATE schema_version SET version = 99"))
    eng.dispose()
    with pytest.raises(results.DatabaseError):
        results.ResultStore(url).connect()


def test_sqlite_is_wal_with_busy_timeout(tmp_path):
    url = f"sqlite:///{tmp_path / 'w.db'}"
    results.ResultStore(url).connect()
    eng = results.open_engine(url)
    with eng.connect() as c:
        assert c.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert c.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 10000
    eng.dispose()


def test_default_database_is_in_the_data_dir(data_dir):
    store = results.ResultStore(None)
    assert store.url == f"sqlite:///{data_dir / 'results.db'}"
    assert store.record(rec())
    assert (data_dir / "results.db").exists()


def test_url_forms(tmp_path):
    assert results.normalise_url("postgresql://u:p@h/db") == "postgresql+psycopg://u:p@h/db"
    assert results.normalise_url(str(tmp_path / "x.db")) == f"sqlite:///{tmp_path / 'x.db'}"
    assert "secret" not in results.display_url("postgresql+psycopg://u:secret@h/db")
    with pytest.raises(InputError):
        results.ResultStore(f"sqlite:///{tmp_path / 'no' / 'such' / 'dir.db'}")


# -- several writers at once ------------------------------------------------------------

WRITER = """
import sys, uuid
sys.path.insert(0, {src!r})
from flashcheck.data import results
store = results.ResultStore({url!r})
for i in range({n}):
    r = {{"uuid": str(uuid.uuid4()), "time": results.iso_utc(results.utc_now()), "station": "p{{}}".format({k}),
         "fixture": "f", "serial": "p{k}-" + str(i), "board": "imp003", "verdict": "pass",
         "checks": [{{"rule": "r", "ok": True, "detail": "d"}}], "timings": {{}}}}
    assert store.record(r), store.last_error
print("ok")
"""


def test_concurrent_processes_lose_nothing(db):
    procs, n, k = [], 20, 5
    for p in range(k):
        code = WRITER.format(src=str(SRC), url=db, n=n, k=p)
        procs.append(subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    for pr in procs:
        out, err = pr.communicate(timeout=300)
        assert pr.returncode == 0, err
    got = results.fetch(db)
    assert len(got) == n * k
    assert {r["serial"] for r in got} == {f"p{p}-{i}" for p in range(k) for i in range(n)}
    assert count_rows(db, "checks") == n * k


# -- the database going away -----------------------------------------------------------


def test_unreachable_database_spools_then_delivers(pg, data_dir):  # noqa: F811
    url = pg.fresh_db("spool" + uuid.uuid4().hex[:8])
    store = results.ResultStore(url)
    assert store.record(rec(serial="A"))
    pg.stop()
    try:
        assert store.record(rec(serial="B")) is False
        assert store.record(rec(serial="C")) is False
        assert store.pending == 2
        assert "DATABASE UNREACHABLE" in store.status() and "2 result(s) kept locally" in store.status()
        lines = store.spool.path.read_text().splitlines()
        assert [json.loads(x)["serial"] for x in lines] == ["B", "C"]
        assert store.spool.path.parent == data_dir
    finally:
        pg.start()
    assert store.record(rec(serial="D")) is True  # the spool goes first, then the new one
    assert store.pending == 0
    assert not store.spool.path.exists()
    assert [r["serial"] for r in results.fetch(url)] == ["A", "B", "C", "D"]


def test_never_reachable_keeps_everything(data_dir):
    from pg_server import free_port

    url = f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/nothing"
    store = results.ResultStore(url)
    for s in ("A", "B", "C"):
        assert store.record(rec(serial=s)) is False
    assert store.flush() == 3
    again = results.ResultStore(url)  # a later run sees the same spool
    assert again.pending == 3
    with pytest.raises(results.DatabaseError):
        results.fetch(url)


def test_torn_spool_line_does_not_block_the_rest(tmp_path):
    url = f"sqlite:///{tmp_path / 's.db'}"
    store = results.ResultStore(url)
    store.spool.append(rec(serial="A"))
    with open(store.spool.path, "a") as fh:
        fh.write('{"uuid": "x", "serial": "tor')  # a crash while writing
    assert store.flush() == 0
    assert [r["serial"] for r in results.fetch(url)] == ["A"]
    assert "tor" in store.spool.path.with_name(store.spool.path.name + ".bad").read_text()


# -- report ----------------------------------------------------------------------------


def test_parse_since():
    now = datetime(2026, 3, 10, 12, 0, tzinfo=timezone.utc)
    assert rep.parse_since("24h", now) == now - timedelta(hours=24)
    assert rep.parse_since("7d", now) == now - timedelta(days=7)
    assert rep.parse_since("90m", now) == now - timedelta(minutes=90)
    assert rep.parse_since("2026-03-01", now) == datetime(2026, 3, 1, tzinfo=timezone.utc)
    assert rep.parse_since("2026-03-01T08:00+02:00", now) == datetime(2026, 3, 1, 6, tzinfo=timezone.utc)
    with pytest.raises(InputError, match="--since"):
        rep.parse_since("yesterday", now)


def test_summary_pareto_and_yield():
    recs = [rec("pass"), rec("fail"), rec("fail"), rec("unknown"),
            rec("error", checks=[{"rule": "hardware", "ok": False, "detail": "gone"}]),
            rec("fail", checks=[{"rule": "voltage", "ok": False, "detail": "1.8 V"}], part="MX25U")]
    s = rep.summarise(recs)
    assert (s["boards"], s["passed"], s["not_passed"]) == (6, 1, 5)
    assert s["yield"] == round(1 / 6, 4)
    assert [(p["cause"], p["boards"]) for p in s["failures_by_cause"]] == [
        ("erase 4 KiB", 2), ("clock (unknown)", 1), ("hardware fault", 1), ("voltage", 1)]
    assert s["failures_by_cause"][-1]["cumulative_percent"] == 100.0
    parts = {p["part"]: (p["boards"], p["passed"]) for p in s["per_part"]}
    assert parts == {"W25Q128JV": (5, 1), "MX25U": (1, 0)}


def test_csv_cells_are_inert():
    bad = rec("fail", serial="=HYPERLINK(\"http://x\")", reason="+cmd|' /C calc'!A0", station="@SUM(A1)")
    text = rep.to_csv([bad, rec(serial="-5"), rec(serial="\tTAB"), rec(serial="SAFE")])
    import csv
    import io

    rows = list(csv.DictReader(io.StringIO(text)))
    assert rows[0]["serial"] == "'=HYPERLINK(\"http://x\")"
    assert rows[0]["reason"].startswith("'+")
    assert rows[0]["station"].startswith("'@")
    assert rows[1]["serial"] == "'-5"
    assert rows[2]["serial"] == "'\tTAB"
    assert rows[3]["serial"] == "SAFE"
    for row in rows:
        for v in row.values():
            assert not (v or "x")[0] in "=+-@\t\r"


def test_junit_one_testcase_per_board():
    recs = [rec("pass", serial="P1"), rec("fail", serial="F1"), rec("unknown", serial="U1"),
            rec("error", serial="E1", reason="hardware fault: gone")]
    root = ET.fromstring(rep.to_junit(recs))
    assert root.get("tests") == "4" and root.get("failures") == "2" and root.get("errors") == "1"
    cases = root.findall(".//testcase")
    assert len(cases) == 4
    by = {c.get("name").split()[0]: c for c in cases}
    assert by["P1"].find("failure") is None and by["P1"].find("error") is None
    assert by["F1"].find("failure").get("message") == "erase 4 KiB: missing"
    assert by["U1"].find("failure").get("type") == "unknown"
    assert by["E1"].find("error").get("message") == "hardware fault: gone"


@pytest.mark.parametrize("ext", ["png", "svg"])
def test_plot(tmp_path, ext):
    pytest.importorskip("matplotlib")
    now = results.utc_now()
    recs = [rec("pass", when=now - timedelta(hours=5)), rec("fail", when=now - timedelta(hours=1)), rec("pass", when=now)]
    out = tmp_path / f"y.{ext}"
    rep.plot(recs, rep.summarise(recs), out)
    data = out.read_bytes()
    assert data.startswith(b"\x89PNG") if ext == "png" else b"<svg" in data[:2000]


def test_report_since_filters(db):
    store = results.ResultStore(db)
    now = results.utc_now()
    store.record(rec(serial="OLD", when=now - timedelta(days=3)))
    store.record(rec(serial="NEW", when=now - timedelta(hours=1)))
    assert [r["serial"] for r in results.fetch(db, rep.parse_since("24h"))] == ["NEW"]
    assert [r["serial"] for r in results.fetch(db)] == ["OLD", "NEW"]


def test_report_missing_sqlite_file(tmp_path):
    with pytest.raises(InputError, match="no such database"):
        results.fetch(f"sqlite:///{tmp_path / 'none.db'}")


# -- hostile stored strings (issue 14) ---------------------------------------------------

HOSTILE = ["01\x1d0123\x1d21ABC", "A\x01B", "\x1b[2J\x1b[31mRED", "bell\x07", "nul\x00x", "bidi\u202eevil",
           "lone \ud800 surrogate", "\ufffe\uffff", "\x85\x9b1m"]


@pytest.mark.parametrize("bad", HOSTILE)
def test_junit_stays_valid_xml_for_any_stored_string(bad):
    r = rec("fail", serial=bad, reason=bad, station=bad, part=bad,
            checks=[{"rule": bad, "ok": False, "detail": bad}])
    text = rep.to_junit([r, rec("pass")])
    text.encode("utf-8")  # no lone surrogate left: it can be written out
    root = ET.fromstring(text.encode("utf-8"))
    [case] = [c for c in root.findall(".//testcase") if c.find("failure") is not None]
    assert "\\x" in case.get("name") or "\\u" in case.get("name")  # replaced visibly, not dropped
    assert case.find("failure").get("message") != ""


@given(st.text(max_size=40))
@settings(max_examples=150, deadline=None)
def test_junit_valid_for_any_text(s):
    root = ET.fromstring(rep.to_junit([rec("unknown", serial=s, reason=s, fixture=s)]).encode("utf-8"))
    assert root.get("tests") == "1"


@pytest.mark.parametrize("bad", HOSTILE)
def test_csv_and_table_show_control_characters_visibly(bad):
    import csv
    import io

    r = rec("fail", serial=bad, reason=bad, station=bad, part=bad)
    rows = list(csv.DictReader(io.StringIO(rep.to_csv([r]))))
    table = rep.table(rep.summarise([r]), [r])
    for text in (rows[0]["serial"], rows[0]["reason"], table):
        assert "\x1b" not in text and "\x1d" not in text and "\x07" not in text and "\x00" not in text
        assert "\u202e" not in text
    assert "\\x" in rows[0]["serial"] or "\\u" in rows[0]["serial"]


def test_since_too_far_back_is_bad_input():
    with pytest.raises(InputError, match="too far back"):
        rep.parse_since("99999999d")


@pytest.mark.parametrize("option", ["-o", "--plot"])
def test_report_into_a_missing_directory_is_one_line(tmp_path, option):
    db = f"sqlite:///{tmp_path / 'r.db'}"
    results.ResultStore(db).record(rec())
    out = tmp_path / "no" / "such" / ("r.svg" if option == "--plot" else "r.txt")
    res = subprocess.run([sys.executable, "-m", "flashcheck.cli", "report", "--db", db, option, str(out)],
                         capture_output=True, text=True, env={**__import__("os").environ, "PYTHONPATH": str(SRC)})
    assert res.returncode == 2, res.stderr
    assert "cannot write" in res.stderr and "Traceback" not in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1


def test_report_on_an_in_memory_database_is_refused():
    with pytest.raises(InputError, match="in-memory"):
        results.fetch("sqlite://")
