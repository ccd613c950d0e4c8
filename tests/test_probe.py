"""probe, sfdp and devices, driven through the simulator with the same
command layer the hardware uses.  The simulator's models are defined apart
from parts/, so these compare two independent descriptions of each chip."""

import json
import textwrap

import pytest

from flashcheck.app import App
from flashcheck.chip.spinor import SpiNor
from flashcheck.transport import open_transport
from flashcheck.workflows.probe import probe, probe_chip, read_facts


def probe_json(run, *args):
    code, out, err = run("probe", "--json", *args)
    assert out, err
    return code, json.loads(out)


def check(r, rule):
    return next(c for c in r["checks"] if c["rule"] == rule)


@pytest.mark.parametrize("model,expect", [("W25Q128JV", "W25Q128JVSIQ"), ("MX25L12835F", None)])
def test_good_parts_pass_imp003(run, model, expect):
    args = ["--url", f"sim://{model}", "--board", "imp003"] + (["--expect", expect] if expect else [])
    code, r = probe_json(run, *args)
    assert r["verdict"] == "pass", r
    assert code == 0
    assert r["jedec_id"] and r["sfdp"]["size"] == 16 << 20
    assert check(r, "density")["ok"] and check(r, "erase types")["ok"]
    assert r["protection"]["protected"] is False


def test_shared_id_whose_parts_all_pass_passes_without_expect(run):
    # ef4018 answers for W25Q128BV, FV and JV; with every figure read from their
    # datasheets all three pass the imp003, so no --expect is needed (issue 13).
    code, r = probe_json(run, "--url", "sim://W25Q128JV", "--board", "imp003")
    assert r["verdict"] == "pass" and code == 0
    detail = r["checks"][0]["detail"]
    assert all(n in detail for n in ("W25Q128BV", "W25Q128FV", "W25Q128JV"))


def test_s25fl127s_fails_on_4k_in_its_actual_configuration(run):
    code, r = probe_json(run, "--url", "sim://S25FL127S", "--board", "imp003", "--expect", "S25FL127SABMFI101")
    assert r["verdict"] == "fail" and code == 1
    c = check(r, "erase 4 KiB")
    assert c["ok"] is False and "0x010000-0xFFFFFF" in c["detail"]
    assert r["configuration"]["name"] == "hybrid-64k-bottom"
    assert "TBPARM=0" in r["configuration"]["how"]


def test_s25fl127s_top_parameter_sectors_are_read_from_the_chip(tmp_path):
    """Set TBPARM (CR1 bit 2) on the simulated chip: the probe must find the
    top configuration from the chip's registers, not assume the default."""
    app = App()
    t = open_transport("sim://S25FL127S")
    nor = SpiNor(t)
    nor.write_enable()
    nor.write_status(bytes([0x00, 0x04]))  # SR1, CR1 (TBPARM=1)
    assert nor.command(0x35, readlen=1)[0] & 0x04
    res = probe_chip(nor, app, app.board("imp003"), "S25FL127S")
    assert res.layout.name == "hybrid-64k-top"
    c = next(c for c in res.result.checks if c.rule == "erase 4 KiB")
    assert "0xFF0000-0xFFFFFF" in c.detail and c.ok is False


def test_sst26_fails_for_block_erase_and_protection_as_fitted(run):
    code, r = probe_json(run, "--url", "sim://SST26VF064B", "--board", "imp003")
    assert r["verdict"] == "fail"
    assert check(r, "erase 64 KiB")["ok"] is False
    assert check(r, "protection as fitted")["ok"] is False
    assert r["protection"]["protected"] is True and r["protection"]["bpr"]


def test_m25p16_no_4k_and_no_sfdp(run):
    code, r = probe_json(run, "--url", "sim://M25P16", "--board", "imp003")
    assert r["verdict"] == "fail"
    assert check(r, "erase 4 KiB")["ok"] is False
    assert r["sfdp"] is None
    assert check(r, "chip SFDP")["ok"] is True  # the M25P16 has none per its datasheet


