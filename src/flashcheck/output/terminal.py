"""Printing parts and boards for people (rich) and for programs (JSON)."""

from __future__ import annotations

import sys
import time
from contextlib import contextmanager
from typing import Any

from flashcheck.data.boards import BoardsDB
from flashcheck.data.database import Match
from flashcheck.rules.erasemap import draw, segments
from flashcheck.data.parts import Part
from flashcheck.units import format_addr, format_size


def part_json(p: Part, configurations: tuple[str, ...] = ()) -> dict[str, Any]:
    return {
        "name": p.name,
        "manufacturer": p.manufacturer,
        "jedec_id": p.jedec_id,
        "jedec_ids": list(p.jedec_ids),
        "ext_id": p.ext_id,
        "capacity": p.capacity,
        "page_size": p.page_size,
        "voltage": list(p.voltage) if p.voltage else None,
        "max_clock_mhz": p.max_clock_mhz,
        "address_bytes": list(p.address_bytes) if p.address_bytes else None,
        "curated": p.curated,
        "source": p.source.to_json(),
        "power_up": p.power_up,
        "unconfirmed": list(p.unconfirmed),
        "disagreements": p.disagreements,
        "configurations": [
            {
                "name": lay.name,
                "select": lay.select,
                "default": lay.default,
                "applies": not configurations or lay.name in configurations,
                "erase": [
                    {
                        "opcode": op.opcode,
                        "name": op.name,
                        "regions": [{"start": r.start, "end": r.end, "size": r.size} for r in op.regions],
                        "outside": op.outside,
                        "typ_ms": op.typ_ms,
                        "max_ms": op.max_ms,
                    }
                    for op in lay.erase
                ],
                "map": [
                    {"start": s.start, "end": s.end, "sizes": {str(k): list(v) for k, v in s.sizes.items()}}
                    for s in segments(lay, p.capacity_of(lay))
                ],
            }
            for lay in p.layouts
        ],
    }


def lookup_json(match: Match) -> dict[str, Any]:
    return {
        "query": match.query,
        "matched_by": match.how,
        "order_code_fields": match.fields,
        "note": match.note,
        "suggestions": match.suggestions,
        "parts": [part_json(p, match.configurations.get(p.name, ())) for p in match.parts],
    }


def _console():
    from rich.console import Console

    return Console(highlight=False)


def _safe(text: Any) -> str:
    """Text from a query, a part file or a table, for rich markup: control
    characters shown (:func:`printable`), ``[`` never read as markup."""
    from rich.markup import escape

    from flashcheck.output.text import printable

    return escape(printable(text))


