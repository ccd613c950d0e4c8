"""flashcheck bom: validate the flash parts of a bill of materials."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from flashcheck.cli import emit_json, verdict_label
from flashcheck.output.terminal import bar


@click.command()
@click.argument("file", type=click.Path(path_type=Path, dir_okay=True, exists=False))
@click.option("--board", "-b", required=True, help="Board profile name (flashcheck boards) or a YAML file.")
@click.option("--column", "-c", metavar="NAME", help="Header of the order-code column (default: MPN, Manufacturer Part Number, ...).")
@click.option("--delimiter", type=click.Choice([",", ";", "tab"]), help="CSV separator (default: detected).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output: {\"results\": [...]}.")
@click.option("--csv", "csv_out", type=click.Path(path_type=Path, dir_okay=False), metavar="OUT",
              help="Write the BOM back with verdict, reason and alternates columns added.")
@click.option("--explain", "-e", is_flag=True, help="After the table, every rule and alternate of each line that does not pass.")
@click.option("--html", "html_out", type=click.Path(path_type=Path, dir_okay=False), metavar="OUT",
              help="Write a self-contained HTML report with erase maps.")
@click.pass_obj
def bom(app, file: Path, board: str, column: str | None, delimiter: str | None, as_json: bool,
        csv_out: Path | None, explain: bool, html_out: Path | None) -> None:
    """Check every SPI NOR flash part in a BOM against a board.

    FILE is a CSV, TSV or XLSX export (KiCad, Altium, Eagle, distributor
    carts).  The order-code column is found by its header (MPN, Manufacturer
    Part Number, Mfr. Part #, Part Number, ...) unless --column names it.
    Lines that are not flash parts (by family prefix, or a description
    saying SPI NOR / serial flash) are skipped and counted; a cell may list
    alternates (W25Q128JVSIQ / GD25Q128ESIG), each is checked.  Lines that
    fail or are unknown get alternates from the database that pass the
    board with the same capacity, voltage class and, where known, package.

    \b
    Exit codes as `check`: 0 all pass, 1 any fail, 3 unknown and no fail,
    2 bad input (file and line named).

    \b
    Example:
      flashcheck bom board-bom.csv --board imp003 --html report.html
    """
    from flashcheck.errors import InputError
    from flashcheck.rules import exit_code
    from flashcheck.workflows.bom import validate

    brd = app.board(board)
    delim = "\t" if delimiter == "tab" else delimiter
    with bar("reading " + file.name, show=not as_json) as progress:
        report = validate(app, brd, file, column=column, csv_out=csv_out, delimiter=delim, progress=progress)
    if html_out:
        from flashcheck.output.html import render

        try:
            html_out.write_text(render(report), encoding="utf-8")
        except OSError as exc:
            raise InputError(f"{html_out}: cannot write: {exc.strerror or exc}") from None
    if as_json:
        data = report.to_json()
        if not report.lines:
            data["verdict"], data["reason"] = "unknown", _no_flash(report)
        emit_json(data)
    else:
        _print(report, explain)
        for what, path in (("annotated BOM", csv_out), ("HTML report", html_out)):
            if path:
                click.echo(f"{what}: {path}", err=True)
    # a board profile is about its flash: a BOM without one proves nothing (unknown, never pass)
    sys.exit(exit_code(report.verdicts or ["unknown"]))


def _no_flash(report) -> str:
    from flashcheck.output.text import printable

    return (f"no flash part found in column {printable(report.column)!r} ({report.rows} rows: {report.skipped} "
            f"not flash, {report.empty} empty); if the order codes are in another column, name it with "
            "--column NAME")


def _print(report, explain: bool = False) -> None:
    """One row per flash line: where it is, the code, the verdict, and the
    one fact that decides it; the full reasoning with --explain."""
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    from flashcheck.output.text import printable

    con = Console(highlight=False)
    c = report.counts()
    if report.lines:
        wide = con.width >= 110  # narrower: no part column, alternates under the reason
        t = Table(title=printable(f"{report.path.name} on {report.board.name}"), box=None, pad_edge=False, header_style="bold")
        t.add_column("where", overflow="fold")
        t.add_column("order code", no_wrap=True)
        t.add_column("verdict", no_wrap=True)
        if wide:
            t.add_column("part", overflow="fold")
        t.add_column("why" if wide else "why / alternates that pass", ratio=3, overflow="fold")
        if wide:
            t.add_column("alternates that pass", ratio=2, overflow="fold")
        for ln in report.lines:
            r = ln.result
            alts = _alternates(ln, 3)
            # every cell may come from the BOM: control characters (ANSI escapes ...) shown, never run
            cells = [printable(ln.where.replace(" on ", " ") if ln.reference else str(ln.line)), Text(printable(ln.code)),
                     Text(r.verdict.upper(), style=VERDICT_STYLE[r.verdict])]
            if wide:
                cells += [Text(printable(_who(r, short=True))), Text(printable(r.headline)), Text(printable(alts))]
            else:
                cells.append(Text(printable(r.headline) + (f"\n→ {printable(alts)}" if alts else "")))
            t.add_row(*cells)
        con.print(t)
        if explain:
            _explain(con, report)
    else:
        click.echo(f"{verdict_label('unknown')} {printable(str(report.path))}: {_no_flash(report)}")
        return
    overall = "fail" if c["fail"] else "unknown" if c["unknown"] else "pass"
    click.echo(
        f"{verdict_label(overall)} {len(report.lines)} flash lines: {c['pass']} pass, {c['fail']} fail, "
        f"{c['unknown']} unknown; {report.skipped} non-flash lines skipped, {report.empty} without a code "
        f"({report.rows} rows; {printable(report.describe())})"
    )


VERDICT_STYLE = {"pass": "bold green", "fail": "bold red", "unknown": "bold yellow"}


def _who(r, short: bool = False) -> str:
    who = (r.part.name if short and r.part else r.who())
    return who if r.curated else who + " [uncurated]"


def _alternates(ln, n: int) -> str:
    """Names on one line: "W25Q128JV, MX25L12835F +5"."""
    if not ln.alternates:
        return "" if ln.result.verdict == "pass" else "none"
    names = ", ".join(a.name for a in ln.alternates[:n])
    return names + (f" +{len(ln.alternates) - n}" if len(ln.alternates) > n else "")


def _explain(con, report) -> None:
    """Per line that does not pass: every check in full, and the alternates
    grouped by what was compared."""
    from rich.table import Table
    from rich.text import Text

    from flashcheck.output.text import MARK_COLOURS, mark

    for ln in report.lines:
        r = ln.result
        if r.verdict == "pass":
            continue
        con.print(Text(f"\n{ln.where}: {ln.code} ({_who(r)}) {r.verdict.upper()}", style=VERDICT_STYLE[r.verdict]))
        g = Table.grid(padding=(0, 1))
        g.add_column(no_wrap=True)
        g.add_column(ratio=1, overflow="fold")
        for chk in r.checks:
            g.add_row(Text(" " + mark(chk.ok), style=MARK_COLOURS[chk.ok]), Text(f"{chk.rule}: {chk.detail}"))
        notes: dict[str, list[str]] = {}
        for a in ln.alternates:
            notes.setdefault(a.note, []).append(a.name)
        for note, names in notes.items():
            g.add_row(" alt", Text(f"{', '.join(names)} ({note})"))
        if ln.alternates_basis:
            g.add_row("", Text(f"alternates compared on: {ln.alternates_basis}", style="dim"))
        con.print(g)