def test_wrong_part_fitted(run):
    code, r = probe_json(run, "--url", "sim://W25Q128JV", "--expect", "S25FL127SABMFI101")
    c = check(r, "expected part")
    assert c["ok"] is False and "012018" in c["detail"] and "ef4018" in c["detail"]
    assert code == 1


COUNTERFEIT = """\
name: FAKE-W25Q128
jedec_id: "ef 40 18"
size: 8 MiB
erase:
  0x20: {typ_ms: 45, max_ms: 400, block: 4 KiB}
  0xD8: {typ_ms: 150, max_ms: 2000, block: 64 KiB}
registers:
  - {name: SR1, read: 0x05, value: 0x00, writable: 0x1C}
write_registers: [SR1]
sfdp: {revision: "1.6", bfpt_dwords: 16}
"""


def test_counterfeit_density_is_caught(run, tmp_path):
    chip = tmp_path / "fake.yaml"
    chip.write_text(COUNTERFEIT)
    code, r = probe_json(run, "--url", f"sim:{chip}", "--board", "imp003", "--expect", "W25Q128JV")
    c = check(r, "density")
    assert c["ok"] is False and "8 MiB" in c["detail"] and "16 MiB" in c["detail"]
    assert r["verdict"] == "fail" and code == 1


def test_unknown_chip_judged_on_its_own_sfdp(run):
    # SIM-HYBRID-DEMO answers ee4018, in no table: its own sector map is all we know.
    code, r = probe_json(run, "--url", "sim://SIM-HYBRID-DEMO", "--board", "imp003")
    assert r["curated"] is False
    assert check(r, "erase 4 KiB")["ok"] is False
    assert check(r, "voltage")["ok"] is None  # SFDP says nothing about supply
    assert r["verdict"] == "fail"


def test_no_chip_is_a_hardware_fault(run):
    code, out, err = run("probe", "--url", "sim://none", "--board", "imp003")
    assert code == 4
    assert "no chip answered" in err and "wiring" in err and "Traceback" not in err


@pytest.mark.parametrize("url", ["bogus://x", "sim://NOSUCHCHIP", "sim://W25Q128JV?time_scale=fast", "sim://W25Q128JV?colour=red"])
def test_bad_urls_exit_2(run, url):
    code, _, err = run("probe", "--url", url)
    assert code == 2 and err.startswith("flashcheck: error:") and len(err.strip().splitlines()) == 1


def test_probe_reads_without_changing_the_chip(tmp_path):
    img = tmp_path / "img.bin"
    app = App()
    probe(f"sim://W25Q80DV?image={img}", app, app.board("imp003"))
    before = img.read_bytes()
    probe(f"sim://W25Q80DV?image={img}", app, app.board("imp003"))
    assert img.read_bytes() == before == b"\xff" * len(before)


def test_model_database_disagreements_are_a_report_not_a_failure():
    """Models and parts/ are independent: where they differ is listed (one
    side is wrong), and each line names the model and the rule that fired."""
    from flashcheck.sim.report import disagreements

    found = disagreements(names=["W25Q128JV", "S25FL127S"])
    for d in found:
        assert d.model in ("W25Q128JV", "S25FL127S") and d.rule and d.detail
    # the shipped W25Q128JV model agrees with the database on every cross-check
    assert not [d for d in found if d.model == "W25Q128JV"], found


# -- sfdp command ------------------------------------------------------------


def test_sfdp_from_chip_json(run):
    code, out, _ = run("sfdp", "--url", "sim://SST26VF064B", "--json")
    d = json.loads(out)
    assert code == 0
    assert set(d) == {"revision", "size", "page_size", "erase_types", "uniform_4k", "sector_map"}
    assert d["size"] == 8 << 20 and d["uniform_4k"] is True
    assert {(e["size"], e["opcode"]) for e in d["erase_types"]} >= {(4096, 0x20)}


def test_sfdp_dump_file_round_trip(run, tmp_path):
    t = open_transport("sim://W25Q128JV")
    image = SpiNor(t).read_sfdp_image()
    dump = tmp_path / "sfdp.bin"
    dump.write_bytes(image)
    hexdump = tmp_path / "sfdp.txt"
    hexdump.write_text(textwrap.fill(image.hex(" "), 48))
    outs = [json.loads(run("sfdp", str(p), "--json")[1]) for p in (dump, hexdump)]
    assert outs[0] == outs[1] and outs[0]["size"] == 16 << 20
    code, out, _ = run("sfdp", str(dump))
    assert "0x20 erases 4 KiB" in out