def print_lookup(match: Match) -> None:
    from rich.table import Table
    from rich.text import Text

    con = _console()
    query = _safe(match.query)
    if not match.parts:
        hint = f" Did you mean: {_safe(', '.join(match.suggestions))}?" if match.suggestions else ""
        con.print(f"[yellow]{query}: not a known order code, family or JEDEC ID.[/]{hint}")
        return
    if len(match.parts) > 1:
        con.print(f"[yellow]{query} ({match.how}) matches {len(match.parts)} parts:[/] "
                  + _safe(", ".join(p.name for p in match.parts)))
    if match.note:
        con.print(f"[yellow]note:[/] {_safe(match.note)}")
    for p in match.parts:
        con.rule(f"[bold]{_safe(p.manufacturer)} {_safe(p.name)}[/]" + ("" if p.curated else " [magenta](uncurated)[/]"))
        t = Table.grid(padding=(0, 2))
        t.add_column(style="dim")
        t.add_column()
        ids = ", ".join(p.jedec_ids) + (f" (extended {p.ext_id})" if p.ext_id else "")
        t.add_row("JEDEC ID", ids)
        if p.aliases:
            t.add_row("also", _safe(", ".join(p.aliases[:8])) + (" ..." if len(p.aliases) > 8 else ""))
        t.add_row("capacity", f"{format_size(p.capacity)}" + (f", {p.page_size} B pages" if p.page_size else ""))
        if p.voltage:
            t.add_row("supply", f"{p.voltage[0]:g}-{p.voltage[1]:g} V")
        if p.max_clock_mhz:
            t.add_row("clock", f"{p.max_clock_mhz:g} MHz fast read" + (f", {p.read_clock_mhz:g} MHz read" if p.read_clock_mhz else ""))
        if p.address_bytes:
            t.add_row("addressing", "/".join(map(str, p.address_bytes)) + "-byte")
        if p.power_up and p.power_up.get("block_protection"):
            t.add_row("power-up", f"block protection: {p.power_up['block_protection']}"
                      + (f" ({p.power_up['unlock']})" if p.power_up.get("unlock") else ""))
        if p.program and p.program.get("typ_ms"):
            t.add_row("page program", f"typ {p.program['typ_ms']:g} ms" + (f", max {p.program['max_ms']:g} ms" if p.program.get("max_ms") else ""))
        if match.fields and len(match.parts) == 1:
            decoded = []
            for k, v in match.fields.items():
                meaning = p.fields.get(k, {}).get(v)
                decoded.append(f"{k}={v}" + (f" ({meaning})" if meaning else ""))
            t.add_row("order code", _safe(", ".join(decoded)))
        t.add_row("source", _safe(p.source) + (f"  [dim]{_safe(p.source.where)}[/]" if p.source.where else ""))
        for k, v in p.disagreements.items():
            t.add_row("[red]disagree[/]", _safe(f"{k}: {v}"))
        for u in p.unconfirmed:
            t.add_row("unconfirmed", _safe(u))
        for n in p.notes:
            t.add_row("note", _safe(n))
        con.print(t)
        only = match.configurations.get(p.name, ())
        for lay in p.layouts:
            head = "Erase map" if lay.name == "default" else f"Erase map, configuration [bold]{lay.name}[/]"
            if lay.select:
                head += f" ({lay.select})"
            if lay.default and len(p.layouts) > 1:
                head += " [green]factory default[/]"
            if only and lay.name not in only:
                head += " [dim](not this order code)[/]"
            elif only:
                head += " [cyan](this order code)[/]"
            con.print()
            con.print(head)
            if not lay.erase:
                con.print("  [red]no erase layout known[/]")
                continue
            width = max(16, min(64, con.width - 24))
            cap = p.capacity_of(lay)
            if cap != p.capacity:
                con.print(f"  array in this configuration: {cap} bytes")
            con.print(f"  {'':>16} {format_addr(0):<{width - 8}}{format_addr(cap - 1)}")
            for label, bar in draw(lay, cap, width):
                txt = Text(f"  {label:>16} ")
                for ch in bar:
                    txt.append("█" if ch == "#" else "·", style="green" if ch == "#" else "red dim")
                con.print(txt)
            st = Table(box=None, pad_edge=False, padding=(0, 2))
            st.add_column("region")
            st.add_column("length", justify="right")
            st.add_column("erase sizes here (opcodes)")
            for s in segments(lay, cap):
                sizes = ", ".join(f"{format_size(k)} ({'/'.join(f'0x{o:02X}' for o in v)})" for k, v in s.sizes.items())
                st.add_row(str(s), format_size(s.end - s.start), sizes or "[red]none[/]")
            con.print(st)
            timing = [
                f"0x{op.opcode:02X} {format_size(min(op.sizes))}{'+' if len(op.sizes) > 1 else ''}: "
                + (f"typ {op.typ_ms:g} ms" if op.typ_ms else "typ ?") + (f", max {op.max_ms:g} ms" if op.max_ms else ", max ?")
                for op in lay.erase
            ]
            con.print("  [dim]erase times: " + "; ".join(timing) + "[/]")


def boards_json(db: BoardsDB) -> dict[str, Any]:
    return {
        "boards": [
            {
                "name": b.name,
                "title": b.title,
                "description": b.description,
                "rules": [{"rule": r.kind, **{k: v for k, v in r.params.items()}, "source": str(r.source), "why": r.why}
                          for r in b.rules],
                "sources": {k: s.to_json() for k, s in b.sources.items()},
            }
            for b in sorted(db.boards.values(), key=lambda b: b.name)
        ]
    }


