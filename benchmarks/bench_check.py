"""Start-up speed of the offline check, as a whole process.

Times `flashcheck check W25Q128FVSIG --board imp003` (median of several
runs, cache warm) beside `python -c pass` and, where installed,
`flashrom -p dummy:emulate=W25Q128FV --flash-name`; prints the figures and
the ratio to flashrom (target: at most 0.5x), for a curated part and for
one only the spiflash fallback knows.  The check runs as users run it: the
installed ``flashcheck`` console script (the quick path of
flashcheck.quick, without click), with the validated-data cache in a
directory of its own (warmed first), so earlier runs from other checkouts
do not weigh on it.

    python benchmarks/bench_check.py [--runs 15]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time


def median_ms(cmd: list[str], runs: int, env: dict | None = None) -> tuple[float, int]:
    times = []
    rc = 0
    for _ in range(runs):
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
        times.append((time.perf_counter() - t0) * 1000)
        rc = proc.returncode
    return statistics.median(times), rc


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=15)
    args = ap.parse_args()
    exe = shutil.which("flashcheck")
    check = [exe] if exe else [sys.executable, "-m", "flashcheck.cli"]
    check += ["check", "W25Q128FVSIG", "--board", "imp003"]
    cache_dir = tempfile.mkdtemp(prefix="flashcheck-bench-")
    env = dict(os.environ, FLASHCHECK_CACHE_DIR=cache_dir)
    if not exe and env.get("PYTHONDONTWRITEBYTECODE"):
        print("note: running from a source tree with PYTHONDONTWRITEBYTECODE set: every run compiles; install it")
    subprocess.run(check, stdout=subprocess.DEVNULL, env=env)  # warm the validated-file cache
    rows = []
    base, _ = median_ms([sys.executable, "-c", "pass"], args.runs)
    rows.append(("python -c pass", base, 0))
    fc, rc = median_ms(check, args.runs, env)
    rows.append(("flashcheck check W25Q128FVSIG --board imp003", fc, rc))
    # a part only the spiflash fallback knows: answered from the compact index in the data cache
    uncurated = check[:-3] + ["0e4015", "--board", "imp003"]
    subprocess.run(uncurated, stdout=subprocess.DEVNULL, env=env)  # build the index once
    fb, _ = median_ms(uncurated, args.runs, env)
    rows.append(("flashcheck check 0e4015 --board imp003 (fallback only)", fb, 0))
    cold_env = dict(env, FLASHCHECK_CACHE_DIR="off")
    cold, _ = median_ms(check, max(3, args.runs // 3), cold_env)
    rows.append(("  same, cache off (validates every file)", cold, 0))
    fr = None
    if shutil.which("flashrom"):
        fr, _ = median_ms(["flashrom", "-p", "dummy:emulate=W25Q128FV", "--flash-name"], args.runs)
        rows.append(("flashrom -p dummy:emulate=W25Q128FV --flash-name", fr, 0))
    print(f"median of {args.runs} runs each, wall time")
    for name, ms, code in rows:
        print(f"  {ms:8.1f} ms  {name}" + (f"  (exit {code})" if code else ""))
    if fr:
        for what, ms in (("curated", fc), ("fallback", fb)):
            ratio = ms / fr
            print(f"flashcheck ({what}) / flashrom = {ratio:.2f}x (target <= 0.50x): {'met' if ratio <= 0.5 else 'NOT met'}")
    else:
        print("flashrom not installed: no ratio (apt-get install flashrom)")


if __name__ == "__main__":
    main()