def test_sfdp_malformed_dump_exit_2(run, tmp_path):
    bad = tmp_path / "bad.bin"
    bad.write_bytes(b"SFDP\x06\x01\x05\xff" + b"\x00" * 8)
    code, _, err = run("sfdp", str(bad))
    assert code == 2 and "Traceback" not in err
    code, _, err = run("sfdp")
    assert code == 2


def test_devices_lists_and_fails_cleanly(run, monkeypatch):
    from flashcheck.transport import ftdi

    monkeypatch.setattr(ftdi, "list_devices", lambda: [{"url": "ftdi://ftdi:232h:FT1/1", "description": "C232HM", "serial": "FT1"}])
    code, out, _ = run("devices")
    assert code == 0 and "ftdi://ftdi:232h:FT1/1" in out
    monkeypatch.setattr(ftdi, "list_devices", lambda: [])
    code, _, err = run("devices")
    assert code == 4 and "no FTDI device" in err


@pytest.mark.parametrize("model,verdict", [("MX25L12835F", "pass"), ("S25FL127S", "fail")])
def test_probe_over_serprog_matches_probe_over_sim(run, model, verdict):
    """flashcheck's serprog transport probes a `sim serve`-style server; the
    answer is the one the direct simulator gives."""
    from flashcheck.sim.serprog_server import SerprogServer

    with SerprogServer(open_transport(f"sim://{model}")).start() as server:
        code, r = probe_json(run, "--url", server.url, "--board", "imp003")
    _, direct = probe_json(run, "--url", f"sim://{model}", "--board", "imp003")
    assert r["verdict"] == direct["verdict"] == verdict
    assert r["jedec_id"] == direct["jedec_id"] and r["sfdp"] == direct["sfdp"]
    assert [c["rule"] for c in r["checks"]] == [c["rule"] for c in direct["checks"]]


def test_probe_reads_facts_in_one_batch():
    """read_facts asks the transport for ID, status, SFDP and unique ID in
    one exchange_many call (one USB round trip on an FT232H)."""
    from flashcheck.transport.sim import open_sim

    t = open_sim("sim://W25Q128JV")
    calls = []

    class Batching:
        description = "batching"

        def exchange(self, out, readlen=0):
            calls.append(("one", out[0]))
            return t.exchange(out, readlen)

        def exchange_many(self, items):
            calls.append(("many", [o[0] for o, _ in items]))
            return [t.exchange(o, n) for o, n in items]

        def close(self):
            t.close()

    facts = read_facts(SpiNor(Batching()))
    # woken first (0xAB), identified, reset (a Winbond part has 66h/99h),
    # then every fact in one batch
    assert [c[1] for c in calls[:4]] == [0xAB, 0x9F, 0x66, 0x99]
    assert calls[4] == ("many", [0x9F, 0x05, 0x5A, 0x4B])
    # then the protection registers, decoded by the vendor hook, in one more
    assert calls[5:] == [("many", [0x05, 0x35])]
    assert facts.id_hex == "ef4018" and facts.sfdp.size == 16 << 20 and facts.unique_id


@pytest.mark.parametrize("url,verdict", [("sim+ftdi://W25Q128JV", "pass"), ("sim+ftdi://S25FL127S", "fail")])
def test_probe_through_pyftdi_on_the_virtual_ft232h(run, url, verdict):
    """The whole ftdi:// path, pyftdi's own modules doing the USB work, with
    the board's wiring (host reset on AD4) applied."""
    args = ["--url", url, "--board", "imp003"] + (["--expect", "W25Q128JVSIQ"] if "W25Q" in url else [])
    code, r = probe_json(run, *args)
    assert r["verdict"] == verdict
    assert code == (0 if verdict == "pass" else 1)
    if verdict == "fail":
        assert check(r, "erase 4 KiB")["ok"] is False
