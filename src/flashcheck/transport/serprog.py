"""serprog: flashrom's "Serial Flasher Protocol", client side and codec.

The protocol (``serprog-protocol.txt`` in flashrom's documentation, version
1): the host sends a one-byte command and its parameters; the device answers
ACK (0x06) and the command's return bytes, or NAK (0x15) alone.  SYNCNOP
(0x10) is answered NAK+ACK, which is how either side finds the start of an
answer in a stream of unknown state.  Multi-byte values are little-endian,
lengths and addresses 24-bit.  SPI traffic is O_SPIOP (0x13): 24-bit send
length, 24-bit read length, the bytes to send; the device asserts chip
select, clocks the bytes out, clocks ``rlen`` bytes in, releases chip select
and answers ACK + those bytes.

URLs understood by :func:`open_serprog` (the ``serprog`` opener of
:func:`flashcheck.transport.open_transport`)::

    serprog://127.0.0.1:5000               TCP (flashcheck sim serve, ser2net, ...)
    serprog://[::1]:5000
    serprog:///dev/ttyACM0?baud=115200     USB/serial (pyserial, imported lazily)

Parameters (query string): ``baud`` (serial only, default 115200),
``timeout`` (seconds per answer, default 5), ``freq`` (SPI clock to ask for,
e.g. ``4M``, ``750k``; sent with S_SPI_FREQ).
"""

from __future__ import annotations

import socket
from collections.abc import Callable

from flashcheck.errors import InputError, TransportError

# ---------------------------------------------------------------------------
# Protocol constants

ACK = 0x06
NAK = 0x15

NOP = 0x00
Q_IFACE = 0x01
Q_CMDMAP = 0x02
Q_PGMNAME = 0x03
Q_SERBUF = 0x04
Q_BUSTYPE = 0x05
Q_CHIPSIZE = 0x06
Q_OPBUF = 0x07
Q_WRNMAXLEN = 0x08
R_BYTE = 0x09
R_NBYTES = 0x0A
O_INIT = 0x0B
O_WRITEB = 0x0C
O_WRITEN = 0x0D
O_DELAY = 0x0E
O_EXEC = 0x0F
SYNCNOP = 0x10
Q_RDNMAXLEN = 0x11
S_BUSTYPE = 0x12
O_SPIOP = 0x13
S_SPI_FREQ = 0x14
S_PIN_STATE = 0x15

COMMAND_NAMES = {
    NOP: "NOP", Q_IFACE: "Q_IFACE", Q_CMDMAP: "Q_CMDMAP", Q_PGMNAME: "Q_PGMNAME",
    Q_SERBUF: "Q_SERBUF", Q_BUSTYPE: "Q_BUSTYPE", Q_CHIPSIZE: "Q_CHIPSIZE", Q_OPBUF: "Q_OPBUF",
    Q_WRNMAXLEN: "Q_WRNMAXLEN", R_BYTE: "R_BYTE", R_NBYTES: "R_NBYTES", O_INIT: "O_INIT",
    O_WRITEB: "O_WRITEB", O_WRITEN: "O_WRITEN", O_DELAY: "O_DELAY", O_EXEC: "O_EXEC",
    SYNCNOP: "SYNCNOP", Q_RDNMAXLEN: "Q_RDNMAXLEN", S_BUSTYPE: "S_BUSTYPE", O_SPIOP: "O_SPIOP",
    S_SPI_FREQ: "S_SPI_FREQ", S_PIN_STATE: "S_PIN_STATE",
}

#: Q_BUSTYPE / S_BUSTYPE bits.
BUS_PARALLEL = 0x01
BUS_LPC = 0x02
BUS_FWH = 0x04
BUS_SPI = 0x08

#: Protocol version this module speaks (Q_IFACE).
IFACE_VERSION = 1

