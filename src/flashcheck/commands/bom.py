"""flashcheck bom: validate the flash parts of a bill of materials."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from flashcheck.cli import emit_json, verdict_label


@click.command()
@click.argument("file", type=click.Path(path_type=Path, dir_okay=True, exists=False))
@click.option("--board", "-b", required=True, help="Board profile name (flashcheck boards) or a YAML file.")
@click.option("--column", "-c", metavar="NAME", help="Header of the order-code column (default: MPN, Manufacturer Part Number, ...).")
@click.option("--delimiter", type=click.Choice([",", ";", "tab"]), help="CSV separator (default: detected).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output: {\"results\": [...]}.")
@click.option("--csv", "csv_out", type=click.Path(path_type=Path, dir_okay=False), metavar="OUT",
              help="Write the BOM back with verdict, reason and alternates columns added.")
@click.option("--html", "html_out", type=click.Path(path_type=Path, dir_okay=False), metavar="OUT",
              help="Write a self-contained HTML report with erase maps.")
@click.pass_obj
def bom(app, file: Path, board: str, column: str | None, delimiter: str | None, as_json: bool,
        csv_out: Path | None, html_out: Path | None) -> None:
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
    report = validate(app, brd, file, column=column, csv_out=csv_out, delimiter=delim)
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
        _print(report)
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


def _print(report) -> None:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    from flashcheck.output.text import printable

    con = Console(highlight=False)
    c = report.counts()
    if report.lines:
        t = Table(title=printable(f"{report.path.name} on {report.board.name}"), show_lines=True)
        t.add_column("line", justify="right")
        t.add_column("order code", no_wrap=True, min_width=min(32, max(len(ln.code) for ln in report.lines)))
        t.add_column("verdict")
        t.add_column("part")
        t.add_column("reason", ratio=3)
        t.add_column("alternates that pass", ratio=2)
        for ln in report.lines:
            r = ln.result
            who = r.who()
            if not r.curated:
                who += " [uncurated]"
            style = {"pass": "bold green", "fail": "bold red", "unknown": "bold yellow"}[r.verdict]
            alts = "\n".join(str(a) for a in ln.alternates[:5])
            if len(ln.alternates) > 5:
                alts += f"\n... {len(ln.alternates) - 5} more (--json)"
            if not alts and r.verdict != "pass":
                alts = ln.alternates_basis
            # every cell may come from the BOM: control characters (ANSI escapes ...) shown, never run
            t.add_row(str(ln.line), Text(printable(ln.code)), Text(r.verdict.upper(), style=style), Text(printable(who)),
                      Text(printable(r.reason)), Text(printable(alts, newlines=True)))
        con.print(t)
    else:
        click.echo(f"{verdict_label('unknown')} {printable(str(report.path))}: {_no_flash(report)}")
        return
    overall = "fail" if c["fail"] else "unknown" if c["unknown"] else "pass"
    click.echo(
        f"{verdict_label(overall)} {len(report.lines)} flash lines: {c['pass']} pass, {c['fail']} fail, "
        f"{c['unknown']} unknown; {report.skipped} non-flash lines skipped, {report.empty} without a code "
        f"({report.rows} rows; order codes from column {printable(report.column)!r}, header on line {report.header_line})"
    )
