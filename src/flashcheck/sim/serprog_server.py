"""A serprog programmer in software: serves any transport (normally the chip
simulator) over TCP so that flashrom, or flashcheck's own serprog client,
can talk to it as to a Raspberry Pi Pico running pico-serprog.

Only the SPI bus is offered (Q_BUSTYPE answers 0x08).  The commands
answered are those flashrom uses for SPI (see ``SUPPORTED``); the parallel
memory commands (R_BYTE, R_NBYTES, O_WRITEB, O_WRITEN) are NAKed, as a real
SPI-only programmer does, and so is any unknown command.  The operation
buffer carries delays only (O_INIT, O_DELAY, O_EXEC).

One client at a time: like a serial port, a second connection waits until
the first one closes, or until the first has sent nothing for
``idle_timeout`` seconds (default :data:`IDLE_TIMEOUT`; a client that stops
in the middle of a command counts as idle too), when it is dropped.  The chip behind it stays the same across
connections, like a chip on a clip.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Callable

from flashcheck.transport import serprog as sp

log = logging.getLogger("flashcheck.serprog")

#: What Q_CMDMAP reports.
SUPPORTED = (
    sp.NOP, sp.Q_IFACE, sp.Q_CMDMAP, sp.Q_PGMNAME, sp.Q_SERBUF, sp.Q_BUSTYPE, sp.Q_CHIPSIZE,
    sp.Q_OPBUF, sp.Q_WRNMAXLEN, sp.O_INIT, sp.O_DELAY, sp.O_EXEC, sp.SYNCNOP, sp.Q_RDNMAXLEN,
    sp.S_BUSTYPE, sp.O_SPIOP, sp.S_SPI_FREQ, sp.S_PIN_STATE,
)

PROGRAMMER_NAME = "flashcheck-sim"  # at most 16 bytes
MAX_WRITE_N = 4096 + 16             # an O_SPIOP may send this many bytes
MAX_READ_N = 1 << 16                # ... and read this many
OPBUF_SIZE = 1024
MAX_FREQ = 50_000_000               # S_SPI_FREQ answers at most this
MIN_FREQ = 100_000
#: Longest single O_DELAY honoured with a real sleep (the simulator's own
#: clock, when it has one, gets the whole delay).
MAX_SLEEP_S = 1.0
#: Seconds a client may send nothing before it is dropped, so that a
#: client that hangs (or a port scanner) cannot hold the chip from the next.
IDLE_TIMEOUT = 30.0


class Disconnected(Exception):
    """The client went away in the middle of a command."""


class Idle(Disconnected):
    """The client sent nothing for the idle timeout."""


class SerprogDevice:
    """The protocol engine: reads commands from ``read(n)`` and writes
    answers with ``write(bytes)``.  Chip select transactions go to
    ``transport.exchange``; a transport with a ``delay(seconds)`` method
    (the simulator) is told of O_DELAY time instead of sleeping."""

    def __init__(self, transport, *, name: str = PROGRAMMER_NAME, max_write: int = MAX_WRITE_N,
                 max_read: int = MAX_READ_N, max_freq: int = MAX_FREQ, lock: threading.Lock | None = None):
        self.transport = transport
        self.name = name.encode("ascii")[:16]
        self.max_write = max_write
        self.max_read = max_read
        self.max_freq = max_freq
        self.freq = max_freq
        self.pins_enabled = True
        self.bustype = sp.BUS_SPI
        self.opbuf: list[int] = []  # pending delays, microseconds
        self.opbuf_used = 0
        self.lock = lock or threading.Lock()
        self.stats = {"spiops": 0, "naks": 0}

    # -- helpers -----------------------------------------------------------

    def _nak(self, why: str) -> bytes:
        self.stats["naks"] += 1
        log.info("serprog: NAK: %s", why)
        return bytes([sp.NAK])

    def _delay(self, usecs: int) -> None:
        if usecs <= 0:
            return
        d = getattr(self.transport, "delay", None)
        if callable(d):
            d(usecs / 1e6)
        else:
            time.sleep(min(usecs / 1e6, MAX_SLEEP_S))

    # -- one command -------------------------------------------------------

    def handle(self, cmd: int, read: Callable[[int], bytes]) -> bytes:
        """Answer one command whose opcode byte has been read."""
        query = self._queries().get(cmd)
        if query is not None:
            return bytes([sp.ACK]) + query
        method = _COMMANDS.get(cmd)
        if method is not None:
            return method(self, read)
        if cmd in sp.PARAM_LEN:
            # Known but not offered (parallel-bus commands): consume the
            # parameters so the stream stays in step, then refuse.
            n = sp.PARAM_LEN[cmd]
            params = read(n) if n else b""
            if cmd == sp.O_WRITEN:
                read(sp.le(params[:3]))
            return self._nak(f"{sp.command_name(cmd)} is not supported (SPI only)")
        return self._nak(f"unknown command {cmd:#04x}")

    def _queries(self) -> dict[int, bytes]:
        """Commands answered with ACK and a fixed value."""
        return {
            sp.NOP: b"",
            sp.Q_IFACE: sp.u16(sp.IFACE_VERSION),
            sp.Q_CMDMAP: sp.cmdmap(SUPPORTED),
            sp.Q_PGMNAME: self.name.ljust(16, b"\0"),
            # TCP has flow control: the protocol asks for a big value then.
            sp.Q_SERBUF: sp.u16(0xFFFF),
            sp.Q_BUSTYPE: bytes([sp.BUS_SPI]),
            # Address lines of a parallel bus: 24 (16 MiB), the most a 24-bit
            # protocol address can reach.  Meaningless for SPI, but answered.
            sp.Q_CHIPSIZE: bytes([24]),
            sp.Q_OPBUF: sp.u16(OPBUF_SIZE),
            sp.Q_WRNMAXLEN: sp.u24(self.max_write),
            sp.Q_RDNMAXLEN: sp.u24(self.max_read),
        }

    def _syncnop(self, read: Callable[[int], bytes]) -> bytes:
        return bytes([sp.NAK, sp.ACK])

    def _o_init(self, read: Callable[[int], bytes]) -> bytes:
        self.opbuf.clear()
        self.opbuf_used = 0
        return bytes([sp.ACK])

    def _o_delay(self, read: Callable[[int], bytes]) -> bytes:
        usecs = sp.le(read(4))
        if self.opbuf_used + 5 > OPBUF_SIZE:
            return self._nak(f"operation buffer full ({self.opbuf_used} of {OPBUF_SIZE} bytes)")
        self.opbuf.append(usecs)
        self.opbuf_used += 5
        return bytes([sp.ACK])

    def _o_exec(self, read: Callable[[int], bytes]) -> bytes:
        pending, self.opbuf = self.opbuf, []  # cleared whatever the outcome
        self.opbuf_used = 0
        for usecs in pending:
            self._delay(usecs)
        return bytes([sp.ACK])

    def _s_bustype(self, read: Callable[[int], bytes]) -> bytes:
        flags = read(1)[0]
        if not flags & sp.BUS_SPI:
            return self._nak(f"S_BUSTYPE {flags:#04x}: only SPI (0x08) is offered")
        self.bustype = sp.BUS_SPI
        return bytes([sp.ACK])

    def _s_spi_freq(self, read: Callable[[int], bytes]) -> bytes:
        want = sp.le(read(4))
        if want == 0:
            return self._nak("S_SPI_FREQ 0 is reserved")
        # The highest supported frequency not above the one asked for, or
        # the lowest one if there is none below it.
        self.freq = max(MIN_FREQ, min(want, self.max_freq))
        if hasattr(self.transport, "set_frequency"):
            try:
                self.transport.set_frequency(self.freq)
            except Exception as e:  # noqa: BLE001 - the simulator may refuse; say so with a NAK
                return self._nak(f"S_SPI_FREQ {want}: {e}")
        return bytes([sp.ACK]) + sp.u32(self.freq)

    def _s_pin_state(self, read: Callable[[int], bytes]) -> bytes:
        self.pins_enabled = read(1)[0] != 0
        return bytes([sp.ACK])

    def _o_spiop(self, read: Callable[[int], bytes]) -> bytes:
        p = read(6)
        slen, rlen = sp.le(p[:3]), sp.le(p[3:])
        out = read(slen) if slen else b""
        if slen > self.max_write or rlen > self.max_read:
            return self._nak(f"O_SPIOP {slen} out / {rlen} in exceeds {self.max_write} / {self.max_read}")
        if not self.pins_enabled:
            return self._nak("O_SPIOP while the pin drivers are disabled (S_PIN_STATE 0)")
        # Delays queued before an operation happen before it.
        if self.opbuf:
            self._o_exec(read)
        try:
            with self.lock:
                data = bytes(self.transport.exchange(out, rlen))
        except Exception as e:  # noqa: BLE001 - any failure of the chip side is a NAK to the host
            return self._nak(f"O_SPIOP failed: {e}")
        if len(data) != rlen:
            return self._nak(f"O_SPIOP: the transport returned {len(data)} bytes, not {rlen}")
        self.stats["spiops"] += 1
        return bytes([sp.ACK]) + data

    def serve_stream(self, read: Callable[[int], bytes], write: Callable[[bytes], None],
                     stop: threading.Event | None = None) -> None:
        """Answer commands until ``read`` raises Disconnected (or stop is set)."""
        while stop is None or not stop.is_set():
            cmd = read(1)[0]
            write(self.handle(cmd, read))


_COMMANDS: dict[int, Callable[[SerprogDevice, Callable[[int], bytes]], bytes]] = {
    sp.SYNCNOP: SerprogDevice._syncnop,
    sp.O_INIT: SerprogDevice._o_init,
    sp.O_DELAY: SerprogDevice._o_delay,
    sp.O_EXEC: SerprogDevice._o_exec,
    sp.S_BUSTYPE: SerprogDevice._s_bustype,
    sp.S_SPI_FREQ: SerprogDevice._s_spi_freq,
    sp.S_PIN_STATE: SerprogDevice._s_pin_state,
    sp.O_SPIOP: SerprogDevice._o_spiop,
}

class SerprogServer:
    """Listens on HOST:PORT and serves one client at a time.

    ``transport`` is shared by every connection (the chip stays put).
    ``port`` 0 picks a free port: read it back from ``address``.
    """

    def __init__(self, transport, host: str = "127.0.0.1", port: int = 0, *,
                 device_class: type[SerprogDevice] | None = None, idle_timeout: float | None = IDLE_TIMEOUT,
                 **device_options):
        if idle_timeout is not None and not idle_timeout > 0:
            msg = f"idle_timeout must be positive (or None), not {idle_timeout!r}"
            raise ValueError(msg)
        self.transport = transport
        self.idle_timeout = idle_timeout
        #: clients dropped for saying nothing for ``idle_timeout`` seconds
        self.dropped_idle = 0
        self.device_class = device_class or SerprogDevice
        self.device_options = device_options
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            self.sock.bind((host, port))
        except OSError as e:
            self.sock.close()
            from flashcheck.errors import InputError  # noqa: PLC0415

            raise InputError(f"--listen {host}:{port}: cannot listen there: {e.strerror or e}") from None
        self.sock.listen(4)
        self.sock.settimeout(0.2)
        self.stop_event = threading.Event()
        self.lock = threading.Lock()
        self.connections = 0
        self.last_device: SerprogDevice | None = None
        self._thread: threading.Thread | None = None

    @property
    def address(self) -> tuple[str, int]:
        h, p = self.sock.getsockname()[:2]
        return h, p

    @property
    def url(self) -> str:
        h, p = self.address
        return f"serprog://[{h}]:{p}" if ":" in h else f"serprog://{h}:{p}"

    def serve_forever(self) -> None:
        try:
            while not self.stop_event.is_set():
                try:
                    conn, peer = self.sock.accept()
                except socket.timeout:
                    continue
                except OSError:
                    if self.stop_event.is_set():
                        break
                    raise
                self.connections += 1
                log.info("serprog: client %s connected", peer)
                try:
                    self._serve_connection(conn)
                finally:
                    conn.close()
                    log.info("serprog: client %s left", peer)
        finally:
            self.sock.close()

    def _serve_connection(self, conn: socket.socket) -> None:
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        stop = self.stop_event
        idle = self.idle_timeout
        conn.settimeout(0.2 if idle is None else min(0.2, idle / 4))

        def read(n: int) -> bytes:
            buf = bytearray()
            since = time.monotonic()  # the last byte, or the last answer sent
            while len(buf) < n:
                if stop.is_set():
                    raise Disconnected
                try:
                    chunk = conn.recv(n - len(buf))
                except socket.timeout:
                    if idle is not None and time.monotonic() - since >= idle:
                        raise Idle from None
                    continue
                except OSError as e:
                    raise Disconnected from e
                if not chunk:
                    raise Disconnected
                buf += chunk
                since = time.monotonic()
            return bytes(buf)

        def write(data: bytes) -> None:
            try:
                conn.sendall(data)
            except OSError as e:
                raise Disconnected from e

        dev = self.device_class(self.transport, lock=self.lock, **self.device_options)
        self.last_device = dev
        try:
            dev.serve_stream(read, write, stop)
        except Idle:
            self.dropped_idle += 1
            log.info("serprog: client dropped: nothing sent for %g s", idle)
        except Disconnected:
            pass

    # -- running in a thread (tests, embedding) ----------------------------

    def start(self) -> SerprogServer:
        self._thread = threading.Thread(target=self.serve_forever, name="serprog-server", daemon=True)
        self._thread.start()
        return self

    def shutdown(self) -> None:
        self.stop_event.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        else:
            self.sock.close()

    def __enter__(self) -> SerprogServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.shutdown()
