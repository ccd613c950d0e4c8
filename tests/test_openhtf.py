"""flashcheck in OpenHTF: examples/openhtf_station.py against simulated
chips (a W25Q128JV full of data passes; an S25FL127S fails, as the wrong
part and as itself), its test records captured with an output callback and
checked measurement by measurement; a hardware fault is an ERROR."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

htf = pytest.importorskip("openhtf", reason="OpenHTF missing: pip install '.[openhtf]'")

import flashcheck  # noqa: E402
from flashcheck.transport import open_transport  # noqa: E402
from test_erasetest import _random_image as full_image  # noqa: E402  (an image full of random data)

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "openhtf_station.py"
SRC = str(Path(flashcheck.__file__).resolve().parent.parent)


@pytest.fixture(autouse=True)
def dirs(tmp_path, monkeypatch):
    monkeypatch.setenv("FLASHCHECK_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("FLASHCHECK_JOURNAL_DIR", str(tmp_path / "journal"))


@pytest.fixture(scope="module")
def station():
    spec = importlib.util.spec_from_file_location("openhtf_station", EXAMPLE)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def measured(record) -> dict[str, tuple]:
    """name -> (value, outcome) over every phase of a record."""
    out = {}
    for phase in record.phases:
        for name, m in phase.measurements.items():
            out[name] = (m.measured_value.value if m.measured_value.is_value_set else None, m.outcome.name)
    return out


def phase_outcomes(record) -> dict[str, str]:
    return {p.name: p.outcome.name for p in record.phases}


def test_w25q128jv_passes_with_measurements(station, tmp_path):
    img = tmp_path / "chip.bin"
    before = full_image(img, "W25Q128JV")
    seen = []
    code, rec = station.run(["--url", f"sim://W25Q128JV?image={img}", "--board", "imp003", "--expect", "W25Q128JVSIQ",
                             "--serial", "SN-1"], callbacks=[seen.append])
    assert code == 0 and rec.outcome.name == "PASS" and seen == [rec] and rec.dut_id == "SN-1"
    m = measured(rec)
    assert phase_outcomes(rec) == {"trigger_phase": "PASS", "identify_chip": "PASS", "judge_board": "PASS",
                                   "erase_test": "PASS"}
    assert m["jedec_id"][0].startswith("ef4018") and m["part"] == ("W25Q128JV", "PASS")
    assert m["identify_verdict"] == ("pass", "PASS") and m["board_verdict"] == ("pass", "PASS")
    assert m["rules_not_met"] == ([], "PASS") and m["erase_test_verdict"] == ("pass", "PASS")
    assert m["blocks_tested"][0] >= 2
    assert m["page_program_longest_ms"][0] >= m["page_program_p90_ms"][0]
    for key in ("erase_4KiB", "erase_64KiB", "page_program_p90"):  # imp003 needs 4 KiB and 64 KiB erases
        ms, limit, ratio = (m[f"{key}{s}"][0] for s in ("_ms", "_max_ms", "_vs_max"))
        assert 0 < ms < limit and ratio == pytest.approx(ms / limit, abs=1e-3)
        assert m[f"{key}_vs_max"][1] == "PASS"
    assert img.read_bytes() == before  # every block put back


def test_s25fl127s_for_a_w25q128jv_bom_fails_at_identify(station):
    code, rec = station.run(["--url", "sim://S25FL127S", "--board", "imp003", "--expect", "W25Q128JVSIQ"])
    assert code == 1 and rec.outcome.name == "FAIL"
    m = measured(rec)
    assert m["jedec_id"][0].startswith("012018") and m["jedec_id"][1] == "FAIL"
    assert m["part"][1] == "FAIL" and "S25FL127S" in m["part"][0]
    assert m["identify_verdict"] == ("fail", "FAIL") and "counterfeit" in m["identify_reason"][0]
    assert "erase 4 KiB" in m["rules_not_met"][0] and m["board_verdict"] == ("fail", "FAIL")
    assert phase_outcomes(rec)["erase_test"] == "SKIP"  # the wrong part is not erase-tested


def test_s25fl127s_as_itself_fails_the_4k_erase(station, tmp_path):
    img = tmp_path / "fl127s.bin"
    before = full_image(img, "S25FL127S")
    code, rec = station.run(["--url", f"sim://S25FL127S?image={img}", "--board", "imp003",
                             "--expect", "S25FL127SABMFI101"])
    assert code == 1 and rec.outcome.name == "FAIL"
    m = measured(rec)
    assert m["part"] == ("S25FL127S", "PASS") and m["identify_verdict"] == ("pass", "PASS")
    # erase 4 KiB, and (imp003 sends 0x20 for a 4 KiB erase) opcode 0x20
    assert m["rules_not_met"][0][0] == "erase 4 KiB" and m["rules_not_met"][1] == "FAIL"
    assert m["erase_test_verdict"] == ("fail", "FAIL")
    assert "0x010000 did not erase" in m["erase_test_reason"][0]
    assert phase_outcomes(rec)["erase_test"] == "FAIL"
    assert img.read_bytes() == before


def test_no_chip_is_an_error_exit_4(station):
    code, rec = station.run(["--url", "sim://none", "--board", "imp003", "--expect", "W25Q128JVSIQ"])
    assert code == 4 and rec.outcome.name == "ERROR"
    assert phase_outcomes(rec)["identify_chip"] == "ERROR"


def test_unknown_time_limit_never_passes():
    from flashcheck.openhtf import worst_against_max

    assert worst_against_max([(2.0, 400.0), (3.0, 400.0)]) == (3.0, 400.0, 0.0075)
    assert worst_against_max([(2.0, 4.0), (3.0, 400.0)]) == (2.0, 4.0, 0.5)
    assert worst_against_max([(2.0, 400.0), (1.0, None)]) == (1.0, None, None)


def _cli(*args):
    env = dict(os.environ, PYTHONPATH=SRC + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.run([sys.executable, str(EXAMPLE), *map(str, args)], capture_output=True, text=True,
                          env=env, timeout=600)


def test_example_script_writes_json_records(tmp_path):
    img = tmp_path / "chip.bin"
    full_image(img, "W25Q128JV")
    res = _cli("--url", f"sim://W25Q128JV?image={img}", "--board", "imp003", "--expect", "W25Q128JVSIQ",
               "--serial", "SN-7", "--json-out", tmp_path / "records")
    assert res.returncode == 0, res.stderr
    (out,) = (tmp_path / "records").glob("SN-7.*.json")
    rec = json.loads(out.read_text())
    assert rec["outcome"] == "PASS" and rec["dut_id"] == "SN-7"
    phases = {p["name"]: p for p in rec["phases"]}
    ident = phases["identify_chip"]["measurements"]
    assert ident["part"]["measured_value"] == "W25Q128JV" and ident["part"]["outcome"] == "PASS"
    erase = phases["erase_test"]["measurements"]
    assert erase["erase_4KiB_vs_max"]["outcome"] == "PASS" and erase["erase_4KiB_ms"]["units"]["suffix"] == "ms"


def test_example_script_bad_board_is_one_line_exit_2():
    res = _cli("--url", "sim://W25Q128JV", "--board", "no-such-board")
    assert res.returncode == 2 and len(res.stderr.strip().splitlines()) == 1 and "no-such-board" in res.stderr


def test_serprog_gives_the_same_record(station, tmp_path):
    """flashrom's serprog protocol against the simulator's server: the same
    outcome and measurements as sim:// (a W25Q128JV full of data)."""
    from flashcheck.sim.serprog_server import SerprogServer

    img = tmp_path / "chip.bin"
    before = full_image(img, "W25Q128JV")
    with SerprogServer(open_transport(f"sim://W25Q128JV?image={img}")).start() as server:
        code, rec = station.run(["--url", server.url, "--board", "imp003", "--expect", "W25Q128JVSIQ"])
    m = measured(rec)
    assert code == 0 and rec.outcome.name == "PASS", {k: v for k, v in m.items() if v[1] != "PASS"}
    assert m["part"] == ("W25Q128JV", "PASS") and m["erase_test_verdict"] == ("pass", "PASS")
    assert m["erase_4KiB_vs_max"][1] == "PASS" and m["page_program_p90_vs_max"][1] == "PASS"
    assert img.read_bytes() == before


@pytest.mark.parametrize("model, outcome", [("W25Q128JV", "PASS"), ("S25FL127S", "FAIL")])
def test_pyftdi_driver_identifies_and_judges(station, model, outcome):
    """pyftdi's own driver on a virtual FT232H (identify and judge only:
    `flashcheck test` over sim+ftdi stops on a 64 KiB transfer, "Input
    payload is too large", on main as well; the erase test's area)."""
    code, rec = station.run(["--url", f"sim+ftdi://{model}", "--board", "imp003", "--expect", "W25Q128JVSIQ",
                             "--no-erase-test"])
    m = measured(rec)
    assert rec.outcome.name == outcome and code == {"PASS": 0, "FAIL": 1}[outcome]
    assert m["jedec_id"][0].startswith({"W25Q128JV": "ef4018", "S25FL127S": "012018"}[model])
    assert "erase_test" not in phase_outcomes(rec)