def _rule_text(r) -> str:
    from flashcheck.rules import kinds

    return kinds.get(r.kind).describe(r.params)


def print_boards(db: BoardsDB) -> None:
    from rich.table import Table

    t = Table(title="Board profiles", show_lines=False)
    t.add_column("board", style="bold")
    t.add_column("title")
    t.add_column("rules")
    for b in sorted(db.boards.values(), key=lambda b: b.name):
        t.add_row(b.name, b.title, "\n".join(_rule_text(r) for r in b.rules))
    _console().print(t)


def parts_json(parts: list[Part]) -> dict[str, Any]:
    return {"parts": [{"name": p.name, "manufacturer": p.manufacturer, "jedec_id": p.jedec_id, "capacity": p.capacity,
                       "voltage": list(p.voltage) if p.voltage else None, "source": str(p.source)} for p in parts]}


def print_parts(parts: list[Part]) -> None:
    from rich.table import Table

    t = Table(title=f"{len(parts)} curated part families")
    for col in ("manufacturer", "family", "JEDEC ID", "capacity", "supply", "4 KiB erase", "datasheet"):
        t.add_column(col)
    for p in sorted(parts, key=lambda p: (p.manufacturer, p.name)):
        has4k = []
        for lay in p.layouts:
            from flashcheck.rules.erasemap import coverage

            cov = coverage(lay, p.capacity_of(lay), 4096)
            has4k.append("everywhere" if cov == [(0, p.capacity_of(lay))] else ("partly" if cov else "no"))
        four = "/".join(sorted(set(has4k)))
        colour = {"everywhere": "green", "no": "red"}.get(four, "yellow")
        t.add_row(p.manufacturer, p.name, ",".join(p.jedec_ids), format_size(p.capacity),
                  f"{p.voltage[0]:g}-{p.voltage[1]:g} V" if p.voltage else "?", f"[{colour}]{four}[/]",
                  f"{p.source.title[:40]}, {p.source.revision or ''}")
    _console().print(t)


def echo_checks(checks, explain: bool = False, indent: str = "  ") -> None:
    """The checks of a verdict for people: with ``explain`` every check in
    full with its evidence and sources; without, only those that are not ok,
    each as its headline, and how many passed."""
    import click

    from flashcheck.output.text import mark, printable

    # rules, details and sources quote files, chips and tables: control characters shown, never run
    shown = checks if explain else [c for c in checks if c.ok is not True]
    for c in shown:
        click.echo(f"{indent}{mark(c.ok, colour=True)} {printable(c.rule)}: {printable(c.detail if explain else c.short)}")
        if explain:
            for e in c.evidence:
                click.echo(f"{indent}        evidence: {printable(e)}")
            for s in c.sources:
                click.echo(f"{indent}        source: {printable(s)}")
    ok = len(checks) - len(shown)
    if ok:
        click.echo(f"{indent}{mark(True, colour=True)} {ok} more rule{'s' if ok > 1 else ''} met (--explain shows each)")


@contextmanager
def bar(what: str, show: bool = True):
    """A progress bar with ETA on stderr for long work: yields
    ``progress(done, total)`` (total None: no ETA), or None when ``show``
    is false or stderr is not a terminal, so pipes and --json stay quiet.
    The bar appears only after half a second and is gone when done."""
    if not show or not _stderr_is_terminal():
        yield None
        return
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeRemainingColumn

    with Progress(TextColumn("{task.description}"), BarColumn(), TaskProgressColumn(), TimeRemainingColumn(),
                  console=Console(stderr=True), transient=True, auto_refresh=False) as prog:
        task = prog.add_task(what, total=None)
        start = time.monotonic()

        def progress(done: int, total: int | None) -> None:
            prog.update(task, completed=done, total=total)
            if time.monotonic() - start > 0.5:
                prog.refresh()

        yield progress


def _stderr_is_terminal() -> bool:
    return sys.stderr.isatty()
