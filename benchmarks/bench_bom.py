"""Benchmark: `flashcheck bom` on a generated 10,000-line BOM, end to end.

Generates a KiCad/Altium-style CSV (about 1% flash lines, the rest
passives, regulators and other ICs; some cells with quoted separators and
alternates), runs ``python -m flashcheck.cli bom FILE --board imp003
--json`` as a subprocess a few times, and prints the median wall time and
the peak RSS of the child.  Target: under 2 s.  Not a test: nothing here
fails on time.

    python benchmarks/bench_bom.py [--lines 10000] [--runs 5] [--xlsx] [--keep DIR]
"""

from __future__ import annotations

import argparse
import csv
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# Flash codes in parts/ (curated) ...
CURATED = [
    "W25Q128FVSIG",  # passes imp003
    "W25Q128JVSIQ",
    "W25Q64JVSSIQ",
    "S25FL127SABMFI101",  # fails imp003
    "MX25L12835FM2I-10G",
    "W25Q128JVSIQ / W25Q128FVSIG",  # alternates in one cell
    "W25Q32JVSSIQ",
]
# ... and one that was not when this was written, so it goes through the
# spiflash fallback (a one-off cost of loading spiflash's tables).
FALLBACK = ["GD25Q128ESIG"]
PASSIVES = [
    ("C{n}", "100nF", "Capacitor_SMD:C_0402_1005Metric", "Murata", "GRM155R71C104KA88D", "CAP CER 0.1UF 16V X7R 0402"),
    ("C{n}", "10uF", "Capacitor_SMD:C_0805_2012Metric", "Samsung", "CL21A106KAYNNNE", "CAP CER 10UF 25V X5R 0805"),
    ("R{n}", "10k", "Resistor_SMD:R_0402_1005Metric", "Yageo", "RC0402FR-0710KL", "RES 10K OHM 1% 1/16W 0402"),
    ("R{n}", "4k7", "Resistor_SMD:R_0402_1005Metric", "Yageo", "RC0402FR-074K7L", "RES 4.7K OHM 1% 1/16W 0402"),
    ("L{n}", "2.2uH", "Inductor_SMD:L_1008", "Murata", "LQM2HPN2R2MG0L", "FIXED IND 2.2UH 1.3A 80 MOHM"),
    ("U{n}", "TLV70033", "Package_TO_SOT_SMD:SOT-23-5", "Texas Instruments", "TLV70033DDCR", "IC REG LINEAR 3.3V 200MA"),
    ("U{n}", "AP2112K-3.3", "Package_TO_SOT_SMD:SOT-23-5", "Diodes Inc", "AP2112K-3.3TRG1", "IC REG LINEAR 3.3V 600MA"),
    ("D{n}", "LED", "LED_SMD:LED_0603", "Lite-On", "LTST-C191KRKT", "LED RED CLEAR 0603 SMD"),
    ("U{n}", "STM32F401", "Package_QFP:LQFP-64", "ST", "STM32F401RCT6", "IC MCU 32BIT 256KB FLASH 64LQFP"),
    ("Q{n}", "BSS138", "Package_TO_SOT_SMD:SOT-23", "onsemi", "BSS138", "MOSFET N-CH 50V 220MA, SOT-23"),
]
HEADER = ["Reference", "Value", "Footprint", "Manufacturer", "MPN", "Description", "Qty"]


def make_bom(path: Path, lines: int, codes: list[str], seed: int = 1) -> int:
    rnd = random.Random(seed)
    flash = 0
    with open(path, "w", newline="", encoding="utf-8-sig") as f:
        w = csv.writer(f)
        w.writerow(HEADER)
        for n in range(1, lines):
            if n % 100 == 50:
                code = codes[flash % len(codes)]
                flash += 1
                w.writerow([f"U{n}", "SPI flash", "Package_SO:SOIC-8_5.23x5.23mm_P1.27mm", "", code,
                            "IC FLASH 128MBIT SPI/QUAD, 8SOIC", "1"])
            else:
                ref, val, fp, mfr, mpn, desc = rnd.choice(PASSIVES)
                w.writerow([", ".join(ref.format(n=n + i) for i in range(rnd.randint(1, 3))), val, fp, mfr, mpn, desc,
                            str(rnd.randint(1, 20))])
    return flash


def to_xlsx(csv_path: Path, xlsx_path: Path) -> None:
    import openpyxl

    wb = openpyxl.Workbook(write_only=True)
    ws = wb.create_sheet()
    with open(csv_path, newline="", encoding="utf-8-sig") as f:
        for row in csv.reader(f):
            ws.append(row)
    wb.save(xlsx_path)


def run_once(bom: Path, extra: list[str]) -> tuple[float, int, int]:
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src") + os.pathsep + os.environ.get("PYTHONPATH", ""))
    cmd = [sys.executable, "-m", "flashcheck.cli", "bom", str(bom), "--board", "imp003", "--json", *extra]
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, cwd=ROOT)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    err = proc.stderr.read().decode() if proc.stderr else ""
    if proc.returncode not in (0, 1, 3):
        raise SystemExit(f"bom failed with exit {proc.returncode}: {err}")
    rss_kib = usage.ru_maxrss  # KiB on Linux
    return wall, rss_kib, proc.returncode


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lines", type=int, default=10_000)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--xlsx", action="store_true", help="also time the same BOM as .xlsx")
    ap.add_argument("--outputs", action="store_true", help="also write --csv and --html")
    ap.add_argument("--keep", type=Path, help="write the generated BOM here instead of a temporary directory")
    ap.add_argument("--to-xlsx", nargs=2, type=Path, metavar=("CSV", "XLSX"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.to_xlsx:
        to_xlsx(*args.to_xlsx)
        return
    tmp = Path(args.keep or tempfile.mkdtemp(prefix="bench_bom_"))
    tmp.mkdir(parents=True, exist_ok=True)
    extra = ["--csv", str(tmp / "out.csv"), "--html", str(tmp / "out.html")] if args.outputs else []
    for name, codes in (("curated codes only", CURATED), ("with a spiflash-fallback code", CURATED + FALLBACK)):
        bom = tmp / f"bom-{len(codes)}.csv"
        flash = make_bom(bom, args.lines, codes)
        print(f"{name}: {bom} ({args.lines} lines, {flash} flash lines, {bom.stat().st_size / 1024:.0f} KiB)")
        targets = [(bom, "csv")]
        if args.xlsx:
            x = bom.with_suffix(".xlsx")
            # in a child: a parent grown by openpyxl would show in the children's
            # ru_maxrss (Linux counts the forked parent's pages)
            subprocess.run([sys.executable, __file__, "--to-xlsx", str(bom), str(x)], check=True)
            targets.append((x, "xlsx"))
        run_once(bom, extra)  # warm the parts cache and the OS file cache
        for path, kind in targets:
            walls, rss, rc = [], [], None
            for _ in range(args.runs):
                w, r, rc = run_once(path, extra)
                walls.append(w)
                rss.append(r)
            med = statistics.median(walls)
            # peak RSS of each run; the max is high if a run had to re-validate parts/ (jsonschema)
            print(f"  {kind:>4}: median {med:.3f} s over {args.runs} runs (min {min(walls):.3f}, max {max(walls):.3f}); "
                  f"peak RSS median {statistics.median(rss) / 1024:.1f} MiB (max {max(rss) / 1024:.1f}); exit {rc}; "
                  f"target < 2 s: {'met' if med < 2 else 'NOT met'}")


if __name__ == "__main__":
    main()
