"""Overhead of `flashcheck test` against the chip's own busy time.

Runs the erase test (plan + run, in process) on a simulated chip with
``time_scale=1.0`` (datasheet typical busy times, really elapsed), filled
with random data, and compares the wall time with the sum of the busy
times the simulated chip recorded for its erases and programs
(:class:`flashcheck.sim.chip.OpRecord`).  Target: at most 1.10x.  Also
reports the bytes moved over the transport (what a real SPI link would
carry) and the journal written.  Prints figures only; asserts nothing.

    python benchmarks/bench_erasetest.py [--model W25Q128JV] [--board imp003] [--sectors auto] [--runs 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from flashcheck.workflows.erasetest import journal  # noqa: E402
from flashcheck.app import App  # noqa: E402
from flashcheck.chip.spinor import SpiNor  # noqa: E402
from flashcheck.transport import open_transport  # noqa: E402
from flashcheck.workflows import erasetest  # noqa: E402


class Counting:
    """A transport wrapper counting transactions and bytes each way."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self.description = inner.description
        self.transactions = 0
        self.out_bytes = 0
        self.in_bytes = 0
        self.sim_s = 0.0  # time inside the simulator: commands other than status reads, applying finished ops

    def exchange(self, out: bytes, readlen: int = 0) -> bytes:
        self.transactions += 1
        self.out_bytes += len(out)
        self.in_bytes += readlen
        if out[:1] == b"\x05":
            return self.inner.exchange(out, readlen)
        t0 = time.perf_counter()
        try:
            return self.inner.exchange(out, readlen)
        finally:
            self.sim_s += time.perf_counter() - t0

    def close(self) -> None:
        self.inner.close()


def one_run(model: str, board: str, sectors: str, time_scale: float) -> dict:
    with tempfile.TemporaryDirectory() as d:
        img = Path(d) / "chip.bin"
        t = open_transport(f"sim://{model}?image={img}")
        size = len(t.chip.data)
        t.close()
        data = os.urandom(size)
        img.write_bytes(data)
        app = App()
        brd = app.board(board)
        app.parts  # noqa: B018  (load the database before the clock starts, as the CLI does)
        raw = open_transport(f"sim://{model}?image={img}&time_scale={time_scale}")
        spi = Counting(raw)
        chip = raw.chip
        real_finish = chip._finish

        def finish(fraction: float) -> None:  # the sim applying a finished op (and writing its image)
            t0 = time.perf_counter()
            try:
                real_finish(fraction)
            finally:
                spi.sim_s += time.perf_counter() - t0

        chip._finish = finish
        nor = SpiNor(spi)
        t0 = time.perf_counter()
        plan = erasetest.make_plan(nor, app, brd, sectors)
        jsizes: list[int] = []
        real_remove = journal.remove

        def remove(path: Path) -> None:  # the journal is deleted once closed: weigh it first
            jsizes.append(path.stat().st_size)
            real_remove(path)

        journal.remove = remove
        try:
            rep = erasetest.run_test(nor, plan, Path(d) / "j")
        finally:
            journal.remove = real_remove
        wall = time.perf_counter() - t0
        history = list(raw.chip.history)
        raw.close()
        busy = sum(r.busy_s for r in history if r.result in ("done", "interrupted"))
        jbytes = sum(jsizes) + sum(p.stat().st_size for p in (Path(d) / "j").glob("*.jsonl"))
        assert img.read_bytes() == data, "the image changed"
        return {
            "wall": wall, "busy": busy, "verdict": rep.verdict, "sectors": len(rep.sectors),
            "ops": sum(1 for r in history if r.result == "done"), "transactions": spi.transactions,
            "out": spi.out_bytes, "in": spi.in_bytes, "journal": jbytes, "sim": spi.sim_s,
        }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="W25Q128JV")
    ap.add_argument("--board", default="imp003")
    ap.add_argument("--sectors", default="auto")
    ap.add_argument("--time-scale", type=float, default=1.0)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    runs = [one_run(args.model, args.board, args.sectors, args.time_scale) for _ in range(args.runs)]
    r = runs[0]
    ratios = [x["wall"] / x["busy"] for x in runs if x["busy"]]
    print(f"flashcheck test on sim://{args.model} (time_scale={args.time_scale}), board {args.board}, "
          f"sectors {args.sectors}: {r['sectors']} blocks, verdict {r['verdict']}")
    for i, x in enumerate(runs, 1):
        print(f"  run {i}: wall {x['wall'] * 1000:8.1f} ms, chip busy {x['busy'] * 1000:8.1f} ms "
              f"({x['ops']} erases/programs), ratio {x['wall'] / x['busy']:.3f}x" if x["busy"] else f"  run {i}: no busy time")
    print(f"  transport: {r['transactions']} transactions, {r['out']:,} bytes out + {r['in']:,} bytes in "
          f"= {r['out'] + r['in']:,} bytes ({(r['out'] + r['in']) * 8 / 4.5e6:.2f} s of SPI clock at 4.5 MHz)")
    print(f"  journal: {r['journal']:,} bytes")
    for i, x in enumerate(runs, 1):
        if x["busy"]:
            own = x["wall"] - x["busy"] - x["sim"]
            print(f"  run {i} excess {1000 * (x['wall'] - x['busy']):.1f} ms = simulator's own work "
                  f"(taking commands, applying finished ops to the image) {1000 * x['sim']:.1f} ms + flashcheck {1000 * own:.1f} ms "
                  f"(ratio without the simulator's own work {(x['wall'] - x['sim']) / x['busy']:.3f}x)")
    if ratios:
        med = statistics.median(ratios)
        print(f"median wall / busy = {med:.3f}x (target <= 1.10x): {'met' if med <= 1.10 else 'NOT met'}")


if __name__ == "__main__":
    main()
