"""The station's operator screen.

:class:`LiveScreen` (a terminal): the whole screen, one panel per fixture.
A result fills its panel with colour -- green with a big PASS, red with a
big FAIL (also for "unknown" and hardware faults: only PASS passes) -- and
says why in words, with the part and the serial; the terminal bell rings
(three times for FAIL).  The footer shows the station, the totals, the
database (red when it is unreachable, with the number of results kept
locally) and the serial prompt.  Sized for 80x24 and up.

:class:`PlainScreen` (not a terminal: CI, logs): one line per event.
"""

from __future__ import annotations

import math
import os
import sys
import threading
from typing import Any

from flashcheck.workflows.station import BoardRecord, FixtureState, Listener
from flashcheck.output.text import printable

_FONT = {
    "P": ["████ ", "█   █", "████ ", "█    ", "█    "],
    "A": [" ███ ", "█   █", "█████", "█   █", "█   █"],
    "S": [" ████", "█    ", " ███ ", "    █", "████ "],
    "F": ["█████", "█    ", "████ ", "█    ", "█    "],
    "I": ["███", " █ ", " █ ", " █ ", "███"],
    "L": ["█    ", "█    ", "█    ", "█    ", "█████"],
}
BIG_ROWS = 5


def big(word: str, scale: int = 1) -> list[str]:
    """``word`` in a five-row block font (the letters of PASS and FAIL),
    each cell ``scale`` times as wide and as high."""
    rows = ["" for _ in range(BIG_ROWS)]
    for i, ch in enumerate(word):
        glyph = _FONT[ch]
        for r in range(BIG_ROWS):
            rows[r] += ("  " if i else "") + glyph[r]
    return [("".join(c * scale for c in row)) for row in rows for _ in range(scale)]


RESULT_STYLE = {True: "bold white on green4", False: "bold white on red3"}


def _shown_word(rec: BoardRecord) -> str:
    return "PASS" if rec.passed else "FAIL"


def _verdict_words(rec: BoardRecord) -> str:
    if rec.verdict == "pass":
        return "PASS: every rule met"
    if rec.verdict == "fail":
        return "FAIL: the board does not meet a rule"
    if rec.verdict == "unknown":
        return "FAIL: verdict UNKNOWN (not passed)"
    return "FAIL: HARDWARE FAULT during the test (check the fixture)"


def fixture_panel(fx: FixtureState, width: int, height: int, serial_for: bool = False, asked: bool = True):
    """One fixture's panel, ``width`` x ``height`` cells; ``serial_for``:
    the scanner's next code is for it (say so); ``asked``: it is the one
    being asked (else it queues behind another fixture)."""
    from rich.align import Align
    from rich.console import Group
    from rich.panel import Panel
    from rich.text import Text

    inner_w, inner_h = max(width - 4, 10), max(height - 2, 1)
    title = Text(f" Fixture {fx.index}: {printable(fx.url)} ", style="bold")
    sub = Text(f" {fx.boards} tested, {fx.passed} passed ")
    rec = fx.last
    lines: list[Any] = []
    style = ""
    showing_result = rec is not None and fx.phase in ("result", "remove")
    if showing_result:
        style = RESULT_STYLE[rec.passed]
        word = _shown_word(rec)
        if inner_h >= 2 * BIG_ROWS + 6 and inner_w >= len(big(word, 2)[0]):
            lines.append(Text(""))
            lines += [Align.center(Text(row)) for row in big(word, 2)]
            lines.append(Text(""))
        elif inner_h >= BIG_ROWS + 3 and inner_w >= len(big(word)[0]):
            lines += [Align.center(Text(row)) for row in big(word)]
        else:
            lines.append(Align.center(Text(f" {word} ", style="reverse")))
        if rec.verdict not in ("pass", "fail"):
            lines.append(Text(_verdict_words(rec), overflow="ellipsis", no_wrap=True))
        who = printable(rec.part or "not identified")
        if inner_h >= 14:  # room for a line each
            lines.append(Text(f"Serial {printable(rec.serial)}", overflow="ellipsis", no_wrap=True))
            lines.append(Text(f"Part   {who} (JEDEC {rec.jedec_id or '-'})", overflow="ellipsis", no_wrap=True))
        else:
            lines.append(Text(f"Serial {printable(rec.serial)}   Part {who} ({rec.jedec_id or '-'})", overflow="ellipsis", no_wrap=True))
        if not rec.passed:
            lines.append(Text(f"Why: {printable(_why(rec))}", overflow="fold"))
        if rec.stored is False:
            lines.append(Text("(result kept locally: database unreachable)", style="bold yellow on red3"))
        if fx.phase == "remove":
            lines.append(Text("Remove the board.", style="bold"))
    else:
        state = {
            "starting": ("starting", ""),
            "scan": ("SCAN THE SERIAL", "bold black on yellow"),
            "waiting": ("INSERT A BOARD", "bold"),
            "testing": ("TESTING ... do not remove the board", "bold black on cyan"),
            "fault": ("FIXTURE FAULT", "bold white on magenta"),
            "stopped": ("stopped", "dim"),
        }.get(fx.phase, (fx.phase, ""))
        head, hstyle = state
        if fx.phase == "testing":
            style = "on cyan"
        elif fx.phase == "fault":
            style = "on magenta"
        lines.append(Text(""))
        lines.append(Align.center(Text(f" {head} ", style=hstyle)))
        if fx.phase == "scan" and not asked:
            lines[-1] = Align.center(Text(" waiting for its serial (another fixture first) ", style="dim"))
        elif fx.phase == "scan":
            style = "on yellow"
            if serial_for:
                lines.append(Align.center(Text("the scanner's next code is for this fixture", style="black on yellow")))
        if fx.phase == "testing" and fx.progress:
            lines.append(Align.center(Text(fx.progress, overflow="ellipsis", no_wrap=True)))
        if fx.phase == "fault" and fx.message:
            lines.append(Text(printable(fx.message), overflow="fold"))
        if rec is not None:
            lines.append(Text(""))
            lines.append(Text(f"Last: {rec.verdict.upper()} {printable(rec.serial)}", overflow="ellipsis", no_wrap=True, style="dim"))
    return Panel(Group(*lines), title=title, subtitle=sub, style=style, height=height, width=width,
                 title_align="left", subtitle_align="right")