#: Fixed parameter length of each command; O_WRITEN and O_SPIOP carry a
#: length-prefixed payload after these bytes.
PARAM_LEN = {
    NOP: 0, Q_IFACE: 0, Q_CMDMAP: 0, Q_PGMNAME: 0, Q_SERBUF: 0, Q_BUSTYPE: 0, Q_CHIPSIZE: 0,
    Q_OPBUF: 0, Q_WRNMAXLEN: 0, R_BYTE: 3, R_NBYTES: 6, O_INIT: 0, O_WRITEB: 4, O_WRITEN: 6,
    O_DELAY: 4, O_EXEC: 0, SYNCNOP: 0, Q_RDNMAXLEN: 0, S_BUSTYPE: 1, O_SPIOP: 6, S_SPI_FREQ: 4,
    S_PIN_STATE: 1,
}


def u16(n: int) -> bytes:
    return n.to_bytes(2, "little")


def u24(n: int) -> bytes:
    if not 0 <= n < 1 << 24:
        raise ValueError(f"{n} does not fit in 24 bits")
    return n.to_bytes(3, "little")


def u32(n: int) -> bytes:
    return n.to_bytes(4, "little")


def le(b: bytes) -> int:
    return int.from_bytes(b, "little")


def encode_spiop(out: bytes, readlen: int) -> bytes:
    """The O_SPIOP command for one chip-select transaction."""
    return bytes([O_SPIOP]) + u24(len(out)) + u24(readlen) + bytes(out)


def cmdmap(commands) -> bytes:
    """The 32-byte Q_CMDMAP answer for a set of command numbers."""
    m = bytearray(32)
    for c in commands:
        m[c >> 3] |= 1 << (c & 7)
    return bytes(m)


def cmdmap_has(m: bytes, cmd: int) -> bool:
    return bool(m[cmd >> 3] >> (cmd & 7) & 1)


def command_name(cmd: int) -> str:
    return COMMAND_NAMES.get(cmd, f"command {cmd:#04x}")


# ---------------------------------------------------------------------------
# Links: a byte pipe with a timeout.


