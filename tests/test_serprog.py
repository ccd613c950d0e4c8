"""serprog: the protocol engine, the TCP server, the client transport, the
`flashcheck sim serve` command, and Debian's flashrom against the server
with a simulated W25Q80DV behind it."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import threading

import pytest

from flashcheck.errors import InputError, TransportError
from flashcheck.sim.serprog_server import MAX_FREQ, SUPPORTED, SerprogDevice, SerprogServer
from flashcheck.transport import open_transport
from flashcheck.transport import serprog as sp

W25Q80DV_ID = bytes.fromhex("ef4014")
MiB = 1 << 20


# ---------------------------------------------------------------------------
# helpers


class Recorder:
    """A chip-side transport that records every transaction and answers
    with a fixed pattern; ``fail_on`` opcodes raise."""

    description = "recorder"

    def __init__(self, fail_on=()):
        self.calls: list[tuple[bytes, int]] = []
        self.fail_on = set(fail_on)
        self.closed = False

    def exchange(self, out: bytes, readlen: int = 0) -> bytes:
        self.calls.append((bytes(out), readlen))
        if out and out[0] in self.fail_on:
            raise TransportError("chip side failed")
        return bytes((0xA0 + i) & 0xFF for i in range(readlen))

    def close(self) -> None:
        self.closed = True


def run_device(dev: SerprogDevice, stream: bytes) -> bytes:
    """Feed a whole command stream to the engine; everything it answered."""
    pos = 0
    out = bytearray()

    def read(n: int) -> bytes:
        nonlocal pos
        if pos + n > len(stream):
            raise EOFError
        chunk = stream[pos:pos + n]
        pos += n
        return chunk

    try:
        dev.serve_stream(read, out.extend)
    except EOFError:
        pass
    return bytes(out)


def sim(model: str = "W25Q80DV", **params):
    from urllib.parse import urlencode

    q = urlencode({k: str(v) for k, v in params.items()})
    return open_transport(f"sim://{model}" + (f"?{q}" if q else ""))


@pytest.fixture
def sim_server():
    """A server on a free loopback port with a simulated W25Q80DV behind it."""
    t = sim()
    with SerprogServer(t, "127.0.0.1", 0) as srv:
        yield srv
    t.close()


def client(srv: SerprogServer, extra: str = "") -> sp.SerprogTransport:
    host, port = srv.address
    return sp.open_serprog(f"serprog://{host}:{port}{extra}")


def wait_ready(t, tries: int = 100000) -> None:
    for _ in range(tries):
        if not t.exchange(b"\x05", 1)[0] & 0x01:
            return
    raise AssertionError("chip stayed busy")


# ---------------------------------------------------------------------------
# codec


def test_spiop_encoding_is_little_endian_24_bit():
    assert sp.encode_spiop(b"\x03\x01\x02\x03", 0x010203) == bytes(
        [0x13, 0x04, 0x00, 0x00, 0x03, 0x02, 0x01, 0x03, 0x01, 0x02, 0x03])
    with pytest.raises(ValueError):
        sp.u24(1 << 24)


def test_cmdmap_bit_layout():
    m = sp.cmdmap([0, 7, 8, 0x13])
    assert m[0] == 0x81 and m[1] == 0x01 and m[2] == 0x08 and len(m) == 32
    assert sp.cmdmap_has(m, 0x13) and not sp.cmdmap_has(m, 0x12)


# ---------------------------------------------------------------------------
# the protocol engine, byte for byte


def test_engine_answers_queries():
    dev = SerprogDevice(Recorder())
    ans = run_device(dev, bytes([sp.NOP, sp.SYNCNOP, sp.Q_IFACE, sp.Q_BUSTYPE, sp.Q_SERBUF]))
    assert ans == bytes([sp.ACK, sp.NAK, sp.ACK, sp.ACK, 1, 0, sp.ACK, 0x08, sp.ACK, 0xFF, 0xFF])
    ans = run_device(dev, bytes([sp.Q_PGMNAME]))
    assert ans[0] == sp.ACK and ans[1:] == b"flashcheck-sim\0\0"
    ans = run_device(dev, bytes([sp.Q_CMDMAP]))
    m = ans[1:]
    assert ans[0] == sp.ACK and len(m) == 32
    for c in (sp.O_SPIOP, sp.S_SPI_FREQ, sp.S_PIN_STATE, sp.Q_WRNMAXLEN, sp.Q_RDNMAXLEN, sp.S_BUSTYPE):
        assert sp.cmdmap_has(m, c)
    for c in (sp.R_BYTE, sp.R_NBYTES, sp.O_WRITEB, sp.O_WRITEN, 0x16, 0xFF):
        assert not sp.cmdmap_has(m, c)
    assert sum(bin(b).count("1") for b in m) == len(SUPPORTED)


def test_engine_spiop_is_one_transaction():
    rec = Recorder()
    ans = run_device(SerprogDevice(rec), sp.encode_spiop(b"\x9f", 3) + sp.encode_spiop(b"\x06", 0))
    assert ans == bytes([sp.ACK, 0xA0, 0xA1, 0xA2, sp.ACK])
    assert rec.calls == [(b"\x9f", 3), (b"\x06", 0)]


def test_engine_naks_and_stays_in_step():
    rec = Recorder()
    dev = SerprogDevice(rec, max_write=8, max_read=8)
    stream = (
        bytes([0x42])                                     # unknown: NAK
        + bytes([sp.R_NBYTES]) + sp.u24(0) + sp.u24(16)   # parallel read: params eaten, NAK
        + bytes([sp.O_WRITEN]) + sp.u24(2) + sp.u24(0) + b"\x13\x13"  # payload that looks like O_SPIOP
        + sp.encode_spiop(b"\x03" * 9, 0)                 # longer than max_write: NAK
        + sp.encode_spiop(b"\x03", 9)                     # longer than max_read: NAK
        + bytes([sp.S_SPI_FREQ]) + sp.u32(0)              # reserved: NAK
        + bytes([sp.S_BUSTYPE, sp.BUS_PARALLEL])          # not offered: NAK
        + bytes([sp.NOP])                                 # still in step: ACK
    )
    assert run_device(dev, stream) == bytes([sp.NAK] * 7 + [sp.ACK])
    assert rec.calls == []


def test_engine_spi_freq_maps_down():
    dev = SerprogDevice(Recorder())
    ans = run_device(dev, bytes([sp.S_SPI_FREQ]) + sp.u32(1_000_000) + bytes([sp.S_SPI_FREQ]) + sp.u32(10**9))
    assert ans == bytes([sp.ACK]) + sp.u32(1_000_000) + bytes([sp.ACK]) + sp.u32(MAX_FREQ)


def test_engine_pins_disabled_refuses_spi():
    rec = Recorder()
    ans = run_device(SerprogDevice(rec), bytes([sp.S_PIN_STATE, 0]) + sp.encode_spiop(b"\x9f", 3)
                     + bytes([sp.S_PIN_STATE, 1]) + sp.encode_spiop(b"\x9f", 1))
    assert ans == bytes([sp.ACK, sp.NAK, sp.ACK, sp.ACK, 0xA0])
    assert rec.calls == [(b"\x9f", 1)]


def test_engine_opbuf_delays_run_before_next_spiop():
    order = []

    class Timed(Recorder):
        def delay(self, seconds):
            order.append(("delay", seconds))

        def exchange(self, out, readlen=0):
            order.append(("spi", bytes(out)))
            return super().exchange(out, readlen)

    dev = SerprogDevice(Timed())
    ans = run_device(dev, bytes([sp.O_INIT, sp.O_DELAY]) + sp.u32(2500) + sp.encode_spiop(b"\x05", 1)
                     + bytes([sp.O_DELAY]) + sp.u32(10) + bytes([sp.O_EXEC]))
    assert ans == bytes([sp.ACK, sp.ACK, sp.ACK, 0xA0, sp.ACK, sp.ACK])
    assert order == [("delay", 0.0025), ("spi", b"\x05"), ("delay", 0.00001)]


def test_engine_chip_failure_is_nak():
    rec = Recorder(fail_on={0x9F})
    ans = run_device(SerprogDevice(rec), sp.encode_spiop(b"\x9f", 3) + bytes([sp.NOP]))
    assert ans == bytes([sp.NAK, sp.ACK])


# ---------------------------------------------------------------------------
# client <-> server over TCP, simulated chip


def test_client_reads_jedec_id_through_server(sim_server):
    with client(sim_server) as t:
        assert t.exchange(b"\x9f", 3) == W25Q80DV_ID
        assert "flashcheck-sim" in t.description and "127.0.0.1" in t.description
        assert t.max_write == 4096 + 16 and t.max_read == 1 << 16
    # close() released the pin drivers, as flashrom does
    assert sim_server.last_device.pins_enabled is False


def test_client_program_lands_in_simulated_chip(sim_server):
    data = bytes(range(256))
    with client(sim_server) as t:
        t.exchange(b"\x06")
        t.exchange(b"\x20\x01\x00\x00")  # 4 KiB erase at 0x010000
        wait_ready(t)
        t.exchange(b"\x06")
        t.exchange(b"\x02\x01\x00\x00" + data)
        wait_ready(t)
        assert t.exchange(b"\x03\x01\x00\x00", 256) == data
    chip = sim_server.transport.chip
    assert bytes(chip.data[0x10000:0x10100]) == data
    assert bytes(chip.data[0x10100:0x10200]) == b"\xff" * 256


def test_one_exchange_is_one_spiop_on_the_wire():
    rec = Recorder()
    with SerprogServer(rec) as srv, client(srv) as t:
        assert t.exchange(b"\x0b\x00\x10\x00\x00", 4) == bytes([0xA0, 0xA1, 0xA2, 0xA3])
        t.exchange(b"\x06")
        assert rec.calls == [(b"\x0b\x00\x10\x00\x00", 4), (b"\x06", 0)]
        assert srv.last_device.stats["spiops"] == 2


def test_client_asks_for_frequency(sim_server):
    with client(sim_server, "?freq=4M") as t:
        assert t.freq == 4_000_000
        assert sim_server.last_device.freq == 4_000_000
        assert "4000000 Hz" in t.description


def test_client_rejects_transfers_over_programmer_limits():
    rec = Recorder()
    with SerprogServer(rec, max_write=16, max_read=32) as srv, client(srv) as t:
        with pytest.raises(InputError, match="at most 16"):
            t.exchange(b"\x02" + bytes(16))
        with pytest.raises(InputError, match="at most 32"):
            t.exchange(b"\x03\0\0\0", 33)
        assert rec.calls == []
        assert t.exchange(b"\x03\0\0\0", 32)[:2] == b"\xa0\xa1"


def test_nak_is_transport_error_and_client_resyncs():
    rec = Recorder(fail_on={0xC7})
    with SerprogServer(rec) as srv, client(srv) as t:
        with pytest.raises(TransportError, match=r"127\.0\.0\.1:\d+.*refused.*0xc7"):
            t.exchange(b"\xc7")
        # back in step: the next transaction gets its own answer
        assert t.exchange(b"\x9f", 2) == b"\xa0\xa1"


def test_data_survives_reconnect(sim_server):
    with client(sim_server) as t:
        t.exchange(b"\x06")
        t.exchange(b"\x02\x00\x00\x00" + b"\x12\x34")
        wait_ready(t)
    with client(sim_server) as t:
        assert t.exchange(b"\x03\x00\x00\x00", 3) == b"\x12\x34\xff"
    assert sim_server.connections == 2


def _quirky_server(override: dict[int, bytes]) -> SerprogServer:
    """A programmer that answers some commands its own way."""

    class Quirky(SerprogDevice):
        def handle(self, cmd, read):
            if cmd in override:
                return override[cmd]
            return super().handle(cmd, read)

    return SerprogServer(Recorder(), device_class=Quirky)


def test_wrong_protocol_version_is_refused():
    with _quirky_server({sp.Q_IFACE: bytes([sp.ACK, 2, 0])}) as srv:
        with pytest.raises(TransportError, match="protocol version 2"):
            client(srv)


def test_programmer_without_spi_is_refused():
    with _quirky_server({sp.Q_BUSTYPE: bytes([sp.ACK, sp.BUS_PARALLEL])}) as srv:
        with pytest.raises(TransportError, match="does not support the SPI bus"):
            client(srv)


def test_silent_peer_times_out_naming_address():
    lsock = socket.socket()
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(1)
    port = lsock.getsockname()[1]
    accepted = []
    th = threading.Thread(target=lambda: accepted.append(lsock.accept()[0]), daemon=True)
    th.start()
    try:
        with pytest.raises(TransportError, match=rf"127\.0\.0\.1:{port}.*SYNCNOP"):
            sp.open_serprog(f"serprog://127.0.0.1:{port}?timeout=0.05")
    finally:
        th.join()
        for c in accepted:
            c.close()
        lsock.close()


def test_nobody_listening_is_transport_error():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    with pytest.raises(TransportError, match=rf"127\.0\.0\.1:{port}.*cannot connect"):
        sp.open_serprog(f"serprog://127.0.0.1:{port}")


@pytest.mark.parametrize(("url", "kw", "msg"), [
    ("serprog://127.0.0.1", {}, "HOST:PORT"),
    ("serprog://127.0.0.1:70000", {}, "port"),
    ("serprog://127.0.0.1:0", {}, "port 0"),
    ("serprog://127.0.0.1:5000?baud=115200", {}, "baud= is for serial"),
    ("serprog://127.0.0.1:5000?speed=1", {}, "unknown parameter 'speed'"),
    ("serprog://127.0.0.1:5000?timeout=0", {}, "timeout"),
    ("serprog://127.0.0.1:5000?freq=fast", {}, "not a frequency"),
    ("serprog:///dev/ttyACM0?baud=fast", {}, "baud"),
    ("serprog://", {}, "HOST:PORT"),
    ("serprog://127.0.0.1:5000", {"mode": 3}, "mode 0 only"),
    ("serprog://127.0.0.1:5000", {"wiring": {"reset_gpio": "AD4"}}, "reset_gpio=AD4"),
])
def test_bad_urls_are_input_errors(url, kw, msg):
    with pytest.raises(InputError, match=msg):
        sp.open_serprog(url, **kw)


def test_serial_port_goes_through_pyserial(monkeypatch):
    """serprog:///dev/ttyX opens pyserial with the device and baud rate,
    and speaks the same protocol over it."""
    serial = pytest.importorskip("serial")
    rec = Recorder()
    opened = {}

    class FakeSerial:
        def __init__(self, port, baudrate, timeout, write_timeout):
            opened.update(port=port, baudrate=baudrate, timeout=timeout)
            self.dev = SerprogDevice(rec)
            self.pending = bytearray()
            self.rx = bytearray()

        def write(self, data):
            self.pending += data
            # answer every complete command in what was written so far
            while self.pending:
                cmd = self.pending[0]
                need = 1 + sp.PARAM_LEN.get(cmd, 0)
                if cmd == sp.O_SPIOP and len(self.pending) >= 7:
                    need += sp.le(bytes(self.pending[1:4]))
                if len(self.pending) < need:
                    break
                body = bytes(self.pending[1:need])
                del self.pending[:need]
                pos = [0]

                def read(n, body=body, pos=pos):
                    chunk = body[pos[0]:pos[0] + n]
                    pos[0] += n
                    return chunk

                self.rx += self.dev.handle(cmd, read)
            return len(data)

        def flush(self):
            pass

        def read(self, n):
            chunk = bytes(self.rx[:n])
            del self.rx[:n]
            return chunk

        def close(self):
            opened["closed"] = True

    monkeypatch.setattr(serial, "Serial", FakeSerial)
    t = sp.open_serprog("serprog:///dev/ttyACM7?baud=921600&timeout=0.05")
    assert opened == {"port": "/dev/ttyACM7", "baudrate": 921600, "timeout": 0.05}
    assert t.exchange(b"\x9f", 3) == b"\xa0\xa1\xa2"
    assert rec.calls == [(b"\x9f", 3)]
    assert t.description.startswith("serprog /dev/ttyACM7")
    t.close()
    assert opened["closed"] is True


def test_open_transport_knows_serprog(sim_server):
    """serprog:// through the registry (added by serprog.register())."""
    sp.register()
    host, port = sim_server.address
    t = open_transport(f"serprog://{host}:{port}")
    try:
        assert t.exchange(b"\x9f", 3) == W25Q80DV_ID
    finally:
        t.close()


