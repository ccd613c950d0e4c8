"""The behaviour of a simulated SPI NOR chip, one SPI transaction at a time.

:class:`SimChip` answers :meth:`SimChip.transact` (chip select asserted:
``out`` clocked in, then ``readlen`` bytes clocked out) the way the model's
datasheet says the part answers:

- 9Fh JEDEC id (with extended bytes), ABh RES, 5Ah SFDP (3 address bytes and
  8 dummy clocks; a part without SFDP leaves the bus high), 4Bh unique id
  (per chip instance), status/configuration register reads;
- 06h/04h write enable/disable; 01h write status; 02h page program (only
  clears bits; wraps within its page); every erase opcode erases exactly the
  block the model's layout gives at that address, and nothing where the
  layout gives that opcode no block; C7h/60h chip erase; nothing is written
  without WEL, and WEL clears when a program/erase/write-status ends;
- busy: a program or erase takes its datasheet typical time scaled by
  ``time_scale``, really elapsed (``time.monotonic``); during it status
  reads show WIP (and WEL) set and every other command is ignored;
- block protection: status-register BP/TB/SEC bits, or an SST26-style
  block-protection register (72h read, 42h write, 98h global unlock) that
  locks every block at power-up.  Program/erase in a protected block is not
  executed (WEL cleared);
- the array can live in a file (write-through after each completed
  operation, nonvolatile registers in ``FILE.regs.json``);
  :meth:`power_loss` leaves an operation in progress half done.

Every program/erase/write-status is logged in :attr:`SimChip.history` with
the busy time it was given, so tests check timing without timing anything.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import stat
import time
from collections.abc import Callable
from dataclasses import dataclass

from flashcheck.errors import InputError
from flashcheck.sim.model import ChipModel, Region, Timing
from flashcheck.sim.sfdp_image import build_sfdp
from flashcheck.units import format_size

_FF = 0xFF


@dataclass
class OpRecord:
    """One program/erase/write-status the chip was asked to do."""

    opcode: int
    addr: int
    size: int  # bytes affected (0 when nothing happened)
    busy_s: float  # busy time given (typical x time_scale)
    typ_ms: float
    result: str  # "done", "pending", "ignored", "no-wel", "protected", "interrupted", "not-executed"


@dataclass
class _Pending:
    record: OpRecord
    until: float
    apply: Callable[[float], None]  # fraction done: 1.0 full, 0.5 power loss


class Storage:
    """The memory array: in memory, or in a file written through."""

    def __init__(self, size: int, path: str | None = None) -> None:
        self.size = size
        self.path = path
        self._fd: int | None = None
        if path is None:
            self.data = bytearray(b"\xff") * size
            return
        try:
            self._fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except IsADirectoryError:
            raise InputError(f"image={path}: is a directory; name a file to keep the chip's array in") from None
        except OSError as e:
            raise InputError(f"image={path}: cannot open: {e.strerror}") from None
        try:
            self.data = self._load(path, size)
        except BaseException:
            os.close(self._fd)
            self._fd = None
            raise

    def _load(self, path: str, size: int) -> bytearray:
        """The array from the open image file, or erased if it was empty
        (just made): a file of any other size is refused, left untouched."""
        st = os.fstat(self._fd)
        if not stat.S_ISREG(st.st_mode):
            raise InputError(f"image={path}: not a regular file; name a file to keep the chip's array in")
        if st.st_size == 0:
            data = bytearray(b"\xff") * size
            os.pwrite(self._fd, data, 0)
            return data
        if st.st_size != size:
            raise InputError(
                f"image={path}: file is {st.st_size} bytes, the simulated chip has {format_size(size)} "
                f"({size} bytes); use another file or delete this one")
        data = bytearray(size)
        view = memoryview(data)
        got = 0
        while got < size:  # preadv fills the array in place: no second copy
            n = os.preadv(self._fd, [view[got:]], got)
            if n <= 0:
                raise InputError(f"image={path}: file shrank while it was read")
            got += n
        return data

    def commit(self, start: int, end: int) -> None:
        if self._fd is not None and end > start:
            os.pwrite(self._fd, memoryview(self.data)[start:end], start)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


class SimChip:
    """A simulated chip of ``model``."""

    def __init__(
        self,
        model: ChipModel,
        *,
        image: str | None = None,
        time_scale: float = 0.001,
        clock: Callable[[], float] = time.monotonic,
        unique_id: bytes | None = None,
        seed: int | None = None,
        worn: float | None = None,
        asleep: bool | None = None,
    ) -> None:
        self.model = model
        self.time_scale = time_scale
        #: None: every busy time is the datasheet typical; else drawn between
        #: typical and maximum from this seed.
        self._rng = None if seed is None else random.Random(seed)
        #: a worn chip: busy times are the datasheet maximum times this factor
        self.worn = worn
        #: the WP# pin (True: high, not asserted)
        self.wp_high = True
        self.asleep = model.asleep if asleep is None else asleep and model.power_down is not None
        self._reset_enabled = False
        self._four_byte_now = False
        self.error = 0  # Spansion E_ERR/P_ERR bits set, until clear status
        self.suspended: tuple[_Pending, float] | None = None  # (op, seconds left)
        self.clock = clock
        self.storage = Storage(model.size, image)
        self.image = image
        self.regs: dict[str, int] = {r.name: r.value for r in model.registers}
        self._load_nv()
        self.wel = False
        self.addr4 = model.address_bytes == 4 and model.size > 1 << 24
        self.pending: _Pending | None = None
        self.history: list[OpRecord] = []
        self.dead = False
        self._sfdp_cache: dict[int, bytes] = {}
        if unique_id is None and model.unique_id is not None:
            n = model.unique_id[1]
            if image:
                seed = f"{model.name}:{os.path.abspath(image)}".encode()
                unique_id = hashlib.sha256(seed).digest()[:n]
            else:
                unique_id = os.urandom(n)
        self.unique_id = unique_id
        self._bpr_blocks = self._bpr_layout() if model.protection and model.protection.kind == "bpr" else []
        self.bpr = self._bpr_power_up()

    # -- state --------------------------------------------------------------

    @property
    def data(self) -> bytearray:
        return self.storage.data

    def _nv_path(self) -> str | None:
        return None if self.image is None else self.image + ".regs.json"

    def _load_nv(self) -> None:
        path = self._nv_path()
        if path is None or not os.path.exists(path):
            return
        try:
            with open(path, encoding="utf-8") as f:
                saved = json.load(f)
        except (OSError, ValueError) as e:
            raise InputError(f"{path}: cannot read the saved registers: {e}") from None
        for r in self.model.registers:
            if r.nonvolatile and isinstance(saved.get(r.name), int):
                self.regs[r.name] = saved[r.name] & 0xFF

    def _save_nv(self) -> None:
        path = self._nv_path()
        if path is None:
            return
        nv = {r.name: self.regs[r.name] for r in self.model.registers if r.nonvolatile}
        if nv:
            with open(path, "w", encoding="utf-8") as f:
                json.dump(nv, f)

    @property
    def busy(self) -> bool:
        self._settle()
        return self.pending is not None

    def _settle(self) -> None:
        p = self.pending
        if p is not None and self.clock() >= p.until:
            self._finish(1.0)

    def _finish(self, fraction: float) -> None:
        p = self.pending
        assert p is not None
        self.pending = None
        p.apply(fraction)
        p.record.result = "done" if fraction >= 1.0 else "interrupted"
        self.wel = False

    def finish_now(self) -> None:
        """Complete an operation in progress (the chip stays powered)."""
        if self.pending is not None:
            self._finish(1.0)

    def power_loss(self) -> None:
        """Power goes: an operation still in progress is left half done."""
        if self.pending is not None:
            if self.clock() >= self.pending.until:
                self._finish(1.0)
            else:
                self._finish(0.5)
        self.dead = True

    def close(self) -> None:
        if not self.dead:
            self.finish_now()
        self.storage.close()

    def config_id(self) -> int:
        """Which of the model's layouts is in use, from its detection reads."""
        cid = 0
        for d in self.model.detect:
            value = self._register_by_opcode(d.opcode)
            cid = cid << 1 | (1 if value is not None and value & d.mask else 0)
        return cid if cid in self.model.layouts else 0

    def layout(self) -> tuple[Region, ...]:
        return self.model.layouts[self.config_id()]

    def sfdp_image(self) -> bytes | None:
        if self.model.sfdp is None:
            return None
        if self.model.sfdp.raw is not None:
            return self.model.sfdp.raw
        cid = self.config_id()
        if cid not in self._sfdp_cache:
            self._sfdp_cache[cid] = build_sfdp(self.model, cid)
        return self._sfdp_cache[cid]

    def jedec_id(self) -> bytes:
        return self.model.jedec_id_by_config.get(self.config_id(), self.model.jedec_id)

    # -- protection ---------------------------------------------------------

    def _bpr_layout(self) -> list[tuple[int, int, int]]:
        """(start, size, write-lock bit) per protectable block: the 0xD8
        blocks of the layout; 8 KiB blocks get two bits (write, read) after
        the others, as the SST26 BPR puts them in its top bits."""
        blocks: list[tuple[int, int]] = []
        for r in self.model.layouts[0]:
            b = r.blocks.get(0xD8, r.size)
            blocks.extend((a, b) for a in range(r.start, r.end, b))
        large = [(a, b) for a, b in blocks if b != 8192]
        small = [(a, b) for a, b in blocks if b == 8192]
        out = [(a, b, i) for i, (a, b) in enumerate(large)]
        out += [(a, b, len(large) + 2 * k) for k, (a, b) in enumerate(small)]
        return out

    def _bpr_bits(self) -> int:
        if not self._bpr_blocks:
            return 0
        large = sum(1 for _a, b, _i in self._bpr_blocks if b != 8192)
        small = len(self._bpr_blocks) - large
        n = large + 2 * small
        return (n + 7) // 8 * 8

    def _bpr_power_up(self) -> int:
        bpr = 0
        for _a, _b, bit in self._bpr_blocks:
            bpr |= 1 << bit
        return bpr

    def bpr_bytes(self) -> bytes:
        n = self._bpr_bits()
        return self.bpr.to_bytes(n // 8, "big") if n else b""

    def protected_range(self) -> tuple[int, int]:
        """The BP-protected range [start, end) (empty: (0, 0))."""
        p = self.model.protection
        if p is None or p.kind != "bp":
            return (0, 0)
        mask = p.mask
        shift = (mask & -mask).bit_length() - 1
        n = (self.regs.get(p.register, 0) & mask) >> shift
        size = self.model.size
        sec = p.sec_register is not None and self.regs.get(p.sec_register, 0) & p.sec_mask
        if n == 0:
            length = 0
        elif n == mask >> shift:
            length = size
        else:
            length = min(32768, 4096 << (n - 1)) if sec else min(size, p.unit << (n - 1))
        bottom = bool(p.tb_register is not None and self.regs.get(p.tb_register, 0) & p.tb_mask)
        if p.cmp is not None and self.regs.get(p.cmp[0], 0) & p.cmp[1]:
            # CMP=1: the complement of the range is protected (W25Q128JV 7.1.10)
            length, bottom = size - length, not bottom
        if length == 0:
            return (0, 0)
        return (0, length) if bottom else (size - length, size)

    def status_locked(self) -> bool:
        """Status register protection: SRP set and WP# low."""
        p = self.model.protection
        srp = p.srp if p is not None else None
        return bool(srp and self.regs.get(srp[0], 0) & srp[1] and not self.wp_high)

    def is_protected(self, start: int, length: int) -> bool:
        end = start + length
        lo, hi = self.protected_range()
        if lo < hi and start < hi and lo < end:
            return True
        for a, b, bit in self._bpr_blocks:
            if self.bpr >> bit & 1 and start < a + b and a < end:
                return True
        return False

    # -- registers ----------------------------------------------------------

    def status(self) -> int:
        self._settle()
        sr = self.regs.get("SR1", 0) & ~(self.model.busy_bits | 0x02)
        if self.pending is not None or self.error:
            sr |= self.model.busy_bits
        if self.wel:
            sr |= 0x02
        return (sr | self.error) & 0xFF

    def _register_by_opcode(self, opcode: int) -> int | None:
        for r in self.model.registers:
            if r.read == opcode:
                if r.name == "SR1":
                    return self.status()
                value = self.regs[r.name]
                sus = self.model.suspend
                if sus is not None and sus.register == r.name:
                    value = value & ~sus.mask | (sus.mask if self.suspended else 0)
                return value
        return None

    # -- transactions -------------------------------------------------------

    def transact(self, out: bytes, readlen: int = 0) -> bytes:
        """One chip-select-asserted transaction."""
        if self.dead or not out:
            return b"\xff" * readlen
        self._settle()
        op = out[0]
        reset_enabled, self._reset_enabled = self._reset_enabled, False
        if self.asleep:
            # deep power-down: only the release command is heard
            pd = self.model.power_down
            if pd is not None and op == pd[1]:
                self.asleep = False
                return self._res(out, readlen)
            return b"\xff" * readlen
        reg = self._register_by_opcode(op)
        if reg is not None:
            return self._respond(out, readlen, 1, lambda i, n: bytes([self._register_by_opcode(op) or 0]) * n)
        if self.model.soft_reset and op in (0x66, 0x99):
            return self._soft_reset(op, reset_enabled, readlen)
        if self.error:
            eb = self.model.error_bits
            if eb is not None and op == eb.clear:
                self.error = 0
                self.wel = False
            return b"\xff" * readlen  # until cleared, the chip takes nothing else
        sus = self.model.suspend
        if sus is not None and op in (sus.suspend, sus.resume):
            return self._suspend_resume(op, readlen)
        if self.pending is not None:
            return b"\xff" * readlen  # busy: everything but status reads ignored
        return self._dispatch(op, out, readlen)

    def _dispatch(self, op: int, out: bytes, readlen: int) -> bytes:
        if op in self.model.four_byte_opcodes:
            self._four_byte_now = True
            try:
                return self._dispatch(self.model.four_byte_opcodes[op], bytes([self.model.four_byte_opcodes[op]]) + out[1:], readlen)
            finally:
                self._four_byte_now = False
        pd = self.model.power_down
        if pd is not None and op == pd[0] and len(out) == 1:
            self.asleep = True
            return b"\xff" * readlen
        if self.suspended is not None and op not in _WHILE_SUSPENDED:
            return b"\xff" * readlen  # only reads while an operation is suspended
        handler = _HANDLERS.get(op)
        if handler is not None:
            return handler(self, out, readlen)
        if op in self.model.erase:
            return self._erase(out, readlen)
        if op in self.model.chip_erase_opcodes:
            return self._chip_erase(out, readlen)
        for r in self.model.registers:
            if r.write is not None and r.write == op:
                if self.model.write_status_bytes is not None and len(out) > 2:
                    return self._not_executed(op, readlen)  # CS# must rise after the one data byte
                return self._write_registers(op, (r.name,), out[1:2], readlen)
        return b"\xff" * readlen

    def _soft_reset(self, op: int, enabled: bool, readlen: int) -> bytes:
        """0x66 enables a reset; 0x99 right after it resets (alone it does nothing)."""
        if op == 0x66:
            self._reset_enabled = True
            return b"\xff" * readlen
        if enabled:
            if self.pending is not None:
                self._finish(0.5)  # an operation cut short by the reset
            self.suspended = None
            self.error = 0
            self.wel = False
            # every modelled register bit is non-volatile on the real parts
            # (BP, TB, SEC, CMP, QE ...), so the registers keep their values
            self.addr4 = self.model.address_bytes == 4 and self.model.size > 1 << 24
        return b"\xff" * readlen

    def _suspend_resume(self, op: int, readlen: int) -> bytes:
        sus = self.model.suspend
        assert sus is not None
        if op == sus.suspend and self.pending is not None and self.suspended is None:
            p = self.pending
            self.pending = None
            self.suspended = (p, max(0.0, p.until - self.clock()))
            p.record.result = "suspended"
        elif op == sus.resume and self.suspended is not None:
            p, left = self.suspended
            self.suspended = None
            p.until = self.clock() + left
            p.record.result = "pending"
            self.pending = p
        return b"\xff" * readlen

    @staticmethod
    def _respond(out: bytes, readlen: int, header: int, source: Callable[[int, int], bytes]) -> bytes:
        """The ``readlen`` bytes after ``out``, where the chip starts
        driving ``source`` after ``header`` bytes of command."""
        start = len(out) - header
        if start >= 0:
            return source(start, readlen)
        pad = min(-start, readlen)
        return b"\xff" * pad + source(0, readlen - pad)

    def _abytes(self) -> int:
        return 4 if self.addr4 or self._four_byte_now else 3

    def _addr(self, out: bytes) -> int | None:
        ab = self._abytes()
        if len(out) < 1 + ab:
            return None
        return int.from_bytes(out[1 : 1 + ab], "big") % self.model.size

    def _array(self, addr: int) -> Callable[[int, int], bytes]:
        size = self.model.size
        data = self.data

        def source(i: int, n: int) -> bytes:
            a = (addr + i) % size
            if a + n <= size:
                return bytes(data[a : a + n])
            return bytes((data[(a + k) % size] for k in range(n)))

        return source

    @staticmethod
    def _fixed(blob: bytes, fill: int = _FF) -> Callable[[int, int], bytes]:
        def source(i: int, n: int) -> bytes:
            chunk = blob[i : i + n]
            return chunk + bytes([fill]) * (n - len(chunk))

        return source

    # individual commands

    def _rdid(self, out: bytes, readlen: int) -> bytes:
        ident = self.jedec_id()
        fill = self.model.id_fill

        def source(i: int, n: int) -> bytes:
            if fill == "repeat":
                return bytes(ident[(i + k) % len(ident)] for k in range(n))
            return self._fixed(ident, 0xFF if fill == "ff" else 0x00)(i, n)

        return self._respond(out, readlen, 1, source)

    def _res(self, out: bytes, readlen: int) -> bytes:
        if self.model.res_id is None:
            return b"\xff" * readlen
        rid = self.model.res_id
        return self._respond(out, readlen, 4, lambda i, n: bytes([rid]) * n)

    def _read(self, out: bytes, readlen: int, dummy: int = 0) -> bytes:
        addr = self._addr(out)
        if addr is None:
            return b"\xff" * readlen
        return self._respond(out, readlen, 1 + self._abytes() + dummy, self._array(addr))

    def _fast_read(self, out: bytes, readlen: int) -> bytes:
        return self._read(out, readlen, 1)

    def _sfdp(self, out: bytes, readlen: int) -> bytes:
        image = self.sfdp_image()
        if image is None or len(out) < 4:
            return b"\xff" * readlen
        addr = int.from_bytes(out[1:4], "big")
        return self._respond(out, readlen, 5, lambda i, n: self._fixed(image)(addr + i, n))

    def _uid(self, out: bytes, readlen: int) -> bytes:
        if self.model.unique_id is None or self.unique_id is None:
            return b"\xff" * readlen
        dummy = self.model.unique_id[0]
        return self._respond(out, readlen, 1 + dummy, self._fixed(self.unique_id))

    def _wren(self, out: bytes, readlen: int) -> bytes:
        self.wel = True
        return b"\xff" * readlen

    def _wrdi(self, out: bytes, readlen: int) -> bytes:
        self.wel = False
        return b"\xff" * readlen

    def busy_ms(self, t: Timing) -> float:
        """How long this chip takes for an operation of datasheet timing ``t``:
        typical, a seeded draw between typical and maximum, or (worn) beyond
        the maximum."""
        if self.worn is not None:
            return t.max_ms * self.worn
        if self._rng is None:
            return t.typ_ms
        # most operations near typical, a few near the maximum
        return t.typ_ms + (t.max_ms - t.typ_ms) * self._rng.random() ** 3

    def _start(self, opcode: int, addr: int, size: int, timing: Timing, apply: Callable[[float], None]) -> None:
        typ_ms = timing.typ_ms
        busy = self.busy_ms(timing) / 1000.0 * self.time_scale
        rec = OpRecord(opcode, addr, size, busy, typ_ms, "pending")
        self.history.append(rec)
        self.pending = _Pending(rec, self.clock() + busy, apply)
        if busy <= 0:
            self._finish(1.0)

    def _refuse(self, opcode: int, addr: int, why: str, clear_wel: bool) -> None:
        self.history.append(OpRecord(opcode, addr, 0, 0.0, 0.0, why))
        eb = self.model.error_bits
        if why == "protected" and eb is not None:
            # Spansion: the failed operation leaves E_ERR/P_ERR, WIP and WEL
            # set until clear status (0x30)
            self.error = eb.program if opcode == 0x02 else eb.erase
            return
        if clear_wel:
            self.wel = False

    def _wrsr(self, out: bytes, readlen: int) -> bytes:
        m = self.model
        values = out[1:]
        if values and m.write_status_bytes is not None and len(values) not in m.write_status_bytes:
            return self._not_executed(0x01, readlen)
        clears = {}
        if 0 < len(values) < len(m.write_registers):  # CS# raised early: the 25X-compatible form
            clears = {n: m.short_write_clears.get(n, 0) for n in m.write_registers[len(values):]}
        return self._write_registers(0x01, m.write_registers, values, readlen, clears)

    def _not_executed(self, op: int, readlen: int) -> bytes:
        """A register write whose CS# rose after a data byte count the
        datasheet does not allow: nothing changes (WEL stays as it was)."""
        self._refuse(op, 0, "not-executed", False)
        return b"\xff" * readlen

    def _write_registers(self, op: int, names: tuple[str, ...], values: bytes, readlen: int,
                         clears: dict[str, int] | None = None) -> bytes:
        if not self.wel:
            self._refuse(op, 0, "no-wel", False)
            return b"\xff" * readlen
        if not values:
            return b"\xff" * readlen
        if self.status_locked():
            self._refuse(op, 0, "sr-locked", True)
            return b"\xff" * readlen
        for name, value in zip(names, values, strict=False):
            r = self.model.register(name)
            assert r is not None
            old = self.regs[name]
            plain = r.writable & ~r.otp
            new = (old & ~plain) | (value & plain) | (value & r.otp)
            self.regs[name] = new & 0xFF
        for name, mask in (clears or {}).items():
            r = self.model.register(name)
            self.regs[name] &= ~(mask & ~r.otp) & 0xFF
        self._sfdp_cache.clear()
        self._save_nv()
        self._start(op, 0, 0, self.model.write_status, lambda f: None)
        return b"\xff" * readlen

    def _program(self, out: bytes, readlen: int) -> bytes:
        addr = self._addr(out)
        data = out[1 + self._abytes() :]
        if addr is None or not data:
            return b"\xff" * readlen
        if not self.wel:
            self._refuse(0x02, addr, "no-wel", False)
            return b"\xff" * readlen
        page = self.model.page_size
        base = addr - addr % page
        off = addr - base
        if len(data) > page:  # only the last page's worth lands: earlier bytes are overwritten
            off = (off + len(data) - page) % page
            data = data[-page:]
        # the page buffer fills from `off`, wrapping to the page start: at most two runs
        first = data[: page - off]
        runs = [(base + off, first)] + ([(base, data[len(first):])] if len(data) > len(first) else [])
        lo = min(s for s, _ in runs)
        hi = max(s + len(b) for s, b in runs)
        if self.is_protected(lo, hi - lo):
            self._refuse(0x02, addr, "protected", True)
            return b"\xff" * readlen
        arr = self.data
        storage = self.storage
        count = len(data)

        def apply(fraction: float) -> None:
            left = count if fraction >= 1.0 else count // 2  # power loss: first half, in write order
            for start, chunk in runs:
                chunk = chunk[:left]
                left -= len(chunk)
                if chunk:  # programming only clears bits
                    end = start + len(chunk)
                    cur = int.from_bytes(arr[start:end], "big")
                    arr[start:end] = (cur & int.from_bytes(chunk, "big")).to_bytes(len(chunk), "big")
            storage.commit(lo, hi)

        self._start(0x02, addr, count, self.model.program, apply)
        return b"\xff" * readlen

    def erase_block(self, opcode: int, addr: int) -> tuple[int, int] | None:
        """(start, size) that ``opcode`` erases at ``addr`` now, or None."""
        for r in self.layout():
            if r.start <= addr < r.end:
                b = r.blocks.get(opcode)
                if b is None:
                    return None
                return (r.start + (addr - r.start) // b * b, b)
        return None

    def _erase_range(self, opcode: int, addr: int, start: int, size: int, timing: Timing) -> None:
        arr = self.data
        storage = self.storage

        def apply(fraction: float) -> None:
            n = size if fraction >= 1.0 else size // 2
            arr[start : start + n] = b"\xff" * n
            storage.commit(start, start + n)

        self._start(opcode, addr, size, timing, apply)

    def _erase(self, out: bytes, readlen: int) -> bytes:
        op = out[0]
        addr = self._addr(out)
        if addr is None or len(out) != 1 + self._abytes():
            # chip select rose on the wrong byte count: not started
            self._refuse(op, addr or 0, "bad-length", False)
            return b"\xff" * readlen
        if not self.wel:
            self._refuse(op, addr, "no-wel", False)
            return b"\xff" * readlen
        blk = self.erase_block(op, addr)
        if blk is None:
            # the opcode does nothing at this address on the real part
            self._refuse(op, addr, "ignored", False)
            return b"\xff" * readlen
        start, size = blk
        if self.is_protected(start, size):
            self._refuse(op, addr, "protected", True)
            return b"\xff" * readlen
        self._erase_range(op, addr, start, size, self.model.erase_timing(op, size))
        return b"\xff" * readlen

    def _chip_erase(self, out: bytes, readlen: int) -> bytes:
        op = out[0]
        if len(out) != 1:
            self._refuse(op, 0, "bad-length", False)
            return b"\xff" * readlen
        if not self.wel:
            self._refuse(op, 0, "no-wel", False)
            return b"\xff" * readlen
        if self.is_protected(0, self.model.size):
            self._refuse(op, 0, "protected", True)
            return b"\xff" * readlen
        self._erase_range(op, 0, 0, self.model.size, self.model.chip_erase)
        return b"\xff" * readlen

    def _rbpr(self, out: bytes, readlen: int) -> bytes:
        if not self._bpr_blocks:
            return b"\xff" * readlen
        return self._respond(out, readlen, 1, self._fixed(self.bpr_bytes()))

    def _wbpr(self, out: bytes, readlen: int) -> bytes:
        if not self._bpr_blocks:
            return b"\xff" * readlen
        if not self.wel:
            self._refuse(0x42, 0, "no-wel", False)
            return b"\xff" * readlen
        n = self._bpr_bits() // 8
        raw = out[1 : 1 + n]
        if len(raw) == n:
            self.bpr = int.from_bytes(raw, "big")
        self.wel = False
        return b"\xff" * readlen

    def _ulbpr(self, out: bytes, readlen: int) -> bytes:
        if not self._bpr_blocks:
            return b"\xff" * readlen
        if not self.wel:
            self._refuse(0x98, 0, "no-wel", False)
            return b"\xff" * readlen
        self.bpr = 0
        self.wel = False
        return b"\xff" * readlen

    def _en4b(self, out: bytes, readlen: int) -> bytes:
        if self.model.size > 1 << 24:
            self.addr4 = True
        return b"\xff" * readlen

    def _ex4b(self, out: bytes, readlen: int) -> bytes:
        if self.model.size > 1 << 24 and self.model.address_bytes != 4:
            self.addr4 = False
        return b"\xff" * readlen



#: What a chip with a suspended erase or program still takes.
_WHILE_SUSPENDED = {0x03, 0x0B, 0x5A, 0x9F, 0x4B, 0x06, 0x04}

_HANDLERS: dict[int, Callable[[SimChip, bytes, int], bytes]] = {
    0x9F: SimChip._rdid,
    0xAB: SimChip._res,
    0x03: SimChip._read,
    0x0B: SimChip._fast_read,
    0x5A: SimChip._sfdp,
    0x4B: SimChip._uid,
    0x06: SimChip._wren,
    0x04: SimChip._wrdi,
    0x01: SimChip._wrsr,
    0x02: SimChip._program,
    0x72: SimChip._rbpr,
    0x42: SimChip._wbpr,
    0x98: SimChip._ulbpr,
    0xB7: SimChip._en4b,
    0xE9: SimChip._ex4b,
}
