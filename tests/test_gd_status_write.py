"""Status register 2 (CMP, QE, SRP1, LB, SUS) on GigaDevice parts is not
written the Winbond way everywhere (issue gdsr2):

- GD25Q32C/Q64C/Q128C and GD25Q64E (7.4/7.5 "Write Status Register (WRSR)
  (01H or 31H or 11H)"): 01H writes SR1, 31H SR2, and CS# must rise after
  the eighth data bit, else the command is not executed, so the two-byte
  01H changes nothing at all;
- GD25Q16C (7.4 "Write Status Register (WRSR) (01H)"): 01H with one or two
  bytes, no 31H; one byte clears CMP and QE.

Checked on the simulator models, in the vendor hook, and on the user's
path: ``flashcheck test --unlock`` over every transport kind with SR2
protection set, which must be lifted, tested and put back exactly."""

from __future__ import annotations

import json

import pytest
from test_transport_matrix import TRANSPORTS, _image, _sim_url, reach

from flashcheck.chip.spinor import SpiNor
from flashcheck.chip.vendors import gigadevice, vendor_for
from flashcheck.errors import HardwareError, InputError
from flashcheck.sim import SimChip, get_model
from flashcheck.sim.model import model_from_dict
from flashcheck.transport import open_transport
from flashcheck.workflows import erasetest


def _nor(model: str) -> tuple[SpiNor, SimChip]:
    t = open_transport(f"sim://{model}")
    nor = SpiNor(t, poll_interval_s=0)
    nor.read_id()
    return nor, t.chip


def _regs(nor: SpiNor) -> tuple[int, int]:
    return nor.command(0x05, readlen=1)[0] & 0xFC, nor.command(0x35, readlen=1)[0]


def _write(nor: SpiNor, op: int, data: bytes) -> None:
    nor.write_enable()
    nor.command(op, data)
    nor.wait_ready(1.0)


# -- the simulator does what each datasheet says --------------------------------


@pytest.mark.parametrize("model", ["GD25Q32C", "GD25Q64C", "GD25Q128C"])
def test_gd_two_byte_01h_is_not_executed_and_31h_writes_sr2(model):
    nor, chip = _nor(model)
    _write(nor, 0x01, b"\x04\x40")  # Winbond's 16-bit form
    assert chip.history[-1].result == "not-executed"
    assert _regs(nor) == (0x00, 0x00)  # neither SR1 nor SR2 changed
    _write(nor, 0x01, b"\x04")
    _write(nor, 0x31, b"\x42")
    assert _regs(nor) == (0x04, 0x42)
    _write(nor, 0x31, b"\x00\x00")  # 31H takes one byte too
    assert chip.history[-1].result == "not-executed" and _regs(nor) == (0x04, 0x42)


def test_gd25q16c_01h_takes_one_or_two_bytes_and_one_clears_cmp_and_qe():
    nor, chip = _nor("GD25Q16C")
    _write(nor, 0x01, b"\x04\x42")
    assert _regs(nor) == (0x04, 0x42)
    _write(nor, 0x31, b"\x00")  # no 31H on this part (Table2): ignored
    assert _regs(nor) == (0x04, 0x42)
    _write(nor, 0x01, b"\x08\x00\x00")  # CS# after the 24th bit: not executed
    assert chip.history[-1].result == "not-executed" and _regs(nor) == (0x04, 0x42)
    _write(nor, 0x01, b"\x08")  # after the eighth: CMP and QE cleared (7.4)
    assert _regs(nor) == (0x08, 0x00)


def test_models_name_the_datasheet_section_of_their_status_writes():
    for name in ("GD25Q16C", "GD25Q32C", "GD25Q64C", "GD25Q128C"):
        m = get_model(name)
        assert "Write Status Register (WRSR)" in m.citation["where"]["register writes"]
        assert m.write_status_bytes == ((1, 2) if name == "GD25Q16C" else (1,))


@pytest.mark.parametrize(("field", "value", "words"), [
    ("write_status_bytes", [3], "write_status_bytes"),
    ("write_status_bytes", "1", "write_status_bytes"),
    ("short_write_clears", {"SR1": 3}, "short_write_clears"),
    ("short_write_clears", {"SR2": 256}, "short_write_clears.SR2"),
])
def test_bad_write_status_fields_name_the_field(field, value, words):
    d = {"name": "X", "jedec_id": "c8 40 15", "size": "1 MiB",
         "registers": [{"name": "SR1", "read": 5}, {"name": "SR2", "read": 0x35}],
         "write_registers": ["SR1", "SR2"], field: value}
    with pytest.raises(InputError, match=words):
        model_from_dict(d, "chip.yaml")


# -- the vendor hook ---------------------------------------------------------------


