"""``flashcheck sim``: simulated chips outside flashcheck's own process.

``flashcheck sim serve --chip W25Q80DV --listen 127.0.0.1:5000`` makes a
simulated chip look like a serprog programmer with that chip on its clip,
so that flashrom (``flashrom -p serprog:ip=127.0.0.1:5000``) or flashcheck
itself (``serprog://127.0.0.1:5000``) can probe, read, erase and write it.
"""

from __future__ import annotations

import ipaddress
import signal
import socket
import sys

import click

from flashcheck.errors import InputError


def parse_listen(text: str, allow_remote: bool) -> tuple[str, int]:
    """``HOST:PORT``, ``[::1]:PORT``, ``:PORT`` or ``PORT`` -> (address, port).

    The host must be a loopback address unless ``allow_remote``: the
    simulator takes writes from anyone who can reach it, without any
    authentication, as a serial programmer does from anyone at the desk.
    """
    from flashcheck.transport.serprog import split_host_port  # noqa: PLC0415

    t = text.strip()
    if t.isdigit():
        t = f"127.0.0.1:{t}"
    elif t.startswith(":"):
        t = f"127.0.0.1{t}"
    host, port = split_host_port(t, f"--listen {text}")
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as e:
        raise InputError(f"--listen {text}: cannot resolve {host!r}: {e.strerror}") from None
    addrs = [i[4][0] for i in infos]
    non_loopback = [a for a in addrs if not ipaddress.ip_address(a.split("%", 1)[0]).is_loopback]
    if non_loopback and not allow_remote:
        raise InputError(
            f"--listen {text}: {non_loopback[0]} is not a loopback address; anyone who can reach it could "
            "read and write the simulated chip. Use 127.0.0.1, or add --allow-remote if you mean it.")
    return addrs[0], port


def sim_url(chip: str, image: str | None = None, time_scale: float | None = None) -> str:
    """The ``sim:`` transport URL for a model name or a YAML definition."""
    from urllib.parse import quote  # noqa: PLC0415

    url = f"sim:{chip}" if chip.endswith((".yaml", ".yml")) else f"sim://{chip}"
    query = []
    if image:
        query.append(f"image={quote(image, safe='/')}")
    if time_scale is not None:
        query.append(f"time_scale={time_scale!r}")
    return url + ("?" + "&".join(query) if query else "")


@click.group("sim")
def sim() -> None:
    """Simulated chips: serve one to flashrom or another serprog client.

    \b
    Any --url also takes a simulated chip (docs/sim-format.md):
      sim://MODEL  sim:chip.yaml  sim+ftdi://MODEL  sim://none (empty bus)
    with these parameters (sim://W25Q128JV?image=chip.bin&fail_after=500):
      image=PATH      keep the array in a file (created erased if missing)
      fail_after=N    the link vanishes after N transactions, an erase or
                      program in progress left half done (a pulled cable)
      time_scale=F    busy times = datasheet typical x F (default 0.001)
      seed=N          busy times drawn between typical and maximum
      worn=F          busy times = datasheet maximum x F (F >= 1)
      asleep=1        the chip starts in deep power-down
    """


@sim.command("serve")
@click.option("--chip", "-c", "chip", required=True, metavar="MODEL",
              help="Built-in model (e.g. W25Q80DV) or a chip definition YAML file.")
@click.option("--listen", "-l", default="127.0.0.1:0", show_default=True, metavar="HOST:PORT",
              help="Where to accept serprog connections (port 0: any free port, printed at start).")
@click.option("--image", type=click.Path(dir_okay=False), metavar="PATH",
              help="Keep the chip's array in this file (created erased if missing), so it outlives the server.")
@click.option("--time-scale", type=float, metavar="F",
              help="Busy times are the datasheet typical times times F (simulator default 0.001; 1 = real time).")
@click.option("--allow-remote", is_flag=True, help="Allow a non-loopback --listen address.")
@click.option("--idle-timeout", type=float, default=30.0, show_default=True, metavar="SECONDS",
              help="Drop a client that sends nothing for this long (one stuck in the middle of a command too), "
                   "so that it cannot hold the chip from the next one.")
@click.option("--verbose", "-v", is_flag=True, help="Log connections and refused commands to stderr.")
def serve(chip: str, listen: str, image: str | None, time_scale: float | None, allow_remote: bool,
          idle_timeout: float, verbose: bool) -> None:
    """Serve a simulated chip over serprog on TCP, for flashrom.

    \b
    Example:
      flashcheck sim serve --chip W25Q80DV --listen 127.0.0.1:5000
      flashrom -p serprog:ip=127.0.0.1:5000 -r dump.bin
    """
    import logging  # noqa: PLC0415

    from flashcheck.sim.serprog_server import SerprogServer  # noqa: PLC0415
    from flashcheck.transport import open_transport  # noqa: PLC0415

    host, port = parse_listen(listen, allow_remote)
    if not 0 < idle_timeout < 1e6:
        raise InputError(f"--idle-timeout {idle_timeout:g}: must be a positive number of seconds")
    if verbose:
        logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    transport = open_transport(sim_url(chip, image, time_scale))
    try:
        server = SerprogServer(transport, host, port, idle_timeout=idle_timeout)
        h, p = server.address
        hp = f"[{h}]:{p}" if ":" in h else f"{h}:{p}"
        desc = getattr(transport, "description", chip)
        click.echo(f"serving {desc} on serprog://{hp}")
        click.echo(f"  flashrom -p serprog:ip={hp}")
        click.echo(f"  (one client at a time; one silent for {idle_timeout:g} s is dropped; Ctrl-C to stop)")
        sys.stdout.flush()

        def _term(signum, frame):  # a clean stop on SIGTERM too: the image is closed
            server.stop_event.set()

        old = signal.signal(signal.SIGTERM, _term)
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            signal.signal(signal.SIGTERM, old)
        click.echo(f"stopped after {server.connections} connection(s)")
    finally:
        transport.close()
