"""An emulated FT232H MPSSE engine wired to a simulated SPI NOR chip.

The engine parses the MPSSE command stream the host writes to the bulk OUT
endpoint (FTDI AN108 "Command Processor for MPSSE and MCU Host Bus
Emulation Modes") and queues what the FT232H would send back on bulk IN.
Pins: ADBUS0 SCK, ADBUS1 MOSI, ADBUS2 MISO, ADBUS3 CS0 (chip select of the
flash), ADBUS4-7 and ACBUS0-7 GPIO.

How clocked bytes reach the chip.  :meth:`SimChip.transact` is one whole
chip-select-asserted transaction: ``out`` clocked in, then ``readlen``
bytes clocked out.  While CS0 is low the engine therefore records, per
transaction, the MOSI bytes clocked before the first clock whose MISO the
host samples (the command: opcode, address, dummy, data), and from then on
only how many bytes were clocked and which of them the host captured.  The
chip is asked ``transact(command, clocked)`` when CS0 goes high, or earlier
if the host reads the bulk IN endpoint before releasing CS0 (a transaction
split over several pyftdi ``exchange(start=, stop=)`` calls: the chip is
asked again with the longer count, which re-runs a read command -- side
effect free for every read opcode).  Bytes the host reads are placeholders
in the IN queue until then, so the order of the IN stream is the FT232H's.

SPI mode.  The flash answers in modes 0 and 3 only: the clock level when
CS0 falls is CPOL, 3-phase clocking is CPHA (as pyftdi drives them), and
MOSI must change on the edge the chip does not sample (-ve edge with CPOL=0,
+ve with CPOL=1).  A transaction clocked otherwise (modes 1 and 2, or the
wrong edge) reaches the chip one bit late and its answer comes back one bit
late: garbled, as on the bench.

Time.  Every clocked bit adds 1/clock to :attr:`MpsseEngine.bus_time_s`
(the clock from the divisor, 0x86, and divide-by-5, 0x8A/0x8B), so a slow
clock takes longer in simulated time; :class:`VirtualFt232h` adds it to the
chip's clock.  "Wait on I/O high/low" (0x88/0x89) holds every later
command until GPIOL1 (ADBUS5) reaches that level (:meth:`MpsseEngine.set_input`).

Limits (documented, not modelled): full-duplex opcodes (0x31/0x34...) feed
their MOSI bytes to the chip and read 0xFF on MISO while those bytes are
still part of the command (a response clocked in the same bytes as its
command cannot be produced by a transaction-level chip); bit-mode transfers
(0x12/0x13/0x22/0x26...) move one byte position of the transaction per
command, MSB-aligned; adaptive clocking is recorded, not timed.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

SCK = 0x01
MOSI = 0x02
MISO = 0x04
CS0 = 0x08

BAD_COMMAND = 0xFA

# opcodes with no argument bytes
_SIMPLE = {
    0x84: "loopback on",
    0x85: "loopback off",
    0x87: "send immediate",
    0x88: "wait on I/O high",
    0x89: "wait on I/O low",
    0x8A: "divide by 5 off",
    0x8B: "divide by 5 on",
    0x8C: "3-phase clocking on",
    0x8D: "3-phase clocking off",
    0x94: "clock until GPIOL1 high",
    0x95: "clock until GPIOL1 low",
    0x96: "adaptive clocking on",
    0x97: "adaptive clocking off",
}
# opcodes and how many argument bytes follow them
_ARGS = {0x80: 2, 0x81: 0, 0x82: 2, 0x83: 0, 0x86: 2, 0x8E: 1, 0x8F: 2, 0x9C: 2, 0x9D: 2, 0x9E: 2}
_TMS = {0x4A, 0x4B, 0x4E, 0x4F, 0x6A, 0x6B, 0x6E, 0x6F}


def _reverse_bits(b: int) -> int:
    return int(f"{b:08b}"[::-1], 2)


def _one_bit_late(data: bytes) -> bytes:
    """``data`` as seen by a receiver sampling one bit late (a 1 shifted in)."""
    if not data:
        return data
    n = len(data) * 8
    v = int.from_bytes(data, "big") >> 1 | 1 << (n - 1)
    return v.to_bytes(len(data), "big")


GPIOL1 = 5  # ADBUS5: the pin "wait on I/O" watches


class DeviceGone(Exception):
    """The emulated FT232H has been unplugged (``fail_after``)."""


class FifoStall(Exception):
    """The host wrote more than the FT232H can take while its answers wait
    unread: on hardware the OUT transfer times out (a deadlock)."""


#: The FT232H's FIFOs, each way (datasheet: 1 KiB TX, 1 KiB RX).
FIFO_SIZE = 1024


@dataclass
class TxnRecord:
    """One chip-select assertion, as the chip saw it."""

    command: bytes  # MOSI bytes before the first sampled clock
    clocked: int  # bytes clocked after the command
    response: bytes  # what the chip answered for them (MISO)
    captured: bytes  # the MISO bytes the host actually kept
    gpio: int  # pin levels (16 bits, AD0-AD7 then AC0-AC7) at CS low
    gpio_dir: int  # pin directions (1 = output) at CS low
    mcu_in_reset: bool | None  # reset line asserted at CS low (None: no reset pin set up)
    chip_calls: int = 0


@dataclass
class _Txn:
    engine: MpsseEngine
    gpio: int
    gpio_dir: int
    mcu_in_reset: bool | None
    command: bytearray = field(default_factory=bytearray)
    sampled: bool = False
    clocked: int = 0
    response: bytes = b""
    captured: list[tuple[int, int]] = field(default_factory=list)
    chip_calls: int = 0
    garbled: bool = False  # clocked in a mode or edge the chip does not take

    def write(self, data: bytes) -> None:
        if self.sampled:
            self.clocked += len(data)  # MOSI ignored by a chip already answering
        else:
            self.command += data

    def read(self, n: int) -> _Pending:
        self.sampled = True
        start = self.clocked
        self.clocked += n
        self.captured.append((start, n))
        return _Pending(self, start, n)

    def resolve(self) -> None:
        if self.clocked > len(self.response) or (self.chip_calls == 0 and self.command):
            command = _one_bit_late(bytes(self.command)) if self.garbled else bytes(self.command)
            response = self.engine.chip_transact(command, self.clocked)
            self.response = _one_bit_late(response) if self.garbled else response
            self.chip_calls += 1

    def record(self) -> TxnRecord:
        return TxnRecord(
            command=bytes(self.command),
            clocked=self.clocked,
            response=self.response,
            captured=b"".join(self.response[s : s + n] for s, n in self.captured),
            gpio=self.gpio,
            gpio_dir=self.gpio_dir,
            mcu_in_reset=self.mcu_in_reset,
            chip_calls=self.chip_calls,
        )


@dataclass
class _Pending:
    """Read data the chip has not been asked for yet."""

    txn: _Txn
    start: int
    n: int
    shift: int = 0  # bit-mode read: keep the top bits, right-aligned
    lsb_first: bool = False

    def value(self) -> bytes:
        self.txn.resolve()
        data = self.txn.response[self.start : self.start + self.n]
        data = data + b"\xff" * (self.n - len(data))
        if self.lsb_first:
            data = bytes(_reverse_bits(b) for b in data)
        if self.shift:
            data = bytes(b >> self.shift for b in data)
        return data


class MpsseEngine:
    """The FT232H's MPSSE command processor and pins.

    ``chip``: anything with ``transact(out, readlen) -> bytes`` (a
    :class:`~flashcheck.sim.SimChip`), or None for an empty bus (MISO
    reads 1).  ``reset_pin``: ``(bit, active_high)`` of the pin on the host
    MCU's reset line, to record whether the MCU was held in reset.
    ``fail_after``: the device disappears when transaction N+1 starts.
    ``fifo_size``: the FIFOs each way (None: unbounded), see :meth:`write`."""

    def __init__(
        self,
        chip=None,
        *,
        reset_pin: tuple[int, bool] | None = None,
        fail_after: int | None = None,
        fifo_size: int | None = FIFO_SIZE,
    ) -> None:
        self.chip = chip
        self.fifo_size = fifo_size
        self.reset_pin = reset_pin
        self.fail_after = fail_after
        self.inputs = 0xFFFF  # levels seen on pins nobody drives (pull-ups)
        self.transactions: list[TxnRecord] = []
        self.bad_commands: list[int] = []
        self.log: list[str] = []  # configuration commands seen, in order
        self.chip_calls = 0
        self.power_on_reset()

    # -- state ----------------------------------------------------------------

    def power_on_reset(self) -> None:
        self.enabled = False
        self.value = 0  # output latch, 16 bits
        self.direction = 0  # 1 = output, 16 bits
        self.divisor = 0
        self.div5 = True
        self.three_phase = False
        self.adaptive = False
        self.loopback = False
        self.drive_zero = 0
        self.bus_time_s = 0.0  # simulated time spent clocking
        self.wait_for: tuple[int, int] | None = None  # (pin, level) 0x88/0x89 waits on
        self._cmd = bytearray()
        self._in: deque = deque()
        self._in_bytes = 0
        self._txn: _Txn | None = None

    def set_mode(self, mpsse: bool) -> None:
        """SET_BITMODE: MPSSE on, or back to reset/UART (every pin an input)."""
        if not mpsse:
            self._end_txn_if_cs_released(force=True)
            self.direction = 0
        self.enabled = mpsse
        self._cmd.clear()

    def purge_out(self) -> None:
        """Host-to-chip buffer: drop half-received commands."""
        self._cmd.clear()

    def purge_in(self) -> None:
        """Chip-to-host buffer: drop queued answers."""
        self._in.clear()
        self._in_bytes = 0

    @property
    def pins(self) -> int:
        """Levels on the 16 pins: driven outputs, else the external level."""
        return (self.value & self.direction) | (self.inputs & ~self.direction & 0xFFFF)

    def pin_level(self, bit: int) -> int | None:
        """1/0 for a driven pin, None when the FT232H does not drive it."""
        if not self.direction >> bit & 1:
            return None
        return self.value >> bit & 1

    @property
    def mcu_in_reset(self) -> bool | None:
        """Whether the reset line is driven at its active level now."""
        if self.reset_pin is None:
            return None
        bit, active_high = self.reset_pin
        level = self.pin_level(bit)
        return level is not None and bool(level) == active_high

    @property
    def cs_low(self) -> bool:
        return not self.pins & CS0

    # -- chip ----------------------------------------------------------------

    def chip_transact(self, command: bytes, readlen: int) -> bytes:
        self.chip_calls += 1
        if self.chip is None:
            return b"\xff" * readlen
        return self.chip.transact(command, readlen)

    def _start_txn(self) -> None:
        if self.fail_after is not None and len(self.transactions) >= self.fail_after:
            raise DeviceGone(f"unplugged after {self.fail_after} transactions (fail_after)")
        self._txn = _Txn(self, self.pins, self.direction, self.mcu_in_reset)

    def _end_txn_if_cs_released(self, force: bool = False) -> None:
        txn = self._txn
        if txn is None or (self.cs_low and not force):
            return
        self._txn = None
        if txn.command or txn.clocked:
            txn.resolve()
            self.transactions.append(txn.record())

    def _set_pins(self, value: int, direction: int) -> None:
        was_low = self.cs_low
        self.value, self.direction = value & 0xFFFF, direction & 0xFFFF
        if self.cs_low and not was_low:
            self._start_txn()
        elif was_low and not self.cs_low:
            self._end_txn_if_cs_released()

    # -- bulk endpoints -------------------------------------------------------

    def write(self, data: bytes) -> None:
        """Bytes from the host's bulk OUT transfer.

        Commands run as they arrive, until answers fill the chip-to-host
        FIFO (``fifo_size`` bytes the host has not read); the rest waits in
        the host-to-chip FIFO.  When that overflows too, the FT232H NAKs the
        OUT transfer while the host, blocked in that write, never reads:
        :class:`FifoStall` (a USB timeout on real hardware)."""
        if not self.enabled:
            return  # UART/reset mode: nothing on the other side
        self._cmd += data
        self.run()
        # (a long data command streams through; only answers nobody reads block)
        if self.fifo_size and self._in_bytes >= self.fifo_size and len(self._cmd) > self.fifo_size:
            waiting = len(self._cmd)
            del self._cmd[self.fifo_size :]
            raise FifoStall(
                f"{waiting} command bytes wait behind {self._in_bytes} unread answer bytes: "
                f"both {self.fifo_size}-byte FIFOs are full"
            )

    def run(self) -> None:
        """Execute the complete commands waiting, while the answers fit."""
        buf = self._cmd
        i = 0
        while i < len(buf) and not (self.fifo_size and self._in_bytes >= self.fifo_size):
            if self.wait_for is not None:
                pin, level = self.wait_for
                if self.pins >> pin & 1 != level:
                    break  # waiting on GPIOL1: nothing after runs
                self.wait_for = None
            size = self._size(buf, i)
            if size is None or i + size > len(buf):
                break
            self._execute(bytes(buf[i : i + size]))
            i += size
        del buf[:i]

    def set_input(self, bit: int, level: int) -> None:
        """What the outside world drives on pin ``bit`` (a pin the FT232H does
        not drive reads it); releases a "wait on I/O" that waited for it."""
        self.inputs = self.inputs & ~(1 << bit) | (1 << bit if level else 0)
        self.run()

    def _clocks(self, nbits: int) -> None:
        self.bus_time_s += nbits / self.clock_hz

    def _queue(self, item) -> None:
        self._in.append(item)
        self._in_bytes += len(item) if isinstance(item, bytes | bytearray) else item.n

    def read(self, n: int) -> bytes:
        """Up to ``n`` queued bytes for the host's bulk IN transfer (reading
        makes room: commands held back by a full FIFO run on)."""
        self.run()
        out = bytearray()
        while self._in and len(out) < n:
            item = self._in.popleft()
            if isinstance(item, _Pending):
                item = item.value()
            take = n - len(out)
            out += item[:take]
            if len(item) > take:
                self._in.appendleft(bytes(item[take:]))
        self._in_bytes -= len(out)
        self.run()
        return bytes(out)

    # -- command processor ----------------------------------------------------

    @staticmethod
    def _size(buf: bytearray, i: int) -> int | None:
        """Bytes in the command starting at ``buf[i]``, None when its header
        is not all here yet."""
        op = buf[i]
        if op < 0x40 and op & 0x30:  # data shifting
            if op & 0x02:  # bit mode: length, then one data byte when writing
                return 3 if op & 0x10 else 2
            if i + 3 > len(buf):
                return None
            n = buf[i + 1] | buf[i + 2] << 8
            return 3 + (n + 1 if op & 0x10 else 0)
        if op in _TMS:
            return 3
        if op in _ARGS:
            return 1 + _ARGS[op]
        return 1

    def _execute(self, cmd: bytes) -> None:
        op = cmd[0]
        if op < 0x40 and op & 0x30:
            self._shift(op, cmd)
        elif op in _TMS:
            if op & 0x20:
                self._queue(b"\x00")  # TDO sampled while clocking TMS: no JTAG target here
        elif op == 0x80:
            self._set_pins(self.value & 0xFF00 | cmd[1], self.direction & 0xFF00 | cmd[2])
        elif op == 0x82:
            self._set_pins(self.value & 0x00FF | cmd[1] << 8, self.direction & 0x00FF | cmd[2] << 8)
        elif op == 0x81:
            self._queue(bytes([self.pins & 0xFF]))
        elif op == 0x83:
            self._queue(bytes([self.pins >> 8]))
        elif op == 0x86:
            self.divisor = cmd[1] | cmd[2] << 8
            self.log.append(f"clock divisor {self.divisor}")
        elif op in (0x8A, 0x8B):
            self.div5 = op == 0x8B
            self.log.append(_SIMPLE[op])
        elif op in (0x8C, 0x8D):
            self.three_phase = op == 0x8C
            self.log.append(_SIMPLE[op])
        elif op in (0x96, 0x97):
            self.adaptive = op == 0x96
            self.log.append(_SIMPLE[op])
        elif op in (0x84, 0x85):
            self.loopback = op == 0x84
            self.log.append(_SIMPLE[op])
        elif op == 0x9E:
            self.drive_zero = cmd[1] | cmd[2] << 8
            self.log.append(f"drive zero {self.drive_zero:04x}")
        elif op in (0x88, 0x89):
            self.wait_for = (GPIOL1, 1 if op == 0x88 else 0)
            self.log.append(_SIMPLE[op])
        elif op in (0x8E, 0x8F, 0x9C, 0x9D, 0x94, 0x95):
            # clocks without data: a selected chip sees them as don't-care
            # bytes after its command (8E: bits, 8F: (n+1) bytes)
            n = cmd[1] + 1 if op == 0x8E else ((cmd[1] | cmd[2] << 8) + 1) * 8 if op in (0x8F, 0x9D) else 0
            self._clocks(n)
            if self._txn is not None and op in (0x8E, 0x8F):
                self._txn.write(b"\x00" * (1 if op == 0x8E else (cmd[1] | cmd[2] << 8) + 1))
        elif op == 0x87:
            pass  # send immediate: the IN queue is always flushed here
        else:
            self.bad_commands.append(op)
            self._queue(bytes([BAD_COMMAND, op]))

    def _mode_ok(self, op: int, txn: _Txn) -> bool:
        """Whether a shift command clocks the way a mode 0/3 chip takes it."""
        cpol = bool(txn.gpio & SCK)
        if self.three_phase != cpol:
            return False  # mode 1 or 2
        if op & 0x10:  # writes: MOSI must change on the edge the chip does not sample
            out_on_falling = bool(op & 0x01)
            return out_on_falling != cpol
        return True

    @property
    def clock_hz(self) -> float:
        base = 12e6 if self.div5 else 60e6
        return base / ((1 + self.divisor) * 2)

    def _shift(self, op: int, cmd: bytes) -> None:
        writes, reads, lsb, bits = op & 0x10, op & 0x20, op & 0x08, op & 0x02
        if bits:
            nbits = cmd[1] + 1
            out = cmd[2:3] if writes else b""
            n = 1
            if lsb and out:
                out = bytes([_reverse_bits(out[0])])
        else:
            n = (cmd[1] | cmd[2] << 8) + 1
            out = cmd[3:] if writes else b""
            if lsb:
                out = bytes(_reverse_bits(b) for b in out)
        shift = 8 - nbits if bits else 0
        self._clocks(nbits if bits else 8 * n)
        txn = self._txn
        if txn is not None and not self._mode_ok(op, txn):
            txn.garbled = True
        if self.loopback:  # TDI wired to TDO inside the FT232H
            if reads:
                data = out if writes else b"\x00" * n
                self._queue(bytes(b >> shift for b in data) if shift else bytes(data))
            return
        if txn is None:  # chip not selected: MISO floats high (pull-up)
            if reads:
                self._queue(bytes([0xFF >> shift]) * n)
            return
        if writes and reads:
            # full duplex: see the module docstring
            if not txn.sampled:
                txn.write(out)
                self._queue(bytes([0xFF >> shift]) * n)
            else:
                self._queue(txn.read(n))
            return
        if writes:
            txn.write(out)
        else:
            pending = txn.read(n)
            pending.shift = shift
            pending.lsb_first = bool(lsb)
            self._queue(pending)
