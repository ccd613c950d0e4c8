"""Overhead of `flashcheck test` against the chip's own busy time.

Runs the default erase test (plan + run, in process) over ``sim+ftdi://``
(pyftdi's own driver on the virtual FT232H) on a simulated chip with
``time_scale=1.0`` (datasheet typical busy times, really elapsed), filled
with random data, and compares the wall time with the sum of the busy
times the simulated chip recorded for its erases and programs.  The
whole-chip backup read (before) and verify read (after) are timed and
reported apart, and left out of the ratio.  Target: at most 1.15x.  Also
reports USB round trips and bytes (the virtual device's counters) and the
backup written.  Prints figures only; asserts nothing.

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

from flashcheck.app import App  # noqa: E402
from flashcheck.chip.spinor import SpiNor  # noqa: E402
from flashcheck.transport import open_transport  # noqa: E402
from flashcheck.workflows import erasetest  # noqa: E402


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
        ft = open_transport(f"sim+ftdi://{model}?image={img}&time_scale={time_scale}")
        nor = SpiNor(ft)
        t0 = time.perf_counter()
        plan = erasetest.make_plan(nor, app, brd, sectors)
        rep = erasetest.run_test(nor, plan, Path(d) / "j")
        wall = time.perf_counter() - t0
        stats = ft.stats
        history = list(ft.device.chip.history)
        ft.close()
        busy = sum(r.busy_s for r in history if r.result in ("done", "interrupted"))
        assert img.read_bytes() == data, "the image changed"
        f = rep.figures
        return {
            "wall": wall, "busy": busy, "verdict": rep.verdict, "sectors": len(rep.sectors),
            "ops": sum(1 for r in history if r.result == "done"), "round_trips": stats.round_trips,
            "out": stats.bulk_out_bytes, "in": stats.bulk_in_bytes, "backup": f.get("backup_s", 0.0),
            "verify": f.get("verify_s", 0.0), "backup_bytes": f.get("backup_bytes", 0),
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
    print(f"flashcheck test on sim+ftdi://{args.model} (time_scale={args.time_scale}), board {args.board}, "
          f"sectors {args.sectors}: {r['sectors']} blocks, verdict {r['verdict']}")
    ratios = []
    for i, x in enumerate(runs, 1):
        test = x["wall"] - x["backup"] - x["verify"]
        ratio = test / x["busy"] if x["busy"] else float("nan")
        ratios.append(ratio)
        print(f"  run {i}: wall {x['wall']:.2f} s = backup {x['backup']:.2f} s + verify {x['verify']:.2f} s + "
              f"test {test:.2f} s; chip busy {x['busy']:.2f} s ({x['ops']} erases/programs); test/busy {ratio:.3f}x")
    print(f"  USB: {r['round_trips']} round trips, {r['out']:,} bytes out + {r['in']:,} bytes in; "
          f"backup {r['backup_bytes']:,} bytes")
    med = statistics.median(ratios)
    print(f"median test / busy = {med:.3f}x (target <= 1.15x): {'met' if med <= 1.15 else 'NOT met'}")


if __name__ == "__main__":
    main()
