"""`flashcheck station` and `flashcheck report`."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from flashcheck.cli import verdict_label


@click.command()
@click.option("--url", "urls", multiple=True, required=True,
              help="A fixture's transport (ftdi://ftdi:232h:SERIAL/1, sim://W25Q128JV, ...); repeat for several fixtures.")
@click.option("--board", "-b", required=True, help="Board profile name (flashcheck boards) or a YAML file.")
@click.option("--expect", help="The part that should be fitted (order code, family or JEDEC ID).")
@click.option("--test", "erase_test", is_flag=True, help="Also run the non-destructive erase/verify timing test (flashcheck test) on boards that pass the probe.")
@click.option("--db", "db_url", metavar="DBURL",
              help="Results database: sqlite:///PATH or postgresql+psycopg://USER:PASS@HOST/DB "
                   "(default: results.db in $FLASHCHECK_DATA_DIR or ~/.local/share/flashcheck).")
@click.option("--count", type=click.IntRange(min=1), help="Stop after N boards (all fixtures together).")
@click.option("--no-wait", is_flag=True, help="Do not wait for a board to be inserted and removed (simulated fixtures, CI).")
@click.option("--serial-prompt", is_flag=True, help="Read each board's serial number from stdin (a barcode scanner: code + Enter).")
@click.option("--station", "station_name", metavar="NAME", help="Station name in the records (default: the host name).")
@click.option("--plain", is_flag=True, help="Line-by-line output even on a terminal (no full-screen display).")
@click.option("--journal-dir", type=click.Path(file_okay=False, path_type=Path),
              help="Erase-test journal directory (default: $FLASHCHECK_JOURNAL_DIR or the user data directory).")
@click.pass_obj
def station(app, urls: tuple[str, ...], board: str, expect: str | None, erase_test: bool, db_url: str | None,
            count: int | None, no_wait: bool, serial_prompt: bool, station_name: str | None, plain: bool,
            journal_dir: Path | None) -> None:
    """Production pass/fail station: probe board after board, show PASS or
    FAIL, record every result.

    Per fixture: wait until a chip answers, probe it (and erase-test it with
    --test), show the result, record it, wait until the board is removed,
    again.  Only PASS passes: a verdict that is unknown, or a hardware fault
    during the test, shows as FAIL (the record keeps "unknown" or "error").  Serial numbers
    come from --serial-prompt, else the chip's unique ID, else
    fixture-N-board-K.  If the database is unreachable, results are kept in
    a local spool and sent when it is back.

    Exit code: 0 every board passed, 1 any did not, 2 bad input, 4 a
    fixture stopped on a hardware fault.

    \b
    Examples:
      flashcheck station --url ftdi://ftdi:232h/1 --board imp003 --expect W25Q128JVSIQ
      flashcheck station --url sim://W25Q128JV --board imp003 --expect W25Q128JVSIQ \\
          --db sqlite:///r.db --count 3 --no-wait
    """
    from flashcheck.data.results import ResultStore
    from flashcheck.output.screen import LiveScreen, PlainScreen, TtyReader
    from flashcheck.workflows.station import SerialSource, Station

    brd = app.board(board)
    if expect:
        match = app.resolve(expect)
        if not match.parts:
            raise click.BadParameter(f"{expect!r} is not a known part", param_hint="--expect")
    else:
        click.echo("note: no --expect: a chip whose JEDEC ID several database parts share (ef4018 is "
                   "W25Q128BV/FV/JV) is judged unknown, and unknown does not pass", err=True)
    store = ResultStore(db_url)
    if not store.connect(check_write=True):  # a wrong URL stops here (exit 2); an outage is ridden out
        click.echo(f"flashcheck: database {store.shown_url} unreachable ({store.last_error}): results are kept "
                   f"in {store.spool.path} and sent when it is back", err=True)
    live = not plain and sys.stdout.isatty()
    tty_in = live and serial_prompt and sys.stdin.isatty()
    reader = TtyReader() if tty_in else None
    serials = None
    if serial_prompt:
        serials = SerialSource(reader.readline if reader else sys.stdin.readline)
    st = Station(app, brd, list(urls), store, expect=expect, test=erase_test, count=count, wait=not no_wait,
                 serials=serials, station=station_name, journal_dir=journal_dir)
    st.check_fixtures()
    screen = LiveScreen(st.station, brd.name, expect) if live else PlainScreen()
    screen.attach(st.fixtures)
    st.listener = screen
    if reader is not None:
        reader.on_key = screen.refresh
        screen.typed = reader
    try:
        if reader is not None:
            reader.__enter__()
        with screen:
            summary = _run(st, screen)
    finally:
        if reader is not None:
            reader.__exit__(None, None, None)
        store.close()
    _print_summary(st, summary, store)
    sys.exit(summary.exit_code())


def _run(st, screen):
    """Run the station; the first Ctrl-C is passed on as 'stop after the
    current board' and shown on the screen."""
    orig_stop = st.stop

    def stop() -> None:
        screen.stopping = True
        orig_stop()

    st.stop = stop
    return st.run()


