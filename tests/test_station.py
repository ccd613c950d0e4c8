"""The manufacturing station: the issue's done-when against a real
PostgreSQL server, waiting for boards on a scripted bench, serial numbers,
faults, a database that goes away mid-run, several processes at once, and
the operator screen at 80x24."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import uuid
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from pg_server import free_port, pg  # noqa: F401  (fixture)

pytest.importorskip("sqlalchemy")

import flashcheck  # noqa: E402
from flashcheck import __version__  # noqa: E402
from flashcheck.data import results  # noqa: E402
from flashcheck.app import App  # noqa: E402
from flashcheck.workflows import station as st  # noqa: E402

SRC = str(Path(flashcheck.__file__).resolve().parent.parent)


@pytest.fixture(autouse=True)
def data_dir(tmp_path, monkeypatch):
    d = tmp_path / "data"
    monkeypatch.setenv("FLASHCHECK_DATA_DIR", str(d))
    monkeypatch.setenv("FLASHCHECK_JOURNAL_DIR", str(tmp_path / "journal"))
    return d


@pytest.fixture
def pgdb(pg):  # noqa: F811
    if not pg.running:
        pg.start()
    return pg.fresh_db("s" + uuid.uuid4().hex[:12])


@pytest.fixture
def sqlite_db(tmp_path):
    return f"sqlite:///{tmp_path / 'r.db'}"


def cli(*args, input=None, env=None, timeout=300):
    """The real command line in a subprocess (stdout is not a terminal)."""
    e = dict(os.environ, PYTHONPATH=SRC + os.pathsep + os.environ.get("PYTHONPATH", ""))
    e.update(env or {})
    res = subprocess.run([sys.executable, "-m", "flashcheck.cli", *map(str, args)], input=input, capture_output=True,
                         text=True, env=e, timeout=timeout)
    return res.returncode, res.stdout, res.stderr


# -- the done-when ---------------------------------------------------------------


def test_three_w25q128jv_boards_pass(pgdb):
    code, out, err = cli("station", "--url", "sim://W25Q128JV", "--board", "imp003", "--expect", "W25Q128JVSIQ",
                         "--db", pgdb, "--count", 3, "--no-wait", "--station", "line1-st3")
    assert code == 0, out + err
    assert out.count(": PASS ") == 3
    recs = results.fetch(pgdb)
    assert [r["verdict"] for r in recs] == ["pass"] * 3
    for r in recs:
        assert r["station"] == "line1-st3"
        assert r["fixture"] == "sim://W25Q128JV"
        assert r["board"] == "imp003"
        assert r["part"] == "W25Q128JV"
        assert r["jedec_id"] == "ef4018"
        assert r["expect"] == "W25Q128JVSIQ"
        assert r["serial_source"] == "unique_id" and r["serial"] == r["unique_id"]
        assert re.fullmatch(r"[0-9a-f]{16}", r["serial"])
        assert r["flashcheck_version"] == __version__
        assert r["parts_db_version"] == st.parts_db_version(App())
        assert r["timings"]["probe_s"] is not None
        rules = {c["rule"]: c["ok"] for c in r["checks"]}
        assert rules["expected part"] is True and rules["erase 4 KiB"] is True
        assert all(c["ok"] is True for c in r["checks"])
    assert len({r["serial"] for r in recs}) == 3  # three chips, three unique IDs


def test_two_s25fl127s_boards_fail_and_junit_shows_them(pgdb):
    code, out, err = cli("station", "--url", "sim://S25FL127S", "--board", "imp003", "--db", pgdb, "--count", 2, "--no-wait")
    assert code == 1, out + err
    recs = results.fetch(pgdb)
    assert [r["verdict"] for r in recs] == ["fail", "fail"]
    assert [r["serial"] for r in recs] == ["fixture-1-board-1", "fixture-1-board-2"]
    assert all(r["serial_source"] == "generated" and r["unique_id"] is None for r in recs)
    assert all(r["jedec_id"] == "0120184d0180" for r in recs)
    code, out, err = cli("report", "--db", pgdb, "--format", "junit")
    assert code == 0, err
    root = ET.fromstring(out)
    assert root.get("tests") == "2" and root.get("failures") == "2"
    fails = root.findall(".//testcase/failure")
    assert len(fails) == 2
    assert all(f.get("message").startswith("erase 4 KiB: 4 KiB erase missing") for f in fails)


def test_without_expect_the_shared_id_passes_only_when_every_candidate_does(sqlite_db):
    """ef4018 is W25Q128BV/FV/JV: every figure of the three is now read from
    their datasheets and all three pass the imp003, so the shared ID alone
    passes (issue 13); a shared ID whose parts differ stays unknown (test_probe)."""
    code, out, err = cli("station", "--url", "sim://W25Q128JV", "--board", "imp003", "--db", sqlite_db, "--count", 1, "--no-wait")
    assert code == 0, out
    [r] = results.fetch(sqlite_db)
    assert r["verdict"] == "pass"


def test_report_table_and_csv(sqlite_db):
    cli("station", "--url", "sim://W25Q128JV", "--board", "imp003", "--expect", "W25Q128JVSIQ", "--db", sqlite_db, "--count", 2, "--no-wait")
    cli("station", "--url", "sim://S25FL127S", "--board", "imp003", "--db", sqlite_db, "--count", 1, "--no-wait")
    code, out, err = cli("report", "--db", sqlite_db)
    assert code == 0, err
    assert "3 boards" in out and "yield 66.7%" in out
    # the S25FL127S fails the imp003's 4 KiB erase rule and its 0x20 opcode rule: two causes, one board each
    assert re.search(r"erase 4 KiB\s+1\s+50\.0%", out) and re.search(r"opcode 0x20\s+1\s+50\.0%", out)
    code, out, err = cli("report", "--db", sqlite_db, "--format", "csv", "--since", "24h")
    import csv
    import io

    rows = list(csv.DictReader(io.StringIO(out)))
    assert [r["verdict"] for r in rows] == ["pass", "pass", "fail"]
    code, out, err = cli("report", "--db", sqlite_db, "--format", "json", "--since", "2999-01-01")
    assert json.loads(out)["summary"]["boards"] == 0


# -- several fixtures, serials -----------------------------------------------------------------


def test_several_fixtures_one_database(pgdb):
    code, out, err = cli("station", "--url", "sim://W25Q128JV", "--url", "sim://S25FL127S", "--board", "imp003",
                         "--expect", "W25Q128JVSIQ", "--db", pgdb, "--count", 6, "--no-wait")
    assert code == 1  # the S25FL127S boards are not the expected part
    recs = results.fetch(pgdb)
    assert len(recs) == 6
    assert {r["fixture"] for r in recs} <= {"sim://W25Q128JV", "sim://S25FL127S"}
    for r in recs:
        assert r["verdict"] == ("pass" if r["fixture"] == "sim://W25Q128JV" else "fail")


def test_serials_from_the_scanner(sqlite_db):
    code, out, err = cli("station", "--url", "sim://W25Q128JV", "--board", "imp003", "--expect", "W25Q128JVSIQ",
                         "--db", sqlite_db, "--no-wait", "--serial-prompt", input="PCB-0001\n\nPCB-0003\n")
    assert code == 0, out + err
    assert out.count("scan the serial number for the next board") == 4  # the fourth meets end of input
    recs = results.fetch(sqlite_db)
    assert [r["serial"] for r in recs][0::2] == ["PCB-0001", "PCB-0003"]
    assert [r["serial_source"] for r in recs] == ["scanner", "unique_id", "scanner"]
    assert recs[1]["serial"] == recs[1]["unique_id"]  # an empty scan: the chip's own ID


def test_serial_prompt_names_the_fixture(sqlite_db):
    code, out, err = cli("station", "--url", "sim://W25Q128JV", "--url", "sim://W25Q128JV?time_scale=0", "--board", "imp003",
                         "--expect", "W25Q128JVSIQ", "--db", sqlite_db, "--no-wait", "--serial-prompt", "--count", 2,
                         input="A1\nA2\n")
    assert code == 0, out + err
    assert re.search(r"scan the serial number for fixture [12] \(sim://W25Q128JV", out)
    recs = results.fetch(sqlite_db)
    assert sorted(r["serial"] for r in recs) == ["A1", "A2"]


# -- faults and bad input ----------------------------------------------------------------------


def test_device_vanishing_mid_probe_is_an_error_not_a_pass(sqlite_db):
    code, out, err = cli("station", "--url", "sim://W25Q128JV?fail_after=2", "--board", "imp003", "--expect", "W25Q128JVSIQ",
                         "--db", sqlite_db, "--count", 1, "--no-wait")
    assert code == 1
    [r] = results.fetch(sqlite_db)
    assert r["verdict"] == "error"
    assert r["reason"].startswith("hardware fault:") and "device vanished" in r["reason"]


def test_no_chip_without_wait_stops_the_fixture(sqlite_db):
    code, out, err = cli("station", "--url", "sim://none", "--board", "imp003", "--db", sqlite_db, "--no-wait")
    assert code == 1
    assert "stopped after 3 hardware faults in a row" in err
    recs = results.fetch(sqlite_db)
    assert [r["verdict"] for r in recs] == ["error"] * 3
    assert all("no chip answered" in r["reason"] for r in recs)


@pytest.mark.parametrize("args, what", [
    (["--url", "sim://W25Q128JV", "--url", "sim://W25Q128JV"], "given twice"),
    (["--url", "sim://NOSUCHCHIP"], "unknown sim model"),
    (["--url", "sim://W25Q128JV", "--expect", "XYZ123"], "not a known part"),
    (["--url", "sim://W25Q128JV", "--count", "0"], "--count"),
    (["--url", "sim://W25Q128JV", "--board", "nosuchboard"], "nosuchboard"),
])
def test_bad_input_exits_2(sqlite_db, args, what):
    if "--board" not in args:
        args = [*args, "--board", "imp003"]
    if "--count" not in args:
        args = [*args, "--count", "1"]
    code, out, err = cli("station", *args, "--db", sqlite_db, "--no-wait")
    assert code == 2, out + err
    assert what in err


# -- the database going away --------------------------------------------------------------------


class Hooks(st.Listener):
    def __init__(self, on_result=None, on_changed=None):
        self.on_result, self.on_changed = on_result, on_changed
        self.phases: list[tuple[int, str]] = []
        self.statuses: list[str] = []

    def changed(self, fx):
        self.phases.append((fx.index, fx.phase))
        if self.on_changed:
            self.on_changed(fx)

    def stored(self, fx, rec):
        if self.on_result:
            self.on_result(fx, rec)

    def store(self, status):
        self.statuses.append(status)


def make_station(urls, store, **kw):
    app = App()
    return st.Station(app, app.board("imp003"), urls, store, expect=kw.pop("expect", "W25Q128JVSIQ"), **kw)


def test_database_stopped_mid_run_keeps_results_and_sends_them(pg, pgdb, data_dir):  # noqa: F811
    store = results.ResultStore(pgdb)
    seen = []

    def on_result(fx, rec):
        seen.append(rec.stored)
        if len(seen) == 1:
            pg.stop()  # the server goes away after the first board
        elif len(seen) == 3:
            pg.start()  # and is back before the fourth

    hooks = Hooks(on_result=on_result)
    summary = make_station(["sim://W25Q128JV"], store, count=4, wait=False, listener=hooks).run()
    assert seen == [True, False, False, True]
    assert summary.pending == 0 and summary.exit_code() == 0
    assert any(s.startswith("DATABASE UNREACHABLE") and "2 result(s) kept locally" in s for s in hooks.statuses)
    recs = results.fetch(pgdb)
    assert [r["uuid"] for r in recs] == [r.uuid for r in summary.records]
    assert not store.spool.path.exists()


def test_database_down_until_the_end_is_sent_by_the_next_run(pg, pgdb, data_dir):  # noqa: F811
    pg.stop()
    try:
        code, out, err = cli("station", "--url", "sim://W25Q128JV", "--board", "imp003", "--expect", "W25Q128JVSIQ",
                             "--db", pgdb, "--count", 2, "--no-wait", env={"FLASHCHECK_DATA_DIR": str(data_dir)})
        assert code == 0, out + err  # both boards passed; their results wait
        assert "DATABASE UNREACHABLE" in out and "kept locally" in out
        assert "2 result(s) are kept in" in err
    finally:
        pg.start()
    code, out, err = cli("station", "--url", "sim://W25Q128JV", "--board", "imp003", "--expect", "W25Q128JVSIQ",
                         "--db", pgdb, "--count", 1, "--no-wait", env={"FLASHCHECK_DATA_DIR": str(data_dir)})
    assert code == 0, out + err
    assert len(results.fetch(pgdb)) == 3


def test_unreachable_database_url_still_tests_boards(data_dir):
    url = f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/none"
    code, out, err = cli("station", "--url", "sim://S25FL127S", "--board", "imp003", "--db", url, "--count", 1,
                         "--no-wait", env={"FLASHCHECK_DATA_DIR": str(data_dir)})
    assert code == 1
    assert "[kept locally: database unreachable]" in out
    [spool] = data_dir.glob("spool-*.jsonl")
    [line] = spool.read_text().splitlines()
    assert json.loads(line)["verdict"] == "fail"
    code, out, err = cli("report", "--db", url, env={"FLASHCHECK_DATA_DIR": str(data_dir)})
    assert code == 4  # the database cannot be read
    assert "1 result(s) for this database wait in this PC's spool" in err


@pytest.fixture(params=["sqlite", "postgresql"])
def anydb(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'shared.db'}"
    return request.getfixturevalue("pgdb")


def test_several_station_processes_lose_nothing(anydb):
    pgdb = anydb
    e = dict(os.environ, PYTHONPATH=SRC)
    procs = [subprocess.Popen([sys.executable, "-m", "flashcheck.cli", "station", "--url", "sim://W25Q128JV",
                               "--board", "imp003", "--expect", "W25Q128JVSIQ", "--db", pgdb, "--count", "8",
                               "--no-wait", "--station", f"st{i}"], env=e, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for i in range(4)]
    for p in procs:
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0, out + err
    recs = results.fetch(pgdb)
    assert len(recs) == 32
    assert sorted(r["station"] for r in recs) == sorted(f"st{i}" for i in range(4) for _ in range(8))


# -- waiting for boards ----------------------------------------------------------------------


class Bench:
    """A fixture whose board the test puts in and takes out."""

    def __init__(self):
        self.chip = None
        self.inserted: list[str] = []
        self.opened = 0

    def insert(self):
        from flashcheck.sim import SimChip, get_model

        self.chip = SimChip(get_model("W25Q128JV"))
        self.inserted.append(self.chip.unique_id.hex())

    def remove(self):
        self.chip = None

    def open(self, url):
        self.opened += 1
        bench = self

        class T:
            description = "bench"

            def exchange(self, out, readlen=0):
                return b"\xff" * readlen if bench.chip is None else bench.chip.transact(bytes(out), readlen)

            def close(self):
                pass

        return T()


def test_waits_for_each_board_and_for_its_removal(sqlite_db):
    bench = Bench()

    def on_changed(fx):
        if fx.phase == "waiting" and bench.chip is None:
            bench.insert()  # the operator puts a board in

    def on_result(fx, rec):
        bench.remove()  # and takes it out once the result shows

    hooks = Hooks(on_result=on_result, on_changed=on_changed)
    station = make_station(["bench://1"], results.ResultStore(sqlite_db), count=3, wait=True, listener=hooks,
                           poll_s=0, opener=bench.open)
    summary = station.run()
    assert [r.serial for r in summary.records] == bench.inserted
    assert len(bench.inserted) == 3
    assert [r.verdict for r in summary.records] == ["pass"] * 3
    phases = [p for _, p in hooks.phases]
    # each board: waiting -> testing -> (result) -> remove, except that the last is not waited out
    assert phases.count("remove") == 2
    assert phases.index("remove") < len(phases) - 1 - phases[::-1].index("waiting")
    assert bench.opened == 1  # the fixture stays open across boards
    assert [r["serial"] for r in results.fetch(sqlite_db)] == bench.inserted


def test_fixture_that_goes_away_while_waiting_is_reopened(sqlite_db):
    from flashcheck.errors import TransportError

    bench = Bench()
    tries = {"n": 0}

    def opener(url):
        tries["n"] += 1
        if tries["n"] <= 2:  # the programmer is unplugged at first
            raise TransportError("FT232H not found: check the USB cable")
        return bench.open(url)

    def on_changed(fx):
        if fx.phase == "waiting" and bench.chip is None:
            bench.insert()

    hooks = Hooks(on_changed=on_changed)
    station = make_station(["bench://1"], results.ResultStore(sqlite_db), count=1, wait=True, listener=hooks,
                           poll_s=0, opener=opener)
    station.fault_retry_s = 0
    summary = station.run()
    assert tries["n"] == 3
    assert (1, "fault") in hooks.phases
    assert [r.verdict for r in summary.records] == ["pass"]
    assert summary.exit_code() == 0


def test_stop_finishes_the_current_board(sqlite_db):
    bench = Bench()
    bench.insert()
    holder = {}

    def on_result(fx, rec):
        holder["station"].stop()  # Ctrl-C while the first board was being tested

    hooks = Hooks(on_result=on_result)
    station = make_station(["bench://1"], results.ResultStore(sqlite_db), wait=True, listener=hooks, poll_s=0,
                           opener=bench.open)
    holder["station"] = station
    summary = station.run()
    assert len(summary.records) == 1 and summary.records[0].verdict == "pass"
    assert len(results.fetch(sqlite_db)) == 1
    assert summary.exit_code() == 0


def test_ctrl_c_stops_a_waiting_station_cleanly(sqlite_db):
    e = dict(os.environ, PYTHONPATH=SRC)
    p = subprocess.Popen([sys.executable, "-m", "flashcheck.cli", "station", "--url", "sim://W25Q128JV",
                          "--board", "imp003", "--expect", "W25Q128JVSIQ", "--db", sqlite_db], env=e,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        first = ""
        for line in p.stdout:  # the simulated board never leaves: the station waits for its removal
            if "board 1:" in line:
                first = line
                break
        assert "board 1: PASS" in first
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=60)
    finally:
        if p.poll() is None:
            p.kill()
    assert p.returncode == 0, err
    assert "1 board(s) tested, 1 passed" in out
    assert "stopped by Ctrl-C" in err
    assert len(results.fetch(sqlite_db)) == 1


def test_erase_test_step_timings_are_recorded(sqlite_db, tmp_path):
    image = tmp_path / "chip.bin"
    image.write_bytes(os.urandom(16 * 1024 * 1024))  # data everywhere, so each erase shows
    code, out, err = cli("station", "--url", f"sim://W25Q128JV?image={image}", "--board", "imp003", "--expect",
                         "W25Q128JVSIQ", "--db", sqlite_db, "--count", 1, "--no-wait", "--test",
                         "--journal-dir", tmp_path / "journal")
    assert code == 0, out + err
    [r] = results.fetch(sqlite_db)
    assert r["verdict"] == "pass"
    assert any(c["rule"].startswith("erase test: ") for c in r["checks"])
    t = r["timings"]["test"]
    assert t["verdict"] == "pass" and t["sectors"]
    assert all(s["status"] == "tested" and len(s["erase_ms"]) == 2 for s in t["sectors"])
    assert "test_s" in r["timings"]


def test_erase_test_cut_short_then_refused_is_recorded_not_fatal(sqlite_db, tmp_path):
    """The programmer vanishes during the erase test (its journal keeps the
    block); the same chip next time is refused until `flashcheck recover`:
    both boards are recorded as errors and the station carries on."""
    image = tmp_path / "chip.bin"
    image.write_bytes(os.urandom(16 * 1024 * 1024))
    code, out, err = cli("station", "--url", f"sim://W25Q128JV?image={image}&fail_after=300", "--board", "imp003",
                         "--expect", "W25Q128JVSIQ", "--db", sqlite_db, "--count", 2, "--no-wait", "--test",
                         "--journal-dir", tmp_path / "journal")
    assert code == 1
    first, second = results.fetch(sqlite_db)
    assert first["verdict"] == "error" and "device vanished" in first["reason"]
    assert second["verdict"] == "error" and "unfinished journal" in second["reason"]
    from flashcheck.output import report as rep

    assert rep.causes(first) == ["hardware fault"] and rep.causes(second) == ["erase test refused"]


def test_erase_test_skipped_when_the_probe_fails(sqlite_db, tmp_path):
    code, out, err = cli("station", "--url", "sim://S25FL127S", "--board", "imp003", "--db", sqlite_db, "--count", 1,
                         "--no-wait", "--test", "--journal-dir", tmp_path / "journal")
    assert code == 1
    [r] = results.fetch(sqlite_db)
    assert r["timings"]["test"] == {"skipped": "the probe did not pass"}
    assert not any(c["rule"].startswith("erase test") for c in r["checks"])


# -- the operator screen --------------------------------------------------------------------------


def screen_text(fixtures, width=80, height=24, asking=None):
    from rich.console import Console

    from flashcheck.output.screen import LiveScreen, render

    con = Console(width=width, height=height, record=True, color_system="truecolor", force_terminal=True,
                  file=open(os.devnull, "w"))
    live = LiveScreen("line1-st3", "imp003", "W25Q128JVSIQ", console=con)
    live.attach(fixtures)
    live.asking = asking
    con.print(render(fixtures, live.footer(width), width, height, asking))
    return con.export_text(styles=False, clear=False), con.export_text(styles=True)


def record(verdict, serial="PCB-0001", reason="all rules met", part="W25Q128JV"):
    return st.BoardRecord(
        uuid="u", time="t", station="s", fixture="sim://W25Q128JV", fixture_index=1, board_number=1, serial=serial,
        serial_source="scanner", board="imp003", expect=None, part=part, jedec_id="ef4018", unique_id=None,
        verdict=verdict, reason=reason, checks=[], probe_s=0.01, timings={}, flashcheck_version="0", parts_db_version="x")


def test_screen_pass_fits_80x24():
    fx = st.FixtureState(1, "sim://W25Q128JV", phase="remove", last=record("pass"), boards=1, passed=1)
    text, styled = screen_text([fx])
    lines = text.rstrip("\n").split("\n")
    assert len(lines) <= 24 and max(len(x) for x in lines) <= 80
    assert any("██████████" in x for x in lines)  # the big letters
    assert "PCB-0001" in text and "W25Q128JV" in text and "Remove the board" in text
    assert "1 PASS" in text and "0 FAIL" in text
    assert "48;2;0;135;0" in styled or "42m" in styled or "48;5;28" in styled  # green background


def test_screen_unknown_is_a_fail_with_its_reason():
    reason = "identify: JEDEC ID ef4018 matches W25Q128BV, W25Q128FV, W25Q128JV; say which is fitted with --expect"
    fx = st.FixtureState(1, "sim://W25Q128JV", phase="result", last=record("unknown", reason=reason), boards=1)
    text, styled = screen_text([fx])
    from flashcheck.output.screen import big

    assert big("FAIL", 2)[0].strip() in text and big("PASS", 2)[0].strip() not in text
    flat = " ".join(" ".join(line.strip("│ ").split()) for line in text.split("\n"))
    assert "verdict UNKNOWN (not passed)" in flat and "say which is fitted with --expect" in flat
    assert max(len(x) for x in text.split("\n")) <= 80


def test_screen_four_fixtures_fit_80x24():
    fxs = [st.FixtureState(1, "ftdi://ftdi:232h:FT1/1", phase="result", last=record("pass", serial="S1"), boards=1, passed=1),
           st.FixtureState(2, "ftdi://ftdi:232h:FT2/1", phase="result",
                           last=record("fail", serial="S2", reason="voltage: a 1.8 V part on a 3.3 V board"), boards=1),
           st.FixtureState(3, "ftdi://ftdi:232h:FT3/1", phase="scan"),
           st.FixtureState(4, "ftdi://ftdi:232h:FT4/1", phase="testing")]
    text, _ = screen_text(fxs, asking=fxs[2])
    lines = text.rstrip("\n").split("\n")
    assert len(lines) <= 24 and max(len(x) for x in lines) <= 80
    for want in ("S1", "S2", "voltage: a 1.8 V part", "Scan the serial for fixture 3", "TESTING", "SCAN THE SERIAL"):
        assert want in text, want


# -- a store that can never keep results is refused at start (issue 14) -------------------------


@pytest.mark.parametrize("db, what", [
    ("sqlite://", "in-memory"),
    ("sqlite:///:memory:", "in-memory"),
    ("sqlite:////etc/passwd", "not a database"),
    ("sqlite:////tmp", "is a directory"),
    ("sqlite:///{tmp}/r.db?mode=ro", "read-only"),
    ("postgresql+psycopg://u@127.0.0.1:99999/db", "out of range"),
    ("postgresql+psycopg://u@127.0.0.1/db?sslmode=bogus", "sslmode"),
    ("postgresql+psycopg://u@[::1/db", "not a database URL"),
    ("mysql://u@h/db", "unsupported"),
])
def test_a_store_that_cannot_keep_results_is_refused(tmp_path, data_dir, db, what):
    code, out, err = cli("station", "--url", "sim://W25Q128JV", "--board", "imp003", "--expect", "W25Q128JVSIQ",
                         "--db", db.format(tmp=tmp_path), "--count", 1, "--no-wait",
                         env={"FLASHCHECK_DATA_DIR": str(data_dir)})
    assert code == 2, out + err
    assert what in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert "board(s) tested" not in out  # refused before the first board
    assert not list(data_dir.glob("spool-*"))


def test_a_database_that_does_not_exist_is_refused_not_spooled(pg, data_dir):  # noqa: F811
    if not pg.running:
        pg.start()
    url = pg.url.rsplit("/", 1)[0] + "/nosuchdb"
    code, out, err = cli("station", "--url", "sim://W25Q128JV", "--board", "imp003", "--expect", "W25Q128JVSIQ",
                         "--db", url, "--count", 1, "--no-wait", env={"FLASHCHECK_DATA_DIR": str(data_dir)})
    assert code == 2, out + err
    assert 'database "nosuchdb" does not exist' in err and len(err.strip().splitlines()) == 1
    assert not list(data_dir.glob("spool-*"))


def test_a_read_only_postgresql_session_is_refused(pg, pgdb, data_dir):  # noqa: F811
    url = pgdb + "?options=-c%20default_transaction_read_only%3Don"
    code, out, err = cli("station", "--url", "sim://W25Q128JV", "--board", "imp003", "--expect", "W25Q128JVSIQ",
                         "--db", url, "--count", 1, "--no-wait", env={"FLASHCHECK_DATA_DIR": str(data_dir)})
    assert code == 2, out + err
    assert "read-only" in err


def test_an_outage_at_start_is_said_on_screen_and_in_the_summary(data_dir):
    url = f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/none"
    code, out, err = cli("station", "--url", "sim://W25Q128JV", "--board", "imp003", "--expect", "W25Q128JVSIQ",
                         "--db", url, "--count", 1, "--no-wait", env={"FLASHCHECK_DATA_DIR": str(data_dir)})
    assert code == 0, out + err
    assert "unreachable" in err.splitlines()[0] and "results are kept in" in err
    assert "1 result(s) NOT in" in out and "results in postgresql" not in out
    assert all("\t" not in line for line in err.splitlines())  # libpq's hint line is folded into one


def test_start_up_write_check_leaves_no_row(sqlite_db):
    store = results.ResultStore(sqlite_db)
    assert store.connect(check_write=True)
    eng = results.open_engine(sqlite_db)
    with eng.connect() as c:
        assert c.exec_driver_sql("SELECT count(*) FROM store_checks").scalar() == 0
    eng.dispose()


@pytest.mark.parametrize("serial", ["01\x1d0952\x1d21AB", "A\x01B", "X\x1b[2JY"])
def test_screen_shows_control_characters_in_a_serial_visibly(serial):
    fx = st.FixtureState(1, "sim://W25Q128JV", phase="result", last=record("fail", serial=serial, reason=f"r {serial}"),
                         boards=1)
    text, _ = screen_text([fx])
    assert serial not in text and "\x1d" not in text and "\x1b" not in text and "\x01" not in text
    assert serial.replace("\x1d", "\\x1d").replace("\x01", "\\x01").replace("\x1b", "\\x1b") in text


def test_plain_screen_and_summary_show_a_scanned_control_character_visibly(sqlite_db):
    code, out, err = cli("station", "--url", "sim://S25FL127S", "--board", "imp003", "--expect", "S25FL127SABMFI101",
                         "--db", sqlite_db, "--count", 1, "--no-wait", "--serial-prompt", input="01\x1d2345\x1b[2J\n")
    assert code == 1, out + err
    assert "\x1d" not in out and "\x1b" not in out
    assert "01\\x1d2345\\x1b[2J" in out
    [r] = results.fetch(sqlite_db)
    assert r["serial"] == "01\x1d2345\x1b[2J"  # stored verbatim: the database keeps what was scanned