# ---------------------------------------------------------------------------
# flashcheck sim serve


def test_listen_must_be_loopback(run):
    code, _out, err = run("sim", "serve", "--chip", "W25Q80DV", "--listen", "0.0.0.0:0")
    assert code == 2
    assert "0.0.0.0 is not a loopback address" in err and "--allow-remote" in err


def test_parse_listen_forms():
    from flashcheck.commands.sim import parse_listen

    assert parse_listen("5000", False) == ("127.0.0.1", 5000)
    assert parse_listen(":5001", False) == ("127.0.0.1", 5001)
    assert parse_listen("[::1]:5002", False) == ("::1", 5002)
    assert parse_listen("0.0.0.0:5003", True) == ("0.0.0.0", 5003)
    with pytest.raises(InputError, match="port"):
        parse_listen("127.0.0.1:http", False)


def test_unknown_model_is_input_error(run):
    code, _out, err = run("sim", "serve", "--chip", "NOSUCHCHIP")
    assert code == 2 and "NOSUCHCHIP" in err


def _start_serve(*args: str) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen([sys.executable, "-m", "flashcheck.cli", "sim", "serve", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    if not line.startswith("serving"):
        proc.kill()
        raise AssertionError(f"sim serve did not start: {line!r} {proc.stderr.read()}")
    url = line.split(" on ", 1)[1].strip()
    return proc, url


def test_serve_command_with_image_file(tmp_path):
    img = tmp_path / "chip.bin"
    proc, url = _start_serve("--chip", "W25Q80DV", "--listen", "127.0.0.1:0", "--image", str(img))
    try:
        assert url.startswith("serprog://127.0.0.1:")
        with sp.open_serprog(url) as t:
            assert t.exchange(b"\x9f", 3) == W25Q80DV_ID
            t.exchange(b"\x06")
            t.exchange(b"\x02\x00\x01\x00" + b"flashcheck")
            wait_ready(t)
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate()
    assert proc.returncode == 0, err
    assert "stopped after 1 connection" in out
    data = img.read_bytes()
    assert len(data) == MiB
    assert data[0x100:0x10A] == b"flashcheck" and data[:0x100] == b"\xff" * 0x100


# ---------------------------------------------------------------------------
# flashrom (Debian's) against the server

needs_flashrom = pytest.mark.skipif(
    shutil.which("flashrom") is None,
    reason="Debian's flashrom is not installed (apt-get install flashrom); scripts/test.sh installs it as root")


def flashrom(srv: SerprogServer, *args: str) -> subprocess.CompletedProcess:
    host, port = srv.address
    return subprocess.run(["flashrom", "-p", f"serprog:ip={host}:{port}", *args],
                          capture_output=True, text=True, timeout=300)


@pytest.fixture
def imaged_server(tmp_path):
    """A W25Q80DV simulator keeping its array in a file, served on TCP;
    yields (server, image path, preloaded contents)."""
    img = tmp_path / "w25q80dv.bin"
    preload = os.urandom(MiB)
    img.write_bytes(preload)
    t = sim(image=str(img))
    with SerprogServer(t) as srv:
        yield srv, img, preload
    t.close()


@needs_flashrom
def test_flashrom_identifies_w25q80dv(sim_server):
    r = flashrom(sim_server, "--flash-name")
    assert r.returncode == 0, r.stdout + r.stderr
    assert 'vendor="Winbond" name="W25Q80.V"' in r.stdout
    assert "(1024 kB, SPI)" in r.stdout
    assert sim_server.last_device.stats["spiops"] > 0


@needs_flashrom
def test_flashrom_reads_simulated_chip(imaged_server, tmp_path):
    srv, _img, preload = imaged_server
    out = tmp_path / "dump.bin"
    r = flashrom(srv, "-r", str(out))
    assert r.returncode == 0, r.stdout + r.stderr
    assert out.read_bytes() == preload


@needs_flashrom
def test_flashrom_writes_and_verifies_random_image(imaged_server, tmp_path):
    srv, img, preload = imaged_server
    new = os.urandom(MiB)
    src = tmp_path / "new.bin"
    src.write_bytes(new)
    r = flashrom(srv, "-w", str(src))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "VERIFIED" in r.stdout
    chip = srv.transport.chip
    assert bytes(chip.data) == new
    assert img.read_bytes() == new  # written through to the image file
    # every program/erase flashrom asked for was accepted by the chip
    # (WEL set, nothing protected), and it erased with the opcodes the
    # W25Q80DV has
    assert chip.history and {h.result for h in chip.history} <= {"done"}
    erases = {h.opcode for h in chip.history if h.opcode in (0x20, 0x52, 0xD8, 0xC7, 0x60)}
    assert erases and erases <= {0x20, 0x52, 0xD8, 0xC7, 0x60}
    assert preload != new


@needs_flashrom
def test_flashrom_erase_leaves_chip_blank(imaged_server):
    srv, img, _preload = imaged_server
    r = flashrom(srv, "-E")
    assert r.returncode == 0, r.stdout + r.stderr
    assert bytes(srv.transport.chip.data) == b"\xff" * MiB
    assert img.read_bytes() == b"\xff" * MiB
