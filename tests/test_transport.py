"""Transport URLs, the registry, the sim opener, user YAML models and the
FT232H pin handling (no hardware here: only what can be checked without it)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from flashcheck.chip import sfdp
from flashcheck.chip.spinor import SpiNor
from flashcheck.errors import InputError, TransportError
from flashcheck.transport import Transport, open_transport, register_scheme, schemes, split_url
from flashcheck.transport.ftdi import PinPlan, parse_level, parse_pin


@pytest.mark.parametrize(("url", "match"), [
    ("W25Q128JV", "expected SCHEME"),
    ("bogus://x", "unknown scheme 'bogus'"),
    ("sim://NOPE", "unknown sim model 'NOPE'"),
    ("sim://", "name a model"),
    ("sim://W25Q128JV?colour=red", "unknown parameter 'colour'"),
    ("sim://W25Q128JV?fail_after=x", "fail_after='x'"),
    ("sim://W25Q128JV?fail_after=-1", "must not be negative"),
    ("sim://W25Q128JV?time_scale=fast", "time_scale='fast'"),
    ("sim://W25Q128JV?time_scale=-1", "time_scale"),
    ("sim://W25Q128JV?time_scale=nan", "time_scale"),
    ("sim://W25Q128JV?image=", "image= needs"),
    ("sim://W25Q128JV?fail_after=1&fail_after=2", "given twice"),
    ("sim:missing.yaml", "no such chip definition"),
    ("ftdi://ftdi:232h/1?freq=fast", "not a frequency"),
    ("ftdi://ftdi:232h/1?freq=100M", "30 MHz"),
    ("ftdi://ftdi:232h/1?speed=1", "unknown parameter 'speed'"),
])
def test_bad_urls_are_input_errors(url: str, match: str) -> None:
    with pytest.raises(InputError, match=match) as e:
        open_transport(url)
    assert e.value.exit_code == 2


def test_bad_keyword_values() -> None:
    with pytest.raises(InputError, match="SPI mode"):
        open_transport("sim://W25Q128JV", mode=5)
    with pytest.raises(InputError, match="SPI clock"):
        open_transport("sim://W25Q128JV", freq_hz=-3)


def test_sim_transport_is_a_transport() -> None:
    t = open_transport("sim://w25q128jv")  # model names are case-insensitive
    assert isinstance(t, Transport)
    assert "W25Q128JV" in t.description
    t.close()
    with pytest.raises(TransportError, match="closed"):
        t.exchange(b"\x9f", 3)


def test_fail_after_zero() -> None:
    t = open_transport("sim://W25Q80DV?fail_after=0")
    with pytest.raises(TransportError, match="vanished") as e:
        t.exchange(b"\x9f", 3)
    assert e.value.exit_code == 4


def test_registry_accepts_new_schemes() -> None:
    opened = {}

    def opener(url: str, **kw: object) -> object:
        opened["url"] = url
        opened.update(kw)
        return open_transport("sim://W25Q80DV")

    register_scheme("sim+test", opener)
    assert "sim+test" in schemes()
    t = open_transport("sim+test://x?y=1", freq_hz=1e6, wiring={"reset_gpio": "AD4"})
    assert opened["url"] == "sim+test://x?y=1" and opened["freq_hz"] == 1e6
    assert SpiNor(t).read_id(3) == bytes.fromhex("ef4014")
    # a lazy "module:function" opener
    register_scheme("lazysim", "flashcheck.transport.sim:open_sim")
    with pytest.raises(InputError, match="unknown sim model"):
        open_transport("lazysim://NOPE")
    with pytest.raises(ValueError):
        register_scheme("bad scheme", opener)


def test_split_url_forms() -> None:
    assert split_url("sim://X?image=a.bin", {"image"}) == ("sim", "X", {"image": "a.bin"})
    assert split_url("sim:chip.yaml?time_scale=1", {"time_scale"}) == ("sim", "chip.yaml", {"time_scale": "1"})


def test_import_is_light() -> None:
    code = (
        "import sys, flashcheck.transport, flashcheck.chip.spinor, flashcheck.chip.sfdp\n"
        "heavy = [m for m in ('pyftdi', 'spiflash', 'serial', 'usb', 'yaml', 'flashcheck.sim') if m in sys.modules]\n"
        "print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={"PYTHONPATH": "src"}, cwd=__file__.rsplit("/tests/", 1)[0])
    assert out.stdout.strip() == "[]"


# -- user YAML models ----------------------------------------------------------

HYBRID_YAML = textwrap.dedent("""\
    name: MY-HYBRID
    jedec_id: "ee 41 17"
    size: 8 MiB
    page_size: 256
    program: {typ_ms: 0.5, max_ms: 2}
    chip_erase: {opcodes: [0xC7], typ_ms: 20000, max_ms: 60000}
    erase:
      0x20: {typ_ms: 100, max_ms: 400}
      0xD8: {typ_ms: 300, max_ms: 1500}
    configurations:
      detect:
        - {read: 0x35, mask: 0x04}
      maps:
        0:
          - {size: 32 KiB, blocks: {0x20: 4 KiB, 0xD8: 32 KiB}}
          - {size: 8160 KiB, blocks: {0xD8: 32 KiB}}
        1:
          - {size: 8160 KiB, blocks: {0xD8: 32 KiB}}
          - {size: 32 KiB, blocks: {0x20: 4 KiB, 0xD8: 32 KiB}}
    registers:
      - {name: SR1, read: 0x05, writable: 0x1C}
      - {name: CR1, read: 0x35, writable: 0x04, nonvolatile: true}
    write_registers: [SR1, CR1]
    unique_id: {dummy_bytes: 4, length: 8}
    sfdp: {revision: "1.6", sector_map: true}
    """)


def test_yaml_model_through_sim_url(tmp_path) -> None:
    p = tmp_path / "hybrid.yaml"
    p.write_text(HYBRID_YAML)
    t = open_transport(f"sim:{p}?time_scale=0.0001")
    nor = SpiNor(t, poll_interval_s=0)
    assert nor.read_id(3) == bytes.fromhex("ee4117")
    info = sfdp.parse(nor.read_sfdp_image())
    assert info.size == 8 * 1024 * 1024 and info.uniform_4k is False
    assert {(s, o) for s, o, _t, _m in info.erase_types} == {(4096, 0x20), (32768, 0xD8)}
    assert [c.id for c in info.sector_map] == [0, 1]
    assert nor.sector_map_in_use(info).id == 0
    nor.page_program(0x9000, b"\x00")
    nor.erase(0x20, 0x9000, 1.0)  # outside the 4 KiB area: nothing
    assert nor.read(0x9000, 1) == b"\x00"
    nor.erase(0xD8, 0x9000, 1.0)  # 32 KiB block 0x8000-0xFFFF
    assert nor.read(0x9000, 1) == b"\xff"
    nor.write_status(bytes([0x00, 0x04]))
    assert nor.sector_map_in_use(info).id == 1
    t.close()


@pytest.mark.parametrize(("mutation", "match"), [
    (("size: 8 MiB", "size: 9 MiB"), "power of two"),
    (("{0x20: 4 KiB, 0xD8: 32 KiB}", "{0x20: 3 KiB, 0xD8: 32 KiB}"), "does not divide"),
    (("revision: \"1.6\"", "revision: \"2.0\""), "revisions are 1.0"),
    (("jedec_id: \"ee 41 17\"", "jedec_id: \"xyz\""), "jedec_id"),
    (("name: MY-HYBRID\n", "name: MY-HYBRID\nflavour: x\n"), "unknown field 'flavour'"),
    (("{0x20: 4 KiB, 0xD8: 32 KiB}", "{0x52: 4 KiB}"), "no entry under erase"),
    (("- {size: 8160 KiB, blocks: {0xD8: 32 KiB}}", "- {size: 8128 KiB, blocks: {0xD8: 32 KiB}}"), "regions add up"),
])
def test_yaml_model_errors(tmp_path, mutation: tuple[str, str], match: str) -> None:
    old, new = mutation
    assert old in HYBRID_YAML
    p = tmp_path / "bad.yaml"
    p.write_text(HYBRID_YAML.replace(old, new, 1))
    with pytest.raises(InputError, match=match):
        open_transport(f"sim:{p}")


def test_yaml_syntax_error_names_the_line(tmp_path) -> None:
    p = tmp_path / "broken.yaml"
    p.write_text("name: X\nsize: [1, 2\n")
    with pytest.raises(InputError, match=r"broken.yaml:\d+: not valid YAML"):
        open_transport(f"sim:{p}")


def test_docs_example_loads(tmp_path) -> None:
    from pathlib import Path

    doc = Path(__file__).resolve().parents[1] / "docs" / "sim-format.md"
    text = doc.read_text()
    block = text.split("```yaml\n", 1)[1].split("```", 1)[0]
    p = tmp_path / "doc.yaml"
    p.write_text(block)
    nor = SpiNor(open_transport(f"sim:{p}"), poll_interval_s=0)
    assert nor.read_id(3)
    assert sfdp.parse(nor.read_sfdp_image()).size > 0


# -- FT232H pins (no hardware) ---------------------------------------------------


@pytest.mark.parametrize(("name", "bit"), [
    ("AD4", 4), ("ad7", 7), ("ADBUS5", 5), ("AC0", 8), ("ACBUS7", 15), (" ac3 ", 11),
])
def test_parse_pin(name: str, bit: int) -> None:
    assert parse_pin(name) == bit


@pytest.mark.parametrize("name", ["AD0", "AD3", "AD8", "AC9", "BD4", "", "A4", 4, None])
def test_parse_pin_rejects(name: object) -> None:
    with pytest.raises(InputError):
        parse_pin(name)


def test_parse_level() -> None:
    assert parse_level("high", "x", "low") is True
    assert parse_level(None, "x", "low") is False
    with pytest.raises(InputError, match="use low or high"):
        parse_level("sideways", "x", "low")


def test_pin_plan_levels() -> None:
    plan = PinPlan({"reset_gpio": "AD4", "power_gpio": "AC0", "power_active": "high"})
    assert plan.mask == (1 << 4) | (1 << 8)
    # reset active low: asserted = 0 on AD4; power on = 1 on AC0
    assert plan.levels(reset=True, power=True) == 1 << 8
    assert plan.levels(reset=False, power=False) == 1 << 4
    high = PinPlan({"reset_gpio": "AC1", "reset_active": "high"})
    assert high.levels(reset=True, power=False) == 1 << 9
    assert PinPlan(None).mask == 0


@pytest.mark.parametrize(("wiring", "match"), [
    ({"reset_gpio": "AD1"}, "SPI pin"),
    ({"reset_gpio": "AD4", "power_gpio": "ad4"}, "same pin"),
    ({"reset_active": "low"}, "without reset_gpio"),
    ({"reset_gpio": "AD4", "reset_active": "maybe"}, "use low or high"),
    ({"cs_gpio": "AD4"}, "unknown key"),
    ({"settle_ms": -1}, "settle_ms"),
])
def test_pin_plan_errors(wiring: dict, match: str) -> None:
    with pytest.raises(InputError, match=match):
        PinPlan(wiring)


def test_ftdi_without_a_device_is_a_transport_error() -> None:
    pytest.importorskip("pyftdi")
    with pytest.raises(TransportError, match="no FTDI device|cannot open") as e:
        open_transport("ftdi://ftdi:232h/1", freq_hz=1e6)
    assert "USB" in str(e.value)


class _FakeGpio:
    def __init__(self, log: list) -> None:
        self.log = log

    def set_direction(self, pins: int, direction: int) -> None:
        self.log.append(("dir", pins, direction))

    def write(self, value: int) -> None:
        self.log.append(("write", value))


class _FakePort:
    def __init__(self, log: list, fail: bool) -> None:
        self.log = log
        self.fail = fail

    def exchange(self, out: bytes, readlen: int = 0) -> bytes:
        if self.fail:
            raise OSError("USB gone")
        self.log.append(("xfer", bytes(out), readlen))
        return b"\xab" * readlen


def _fake_controller(log: list, *, configure_error: Exception | None = None, fail: bool = False):
    class FakeSpiController:
        def __init__(self, cs_count: int = 1) -> None:
            log.append(("init", cs_count))

        def configure(self, url: str, frequency: float) -> None:
            log.append(("configure", url, frequency))
            if configure_error is not None:
                raise configure_error

        def get_port(self, cs: int, freq: float, mode: int) -> _FakePort:
            log.append(("port", cs, freq, mode))
            return _FakePort(log, fail)

        def get_gpio(self) -> _FakeGpio:
            return _FakeGpio(log)

        def terminate(self) -> None:
            log.append(("terminate",))

    return FakeSpiController


def test_ftdi_transport_holds_reset_and_powers_the_target(monkeypatch) -> None:
    import pyftdi.spi

    log: list = []
    monkeypatch.setattr(pyftdi.spi, "SpiController", _fake_controller(log))
    wiring = {"reset_gpio": "AD4", "reset_active": "low", "power_gpio": "AC0", "settle_ms": 0}
    t = open_transport("ftdi://ftdi:232h/1?freq=4.5M", mode=0, wiring=wiring)
    assert ("configure", "ftdi://ftdi:232h/1", 4.5e6) in log
    assert ("port", 0, 4.5e6, 0) in log
    gpio = [e for e in log if e[0] in ("dir", "write")]
    # outputs on AD4 and AC0; reset asserted (AD4 low) and power off, then power on
    assert gpio == [("dir", 0x110, 0x110), ("write", 0x000), ("write", 0x100)]
    assert t.exchange(b"\x9f", 3) == b"\xab\xab\xab"
    assert "4.5 MHz" in t.description
    log.clear()
    t.close()
    # power off, then reset released (AD4 an input again), then the controller closed
    assert log == [("write", 0x000), ("dir", 0x010, 0), ("terminate",)]


def test_ftdi_transport_usb_gone_is_a_transport_error(monkeypatch) -> None:
    import pyftdi.spi

    monkeypatch.setattr(pyftdi.spi, "SpiController", _fake_controller([], fail=True))
    t = open_transport("ftdi://ftdi:232h/1", freq_hz=1e6)
    with pytest.raises(TransportError, match="vanished"):
        t.exchange(b"\x9f", 3)


def test_ftdi_open_errors(monkeypatch) -> None:
    import pyftdi.spi
    from pyftdi.usbtools import UsbToolsError

    monkeypatch.setattr(pyftdi.spi, "SpiController",
                        _fake_controller([], configure_error=UsbToolsError("No USB device matches URL x")))
    with pytest.raises(TransportError, match="no FTDI device"):
        open_transport("ftdi://ftdi:232h/1")
    monkeypatch.setattr(pyftdi.spi, "SpiController",
                        _fake_controller([], configure_error=UsbToolsError("Vendor ID 'nope' not supported")))
    with pytest.raises(InputError, match="not a usable FTDI URL"):
        open_transport("ftdi://nope:232h/1")
