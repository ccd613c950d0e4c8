"""The manufacturing station: boards go into fixtures one after another;
each is probed (and erase-tested with ``test``), judged, shown to the
operator and recorded.

One worker thread per fixture (transport URL) runs this loop::

    claim a board slot (``count``)  ->  ask the serial (``serial_prompt``)
    ->  wait until a chip answers    ->  probe (+ erase test)  ->  record
    ->  wait until the chip stops answering (board removed)  ->  again

``wait=False`` skips both waits: each board is a fresh open of the
transport (simulated fixtures, CI).  Waiting polls the JEDEC ID: "no chip
answered" (a plain HardwareError) means no board; a TransportError means the
fixture itself is gone (shown as a fault; the worker reopens it).  A board
counts as present or removed after :attr:`Station.stable_reads` identical
polls, so contact bounce while a board is pushed in does not start a test.

Verdicts recorded: ``pass``, ``fail``, ``unknown`` (a rule could not be
decided) and ``error`` (a hardware fault during the test).  Only ``pass``
passes: the operator sees FAIL for the other three, with the reason.
"""

from __future__ import annotations

import hashlib
import queue
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flashcheck import __version__
from flashcheck.chip.spinor import SpiNor
from flashcheck.errors import FlashcheckError, HardwareError, InputError, TransportError
from flashcheck.rules import Check, reason_of, verdict_of
from flashcheck.transport import close_quietly as _close

PASSED = "pass"
#: Consecutive hardware faults after which a --no-wait fixture gives up.
MAX_FAULTS_NO_WAIT = 3


def parts_db_version(app) -> str:
    """A hash of the parts files' contents (built-in and --parts), so a
    record says which database judged it."""
    from flashcheck.data.resources import parts_dir

    h = hashlib.sha256()
    dirs = [parts_dir(), *getattr(app, "parts_dirs", ())]
    for d in dirs:
        d = Path(d)
        for p in sorted(d.glob("*")):
            if p.suffix in (".yaml", ".yml", ".json") and p.is_file():
                h.update(p.name.encode() + b"\0" + p.read_bytes() + b"\0")
    return "sha256:" + h.hexdigest()[:16]


def default_station_name() -> str:
    return socket.gethostname() or "station"


@dataclass
class BoardRecord:
    uuid: str
    time: str
    station: str
    fixture: str
    fixture_index: int
    board_number: int
    serial: str
    serial_source: str  # scanner, unique_id, generated
    board: str
    expect: str | None
    part: str | None
    jedec_id: str | None
    unique_id: str | None
    verdict: str
    reason: str
    checks: list[dict[str, Any]]
    probe_s: float | None
    timings: dict[str, Any]
    flashcheck_version: str
    parts_db_version: str
    stored: bool | None = None  # True: in the database; False: in the spool

    @property
    def passed(self) -> bool:
        return self.verdict == PASSED

    def to_json(self) -> dict[str, Any]:
        return {
            "uuid": self.uuid, "time": self.time, "station": self.station, "fixture": self.fixture,
            "serial": self.serial, "serial_source": self.serial_source, "board": self.board,
            "expect": self.expect, "part": self.part, "jedec_id": self.jedec_id, "unique_id": self.unique_id,
            "verdict": self.verdict, "reason": self.reason, "checks": self.checks, "probe_s": self.probe_s,
            "timings": self.timings, "flashcheck_version": self.flashcheck_version,
            "parts_db_version": self.parts_db_version,
        }


@dataclass
class FixtureState:
    """What the operator screen shows for one fixture."""

    index: int  # 1-based
    url: str
    phase: str = "starting"  # scan, waiting, testing, result, remove, fault, stopped
    message: str = ""
    last: BoardRecord | None = None
    boards: int = 0
    passed: int = 0
    progress: str = ""
    faults: int = 0

    @property
    def name(self) -> str:
        return f"fixture {self.index}"


