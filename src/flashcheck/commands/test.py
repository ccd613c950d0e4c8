"""flashcheck test / recover: the non-destructive erase/verify timing test
on a fitted chip, and putting a chip back after a run that stopped."""

from __future__ import annotations

import signal
import sys
from pathlib import Path

import click

from flashcheck.cli import emit_json, verdict_label

EXIT_INTERRUPTED = 130


def _open(url: str, board=None):
    from flashcheck.chip.spinor import SpiNor
    from flashcheck.transport import open_for_board

    transport = open_for_board(url, board)
    return transport, SpiNor(transport)


def _json_error(exc, command: str, url: str) -> None:
    """The one JSON document a command prints when it stops on an error."""
    emit_json({"command": command, "url": url, "verdict": "error", "error": str(exc), "exit_code": exc.exit_code})
    sys.exit(exc.exit_code)


def _close(transport) -> None:
    from flashcheck.errors import FlashcheckError

    try:
        transport.close()
    except FlashcheckError:
        pass


class _Progress:
    """A rich progress bar on stderr (only on a terminal, never with --json)."""

    def __init__(self, enabled: bool) -> None:
        self.bar = None
        self.task = None
        if enabled:
            from rich.console import Console
            from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

            self.bar = Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                                TimeElapsedColumn(), console=Console(stderr=True), transient=True)

    def __call__(self, done: int, total: int, what: str) -> None:
        if self.bar is None:
            return
        if self.task is None:
            self.bar.start()
            self.task = self.bar.add_task(what, total=total)
        self.bar.update(self.task, completed=done, description=f"testing {what}")

    def stop(self) -> None:
        if self.bar is not None and self.task is not None:
            self.bar.stop()


@click.command()
@click.option("--url", "-u", required=True,
              help="Transport URL (ftdi://ftdi:232h/1, sim://W25Q128JV?image=chip.bin, ...).  Simulated chips also "
                   "take fail_after=N (the transport vanishes after N transactions, an erase or program in progress "
                   "left half done: a pulled cable, to try recover) and time_scale=F (busy times are the datasheet "
                   "typical times times F; default 0.001, 1.0 is real time).")
@click.option("--board", "-b", required=True, help="Board profile name (flashcheck boards) or a YAML file.")
@click.option("--sectors", default="auto", show_default=True, metavar="auto|all|ADDR[:SIZE],...",
              help="Blocks to test: auto (every region's first and last block and a seeded random sample), all "
                   "(every block), or addresses, each with an optional size (0x10000:4K); an address is rounded "
                   "down to its block.")
