"""The simulator against hostile input (issue 14): chip definition files
that are huge, not text, or alias bombs; image paths that are directories or
the wrong size; URLs of other schemes; and serprog clients that connect and
then say nothing.  Each must end in one line and exit 2 (or, for the
server, in the next client being served), never a traceback, a MemoryError
or a hang."""

from __future__ import annotations

import signal
import socket
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flashcheck.errors import InputError
from flashcheck.sim import load_yaml_model
from flashcheck.sim.model import MAX_SIM_SIZE
from flashcheck.sim.serprog_server import SerprogServer
from flashcheck.transport import open_transport
from flashcheck.transport import serprog as sp

MiB = 1 << 20
W25Q80DV_ID = bytes.fromhex("ef4014")

MINIMAL = "name: X\nsize: 64 KiB\nerase:\n  0x20: {typ_ms: 45, max_ms: 400, block: 4 KiB}\n"


def one_line_exit_2(code: int, out: str, err: str) -> str:
    """The error line, after checking it is one line, exit 2, no traceback."""
    assert code == 2, (code, out, err)
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1, err
    assert "Traceback" not in err and "Error:" not in lines[0].split(":", 1)[0]
    return lines[0]


def probe(run, url: str) -> str:
    return one_line_exit_2(*run("probe", "--url", url))


# -- chip definition files ---------------------------------------------------


@pytest.mark.parametrize("size", ["0x10000000000", "1099511627776", '"8192 Mbit"', '"1 GiB"'])
def test_oversized_model_is_one_line_naming_the_bound(run, tmp_path, size):
    """1 TiB was a MemoryError; 1 GiB (8 Gbit) is beyond any SPI NOR made."""
    f = tmp_path / "big.yaml"
    f.write_text(MINIMAL.replace("64 KiB", size))
    line = probe(run, f"sim:{f}")
    assert "big.yaml" in line and ".size" in line
    assert "512 MiB" in line


def test_largest_real_part_size_is_accepted_without_allocating(tmp_path):
    """2 Gbit (256 MiB) is the largest SPI NOR there is: a model may say so
    (the array is made only when a chip is opened)."""
    f = tmp_path / "max.yaml"
    f.write_text(MINIMAL.replace("64 KiB", '"2 Gbit"'))
    assert load_yaml_model(str(f)).size == 256 * MiB
    assert MAX_SIM_SIZE == 512 * MiB


@pytest.mark.parametrize("encoding", ["utf-16", "utf-32"])
def test_utf16_file_is_one_line(run, tmp_path, encoding):
    f = tmp_path / "wide.yaml"
    f.write_bytes(MINIMAL.encode(encoding))
    line = probe(run, f"sim:{f}")
    assert "wide.yaml" in line and "UTF-8" in line


def test_binary_file_is_one_line(run, tmp_path):
    f = tmp_path / "blob.yaml"
    f.write_bytes(bytes(range(256)) * 4)
    line = probe(run, f"sim:{f}")
    assert "blob.yaml" in line


def test_alias_bomb_is_refused_quickly(run, tmp_path):
    """A "billion laughs" document: nine levels of nine aliases each.  The
    loader shares the nodes, but any repr of it (an error message about
    the field it sits in) would be 9**9 strings long."""
    lines = ['a0: &a0 ["lol"]']
    for i in range(1, 10):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]")
    f = tmp_path / "bomb.yaml"
    f.write_text("\n".join(lines) + "\nname: BOMB\nsize: *a9\n")
    t0 = time.monotonic()
    line = probe(run, f"sim:{f}")
    assert time.monotonic() - t0 < 10
    assert "bomb.yaml" in line and "alias" in line


def test_modest_aliases_still_load(tmp_path):
    """Anchors are a fair way to share a region list between two
    configurations: only an expansion past the bound is refused."""
    f = tmp_path / "shared.yaml"
    f.write_text(MINIMAL + "registers:\n  - &sr {name: SR1, read: 0x05, value: 0, writable: 0x1C}\n"
                 "protection: {kind: bp, register: SR1, mask: 0x1C, unit: 4 KiB}\n")
    assert load_yaml_model(str(f)).name == "X"


def test_huge_file_is_refused_before_reading(run, tmp_path):
    f = tmp_path / "huge.yaml"
    f.write_text(MINIMAL + "# " + "x" * (5 * MiB) + "\n")
    line = probe(run, f"sim:{f}")
    assert "huge.yaml" in line and "MiB" in line


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.one_of(st.binary(max_size=400),
                      st.text(max_size=300).map(lambda s: s.encode("utf-8")),
                      st.text(max_size=120).map(lambda s: (MINIMAL + s).encode("utf-16"))))
def test_any_file_is_a_model_or_one_line(tmp_path_factory, data):
    """Whatever bytes the file holds: a model, or one InputError naming it."""
    f = tmp_path_factory.mktemp("any") / "chip.yaml"
    f.write_bytes(data)
    try:
        load_yaml_model(str(f))
    except InputError as e:
        assert str(f) in str(e) and "\n" not in str(e).strip()


