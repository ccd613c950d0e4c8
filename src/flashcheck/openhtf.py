"""flashcheck inside OpenHTF stations (``pip install 'flashcheck[openhtf]'``).

A plug that opens a flashcheck transport from a URL, and three phases, each
recorded as OpenHTF measurements with validators, so a station built on
OpenHTF keeps flashcheck's verdicts and evidence in its own test records:

1. ``identify_chip``: JEDEC ID, part, unique ID and the cross-checks of
   ``flashcheck probe --expect`` (the chip against the database);
2. ``judge_board``: the board's rules with the chip's figures, as
   ``flashcheck probe --board`` judges them (every rule not met or not
   decided is named in a measurement);
3. ``erase_test``: the non-destructive erase/verify test of
   ``flashcheck test`` (every block restored), with the longest erase of
   each size the board needs and the page program time (its 90th
   percentile, as ``flashcheck test`` judges it), each against its datasheet
   maximum.  It runs only when the right part was identified
   (as ``flashcheck station --test``); otherwise it is skipped, saying why.

Only ``pass`` passes: an unknown verdict fails its measurement, and a time
with no known maximum leaves its ratio unset, which fails the phase.  A
hardware fault raises, so OpenHTF records the test as an ERROR.

    import openhtf as htf
    from flashcheck.openhtf import make_test
    test = make_test("ftdi://ftdi:232h/1", "imp003", expect="W25Q128JVSIQ")
    test.execute(test_start=lambda: "SN0001")

``examples/openhtf_station.py`` is a whole station.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

try:
    import openhtf as htf
    from openhtf.plugs import BasePlug
    from openhtf.util import units
except ImportError as exc:  # pragma: no cover - only without the extra
    raise ImportError("flashcheck.openhtf needs OpenHTF: pip install 'flashcheck[openhtf]'") from exc

from flashcheck.app import App
from flashcheck.units import format_size


class FlashcheckPlug(BasePlug):
    """The chip on one fixture: a transport opened from ``url`` on first
    use (with the board's clock and wiring) and closed at tearDown.  Use
    :meth:`configured` to make one for a URL and board."""

    url: str = ""
    board_name: str = ""
    expect: str | None = None
    journal_dir: Path | None = None
    app: App | None = None

    def __init__(self) -> None:
        super().__init__()
        if not self.url or not self.board_name:
            raise ValueError("FlashcheckPlug: use FlashcheckPlug.configured(url, board, ...)")
        self.app = self.app or App()
        self.board = self.app.board(self.board_name)
        self._transport = None
        self._nor = None
        self.identified = None  # the identify phase's ProbeResult

    @classmethod
    def configured(cls, url: str, board: str, *, expect: str | None = None, app: App | None = None,
                   journal_dir: Path | None = None) -> type[FlashcheckPlug]:
        """A plug class for one fixture (OpenHTF instantiates plugs itself)."""
        return type(cls.__name__, (cls,), {"url": url, "board_name": board, "expect": expect, "app": app,
                                           "journal_dir": journal_dir, "__module__": cls.__module__})

    @property
    def nor(self):
        if self._nor is None:
            from flashcheck.chip.spinor import SpiNor
            from flashcheck.transport import open_for_board

            self._transport = open_for_board(self.url, self.board)
            self._nor = SpiNor(self._transport)
        return self._nor

    def tearDown(self) -> None:
        from flashcheck.transport import close_quietly

        close_quietly(self._transport)
        self._transport = self._nor = None

    def _asdict(self) -> dict[str, Any]:
        return {"url": self.url, "board": self.board_name, "expect": self.expect}


def _named(res) -> str:
    r = res.result
    return r.part.name if r.part else ("/".join(p.name for p in r.candidates) or "not identified")


def _log_checks(test, checks) -> None:
    mark = {True: "ok", False: "NOT MET", None: "UNKNOWN"}
    for c in checks:
        test.logger.info("%s %s: %s", mark[c.ok], c.rule, c.detail)


def _checks_json(checks) -> list[dict[str, Any]]:
    return [{"rule": c.rule, "ok": c.ok, "detail": c.detail} for c in checks]


# -- the erase test's entry points, in one place --------------------------------


def run_erase_test(nor, app: App, board, url: str, journal_dir: Path | None):
    """flashcheck test's own calls (make_plan, run_test) on the fitted chip."""
    from flashcheck.workflows import erasetest
    from flashcheck.workflows.erasetest import journal

    plan = erasetest.make_plan(nor, app, board, "auto")
    return erasetest.run_test(nor, plan, journal_dir or journal.default_dir(), url=url, board=board.name)


def worst_against_max(times: list[tuple[float, float | None]]) -> tuple[float, float | None, float | None]:
    """(measured ms, maximum ms or None) pairs -> the one nearest its
    maximum as (ms, max_ms, ms/max_ms); with any maximum unknown, that one
    with no ratio (a time that cannot be judged never passes)."""
    unknown = [t for t in times if not t[1]]
    if unknown:
        ms = max(t[0] for t in unknown)
        return ms, None, None
    ms, limit = max(times, key=lambda t: t[0] / t[1])
    return ms, limit, ms / limit


# -- phases -------------------------------------------------------------------------


def _size_key(size: int) -> str:
    return "erase_" + format_size(size).replace(" ", "")


def board_erase_sizes(board) -> list[int]:
    """The erase sizes the board's rules require (what the test times)."""
    return sorted({s for r in board.rules if r.kind == "erase" for s in r.params["sizes"]})


def _time_measurements(key: str, what: str) -> list:
    return [
        htf.Measurement(f"{key}_ms").with_units(units.MILLISECOND).doc(f"{what} measured (the slowest block)"),
        htf.Measurement(f"{key}_max_ms").with_units(units.MILLISECOND).doc(f"datasheet (or SFDP) maximum for {what}"),
        htf.Measurement(f"{key}_vs_max").in_range(minimum=0.0, maximum=1.0).doc(
            f"{what}: measured / maximum; unset when no maximum is known (never passes)"),
    ]


def identify_phase(plug: type[FlashcheckPlug], app: App):
    expect = app.resolve(plug.expect) if plug.expect else None
    jedec = htf.Measurement("jedec_id").doc("JEDEC ID with extended bytes, as read (0x9F)")
    part = htf.Measurement("part").doc("the part the database (or SFDP) says this is")
    if expect and expect.parts:
        ids = sorted({i for p in expect.parts for i in p.jedec_ids})
        jedec = jedec.matches_regex("^(" + "|".join(ids) + ")")
        part = part.matches_regex("^(" + "|".join(sorted(p.name for p in expect.parts)) + ")$")

    @htf.measures(jedec, part, htf.Measurement("unique_id").doc("the chip's unique ID (0x4B), if it has one"),
                  htf.Measurement("identify_verdict").equals("pass").doc("the chip against the database and --expect"),
                  htf.Measurement("identify_reason"), htf.Measurement("identify_checks"))
    @htf.plug(flash=plug)
    def identify_chip(test, flash):
        """Read the chip (ID, SFDP, status, unique ID) and identify it."""
        from flashcheck.workflows.probe import probe_chip

        res = probe_chip(flash.nor, flash.app, None, flash.expect, flash.url)
        flash.identified = res
        test.measurements.jedec_id = res.facts.raw_id.hex()
        test.measurements.part = _named(res)
        test.measurements.unique_id = res.facts.unique_id.hex() if res.facts.unique_id else None
        test.measurements.identify_verdict = res.verdict
        test.measurements.identify_reason = res.result.reason
        test.measurements.identify_checks = _checks_json(res.result.checks)
        _log_checks(test, res.result.checks)

    return identify_chip


def judge_phase(plug: type[FlashcheckPlug]):
    @htf.measures(htf.Measurement("board_verdict").equals("pass").doc("the board's rules with the chip's figures"),
                  htf.Measurement("board_reason"),
                  htf.Measurement("rules_not_met").equals([]).doc("checks that failed"),
                  htf.Measurement("rules_undecided").equals([]).doc("checks that could not be decided (unknown)"),
                  htf.Measurement("board_checks"))
    @htf.plug(flash=plug)
    def judge_board(test, flash):
        """Judge the board's rules as `flashcheck probe --board` does."""
        from flashcheck.workflows.probe import probe_chip

        res = probe_chip(flash.nor, flash.app, flash.board, flash.expect, flash.url)
        checks = res.result.checks
        test.measurements.board_verdict = res.verdict
        test.measurements.board_reason = res.result.reason
        test.measurements.rules_not_met = [c.rule for c in checks if c.ok is False]
        test.measurements.rules_undecided = [c.rule for c in checks if c.ok is None]
        test.measurements.board_checks = _checks_json(checks)
        _log_checks(test, checks)

    return judge_board


def erase_phase(plug: type[FlashcheckPlug], board):
    sizes = board_erase_sizes(board)
    ms = [m for s in sizes for m in _time_measurements(_size_key(s), f"{format_size(s)} erase")]
    ms += _time_measurements("page_program_p90", "page program (90th percentile)")
    ms.append(htf.Measurement("page_program_longest_ms").with_units(units.MILLISECOND).doc(
        "longest page program measured (host pauses included)"))

    @htf.measures(htf.Measurement("erase_test_verdict").equals("pass").doc("flashcheck test's verdict"),
                  htf.Measurement("erase_test_reason"),
                  htf.Measurement("blocks_tested").in_range(minimum=1).doc("blocks erased, checked and restored"),
                  htf.Measurement("erase_test_checks"), *ms)
    @htf.plug(flash=plug)
    def erase_test(test, flash):
        """Erase, program and restore blocks, timing each step (flashcheck test)."""
        if flash.identified is None or flash.identified.verdict != "pass":
            test.logger.warning("erase test skipped: the chip was not identified as the expected part")
            return htf.PhaseResult.SKIP
        report = run_erase_test(flash.nor, flash.app, flash.board, flash.url, flash.journal_dir)
        test.measurements.erase_test_verdict = report.verdict
        test.measurements.erase_test_reason = report.reason
        test.measurements.blocks_tested = sum(s.status == "tested" for s in report.sectors)
        test.measurements.erase_test_checks = _checks_json(report.checks)
        _log_checks(test, report.checks)
        for size in sizes:
            times = [(max(s.erase_ms), s.target.limit.max_ms if s.target.limit else None)
                     for s in report.sectors if s.target.size == size and s.erase_ms]
            _set_times(test, _size_key(size), times)
        _set_program_times(test, report)

    return erase_test


def _set_program_times(test, report) -> None:
    """Page program: the 90th percentile against the maximum, the statistic
    `flashcheck test` judges (one slow reading in ten is the host's USB or
    scheduler, a slow part is slow on most pages); the longest alongside."""
    times = sorted(x for s in report.sectors for x in s.program_times)
    if not times:
        return
    test.measurements.page_program_longest_ms = round(times[-1], 4)
    limit = report.plan.program_limit.max_ms if report.plan.program_limit else None
    _set_times(test, "page_program_p90", [(times[min(len(times) - 1, int(0.9 * len(times)))], limit)])


def _set_times(test, key: str, times: list[tuple[float, float | None]]) -> None:
    if not times:
        return  # nothing timed: every measurement stays unset, and fails
    ms, limit, ratio = worst_against_max(times)
    test.measurements[f"{key}_ms"] = round(ms, 4)
    if limit is not None:
        test.measurements[f"{key}_max_ms"] = limit
        test.measurements[f"{key}_vs_max"] = round(ratio, 4)


def make_test(url: str, board: str, *, expect: str | None = None, erase_test: bool = True, app: App | None = None,
              journal_dir: Path | None = None, name: str = "flashcheck") -> htf.Test:
    """An OpenHTF test of the chip at ``url`` for ``board``."""
    app = app or App()
    brd = app.board(board)
    plug = FlashcheckPlug.configured(url, board, expect=expect, app=app, journal_dir=journal_dir)
    phases = [identify_phase(plug, app), judge_phase(plug)]
    if erase_test:
        phases.append(erase_phase(plug, brd))
    return htf.Test(*phases, test_name=name,
                    test_description=f"flashcheck: {url} for board {brd.name}" + (f", expecting {expect}" if expect else ""))
