"""The command line.  Thin: each command parses its options, calls the
workflow or rules layer, and prints.  Exit codes are those of
:mod:`flashcheck.errors` for every command."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from flashcheck import __version__
from flashcheck.errors import EXIT_USAGE, FlashcheckError
from flashcheck.output.text import error_line

# Commands that live in their own modules, imported only when run (or when
# help lists them), so that `flashcheck check` starts fast.  Each value is
# "module:attribute" under flashcheck.commands.
LAZY_COMMANDS: dict[str, str] = {
    "bom": "bom:bom",
    "sim": "sim:sim",
    "test": "test:test",
    "recover": "test:recover",
    "probe": "probe:probe",
    "sfdp": "probe:sfdp",
    "devices": "probe:devices",
    "station": "station:station",
    "report": "station:report",
    "dashboard": "dashboard:dashboard",
}


class Group(click.Group):
    """Loads LAZY_COMMANDS on demand, and turns FlashcheckError into a
    one-line message and its exit code."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted([*super().list_commands(ctx), *LAZY_COMMANDS])

    def get_command(self, ctx: click.Context, name: str):
        if name in LAZY_COMMANDS:
            import importlib

            module, attr = LAZY_COMMANDS[name].split(":")
            return getattr(importlib.import_module(f"flashcheck.commands.{module}"), attr)
        return super().get_command(ctx, name)

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except FlashcheckError as exc:
            click.echo(error_line(exc), err=True)
            ctx.exit(exc.exit_code)
        except KeyboardInterrupt:
            click.echo("flashcheck: interrupted", err=True)
            ctx.exit(130)



@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--parts", "parts_dirs", multiple=True, type=click.Path(file_okay=False, path_type=Path),
              help="Directory of your own part YAML files; its families override built-ins of the same name.")
@click.option("--boards", "boards_dirs", multiple=True, type=click.Path(file_okay=False, path_type=Path),
              help="Directory of your own board profiles; they override built-ins of the same name.")
@click.option("--no-fallback", is_flag=True, help="Do not fall back to the spiflash tables for unknown parts.")
@click.version_option(__version__, prog_name="flashcheck")
@click.pass_context
def main(ctx: click.Context, parts_dirs: tuple[Path, ...], boards_dirs: tuple[Path, ...], no_fallback: bool) -> None:
    """Will this SPI NOR flash part work on this board?

    \b
    Exit codes: 0 all pass, 1 any fail, 3 any unknown and no fail,
                2 bad input or usage, 4 hardware or transport fault.
    """
    from flashcheck.app import App

    ctx.obj = App(parts_dirs, boards_dirs, fallback=not no_fallback)


def verdict_label(v: str) -> str:
    from flashcheck.output.checklines import verdict_label as label

    return label(v, click.style)


def emit_json(obj) -> None:
    click.echo(json.dumps(obj, indent=2))


@main.command()
@click.argument("mpns", nargs=-1, required=True, metavar="MPN...")
@click.option("--board", "-b", required=True, help="Board profile name (flashcheck boards) or a YAML file.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.option("--explain", "-e", is_flag=True, help="Every rule, its evidence and its sources.")
@click.pass_obj
def check(app, mpns: tuple[str, ...], board: str, as_json: bool, explain: bool) -> None:
    """Judge order codes, family names or JEDEC IDs against a board.

    \b
    Example:
      flashcheck check W25Q128FVSIG S25FL127SABMFI101 --board imp003
    """
    from flashcheck.output.checklines import query_width, result_line
    from flashcheck.rules import exit_code

    brd = app.board(board)
    results = [app.check(q, brd) for q in mpns]
    if as_json:
        emit_json({"board": brd.name, "results": [r.to_json() for r in results]})
    else:
        width = query_width(mpns)
        for r in results:
            click.echo(result_line(r, width, click.style))
            if explain:
                from flashcheck.output.terminal import echo_checks

                echo_checks(r.checks, explain=True, indent="    ")
    sys.exit(exit_code([r.verdict for r in results]))


@main.command()
@click.argument("query")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_obj
def lookup(app, query: str, as_json: bool) -> None:
    """Show a part: identity, sources and erase map.

    QUERY is an order code (W25Q128JVSIQ), a family (S25FL127S) or a JEDEC
    ID (ef4018, with extended bytes if known: 0120184d0181).

    \b
    Example:
      flashcheck lookup S25FL127SABMFI101
    """
    from flashcheck.output.terminal import lookup_json, print_lookup

    match = app.resolve(query)
    if as_json:
        emit_json(lookup_json(match))
    else:
        print_lookup(match)
    if not match.parts:
        sys.exit(3)


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_obj
def boards(app, as_json: bool) -> None:
    """List the board profiles and their rules."""
    from flashcheck.output.terminal import boards_json, print_boards

    if as_json:
        emit_json(boards_json(app.boards))
    else:
        print_boards(app.boards)


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.option("--manufacturer", "-m", help="Only this manufacturer (case-insensitive).")
@click.pass_obj
def parts(app, as_json: bool, manufacturer: str | None) -> None:
    """List the curated part families."""
    from flashcheck.output.terminal import parts_json, print_parts

    sel = [p for p in app.parts.parts if not manufacturer or p.manufacturer.lower() == manufacturer.lower()]
    if manufacturer and not sel:
        raise click.BadParameter(f"no parts from {manufacturer!r}", param_hint="--manufacturer")
    if as_json:
        emit_json(parts_json(sel))
    else:
        print_parts(sel)


def run() -> None:  # console-script entry point
    try:
        main(standalone_mode=True)
    except FlashcheckError as exc:  # raised outside a command (option parsing)
        click.echo(error_line(exc), err=True)
        sys.exit(exc.exit_code)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(run() or EXIT_USAGE)
