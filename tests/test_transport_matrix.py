"""Every command that opens a board's chip does so the same way on every
transport kind (issue 10): a board's FT232H wiring applies to FT232H
transports only, so probe, test and station over serprog run instead of
refusing the board, and give the answer the simulator gives directly."""

import json

import pytest

from flashcheck.data.boards import BoardsDB
from flashcheck.sim.serprog_server import SerprogServer
from flashcheck.transport import open_for_board, open_transport

SECTORS = "0x0000:4K,0x10000:64K"


@pytest.fixture
def imp003():
    return BoardsDB.load(()).get("imp003")


def test_wiring_goes_to_ft232h_transports_only(imp003, monkeypatch):
    import flashcheck.transport as tr

    seen = {}

    def fake(url, **kw):
        seen[tr.scheme_of(url)] = kw
        return None

    for scheme in ("sim", "sim+ftdi", "serprog", "spidev", "ftdi"):
        monkeypatch.setitem(tr._REGISTRY, scheme, fake)
    for url in ("sim://W25Q128JV", "sim+ftdi://W25Q128JV", "serprog://127.0.0.1:1", "spidev:///dev/spidev0.0", "ftdi://ftdi:232h/1"):
        open_for_board(url, imp003)
    assert imp003.wiring  # the board names a host-reset pin ...
    assert seen["ftdi"]["wiring"] == seen["sim+ftdi"]["wiring"] == imp003.wiring
    assert seen["serprog"]["wiring"] is seen["spidev"]["wiring"] is seen["sim"]["wiring"] is None  # ... only FT232H drives it
    assert {kw["freq_hz"] for kw in seen.values()} == {4.5e6}  # the board's clock everywhere
    open_for_board("sim://W25Q128JV", imp003, freq_hz=1e6)
    assert seen["sim"]["freq_hz"] == 1e6


def _served(model: str):
    return SerprogServer(open_transport(f"sim://{model}")).start()


def _json(out: str) -> dict:
    return json.loads(out)


@pytest.mark.parametrize("model", ["W25Q128JV", "S25FL127S"])
def test_erase_test_over_serprog_runs_and_matches_the_simulator(run, tmp_path, model):
    args = ["--board", "imp003", "--sectors", SECTORS, "--json"]
    with _served(model) as server:
        code_s, out_s, err_s = run("test", "--url", server.url, "--journal-dir", tmp_path / "s", *args)
    code_d, out_d, _ = run("test", "--url", f"sim://{model}", "--journal-dir", tmp_path / "d", *args)
    assert code_s != 2, err_s  # used to be "programmer has no spare pins"
    assert code_s == code_d
    s, d = _json(out_s), _json(out_d)
    assert s["verdict"] == d["verdict"]
    assert [c["rule"] for c in s["checks"]] == [c["rule"] for c in d["checks"]]


def test_station_over_serprog_runs(run, tmp_path):
    db = f"sqlite:///{tmp_path / 'r.db'}"
    with _served("W25Q128JV") as server:
        code, out, err = run("station", "--url", server.url, "--board", "imp003", "--expect", "W25Q128JVSIQ",
                             "--db", db, "--count", "1", "--no-wait")
        fixture = server.url
    assert code == 0, out + err
    code, out, _ = run("report", "--db", db, "--format", "json")
    boards = _json(out)["boards"]
    assert [b["verdict"] for b in boards] == ["pass"]
    assert boards[0]["fixture"] == fixture


def test_probe_over_serprog_with_a_board_applies_no_wiring(run):
    with _served("W25Q128JV") as server:
        code, out, err = run("probe", "--url", server.url, "--board", "imp003", "--expect", "W25Q128JVSIQ", "--json")
    assert code == 0, err
    assert _json(out)["verdict"] == "pass"


# -- the erase test on every transport, command and chip state (issue 11) -------------

import importlib.util  # noqa: E402
import os  # noqa: E402
from contextlib import contextmanager  # noqa: E402
from pathlib import Path  # noqa: E402

from flashcheck.transport import spidev as sd  # noqa: E402

TRANSPORTS = ["sim", "sim+ftdi", "serprog", "spidev"]
#: where each read-type command ends, for the fake spidev kernel (it sees
#: only the padded full-duplex buffer)
_CMD_LENGTHS = {0x03: 4, 0x0B: 5, 0x9F: 1, 0x5A: 5, 0x4B: 5, 0x05: 1, 0x35: 1, 0x15: 1, 0x72: 1, 0xAB: 4}