class _SocketLink:
    def __init__(self, host: str, port: int, timeout: float, address: str):
        self.address = address
        try:
            self.sock = socket.create_connection((host, port), timeout=timeout)
        except socket.timeout:
            raise TransportError(f"serprog {address}: no connection within {timeout:g} s") from None
        except OSError as e:
            raise TransportError(f"serprog {address}: cannot connect: {e.strerror or e}") from None
        self.sock.settimeout(timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def write(self, data: bytes) -> None:
        try:
            self.sock.sendall(data)
        except OSError as e:
            raise TransportError(f"serprog {self.address}: connection lost: {e.strerror or e}") from None

    def read(self, n: int) -> bytes:
        """Up to n bytes: fewer only if the timeout ran out; b'' on timeout."""
        buf = bytearray()
        while len(buf) < n:
            try:
                chunk = self.sock.recv(n - len(buf))
            except socket.timeout:
                break
            except OSError as e:
                raise TransportError(f"serprog {self.address}: connection lost: {e.strerror or e}") from None
            if not chunk:
                raise TransportError(f"serprog {self.address}: the programmer closed the connection")
            buf += chunk
        return bytes(buf)

    def set_timeout(self, t: float) -> None:
        self.sock.settimeout(t)

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass


class _SerialLink:
    def __init__(self, device: str, baud: int, timeout: float, address: str):
        self.address = address
        try:
            import serial  # noqa: PLC0415 - lazy: only serial users need pyserial
        except ImportError:
            raise InputError(f"serprog {address}: a serial port needs pyserial (pip install pyserial)") from None
        try:
            self.port = serial.Serial(device, baudrate=baud, timeout=timeout, write_timeout=timeout)
        except (serial.SerialException, OSError, ValueError) as e:
            raise TransportError(f"serprog {address}: cannot open {device}: {e}") from None
        self._exc = serial.SerialException

    def write(self, data: bytes) -> None:
        try:
            self.port.write(data)
            self.port.flush()
        except (self._exc, OSError) as e:
            raise TransportError(f"serprog {self.address}: write failed: {e}") from None

    def read(self, n: int) -> bytes:
        try:
            return bytes(self.port.read(n))
        except (self._exc, OSError) as e:
            raise TransportError(f"serprog {self.address}: read failed: {e}") from None

    def set_timeout(self, t: float) -> None:
        self.port.timeout = t

    def discard_input(self) -> None:
        """Drop answers still queued from an earlier, interrupted session."""
        try:
            self.port.reset_input_buffer()
        except (self._exc, OSError, AttributeError):
            pass

    def close(self) -> None:
        try:
            self.port.close()
        except Exception:  # noqa: BLE001 - closing a vanished port
            pass


# ---------------------------------------------------------------------------
# Client


class SerprogTransport:
    """A :class:`flashcheck.transport.Transport` over a serprog programmer.

    ``exchange(out, readlen)`` is one O_SPIOP, i.e. one chip-select
    transaction.  The handshake on opening: SYNCNOP (expects NAK+ACK),
    Q_IFACE (must be 1), Q_CMDMAP (must have O_SPIOP), Q_BUSTYPE (must have
    SPI), S_BUSTYPE SPI, Q_WRNMAXLEN/Q_RDNMAXLEN for the length limits,
    S_SPI_FREQ if a frequency was asked for, S_PIN_STATE 1 if supported.
    """

    def __init__(self, link, address: str, freq: int | None = None, timeout: float = 5.0):
        self.link = link
        self.address = address
        self.timeout = timeout
        self.name = ""
        self.cmds = bytes(32)
        self.max_write = (1 << 24) - 1
        self.max_read = (1 << 24) - 1
        self.freq: int | None = None
        self.description = f"serprog {address}"
        try:
            self._handshake(freq)
        except BaseException:
            link.close()
            raise

    # -- low level ---------------------------------------------------------

    def _read_exact(self, n: int, what: str) -> bytes:
        data = self.link.read(n)
        if len(data) < n:
            raise TransportError(
                f"serprog {self.address}: no answer to {what} within {self.timeout:g} s "
                f"(got {len(data)} of {n} bytes); is it a serprog programmer, and is it powered?")
        return data

    def _command(self, cmd: int, params: bytes = b"", retlen: int = 0) -> bytes | None:
        """Send a command; its return bytes on ACK, None on NAK."""
        self.link.write(bytes([cmd]) + params)
        what = command_name(cmd)
        a = self._read_exact(1, what)[0]
        if a == NAK:
            return None
        if a != ACK:
            raise TransportError(
                f"serprog {self.address}: answer {a:#04x} to {what} is neither ACK nor NAK (protocol out of step)")
        return self._read_exact(retlen, what) if retlen else b""

    def has(self, cmd: int) -> bool:
        return cmdmap_has(self.cmds, cmd)

    def sync(self, tries: int = 8) -> None:
        """SYNCNOP until the answer NAK+ACK shows up; drop anything before it."""
        discard = getattr(self.link, "discard_input", None)
        if discard is not None:
            discard()
        for _ in range(tries):
            self.link.write(bytes([SYNCNOP]))
            seen = bytearray()
            # Anything still in flight from an earlier, interrupted command comes
            # first; the NAK+ACK pair marks the end of it.
            self.link.set_timeout(min(self.timeout, 0.5))
            try:
                while len(seen) < 4096:
                    b = self.link.read(1)
                    if not b:
                        break
                    seen += b
                    if seen[-2:] == bytes([NAK, ACK]):
                        return
            finally:
                self.link.set_timeout(self.timeout)
        raise TransportError(
            f"serprog {self.address}: no SYNCNOP answer (NAK ACK) after {tries} tries; "
            "not a serprog programmer, wrong baud rate, or not responding")

    def _handshake(self, freq: int | None) -> None:
        self.sync()
        v = self._command(Q_IFACE, retlen=2)
        if v is None or le(v) != IFACE_VERSION:
            got = "NAK" if v is None else str(le(v))
            raise TransportError(f"serprog {self.address}: protocol version {got}, this client speaks version 1")
        m = self._command(Q_CMDMAP, retlen=32)
        if m is None:
            raise TransportError(f"serprog {self.address}: Q_CMDMAP was refused")
        self.cmds = m
        if not self.has(O_SPIOP):
            raise TransportError(f"serprog {self.address}: the programmer has no SPI operation (O_SPIOP)")
        if self.has(Q_BUSTYPE):
            bt = self._command(Q_BUSTYPE, retlen=1)
            if bt is not None and not bt[0] & BUS_SPI:
                raise TransportError(
                    f"serprog {self.address}: the programmer does not support the SPI bus (bus types {bt[0]:#04x})")
        if self.has(S_BUSTYPE) and self._command(S_BUSTYPE, bytes([BUS_SPI])) is None:
            raise TransportError(f"serprog {self.address}: the programmer refused to select the SPI bus")
        if self.has(Q_PGMNAME):
            n = self._command(Q_PGMNAME, retlen=16)
            if n is not None:
                self.name = n.split(b"\0", 1)[0].decode("ascii", "replace")
        if self.has(Q_WRNMAXLEN):
            w = self._command(Q_WRNMAXLEN, retlen=3)
            if w is not None:
                self.max_write = le(w) or (1 << 24) - 1
        if self.has(Q_RDNMAXLEN):
            r = self._command(Q_RDNMAXLEN, retlen=3)
            if r is not None:
                self.max_read = le(r) or (1 << 24) - 1
        if freq is not None:
            if not self.has(S_SPI_FREQ):
                raise InputError(f"serprog {self.address}: freq= given but the programmer cannot set the SPI clock")
            f = self._command(S_SPI_FREQ, u32(freq), retlen=4)
            if f is None:
                raise InputError(f"serprog {self.address}: the programmer refused an SPI clock of {freq} Hz")
            self.freq = le(f)
        if self.has(S_PIN_STATE):
            self._command(S_PIN_STATE, b"\x01")
        who = f" ({self.name})" if self.name else ""
        clk = f", {self.freq} Hz" if self.freq else ""
        self.description = f"serprog {self.address}{who}{clk}"

    # -- Transport ---------------------------------------------------------

    def exchange(self, out: bytes, readlen: int = 0) -> bytes:
        if self.link is None:
            raise TransportError(f"serprog {self.address}: transport is closed")
        out = bytes(out)
        if len(out) > self.max_write:
            raise InputError(
                f"serprog {self.address}: {len(out)} bytes to send in one transaction; "
                f"the programmer takes at most {self.max_write}")
        if readlen < 0 or readlen > self.max_read:
            raise InputError(
                f"serprog {self.address}: {readlen} bytes to read in one transaction; "
                f"the programmer returns at most {self.max_read}")
        self.link.write(encode_spiop(out, readlen))
        a = self._read_exact(1, "O_SPIOP")[0]
        if a == NAK:
            # The device refused the operation: get back in step before telling.
            self.sync()
            raise TransportError(
                f"serprog {self.address}: the programmer refused an SPI operation "
                f"(NAK; {len(out)} out, {readlen} in, opcode {out[0]:#04x})" if out else
                f"serprog {self.address}: the programmer refused an SPI operation (NAK)")
        if a != ACK:
            try:
                self.sync()
            except TransportError:
                pass
            raise TransportError(
                f"serprog {self.address}: answer {a:#04x} to O_SPIOP is neither ACK nor NAK (protocol out of step)")
        return self._read_exact(readlen, "O_SPIOP") if readlen else b""

    def close(self) -> None:
        """Release the bus (S_PIN_STATE 0, as flashrom does) and the link."""
        if self.link is None:
            return
        try:
            if self.has(S_PIN_STATE):
                self._command(S_PIN_STATE, b"\x00")
        except TransportError:
            pass
        finally:
            link, self.link = self.link, None
            link.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


# ---------------------------------------------------------------------------
# URL parsing

_PARAMS = {"baud", "timeout", "freq"}


def split_host_port(netloc: str, where: str) -> tuple[str, int]:
    """``127.0.0.1:5000`` / ``[::1]:5000`` / ``localhost:5000`` -> (host, port)."""
    if netloc.startswith("["):
        host, sep, rest = netloc[1:].partition("]")
        if not sep or not rest.startswith(":"):
            raise InputError(f"{where}: expected [IPv6]:PORT")
        port_s = rest[1:]
    else:
        host, sep, port_s = netloc.rpartition(":")
        if not sep:
            raise InputError(f"{where}: expected HOST:PORT")
    if not host:
        raise InputError(f"{where}: the host is missing (HOST:PORT)")
    if not port_s.isdigit() or not 0 <= int(port_s) <= 65535:
        raise InputError(f"{where}: port {port_s!r} is not a number 0..65535")
    return host, int(port_s)


def _is_serial_target(target: str) -> bool:
    return target.startswith("/") or target.upper().startswith("COM") and target[3:].isdigit()


def open_serprog(url: str, *, freq_hz: float | None = None, mode: int = 0, wiring: dict | None = None,
                 link_factory: Callable | None = None) -> SerprogTransport:
    """Open ``serprog://HOST:PORT`` or ``serprog:///dev/ttyX?baud=N``
    (the :func:`flashcheck.transport.open_transport` opener).

    ``freq_hz`` (or ``freq=`` in the URL) is asked for with S_SPI_FREQ.
    serprog has no SPI mode setting and no spare pins: ``mode`` must be 0
    and ``wiring`` must not name a reset or power pin.  Bad URLs and
    parameters raise InputError; a programmer that is not there or does not
    answer raises TransportError naming the address.
    """
    from flashcheck.transport import parse_freq, refuse_pins, split_url  # noqa: PLC0415

    scheme, target, params = split_url(url, _PARAMS)
    if scheme != "serprog":
        raise InputError(f"transport URL {url!r}: not a serprog:// URL")
    if mode != 0:
        raise InputError(f"transport URL {url!r}: serprog programmers run SPI mode 0 only (asked for mode {mode})")
    refuse_pins(url, wiring, "a serprog programmer has no spare pins to drive it")
    try:
        timeout = float(params.get("timeout", "5"))
    except ValueError:
        raise InputError(f"transport URL {url!r}: timeout={params['timeout']!r} is not a number of seconds") from None
    if not 0 < timeout <= 600:
        raise InputError(f"transport URL {url!r}: timeout={params['timeout']} must be between 0 and 600 seconds")
    freq = None
    if "freq" in params:
        freq_hz = parse_freq(params["freq"], f"transport URL {url!r}: freq")
    if freq_hz is not None:
        freq = int(freq_hz)
        if not 1 <= freq < 1 << 32:
            raise InputError(f"transport URL {url!r}: SPI clock {freq_hz} Hz is out of range")
    if not target:
        raise InputError(f"transport URL {url!r}: give HOST:PORT (serprog://127.0.0.1:5000) "
                         "or a serial device (serprog:///dev/ttyACM0)")
    if _is_serial_target(target):
        try:
            baud = int(params.get("baud", "115200"))
        except ValueError:
            raise InputError(f"transport URL {url!r}: baud={params['baud']!r} is not a whole number") from None
        if baud <= 0:
            raise InputError(f"transport URL {url!r}: baud={baud} must be positive")
        address = target
        link = (link_factory or _SerialLink)(target, baud, timeout, address)
    else:
        if "baud" in params:
            raise InputError(f"transport URL {url!r}: baud= is for serial ports, not TCP")
        if "/" in target:
            raise InputError(f"transport URL {url!r}: a TCP address has no path (serprog://HOST:PORT)")
        host, port = split_host_port(target, f"transport URL {url!r}")
        if port == 0:
            raise InputError(f"transport URL {url!r}: port 0 is not a port to connect to")
        address = target
        link = (link_factory or _SocketLink)(host, port, timeout, address)
    return SerprogTransport(link, address, freq=freq, timeout=timeout)


def register() -> None:
    """Add ``serprog://`` to :func:`flashcheck.transport.open_transport`."""
    from flashcheck.transport import register_scheme  # noqa: PLC0415

    register_scheme("serprog", "flashcheck.transport.serprog:open_serprog")
