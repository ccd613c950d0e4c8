"""Write protection around the erase test: what the chip layer reads and
decodes (:meth:`SpiNor.read_protection`: exact protected ranges per vendor,
BP/TB/SEC/CMP, BP+T/B, SST26 BPR), lifted for the test by the vendor's
unlock and put back exactly as found by its relock, each read back."""

from __future__ import annotations

from dataclasses import dataclass

from flashcheck.chip.spinor import SpiNor
from flashcheck.chip.vendors import ProtectionState
from flashcheck.errors import HardwareError
from flashcheck.units import format_addr

#: Generous wait for a register write the vendor hook does not wait for.
REG_WRITE_S = 2.0


@dataclass
class Protection:
    """The chip's protection as found (``state`` None: nothing protected)."""

    state: ProtectionState | None
    detail: str = ""

    @property
    def active(self) -> bool:
        return self.state is not None and self.state.protected

    def locked(self, start: int, size: int) -> bool:
        """Whether any byte of [start, start + size) is protected (all of
        the chip where the bits set could not be decoded)."""
        if not self.active:
            return False
        if not self.state.decoded:
            return True
        return any(start < e and s < start + size for s, e in self.state.ranges)

    def record(self) -> dict:
        """The journal's ``protect`` record fields: enough to put it back."""
        st = self.state
        kind = "bpr" if st.raw else "sr"
        value = st.raw if st.raw else bytes(st.registers.values())
        return {"kind": kind, "value": value.hex(), "registers": {k: v for k, v in st.registers.items()}}


def describe(state: ProtectionState) -> str:
    regs = ", ".join(f"{k}=0x{v:02X}" for k, v in state.registers.items())
    regs = regs or (f"BPR {state.raw.hex()}" if state.raw else "")
    if not state.protected:
        where = "nothing protected"
    elif not state.decoded:
        where = "bits set but the range is not decoded, so every block counts as protected"
    else:
        where = "protects " + ", ".join(f"{format_addr(s)}-{format_addr(e - 1)}" for s, e in state.ranges)
    return f"{state.method} ({regs}): {where}" if regs else f"{state.method}: {where}"


def current_protection(nor: SpiNor, size: int | None = None) -> Protection:
    """The protection the chip has now, decoded by the chip layer."""
    if size and not nor.size:
        nor.size = size
    state = nor.read_protection()
    return Protection(state, describe(state)) if state.protected else Protection(None)


def read_protection(nor: SpiNor, plan) -> Protection:
    """The protection the chip has now, and which blocks it covers."""
    return current_protection(nor, plan.capacity)


def unlock(nor: SpiNor, prot: Protection) -> None:
    """Lift the protection (vendor hook) and read back that it is gone."""
    nor.unlock(prot.state)
    nor.wait_ready(REG_WRITE_S)
    now = nor.read_protection()
    if now.protected:
        raise HardwareError(f"lifting the write protection did not take ({describe(now)}): WP# pin held low, "
                            "status register locked (SRP), or one-time-programmable protection bits")


def state_from_record(kind: str, value: bytes, registers: dict[str, int] | None = None) -> ProtectionState:
    """The state a journal's ``protect`` record saved (journals written
    before ``registers`` was recorded hold SR1 alone in ``value``)."""
    if kind == "bpr":
        return ProtectionState("SST26 block-protection register", {}, [], raw=value)
    regs = dict(registers) if registers else {"SR1": value[0]}
    return ProtectionState("status registers", regs, [])


def _same(now: ProtectionState, want: ProtectionState) -> bool:
    if want.raw:
        return now.raw == want.raw
    if want.ranges and now.ranges != want.ranges:
        return False
    # SR1 bits 0-1 (WIP, WEL) are status, not protection
    return all(now.registers.get(k, v) & m == v & m
               for k, v in want.registers.items() for m in [0xFC if k == "SR1" else 0xFF])


def relock(nor: SpiNor, state: ProtectionState) -> None:
    """Put ``state`` back (vendor hook) and read it back equal: the same
    BPR bytes, or the same registers and protected ranges."""
    nor.relock(state)
    nor.wait_ready(REG_WRITE_S)
    now = nor.read_protection()
    if not _same(now, state):
        shown = describe(state) if state.ranges or state.raw else f"registers {state.registers}"
        raise HardwareError(f"write protection reads {describe(now)} after putting back what was found ({shown})")