@click.option("--seed", default=0, show_default=True, type=int, help="Seed of the random sample (--sectors auto).")
@click.option("--expect", metavar="MPN", help="The part that should be fitted: anything else fails before any erase.")
@click.option("--journal-dir", type=click.Path(file_okay=False, path_type=Path),
              help="Where the journal goes (default: $FLASHCHECK_JOURNAL_DIR or the user data directory).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.option("--unlock", is_flag=True, help="Clear write protection for the test and put it back afterwards.")
@click.pass_obj
@click.option("--explain", "-e", is_flag=True, help="Every check in full, and each block tested with its times.")
def test(app, url: str, board: str, sectors: str, seed: int, expect: str | None, journal_dir: Path | None,
         as_json: bool, unlock: bool, explain: bool) -> None:
    """Erase, program and restore blocks of a fitted chip, timing each step.

    Every block is saved to a journal (fsynced) before it is erased and put
    back afterwards; neighbouring data is checked, so an erase that is
    ignored, smaller or larger than it should be shows.  Ctrl-C finishes
    restoring the block in progress.  If the device goes away, run
    `flashcheck recover --url URL`.

    \b
    Example:
      flashcheck test --url ftdi://ftdi:232h/1 --board imp003
    """
    from flashcheck.errors import FlashcheckError

    try:
        report = _run_test(app, url, board, sectors, seed, expect, journal_dir, as_json, unlock)
    except FlashcheckError as exc:
        if as_json:
            _json_error(exc, "test", url)
        raise
    _finish(report, as_json, explain)


def _finish(report, as_json: bool, explain: bool = False) -> None:
    from flashcheck.rules import exit_code

    if as_json:
        emit_json(report.to_json())
    else:
        _print(report, explain)
    if report.interrupted:
        click.echo("flashcheck: interrupted; every block tested so far was restored", err=True)
        sys.exit(EXIT_INTERRUPTED)
    sys.exit(exit_code([report.verdict]))


def _run_test(app, url, board, sectors, seed, expect, journal_dir, as_json, unlock):
    from flashcheck.workflows import erasetest
    from flashcheck.workflows.erasetest import journal

    brd = app.board(board)
    jdir = journal_dir or journal.default_dir()
    stop = {"flag": False}

    def on_sigint(signum, frame):
        if stop["flag"]:  # a second Ctrl-C: the user insists
            raise KeyboardInterrupt
        stop["flag"] = True
        click.echo("flashcheck: interrupted: restoring the block in progress (Ctrl-C again to abandon it; "
                   "then run `flashcheck recover`)", err=True)

    transport, nor = _open(url, brd)
    progress = _Progress(not as_json and sys.stderr.isatty())
    old = None
    try:
        plan = erasetest.make_plan(nor, app, brd, sectors, expect=expect, seed=seed)
        try:
            old = signal.signal(signal.SIGINT, on_sigint)
        except ValueError:  # not the main thread
            old = None
        return erasetest.run_test(nor, plan, jdir, url=url, board=brd.name, allow_unlock=unlock,
                                  stop=lambda: stop["flag"], progress=progress)
    finally:
        progress.stop()
        if old is not None:
            signal.signal(signal.SIGINT, old)
        _close(transport)


def _print(report, explain: bool = False) -> None:
    from flashcheck.output.terminal import echo_checks
    from flashcheck.rules.verdict import headline_of

    plan = report.plan
    click.echo(f"{verdict_label(report.verdict)} {plan.facts.raw_id.hex()} {plan.identity} on {report.board}: "
               f"{headline_of(report.checks)}")
    for p, lay, how in plan.layouts:
        click.echo(f"    configuration: {p.name} [{lay.name}] ({how})")
    for n in plan.notes:
        click.echo(f"    note: {n}")
    if plan.sampling:
        click.echo(f"    blocks: {plan.sampling}")
    if report.protection:
        click.echo(f"    protection: {report.protection}" + (" (unlocked for the test, put back)" if report.unlocked else ""))
    echo_checks(report.checks, explain, indent="    ")
    if report.sectors and not explain:
        click.echo(f"    {len(report.sectors)} blocks tested (--explain lists each with its times)")
    for s in report.sectors if explain else ():
        t = s.target
        times = ", ".join(f"{x:.3f} ms" for x in s.erase_ms)
        line = f"      {t.label():<28} {s.status:<11} {s.detail}"
        if times:
            line += f" [erase {times}"
            line += f"; page program max {s.program_ms:.3f} ms]" if s.program_ms is not None else "]"
        click.echo(line)
    if report.journal:
        click.echo(f"    journal: {report.journal}" + (" (removed: every block restored)" if report.journal_removed else ""))


@click.command()
@click.option("--url", "-u", required=True, help="Transport URL of the chip to put back.")
@click.option("--journal-dir", type=click.Path(file_okay=False, path_type=Path),
              help="Where the journal is (default: $FLASHCHECK_JOURNAL_DIR or the user data directory).")
@click.option("--force", is_flag=True, help="Restore even where the chip's contents outside the tested blocks differ "
              "from the backup (the difference is listed).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_obj
def recover(app, url: str, journal_dir: Path | None, force: bool, as_json: bool) -> None:
    """Put back a chip an interrupted `flashcheck test` left changed.

    The chip must match the journal (JEDEC ID, unique ID, SFDP, and its
    contents outside the tested blocks); only the backup's data is
    written, and the whole chip is read back equal before "restored" is
    said.  A damaged journal is refused, never applied.
    """
    from flashcheck.errors import FlashcheckError
    from flashcheck.workflows import erasetest
    from flashcheck.workflows.erasetest import journal

    jdir = journal_dir or journal.default_dir()
    try:
        transport, nor = _open(url)
        try:
            report = erasetest.recover(nor, jdir, app, url=url, force=force)
        finally:
            _close(transport)
    except FlashcheckError as exc:
        if as_json:
            _json_error(exc, "recover", url)
        raise
    if as_json:
        emit_json(report.to_json())
        return
    _print_recover(report, url, jdir)


def _print_recover(report, url: str, jdir: Path) -> None:
    if report.nothing:
        click.echo(f"nothing to recover for the chip on {url} ({report.chip}) in {jdir}")
    for path, changed in report.restored:
        click.echo(f"restored the chip from the backup of {path.name} ({changed} bytes differed) and read the whole "
                   "of it back equal")
    for p in report.protection:
        click.echo(p)
    for f in report.forced:
        click.echo(f"warning: {f}", err=True)
    for p in report.other:
        click.echo(f"note: {p} is unfinished but belongs to another chip; left alone", err=True)
    for d in report.damaged:
        click.echo(f"note: {d}", err=True)