def _fake_kernel_class():
    spec = importlib.util.spec_from_file_location("_spidev_fake", Path(__file__).parent / "test_spidev.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.FakeKernel


@contextmanager
def reach(kind: str, sim_url: str, monkeypatch):
    """The URL a user gives to reach the simulated chip ``sim_url`` over
    transport ``kind`` (sim+ftdi: pyftdi's own driver on a virtual FT232H;
    serprog: a SerprogServer; spidev: the ioctl faked at its boundary)."""
    if kind == "sim":
        yield sim_url
    elif kind == "sim+ftdi":
        yield sim_url.replace("sim://", "sim+ftdi://", 1)
    elif kind == "serprog":
        with SerprogServer(open_transport(sim_url)).start() as server:
            yield server.url
    else:
        chip = open_transport(sim_url)
        k = _fake_kernel_class()(chip=chip)
        k.cmd_lengths = _CMD_LENGTHS
        with monkeypatch.context() as m:
            m.setattr(sd, "_open_device", k.open)
            m.setattr(sd, "_close_device", k.close)
            m.setattr(sd, "_ioctl", k.ioctl)
            m.setattr(sd, "_bufsiz", lambda: 4096)
            yield "spidev:///dev/spidev0.0"
        chip.close()


def _image(tmp_path: Path, model: str, fill: str, name: str = "c.bin") -> tuple[Path, bytes]:
    img = tmp_path / name
    t = open_transport(f"sim:{model}?image={img}" if model.endswith(".yaml") else f"sim://{model}?image={img}")
    size = len(t.chip.data)
    t.close()
    data = os.urandom(size) if fill == "random" else b"\xff" * size
    img.write_bytes(data)
    return img, data


def _sim_url(model: str, img: Path) -> str:
    return f"sim:{model}?image={img}" if model.endswith(".yaml") else f"sim://{model}?image={img}"


_BIG_ERASE = """name: BIG-ERASE
jedec_id: "ef 40 14"
size: 1 MiB
erase:
  0x20: {typ_ms: 45, max_ms: 400}
  0x52: {typ_ms: 120, max_ms: 800}
  0xD8: {typ_ms: 150, max_ms: 1000}
regions:
  - {size: 1 MiB, blocks: {0x20: 4 KiB, 0x52: 32 KiB, 0xD8: 1 MiB}}
unique_id: {dummy_bytes: 4, length: 8}
# SR2 as a Winbond part of this ID has it (an unanswered 0x35 reads 0xFF: CMP set, all locked)
registers:
  - {name: SR1, read: 0x05, value: 0x00, writable: 0x1C}
  - {name: SR2, read: 0x35, value: 0x00}
sfdp: {revision: "1.0", bfpt_dwords: 9, erase_types: [[4096, 0x20], [32768, 0x52], [65536, 0xD8]]}
"""
_IGNORED = _BIG_ERASE.replace("BIG-ERASE", "IGNORED-20").replace(
    "{0x20: 4 KiB, 0x52: 32 KiB, 0xD8: 1 MiB}", "{0x52: 32 KiB, 0xD8: 64 KiB}")
_PROTECTED = _BIG_ERASE.replace("BIG-ERASE", "PROTECTED").replace("0xD8: 1 MiB", "0xD8: 64 KiB").replace(
    "{name: SR1, read: 0x05, value: 0x00, writable: 0x1C}", "{name: SR1, read: 0x05, value: 0x04, writable: 0xFC}"
) + """protection: {kind: bp, register: SR1, mask: 0x1C, unit: 64 KiB}
"""
_COUNTERFEIT = """name: FAKE-M25P16
jedec_id: "20 20 15"
size: 1 MiB
erase:
  0xD8: {typ_ms: 600, max_ms: 3000, block: 64 KiB}
"""

#: chip state -> (model or YAML text, fill, expected verdict, words the reason must hold)
STATES = {
    "blank": ("W25Q80DV", "blank", "unknown", "erase time"),  # JESD216 1.0: no maximum times anywhere
    "full": ("W25Q80DV", "random", "unknown", "erase time"),
    "erase larger than claimed": (_BIG_ERASE, "random", "fail", "erased beyond its 64 KiB block"),
    "erase ignored": (_IGNORED, "random", "fail", "0x20"),
    "counterfeit size": (_COUNTERFEIT, "blank", "fail", "the array wraps at 1 MiB"),
    "partly protected": (_PROTECTED, "random", "unknown", "write-protected"),
}


def _model(tmp_path: Path, spec: str) -> str:
    if "\n" not in spec:
        return spec
    path = tmp_path / "chip.yaml"
    path.write_text(spec)
    return str(path)


@pytest.mark.parametrize("kind", TRANSPORTS)
@pytest.mark.parametrize("state", sorted(STATES))
def test_erase_test_every_transport_and_chip_state_loses_no_byte(run, tmp_path, monkeypatch, kind, state):
    spec, fill, verdict, words = STATES[state]
    model = _model(tmp_path, spec)
    img, data = _image(tmp_path, model, fill)
    url = _sim_url(model, img)
    with reach(kind, url, monkeypatch) as u:
        code, out, err = run("test", "--url", u, "--board", "imp003", "--journal-dir", tmp_path / "j", "--json")
    rep = _json(out)
    assert rep["verdict"] == verdict, (rep["reason"], err)
    assert words in json.dumps(rep["checks"])
    assert code == {"pass": 0, "fail": 1, "unknown": 3}[verdict]
    assert img.read_bytes() == data  # byte for byte
    assert not list((tmp_path / "j").glob("*.jsonl")) if (tmp_path / "j").exists() else True


@pytest.mark.parametrize("kind", TRANSPORTS)
def test_dead_middle_zone_is_named_before_any_erase(run, tmp_path, monkeypatch, kind):
    """4 KiB erase dead in the middle half: the chip's own SFDP says 4 KiB
    does not work everywhere, against its part entry; nothing is erased."""
    spec = _BIG_ERASE.replace("BIG-ERASE", "DEAD-MIDDLE").replace(
        "  - {size: 1 MiB, blocks: {0x20: 4 KiB, 0x52: 32 KiB, 0xD8: 1 MiB}}",
        "  - {size: 256 KiB, blocks: {0x20: 4 KiB, 0xD8: 64 KiB}}\n"
        "  - {size: 512 KiB, blocks: {0xD8: 64 KiB}}\n"
        "  - {size: 256 KiB, blocks: {0x20: 4 KiB, 0xD8: 64 KiB}}")
    model = _model(tmp_path, spec)
    img, data = _image(tmp_path, model, "random")
    with reach(kind, _sim_url(model, img), monkeypatch) as u:
        code, out, err = run("test", "--url", u, "--board", "imp003", "--journal-dir", tmp_path / "j", "--json")
    rep = _json(out)
    assert code == 1 and rep["verdict"] == "fail"
    assert "4 KiB erase does not work throughout the array" in rep["reason"]
    assert img.read_bytes() == data


@pytest.mark.parametrize("kind", TRANSPORTS)
@pytest.mark.parametrize("cut", [120, 900, 2500])
def test_power_cut_then_recover_on_every_transport(run, tmp_path, monkeypatch, kind, cut):
    img, data = _image(tmp_path, "W25Q80DV", "random")
    url = _sim_url("W25Q80DV", img)
    code, out, err = run("test", "--url", f"{url}&fail_after={cut}", "--board", "imp003", "--sectors", SECTORS,
                         "--journal-dir", tmp_path / "j")
    assert code in (3, 4), err
    with reach(kind, url, monkeypatch) as u:
        code, out, err = run("recover", "--url", u, "--journal-dir", tmp_path / "j")
    assert code == 0, err
    assert img.read_bytes() == data


@pytest.mark.parametrize("kind", TRANSPORTS)
def test_probe_and_station_test_on_every_transport(run, tmp_path, monkeypatch, kind):
    img, data = _image(tmp_path, "W25Q128JV", "blank")
    db = f"sqlite:///{tmp_path / 'r.db'}"
    with reach(kind, _sim_url("W25Q128JV", img), monkeypatch) as u:
        code, out, err = run("probe", "--url", u, "--board", "imp003", "--expect", "W25Q128JVSIQ", "--json")
        assert code == 0 and _json(out)["verdict"] == "pass", err
        code, out, err = run("station", "--url", u, "--board", "imp003", "--expect", "W25Q128JVSIQ", "--test",
                             "--db", db, "--count", "1", "--no-wait", "--journal-dir", tmp_path / "j")
    assert code == 0, out + err
    code, out, _ = run("report", "--db", db, "--format", "json")
    assert [b["verdict"] for b in _json(out)["boards"]] == ["pass"]
    assert img.read_bytes() == data


@pytest.mark.parametrize("kind", ["sim+ftdi", "serprog"])
@pytest.mark.parametrize("fill", ["blank", "random"])
def test_w25q128jv_passes_over_ft232h_and_serprog(run, tmp_path, monkeypatch, kind, fill):
    """Issue 11's first promise: the whole default test of a 16 MiB chip
    over pyftdi's driver (0xFF00 bytes per exchange) and over serprog."""
    img, data = _image(tmp_path, "W25Q128JV", fill)
    with reach(kind, _sim_url("W25Q128JV", img), monkeypatch) as u:
        code, out, err = run("test", "--url", u, "--board", "imp003", "--journal-dir", tmp_path / "j", "--json")
    rep = _json(out)
    assert code == 0 and rep["verdict"] == "pass", (rep["reason"], err)
    assert rep["figures"]["backup_bytes"] == 16 << 20
    assert img.read_bytes() == data


def test_station_passes_good_blank_boards_and_fails_s25fl127s(run, tmp_path):
    db = f"sqlite:///{tmp_path / 'r.db'}"
    code, out, err = run("station", "--url", "sim://W25Q128JV", "--board", "imp003", "--expect", "W25Q128JVSIQ",
                         "--test", "--count", "2", "--no-wait", "--db", db, "--journal-dir", tmp_path / "j")
    assert code == 0, out + err
    db2 = f"sqlite:///{tmp_path / 'r2.db'}"
    code, out, err = run("station", "--url", "sim://S25FL127S", "--board", "imp003", "--expect", "S25FL127SABMFI101",
                         "--test", "--count", "1", "--no-wait", "--db", db2, "--journal-dir", tmp_path / "j")
    assert code == 1
    for d, want in ((db, ["pass", "pass"]), (db2, ["fail"])):
        code, out, _ = run("report", "--db", d, "--format", "json")
        assert [b["verdict"] for b in _json(out)["boards"]] == want
