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
