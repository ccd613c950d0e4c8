"""`flashcheck dashboard`: the line's live, read-only dashboard."""

from __future__ import annotations

import ipaddress
import socket

import click

from flashcheck.errors import InputError

DEFAULT_LISTEN = "127.0.0.1:8080"


def parse_listen(text: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[::1]:PORT`` for IPv6) -> (host, port)."""
    text = text.strip()
    host, sep, port_text = text.rpartition(":")
    if not sep or not host:
        raise InputError(f"--listen {text!r}: expected HOST:PORT (127.0.0.1:8080, [::1]:8080)")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    try:
        port = int(port_text)
    except ValueError:
        raise InputError(f"--listen {text!r}: port {port_text!r} is not a number") from None
    if not 0 <= port <= 65535:
        raise InputError(f"--listen {text!r}: port {port} is out of range (0-65535; 0 picks a free one)")
    return host, port


def _addresses(host: str, port: int) -> list[tuple]:
    try:
        return socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise InputError(f"--listen {host}: cannot resolve the address ({exc.strerror})") from None


def is_loopback(host: str, port: int = 0) -> bool:
    """True if every address ``host`` stands for is a loopback address."""
    addrs = {ai[4][0] for ai in _addresses(host, port)}
    return bool(addrs) and all(ipaddress.ip_address(a.split("%")[0]).is_loopback for a in addrs)


def bind(host: str, port: int, allow_remote: bool) -> socket.socket:
    """A listening socket on (host, port); only loopback unless
    ``allow_remote``."""
    if not allow_remote and not is_loopback(host, port):
        raise InputError(f"--listen {host}:{port}: not a loopback address; the dashboard shows production data "
                         "to anyone who can reach it: add --allow-remote to serve it on the network")
    family, kind, proto, _name, addr = _addresses(host, port)[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(addr)
        sock.listen(128)
    except OSError as exc:
        sock.close()
        raise InputError(f"--listen {host}:{port}: cannot listen there ({exc.strerror})") from None
    return sock


def _url(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}/" if ":" in host else f"http://{host}:{port}/"


@click.command()
@click.option("--db", "db_url", metavar="DBURL",
              help="Results database: sqlite:///PATH or postgresql+psycopg://USER:PASS@HOST/DB "
                   "(default: the station's default SQLite file).")
@click.option("--listen", default=DEFAULT_LISTEN, show_default=True, metavar="HOST:PORT",
              help="Where to serve the page (port 0 picks a free port).")
@click.option("--allow-remote", is_flag=True, help="Allow an address other than loopback (the page has no login).")
@click.option("--poll", "poll_s", type=click.FloatRange(min=0.2, max=3600), default=2.0, show_default=True,
              metavar="SECONDS", help="How often the page asks for new figures.")
def dashboard(db_url: str | None, listen: str, allow_remote: bool, poll_s: float) -> None:
    """Serve a live, read-only dashboard of the station results.

    Yield now and over time, failures by cause (Pareto), per part, station
    and fixture, and the last boards with their reasons; the page updates
    itself while stations write.  The database is opened read-only: the
    dashboard never writes to it.

    \b
    Examples:
      flashcheck dashboard --db sqlite:///r.db
      flashcheck dashboard --db postgresql+psycopg://viewer@db/flash --listen 0.0.0.0:8080 --allow-remote
    """
    from flashcheck.output.dashboard.reader import ReadOnlyResults

    host, port = parse_listen(listen)
    reader = ReadOnlyResults(db_url)
    try:
        reader.check()
        sock = bind(host, port, allow_remote)
        _serve(reader, sock, poll_s)
    finally:
        reader.close()


def _serve(reader, sock: socket.socket, poll_s: float) -> None:
    try:
        import uvicorn

        from flashcheck.output.dashboard import create_app
    except ImportError as exc:
        raise InputError(f"the dashboard needs Starlette and uvicorn: pip install 'flashcheck[dashboard]' ({exc})") from None
    app = create_app(reader, poll_s=poll_s)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off"))
    click.echo(f"dashboard on {_url(sock)} (read-only: {reader.shown_url}); Ctrl-C stops it", err=False)
    import sys

    sys.stdout.flush()
    server.run(sockets=[sock])
