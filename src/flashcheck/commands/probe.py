"""`flashcheck probe`, `flashcheck sfdp`, `flashcheck devices`."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from flashcheck.cli import emit_json, verdict_label
from flashcheck.errors import EXIT_HARDWARE, EXIT_PASS, InputError


def _freq(value: str | None) -> float | None:
    if value is None:
        return None
    from flashcheck.transport import parse_freq

    return parse_freq(value, "--freq")


@click.command()
@click.option("--url", required=True, help="Transport: ftdi://ftdi:232h/1, sim://W25Q128JV, serprog://HOST:PORT, spidev:///dev/spidev0.0 ...")
@click.option("--board", "-b", help="Judge the chip against this board profile.")
@click.option("--expect", help="The part that should be fitted (order code, family or JEDEC ID).")
@click.option("--freq", help="SPI clock, e.g. 1M or 4.5MHz (default: the board's bench clock).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.option("--explain", "-e", is_flag=True, help="Every rule in full, with its evidence and sources.")
@click.pass_obj
def probe(app, url: str, board: str | None, expect: str | None, freq: str | None, as_json: bool, explain: bool) -> None:
    """Read the chip on the bus: JEDEC ID, SFDP, protection, unique ID;
    identify it, cross-check it against the database, judge it.

    \b
    Examples:
      flashcheck probe --url sim://W25Q128JV --board imp003
      flashcheck probe --url ftdi://ftdi:232h/1 --board imp003 --expect W25Q128JVSIQ
    """
    from flashcheck.rules import exit_code
    from flashcheck.workflows.probe import probe as run_probe

    brd = app.board(board) if board else None
    res = run_probe(url, app, brd, expect, _freq(freq))
    if as_json:
        emit_json(res.to_json())
    else:
        _print_probe(res, explain)
    sys.exit(exit_code([res.verdict]))


def _print_probe(res, explain: bool = False) -> None:
    f = res.facts
    r = res.result
    click.echo(f"chip      {f.id_hex} {f.ext_hex}  ({res.url})")
    if f.woken:  # said every time: a chip left asleep by its host answers nothing until woken
        click.echo(f"woken     {' then '.join(f.woken)} sent before the ID was read")
    who = r.who(", ")
    tag = "" if r.curated else " [uncurated]"
    click.echo(f"part      {who}{tag}  (by {r.match.how if r.match else '?'})")
    if f.sfdp:
        types = ", ".join(f"0x{o:02X}={s // 1024}K" for s, o, _, _ in f.sfdp.erase_types)
        click.echo(f"sfdp      JESD216 {f.sfdp.revision}, {f.sfdp.size // 1024} KiB, erase types {types}"
                   + (", sector map" if f.sfdp.sector_map else ""))
    else:
        click.echo("sfdp      " + (f"malformed: {f.sfdp_error}" if f.sfdp_error else "none"))
    p = f.protection
    click.echo(f"protect   {'PROTECTED' if p.get('protected') else 'none'} ({p.get('method')}, status {p.get('status')})")
    click.echo(f"unique id {f.unique_id.hex() if f.unique_id else 'none'}")
    if res.layout is not None:
        click.echo(f"config    {res.layout.name} ({res.layout_how})")
    from flashcheck.output.terminal import echo_checks

    echo_checks(r.checks, explain)
    click.echo(f"{verdict_label(r.verdict)} {r.headline}")


@click.command()
@click.argument("file", required=False, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--url", help="Read the tables from a chip instead of a file.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def sfdp(file: Path | None, url: str | None, as_json: bool) -> None:
    """Decode SFDP tables: a dump (binary or hex text) or a chip's.

    \b
    Examples:
      flashcheck sfdp /sys/bus/spi/devices/spi0.0/spi-nor/sfdp
      flashcheck sfdp --url sim://SST26VF064B --json
    """
    from flashcheck.chip import sfdp as sfdp_mod

    if file is None and url is None:
        raise click.UsageError("give a dump FILE or --url URL to read the tables from a chip")
    if file is not None and url is not None:
        raise click.UsageError("give a FILE or --url, not both")
    if file is not None:
        data = sfdp_mod.load_dump(file)
        where = str(file)
    else:
        from flashcheck.chip.spinor import SpiNor
        from flashcheck.transport import open_transport

        transport = open_transport(url)
        try:
            data = SpiNor(transport).read_sfdp_image()
        finally:
            transport.close()
        if data is None:
            raise InputError(f"{url}: the chip answers no SFDP tables (0x5A gives no 'SFDP' signature)")
        where = url
    info = sfdp_mod.parse(data)
    if as_json:
        emit_json(info.to_json())
        return
    click.echo(f"{where}: SFDP revision {info.revision}, {info.size} bytes ({info.size // 1024} KiB)"
               + (f", {info.page_size}-byte pages" if info.page_size else ""))
    uni = {True: "yes", False: "NO (only in part of the array)", None: "not stated"}[info.uniform_4k]
    click.echo(f"  4 KiB erase throughout the array: {uni}")
    for size, opcode, typ, mx in info.erase_types:
        times = f"typ {typ:g} ms, max {mx:g} ms" if typ is not None and mx is not None else "times not given"
        click.echo(f"  erase type: 0x{opcode:02X} erases {size // 1024} KiB ({times})")
    for cfg in info.sector_map or []:
        click.echo(f"  sector map configuration {cfg.id}:")
        for reg in cfg.regions:
            ops = ", ".join(f"0x{e.opcode:02X}={e.size // 1024}K" for e in reg.erase_types) or "none"
            click.echo(f"    0x{reg.start:06X}-0x{reg.start + reg.size - 1:06X}  {ops}")


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def devices(as_json: bool) -> None:
    """List the FTDI devices present (FT232H and friends), with their URLs."""
    from flashcheck.transport.ftdi import list_devices

    found = list_devices()
    if as_json:
        emit_json({"devices": found})
    else:
        for d in found:
            click.echo(f"{d['url']}  {d.get('description', '')}  serial {d.get('serial', '?')}")
        if not found:
            click.echo("no FTDI device found: check the USB cable, and on Linux the udev rule for 0403:6014", err=True)
    sys.exit(EXIT_PASS if found else EXIT_HARDWARE)