def _print_summary(st, summary, store) -> None:
    from flashcheck.output.text import printable

    n = len(summary.records)
    by = {}
    for r in summary.records:
        by[r.verdict] = by.get(r.verdict, 0) + 1
    parts = ", ".join(f"{v} {k}" for k, v in sorted(by.items()))
    click.echo(f"station {st.station}: {n} board(s) tested, {summary.passed} passed, {summary.not_passed} not passed"
               + (f" ({parts})" if parts else "")
               + (f"; results in {store.shown_url}" if not summary.pending
                  else f"; {summary.pending} result(s) NOT in {store.shown_url} yet (kept in {store.spool.path})"))
    for r in summary.records:
        if not r.passed:
            click.echo(f"  {verdict_label(r.verdict if r.verdict in ('pass', 'fail', 'unknown') else 'fail')} "
                       f"{printable(r.serial)} (fixture {r.fixture_index}): {printable(r.reason)}")
    if summary.pending:
        click.echo(f"flashcheck: {summary.pending} result(s) are kept in {store.spool.path} because the database "
                   f"is unreachable ({store.last_error}); they are sent at the next station run", err=True)
    for f in summary.faults:
        click.echo(f"flashcheck: {f}", err=True)
    if summary.interrupted:
        click.echo("flashcheck: stopped by Ctrl-C after the current board(s)", err=True)


@click.command()
@click.option("--db", "db_url", metavar="DBURL", help="Results database (default: the station's default SQLite file).")
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json", "junit"]), default="table", show_default=True)
@click.option("--since", metavar="WHEN", help="Only results since an ISO date/time (UTC unless stated) or a duration ago: 24h, 7d, 90m, 2w.")
@click.option("--plot", type=click.Path(dir_okay=False, path_type=Path), metavar="OUT.png|OUT.svg",
              help="Also draw yield over time and failures by cause (PNG or SVG by extension).")
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path), help="Write the report here instead of stdout.")
def report(db_url: str | None, fmt: str, since: str | None, plot: Path | None, output: Path | None) -> None:
    """Yield, failures by rule (Pareto), per part and per fixture.

    \b
    Formats: table (terminal), csv (one row per board; cells that a
    spreadsheet would run as formulas are made inert), json, junit (one
    testcase per board, for CI servers).

    \b
    Examples:
      flashcheck report --db sqlite:///r.db --since 24h
      flashcheck report --db postgresql+psycopg://line@db/flash --format junit -o results.xml
      flashcheck report --since 2026-01-01 --plot yield.svg
    """
    from flashcheck.output import report as rep
    from flashcheck.data.results import fetch

    when = rep.parse_since(since) if since else None
    if plot is not None and plot.suffix.lower() not in (".png", ".svg"):
        raise click.BadParameter(f"{plot}: the file name must end in .png or .svg", param_hint="--plot")
    from flashcheck.data.results import Spool, normalise_url, spool_path

    waiting = Spool(spool_path(normalise_url(db_url))).count()
    if waiting:
        click.echo(f"note: {waiting} result(s) for this database wait in this PC's spool (the database was "
                   "unreachable) and are not in this report; the next station run sends them", err=True)
    records = fetch(db_url, when)
    summary = rep.summarise(records)
    if fmt == "table":
        text = rep.table(summary, records)
    elif fmt == "csv":
        text = rep.to_csv(records)
    elif fmt == "json":
        import json

        text = json.dumps({"summary": summary, "boards": records}, indent=2) + "\n"
    else:
        text = rep.to_junit(records)
    if output is not None:
        _write(output, "--output", lambda: output.write_text(text, encoding="utf-8"))
    elif fmt == "table":
        click.echo(text, nl=False)
    else:
        sys.stdout.write(text)
    if plot is not None:
        _write(plot, "--plot", lambda: rep.plot(records, summary, plot))
        click.echo(f"plot written to {plot}", err=True)


def _write(path: Path, option: str, write) -> None:
    """Run ``write``; a missing or read-only directory is bad input (one line, exit 2)."""
    from flashcheck.errors import InputError

    try:
        write()
    except OSError as exc:
        raise InputError(f"{option} {path}: cannot write: {exc.strerror or exc}") from None