# -- image files ---------------------------------------------------------------


def test_image_that_is_a_directory_says_so(run, tmp_path):
    line = probe(run, f"sim://W25Q80DV?image={tmp_path}")
    assert "is a directory" in line and "bytes" not in line


def test_image_of_the_wrong_size_names_both_sizes(run, tmp_path):
    img = tmp_path / "small.bin"
    img.write_bytes(b"\0" * 1000)
    line = probe(run, f"sim://W25Q80DV?image={img}")
    assert "small.bin" in line and "1000 bytes" in line and "1 MiB" in line
    assert img.read_bytes() == b"\0" * 1000  # left as it was


def test_image_that_is_not_a_regular_file_is_refused(run):
    line = probe(run, "sim://W25Q80DV?image=/dev/null")
    assert "/dev/null" in line and "regular file" in line


def test_image_of_the_right_size_is_used(tmp_path):
    img = tmp_path / "ok.bin"
    img.write_bytes(b"\xa5" * MiB)
    with open_transport(f"sim://W25Q80DV?image={img}") as t:
        assert t.exchange(b"\x03\x00\x00\x10", 4) == b"\xa5" * 4


# -- URLs ----------------------------------------------------------------------


@pytest.mark.parametrize("url", ["sim+ftdi://NOPE", "sim+ftdi://NOPE?freq=1M"])
def test_sim_ftdi_errors_name_the_url_given(run, url):
    line = probe(run, url)
    assert f"'{url}'" in line and "unknown sim model 'NOPE'" in line


def test_sim_ftdi_image_errors_name_the_url_given(run, tmp_path):
    url = f"sim+ftdi://W25Q80DV?image={tmp_path}"
    line = probe(run, url)
    assert "is a directory" in line


# -- sim serve: idle and half-sent clients --------------------------------------


def _client(srv: SerprogServer, timeout: float = 5.0) -> sp.SerprogTransport:
    host, port = srv.address
    return sp.open_serprog(f"serprog://{host}:{port}?timeout={timeout:g}")


@pytest.mark.parametrize("held", [b"", bytes([sp.O_SPIOP, 1, 0])], ids=["idle", "half-sent"])
def test_idle_client_is_dropped_and_the_next_one_served(held):
    """A client that connects and says nothing (or stops in the middle of
    a command) held the server forever; the next client was then told
    "not a serprog programmer, wrong baud rate".  It is dropped after the
    idle timeout, and the next client works."""
    with open_transport("sim://W25Q80DV") as t, SerprogServer(t, idle_timeout=0.5) as srv:
        hog = socket.create_connection(srv.address)
        hog.sendall(held)
        time.sleep(0.2)  # let the server take the hog first
        t0 = time.monotonic()
        with _client(srv) as c:
            assert c.exchange(b"\x9f", 3) == W25Q80DV_ID
        assert time.monotonic() - t0 < 4
        assert hog.recv(16) == b""  # the server closed it
        hog.close()
        assert srv.dropped_idle == 1


def test_working_client_keeps_the_chip_past_the_idle_timeout():
    """Only silence counts: a client that keeps talking for longer than the
    timeout is not dropped, and a second client waits for it."""
    with open_transport("sim://W25Q80DV") as t, SerprogServer(t, idle_timeout=0.4) as srv:
        with _client(srv) as c:
            end = time.monotonic() + 1.2
            while time.monotonic() < end:
                assert c.exchange(b"\x9f", 3) == W25Q80DV_ID
                time.sleep(0.1)
        assert srv.dropped_idle == 0 and srv.connections == 1


def test_serve_idle_timeout_option(run):
    code, out, _err = run("sim", "serve", "--help")
    assert code == 0 and "--idle-timeout" in out
    code, _out, err = run("sim", "serve", "--chip", "W25Q80DV", "--idle-timeout", "0")
    assert one_line_exit_2(code, _out, err) and "--idle-timeout" in err


def test_serve_command_drops_a_silent_client(tmp_path):
    """The same through ``flashcheck sim serve --idle-timeout``: the path
    a user takes, with flashcheck's serprog client as the next one."""
    from test_serprog import _start_serve  # noqa: PLC0415 - the serve-in-a-subprocess helper

    proc, url = _start_serve("--chip", "W25Q80DV", "--idle-timeout", "0.5", "-v")
    try:
        host, port = url.removeprefix("serprog://").rsplit(":", 1)
        hog = socket.create_connection((host, int(port)))
        time.sleep(0.2)
        with sp.open_serprog(url) as c:
            assert c.exchange(b"\x9f", 3) == W25Q80DV_ID
        hog.close()
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate()
    assert proc.returncode == 0, err
    assert "stopped after 2 connection(s)" in out
    assert "nothing sent for 0.5 s" in err


def test_sim_help_documents_the_url_parameters(run):
    """fail_after and time_scale were documented nowhere a user looks."""
    code, out, _err = run("sim", "--help")
    assert code == 0
    for param in ("image=PATH", "fail_after=N", "time_scale=F", "seed=N", "worn=F", "asleep=1", "sim+ftdi://"):
        assert param in out