class SerialSource:
    """Serial numbers from a barcode scanner: it types the code and Enter,
    so one line per board.  Lines are read by a background thread (a scan
    made before the prompt shows is kept); fixtures are served in the order
    they ask.  End of input stops the station."""

    def __init__(self, readline: Callable[[], str | None]):
        self._readline = readline
        self._lines: queue.Queue[str | None] = queue.Queue()
        self._ask = threading.Lock()
        self.eof = False
        self.asking: FixtureState | None = None
        self._thread: threading.Thread | None = None

    def _reader(self) -> None:
        while True:
            try:
                line = self._readline()
            except (OSError, ValueError):
                line = None
            if line is None or line == "":
                self._lines.put(None)
                return
            self._lines.put(line.strip())

    def ask(self, fx: FixtureState, halted: Callable[[], bool], shown: Callable[[], None]) -> str | None:
        """The next scanned serial for ``fx``; None at end of input or when
        the station stops.  An empty line means "no label": the chip's unique
        ID or a generated name is used."""
        with self._ask:
            if self.eof or halted():
                return None
            if self._thread is None:
                self._thread = threading.Thread(target=self._reader, name="serial-reader", daemon=True)
                self._thread.start()
            self.asking = fx
            shown()
            try:
                while not halted():
                    try:
                        line = self._lines.get(timeout=0.05)
                    except queue.Empty:
                        continue
                    if line is None:
                        self.eof = True
                        return None
                    return line
                return None
            finally:
                self.asking = None
                shown()


class Listener:
    """What a station tells its screen; override what you need."""

    def changed(self, fx: FixtureState) -> None: ...

    def result(self, fx: FixtureState, rec: BoardRecord) -> None:
        """A board's result, before it is stored (show it now)."""

    def stored(self, fx: FixtureState, rec: BoardRecord) -> None:
        """The same result after the store took it (``rec.stored``: True in
        the database, False in the spool, None without a store)."""

    def prompt(self, fx: FixtureState | None) -> None: ...

    def store(self, status: str) -> None: ...


@dataclass
class Summary:
    records: list[BoardRecord] = field(default_factory=list)
    faults: list[str] = field(default_factory=list)
    pending: int = 0
    interrupted: bool = False

    @property
    def passed(self) -> int:
        return sum(r.passed for r in self.records)

    @property
    def not_passed(self) -> int:
        return len(self.records) - self.passed

    def exit_code(self) -> int:
        """1 if any board did not pass (fail, unknown or error); else 4 if a
        fixture stopped on a fault; else 0."""
        from flashcheck.errors import EXIT_FAIL, EXIT_HARDWARE, EXIT_PASS

        if self.not_passed:
            return EXIT_FAIL
        if self.faults:
            return EXIT_HARDWARE
        return EXIT_PASS