@pytest.mark.parametrize(("model", "sr1", "sr2"), [
    ("GD25Q64C", 0x04, 0x42),  # BP0 + CMP: all but the top 128 KB, QE kept
    ("GD25Q128C", 0x00, 0x40),  # CMP alone: everything
    ("GD25Q32C", 0x28, 0x40),  # TB + BP1 + CMP
    ("GD25Q16C", 0x04, 0x42),  # two-byte 01H
    ("W25Q80DV", 0x04, 0x42),  # two-byte 01H, no 31H
])
def test_unlock_clears_sr2_and_relock_restores_both_registers(model, sr1, sr2):
    nor, chip = _nor(model)
    chip.regs["SR1"], chip.regs["SR2"] = sr1, sr2
    prot = erasetest.current_protection(nor)
    assert prot.active
    erasetest.unlock(nor, prot)
    assert _regs(nor) == (0x00, sr2 & ~0x40)  # QE (and everything but protection) untouched
    erasetest.relock(nor, prot.state)
    assert _regs(nor) == (sr1, sr2)


def test_forms_are_vendor_data_by_device_id():
    assert vendor_for(bytes.fromhex("c84017")) is gigadevice.GIGADEVICE
    assert gigadevice.status_write_forms(bytes.fromhex("c84017")) == (gigadevice.GD_SEPARATE,)
    assert gigadevice.status_write_forms(bytes.fromhex("c84015"))[0] == gigadevice.GD_JOINT
    assert vendor_for(bytes.fromhex("ef4014")).wp_bits.joint == ("SR1", "SR2")


def test_the_old_two_byte_write_does_not_take_on_gd25q64c_and_says_so(monkeypatch):
    """What the Winbond hook did on every GigaDevice part: the unlock is read
    back, found not to have taken, and nothing claims it did."""
    monkeypatch.setitem(gigadevice._FORMS, 0x4017, (gigadevice.GD_JOINT,))
    nor, chip = _nor("GD25Q64C")
    chip.regs["SR2"] = 0x40
    prot = erasetest.current_protection(nor)
    with pytest.raises(HardwareError, match="did not take"):
        erasetest.unlock(nor, prot)
    assert chip.history[-1].result == "not-executed"
    assert _regs(nor) == (0x00, 0x40)


def test_unknown_gd_id_falls_back_to_31h_after_reading_back(monkeypatch):
    """An ID no datasheet covers: the two-byte 01H first; a part that wants
    31H does not execute it, the read-back shows so, then 01H + 31H."""
    monkeypatch.delitem(gigadevice._FORMS, 0x4017)
    nor, chip = _nor("GD25Q64C")
    chip.regs["SR1"], chip.regs["SR2"] = 0x04, 0x42
    prot = erasetest.current_protection(nor)
    erasetest.unlock(nor, prot)
    assert [h.result for h in chip.history] == ["not-executed", "done", "done"]
    erasetest.relock(nor, prot.state)
    assert _regs(nor) == (0x04, 0x42)


# -- the user's path: flashcheck test --unlock on every transport --------------------

CASES = {
    # model: (SR1, SR2 as found, a sector inside the protected range)
    "GD25Q64C": (0x04, 0x42, "0x000000:4K,0x7F0000:64K"),  # BP0+CMP: 0-0x7DFFFF locked
    "GD25Q16C": (0x04, 0x42, "0x000000:4K,0x1F0000:64K"),  # BP0+CMP: 0-0x1EFFFF locked
    "W25Q80DV": (0x00, 0x42, "0x000000:4K,0x0F0000:64K"),  # CMP: everything (SR1 is volatile in this model)
}


def _found(img, sr1: int, sr2: int) -> None:
    (img.parent / (img.name + ".regs.json")).write_text(json.dumps({"SR1": sr1, "SR2": sr2}))


def _now(img) -> dict:
    return json.loads((img.parent / (img.name + ".regs.json")).read_text())


@pytest.mark.parametrize("kind", TRANSPORTS)
@pytest.mark.parametrize("model", sorted(CASES))
def test_cli_unlock_tests_sr2_protected_chip_and_relocks_exactly(run, tmp_path, monkeypatch, kind, model):
    sr1, sr2, sectors = CASES[model]
    img, data = _image(tmp_path, model, "random")
    _found(img, sr1, sr2)
    with reach(kind, _sim_url(model, img), monkeypatch) as u:
        code, out, err = run("test", "--url", u, "--board", "imp003", "--sectors", sectors, "--unlock",
                             "--journal-dir", tmp_path / "j", "--json")
    rep = json.loads(out)
    assert rep.get("unlocked") is True, (rep.get("reason"), err)
    assert code in (0, 3), err  # 3: the chip's SFDP 1.0 gives no maximum times
    assert {s["status"] for s in rep["sectors"]} == {"tested"}, rep["sectors"]
    now = _now(img)
    assert now["SR2"] == sr2  # CMP (and QE) back as found
    if "SR1" in now:
        assert now["SR1"] == sr1
    assert img.read_bytes() == data


@pytest.mark.parametrize("model", sorted(CASES))
def test_cli_without_unlock_skips_and_writes_no_register(run, tmp_path, model):
    sr1, sr2, sectors = CASES[model]
    img, data = _image(tmp_path, model, "blank")
    _found(img, sr1, sr2)
    code, out, err = run("test", "--url", _sim_url(model, img), "--board", "imp003", "--sectors", sectors,
                         "--journal-dir", tmp_path / "j", "--json")
    rep = json.loads(out)
    assert "skipped" in {s["status"] for s in rep["sectors"]}
    assert not rep.get("unlocked")
    assert _now(img)["SR2"] == sr2
    assert img.read_bytes() == data