def render(fixtures: list[FixtureState], footer: list[Any], width: int, height: int, asking: FixtureState | None = None):
    """The whole screen for a terminal of ``width`` x ``height``."""
    from rich.console import Group
    from rich.table import Table

    n = len(fixtures)
    foot_h = len(footer)
    body_h = max(height - foot_h, 3)
    cols = 1 if n == 1 or width < 60 else min(n, max(2, width // 40), 4)
    rows = math.ceil(n / cols)
    while rows > 1 and body_h // rows < 5 and cols < n:
        cols += 1
        rows = math.ceil(n / cols)
    pw, ph = width // cols, max(body_h // rows, 3)
    grid = Table.grid(padding=0)
    for _ in range(cols):
        grid.add_column(width=pw)
    for r in range(rows):
        cells = []
        for c in range(cols):
            i = r * cols + c
            if i < n:
                cells.append(fixture_panel(fixtures[i], pw, ph, serial_for=asking is fixtures[i] and n > 1,
                                           asked=asking is None or asking is fixtures[i]))
            else:
                cells.append("")
        grid.add_row(*cells)
    return Group(grid, *footer)


class LiveScreen(Listener):
    """The full-screen operator display (rich Live on the alternate screen)."""

    def __init__(self, station_name: str, board: str, expect: str | None, console=None):
        from rich.console import Console

        self.console = console or Console()
        self.station_name, self.board, self.expect = station_name, board, expect
        self.fixtures: list[FixtureState] = []
        self.store_status = ""
        self.asking: FixtureState | None = None
        self.typed: TtyReader | None = None
        self.stopping = False
        self._live = None
        self._lock = threading.Lock()

    def attach(self, fixtures: list[FixtureState]) -> None:
        self.fixtures = fixtures

    # -- Listener -------------------------------------------------------------
    def changed(self, fx: FixtureState) -> None:
        self.refresh()

    def result(self, fx: FixtureState, rec: BoardRecord) -> None:
        with self._lock:
            for _ in range(1 if rec.passed else 3):
                self.console.bell()
        self.refresh()

    def stored(self, fx: FixtureState, rec: BoardRecord) -> None:
        self.refresh()

    def prompt(self, fx: FixtureState | None) -> None:
        self.asking = fx
        self.refresh()

    def store(self, status: str) -> None:
        self.store_status = status
        self.refresh()

    # -- drawing ---------------------------------------------------------------
    def footer(self, width: int) -> list[Any]:
        from rich.text import Text

        total = sum(f.boards for f in self.fixtures)
        passed = sum(f.passed for f in self.fixtures)
        head = Text(no_wrap=True, overflow="ellipsis")
        head.append(f" {self.station_name} ", style="bold reverse")
        head.append(f" board {self.board}" + (f", expect {self.expect}" if self.expect else ""))
        head.append(f"   {total} tested: ")
        head.append(f"{passed} PASS", style="bold green")
        head.append(" ")
        head.append(f"{total - passed} FAIL", style="bold red")
        bad = self.store_status.startswith("DATABASE UNREACHABLE")
        db = Text(" " + self.store_status, no_wrap=True, overflow="ellipsis",
                  style="bold white on red3" if bad else ("yellow" if "waiting" in self.store_status else "dim"))
        if self.asking is not None:
            who = f"fixture {self.asking.index}" if len(self.fixtures) > 1 else "the board"
            typed = self.typed.buffer if self.typed else ""
            line = Text(no_wrap=True, overflow="ellipsis")
            line.append(f" Scan the serial for {who}: ", style="bold black on yellow")
            line.append(f" {typed}_")
        elif self.stopping:
            line = Text(" Stopping after the current board(s) ... (Ctrl-C again: cut an erase test short)", style="bold yellow", no_wrap=True, overflow="ellipsis")
        else:
            line = Text(" Ctrl-C: stop after the current board", style="dim", no_wrap=True, overflow="ellipsis")
        return [head, db, line]

    def renderable(self):
        w, h = self.console.size
        return render(self.fixtures, self.footer(w), w, h, self.asking)

    def refresh(self) -> None:
        if self._live is not None:
            self._live.refresh()

    def __enter__(self) -> LiveScreen:
        from rich.live import Live

        self._live = Live(get_renderable=self.renderable, console=self.console, screen=True,
                          auto_refresh=True, refresh_per_second=8, transient=False, redirect_stdout=False,
                          redirect_stderr=False)
        self._live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        live, self._live = self._live, None
        if live is not None:
            live.__exit__(*exc)


class PlainScreen(Listener):
    """One line per event, for logs and CI (stdout not a terminal)."""

    def __init__(self, echo=None, bell: bool = False):
        import click

        self.echo = echo or click.echo
        self.bell = bell
        self._last_store = ""
        self._faults: dict[int, str | None] = {}
        self._lock = threading.Lock()
        self.fixtures: list[FixtureState] = []

    def attach(self, fixtures: list[FixtureState]) -> None:
        self.fixtures = fixtures

    def changed(self, fx: FixtureState) -> None:
        said = self._faults.get(fx.index)
        if fx.phase == "fault" and fx.message != said:
            self._faults[fx.index] = fx.message
            with self._lock:
                self.echo(f"fixture {fx.index} ({printable(fx.url)}): FAULT: {printable(fx.message)}")
        elif fx.phase not in ("fault", "stopped") and said:
            self._faults[fx.index] = None
            with self._lock:
                self.echo(f"fixture {fx.index} ({printable(fx.url)}): back")

    def result(self, fx: FixtureState, rec: BoardRecord) -> None:
        if self.bell:
            with self._lock:
                sys.stdout.write("\a")
                sys.stdout.flush()

    def stored(self, fx: FixtureState, rec: BoardRecord) -> None:
        word = "PASS" if rec.passed else "FAIL"
        extra = "" if rec.verdict in ("pass", "fail") else f" ({rec.verdict}, not passed)"
        kept = "  [kept locally: database unreachable]" if rec.stored is False else ""
        with self._lock:
            self.echo(f"fixture {fx.index} board {rec.board_number}: {word}{extra}  serial {printable(rec.serial)}  "
                      f"part {printable(rec.part or 'not identified')}  jedec {rec.jedec_id or '-'}: {printable(rec.reason)}{kept}")

    def prompt(self, fx: FixtureState | None) -> None:
        if fx is not None:
            who = f"fixture {fx.index} ({printable(fx.url)})" if len(self.fixtures) > 1 else "the next board"
            with self._lock:
                self.echo(f"scan the serial number for {who} and press Enter:")

    def store(self, status: str) -> None:
        if status != self._last_store:
            self._last_store = status
            with self._lock:
                self.echo(status)

    def __enter__(self) -> PlainScreen:
        return self

    def __exit__(self, *exc: object) -> None:
        pass


class TtyReader:
    """Reads scanner lines from a terminal without echo (the screen shows
    what is typed), so the typing does not scribble over the display."""

    def __init__(self, fd: int | None = None, on_key=None):
        self.fd = sys.stdin.fileno() if fd is None else fd
        self.buffer = ""
        self.on_key = on_key
        self._saved = None

    def __enter__(self) -> TtyReader:
        try:
            import termios
            import tty

            self._saved = termios.tcgetattr(self.fd)
            tty.setcbreak(self.fd)
        except (ImportError, OSError):
            self._saved = None
        return self

    def __exit__(self, *exc: object) -> None:
        if self._saved is not None:
            import termios

            termios.tcsetattr(self.fd, termios.TCSADRAIN, self._saved)

    def readline(self) -> str | None:
        self.buffer = ""
        while True:
            b = os.read(self.fd, 1)
            if not b or (b == b"\x04" and not self.buffer):
                return None
            ch = b.decode("latin-1")
            if ch in "\r\n":
                line, self.buffer = self.buffer, ""
                if self.on_key:
                    self.on_key()
                return line + "\n"
            if ch in "\x7f\x08":
                self.buffer = self.buffer[:-1]
            elif ch.isprintable():
                self.buffer += ch
            if self.on_key:
                self.on_key()


def _why(rec) -> str:
    """The fact that decides, for the operator: the first failing check's
    headline (else the first unknown's), or the reason (hardware faults)."""
    for want in (False, None):
        for c in rec.checks:
            if c.get("ok") is want and c.get("headline"):
                return f"{c['rule']}: {c['headline']}"
    return rec.reason