class Station:
    """Runs the fixtures; see the module docstring."""

    stable_reads = 2
    #: Seconds between tries to send spooled results while no board comes.
    retry_s = 30.0
    #: Seconds between tries to reopen a fixture that went away.
    fault_retry_s = 1.0

    def __init__(
        self,
        app,
        board,
        urls: list[str],
        store,
        *,
        expect: str | None = None,
        test: bool = False,
        count: int | None = None,
        wait: bool = True,
        serials: SerialSource | None = None,
        station: str | None = None,
        listener: Listener | None = None,
        poll_s: float = 0.2,
        opener: Callable[[str], Any] | None = None,
        journal_dir: Path | None = None,
    ):
        if not urls:
            raise InputError("station: give at least one --url")
        if len(set(urls)) != len(urls):
            raise InputError("station: the same --url is given twice")
        if count is not None and count < 1:
            raise InputError(f"--count {count}: must be 1 or more")
        if expect is not None and not expect.strip():
            raise InputError("--expect needs an order code, family or JEDEC ID")
        self.app, self.board, self.store = app, board, store
        self.expect, self.test, self.count, self.wait = expect, test, count, wait
        self.serials = serials
        self.station = station or default_station_name()
        self.listener = listener or Listener()
        self.poll_s = poll_s
        self._opener = opener
        self.journal_dir = journal_dir
        self.fixtures = [FixtureState(i + 1, u) for i, u in enumerate(urls)]
        self.parts_version = parts_db_version(app)
        self.summary = Summary()
        self._lock = threading.Lock()
        self._claimed = 0
        self._stop = threading.Event()  # Ctrl-C: finish the current board, then stop
        self._abort = threading.Event()  # Ctrl-C twice: cut the erase test short (it restores its block)
        self._threads: list[threading.Thread] = []

    # -- control --------------------------------------------------------------

    def stop(self) -> None:
        self._stop.set()

    def abort(self) -> None:
        self._stop.set()
        self._abort.set()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def _full(self) -> bool:
        return self.count is not None and self._claimed >= self.count

    def _halted(self) -> bool:
        return self._stop.is_set()

    def _claim(self) -> bool:
        with self._lock:
            if self._stop.is_set() or self._full():
                return False
            self._claimed += 1
            return True

    def _unclaim(self) -> None:
        with self._lock:
            self._claimed -= 1

    def _sleep(self, s: float) -> None:
        self._stop.wait(s)

    # -- transports ------------------------------------------------------------

    def open(self, url: str):
        if self._opener is not None:
            return self._opener(url)
        from flashcheck.transport import open_for_board

        return open_for_board(url, self.board)

    def check_fixtures(self) -> None:
        """Open and close each fixture once, so a wrong URL (exit 2) or a
        programmer that is not plugged in (exit 4) shows before the first board."""
        for fx in self.fixtures:
            t = self.open(fx.url)
            _close(t)

    def _set(self, fx: FixtureState, phase: str, message: str = "") -> None:
        fx.phase, fx.message = phase, message
        self.listener.changed(fx)

    # -- the loop ----------------------------------------------------------------

    def run(self) -> Summary:
        """Run until ``count`` boards, end of scanner input, or stop();
        Ctrl-C in the calling thread stops after the current boards (twice:
        also cuts an erase test short)."""
        if self.store is not None:
            if self.store.online is None:  # not checked by the caller yet
                # InputError (can never keep records) / DatabaseError (schema newer): stop here
                self.store.connect(check_write=True)
            self.store.flush()
            self.listener.store(self.store.status())
        for fx in self.fixtures:
            th = threading.Thread(target=self._worker_main, args=(fx,), name=f"fixture-{fx.index}", daemon=True)
            self._threads.append(th)
            th.start()
        last_try = time.monotonic()
        while any(th.is_alive() for th in self._threads):
            try:
                for th in self._threads:
                    th.join(timeout=0.1)
                if self.store is not None and self.store.pending and time.monotonic() - last_try > self.retry_s:
                    # no new board for a while: try sending what waits anyway
                    last_try = time.monotonic()
                    self.store.flush()
                    self.listener.store(self.store.status())
            except KeyboardInterrupt:
                if self._stop.is_set():
                    self.abort()
                else:
                    self.stop()
                self.summary.interrupted = True
                for fx in self.fixtures:
                    self.listener.changed(fx)
        if self.store is not None:
            self.summary.pending = self.store.flush()
            self.listener.store(self.store.status())
        return self.summary

    def _worker_main(self, fx: FixtureState) -> None:
        transport = None
        try:
            transport = self._worker(fx)
        except Exception as exc:  # noqa: BLE001 - shown and reported, never silent
            msg = f"{fx.name} ({fx.url}) stopped: {type(exc).__name__}: {exc}"
            self.summary.faults.append(msg)
            self._set(fx, "fault", msg)
        finally:
            _close(transport)
            if fx.phase != "fault":
                self._set(fx, "stopped", "stopped")

    def _worker(self, fx: FixtureState):
        transport = None
        k = 0
        consecutive_faults = 0
        while self._claim():
            serial = None
            if self.serials is not None:
                self._set(fx, "scan", "scan the board's serial number")
                serial = self.serials.ask(fx, self._halted, lambda: self.listener.prompt(self.serials.asking))
                if serial is None:
                    self._unclaim()
                    if self.serials.eof:
                        self.stop()
                    break
            if self.wait:
                transport = self._wait_for_chip(fx, transport)
                if transport is None:
                    self._unclaim()
                    break
            else:
                try:
                    transport = self.open(fx.url)
                except TransportError as exc:
                    self._unclaim()
                    msg = f"{fx.name} ({fx.url}): {exc}"
                    self.summary.faults.append(msg)
                    self._set(fx, "fault", msg)
                    return None
            k += 1
            rec, transport_ok = self._test_board(fx, transport, serial, k)
            if not transport_ok:
                _close(transport)
                transport = None
            consecutive_faults = consecutive_faults + 1 if rec.verdict == "error" else 0
            self._record(fx, rec)
            if not self.wait:
                _close(transport)
                transport = None
                if consecutive_faults >= MAX_FAULTS_NO_WAIT:
                    msg = f"{fx.name} ({fx.url}): stopped after {consecutive_faults} hardware faults in a row"
                    self.summary.faults.append(msg)
                    self._set(fx, "fault", msg)
                    return None
            elif not (self._full() or self._halted()):
                transport = self._wait_for_removal(fx, transport)
        return transport

    def _wait_for_chip(self, fx: FixtureState, transport):
        same, last = 0, None
        self._set(fx, "waiting", "insert a board")
        while not self._halted():
            if transport is None:
                try:
                    transport = self.open(fx.url)
                except TransportError as exc:
                    self._set(fx, "fault", f"fixture fault: {exc}; retrying")
                    self._sleep(self.fault_retry_s)
                    continue
                if fx.phase == "fault":
                    self._set(fx, "waiting", "insert a board")
            try:
                rid = SpiNor(transport).read_id(6)
            except TransportError as exc:
                _close(transport)
                transport = None
                self._set(fx, "fault", f"fixture fault: {exc}; retrying")
                self._sleep(self.fault_retry_s)
                continue
            except HardwareError:
                same, last = 0, None
                if fx.phase != "waiting":
                    self._set(fx, "waiting", "insert a board")
                self._sleep(self.poll_s)
                continue
            same = same + 1 if rid == last else 1
            last = rid
            if same >= self.stable_reads:
                return transport
            self._sleep(self.poll_s)
        _close(transport)
        return None

    def _wait_for_removal(self, fx: FixtureState, transport):
        gone = 0
        fx.phase = "remove"
        self.listener.changed(fx)
        while not self._halted():
            if transport is None:
                try:
                    transport = self.open(fx.url)
                except TransportError:
                    self._sleep(self.fault_retry_s)
                    continue
            try:
                SpiNor(transport).read_id(6)
                gone = 0
            except TransportError:
                _close(transport)
                transport = None
                self._sleep(self.fault_retry_s)
                continue
            except HardwareError:
                gone += 1
                if gone >= self.stable_reads:
                    return transport
            self._sleep(self.poll_s)
        return transport

    # -- one board ---------------------------------------------------------------

    def _test_board(self, fx: FixtureState, transport, serial: str | None, k: int) -> tuple[BoardRecord, bool]:
        from flashcheck.workflows.probe import probe_chip

        self._set(fx, "testing", "probing")
        fx.progress = ""
        started = _utc_iso()
        timings: dict[str, Any] = {}
        checks: list[Check] = []
        part = jedec = uid = None
        transport_ok = True
        t0 = time.perf_counter()
        nor = SpiNor(transport)
        try:
            pr = probe_chip(nor, self.app, self.board, self.expect, fx.url)
            timings["probe_s"] = round(time.perf_counter() - t0, 6)
            facts = pr.facts
            ext = facts.ext_hex
            jedec = facts.id_hex + ("" if set(ext) <= {"f"} or set(ext) <= {"0"} else ext)
            uid = facts.unique_id.hex() if facts.unique_id else None
            r = pr.result
            part = r.part.name if r.part else ("/".join(p.name for p in r.candidates) or None)
            checks = list(r.checks)
            verdict, reason = r.verdict, r.reason
            if self.test:
                if verdict == PASSED:
                    self._set(fx, "testing", "erase test")
                    t1 = time.perf_counter()
                    report = self._erase_test(fx, nor)
                    timings["test_s"] = round(time.perf_counter() - t1, 6)
                    timings["test"] = _test_timings(report)
                    checks += [Check(f"erase test: {c.rule}", c.ok, c.detail, c.sources) for c in report.checks]
                    verdict = verdict_of(checks)
                    reason = reason_of(checks, "all rules met") if verdict != PASSED else f"{reason}; erase test: {report.reason}"
                else:
                    timings["test"] = {"skipped": "the probe did not pass"}
        except HardwareError as exc:
            timings.setdefault("probe_s", round(time.perf_counter() - t0, 6))
            transport_ok = not isinstance(exc, TransportError)
            verdict, reason = "error", f"hardware fault: {exc}"
            checks.append(Check("hardware", False, str(exc)))
        except FlashcheckError as exc:
            # the erase test refused (an unfinished journal: run flashcheck
            # recover) or was abandoned by a second Ctrl-C: not a pass
            timings.setdefault("probe_s", round(time.perf_counter() - t0, 6))
            verdict, reason = "error", f"erase test: {exc}"
            checks.append(Check("erase test", False, str(exc)))
        if serial:
            source = "scanner"
        elif uid:
            serial, source = uid, "unique_id"
        else:
            serial, source = f"fixture-{fx.index}-board-{k}", "generated"
        rec = BoardRecord(
            uuid=str(uuid.uuid4()), time=started, station=self.station, fixture=fx.url, fixture_index=fx.index,
            board_number=k, serial=serial, serial_source=source, board=self.board.name, expect=self.expect,
            part=part, jedec_id=jedec, unique_id=uid, verdict=verdict, reason=reason,
            checks=[{"rule": c.rule, "ok": c.ok, "detail": c.detail, "headline": c.short} for c in checks],
            probe_s=timings.get("probe_s"), timings=timings, flashcheck_version=__version__,
            parts_db_version=self.parts_version,
        )
        return rec, transport_ok

    def _erase_test(self, fx: FixtureState, nor: SpiNor):
        """The non-destructive erase/verify timing test (flashcheck test)."""
        from flashcheck.workflows.erasetest import journal
        from flashcheck.workflows import erasetest

        def progress(i: int, n: int, what: str) -> None:
            fx.progress = f"erase test {i}/{n} {what}"
            self.listener.changed(fx)

        plan = erasetest.make_plan(nor, self.app, self.board, "auto", expect=self.expect)
        return erasetest.run_test(nor, plan, self.journal_dir or journal.default_dir(), url=fx.url,
                                  board=self.board.name, stop=self._abort.is_set, progress=progress)

    def _record(self, fx: FixtureState, rec: BoardRecord) -> None:
        """Show the result first (the operator must not wait for a slow
        database), then store it."""
        with self._lock:
            self.summary.records.append(rec)
        fx.last = rec
        fx.boards += 1
        fx.passed += rec.passed
        fx.phase, fx.message = "result", rec.reason
        self.listener.result(fx, rec)
        if self.store is not None:
            rec.stored = self.store.record(rec.to_json())
        self.listener.stored(fx, rec)
        if self.store is not None:
            self.listener.store(self.store.status())


def _test_timings(report) -> dict[str, Any]:
    return {
        "verdict": report.verdict,
        "interrupted": report.interrupted,
        "journal": str(report.journal) if report.journal else None,
        "sectors": [
            {"address": s.target.address, "size": s.target.size, "status": s.status,
             "erase_ms": [round(x, 4) for x in s.erase_ms],
             "program_ms_max": None if s.program_ms is None else round(s.program_ms, 4),
             "steps": [st.to_json() for st in s.steps]}
            for s in report.sectors
        ],
    }


def _utc_iso() -> str:
    from flashcheck.data.results import iso_utc, utc_now

    return iso_utc(utc_now())


