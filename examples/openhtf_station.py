#!/usr/bin/env python3
"""An OpenHTF station that tests the SPI flash of each board with flashcheck.

    pip install 'flashcheck[openhtf]'
    python examples/openhtf_station.py --url ftdi://ftdi:232h/1 --board imp003 \\
        --expect W25Q128JVSIQ --serial SN0001 --json-out records/

    # without hardware: a simulated chip full of data
    python examples/openhtf_station.py --url 'sim://W25Q128JV?image=chip.bin' \\
        --board imp003 --expect W25Q128JVSIQ

Each run is one OpenHTF test (phases identify_chip, judge_board, erase_test;
see flashcheck.openhtf) whose record holds every measurement: JEDEC ID,
part, the board's verdict and the rules not met, the longest erase of each
size and the longest page program against their datasheet maxima.
``--json-out DIR`` writes each record as JSON with OpenHTF's own output
callback; add your own (MfgInspector, a database) with ``add_output_callbacks``.

Exit code: 0 PASS, 1 FAIL, 2 bad input, 4 ERROR (a hardware fault: the
transport or chip failed; the erase test's journal keeps the data, run
`flashcheck recover --url URL`).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

EXIT = {"PASS": 0, "FAIL": 1, "ERROR": 4, "TIMEOUT": 4, "ABORTED": 4}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--url", required=True, help="flashcheck transport URL: ftdi://..., sim://MODEL?image=FILE, ...")
    ap.add_argument("--board", required=True, help="board profile name (flashcheck boards) or a YAML file")
    ap.add_argument("--expect", help="the part this board's BOM fits (order code, family or JEDEC ID)")
    ap.add_argument("--serial", default="unknown", help="the board's serial number (DUT ID in the record)")
    ap.add_argument("--no-erase-test", action="store_true", help="identify and judge only")
    ap.add_argument("--journal-dir", type=Path, help="erase-test journal directory (default: flashcheck's)")
    ap.add_argument("--json-out", type=Path, metavar="DIR", help="write each test record as JSON into DIR")
    return ap.parse_args(argv)


def run(argv: list[str] | None = None, callbacks=()) -> tuple[int, object]:
    """Run one test; (exit code, the OpenHTF test record)."""
    from flashcheck.errors import FlashcheckError
    from flashcheck.openhtf import make_test

    args = parse_args(argv)
    try:
        test = make_test(args.url, args.board, expect=args.expect, erase_test=not args.no_erase_test,
                         journal_dir=args.journal_dir, name="flashcheck-station")
    except FlashcheckError as exc:
        print(f"openhtf_station: error: {exc}", file=sys.stderr)
        return exc.exit_code, None
    records: list = []
    test.add_output_callbacks(records.append, *callbacks)
    if args.json_out:
        from openhtf.output.callbacks import json_factory

        args.json_out.mkdir(parents=True, exist_ok=True)
        test.add_output_callbacks(json_factory.OutputToJSON(
            str(args.json_out / "{dut_id}.{start_time_millis}.json"), indent=2))
    test.execute(test_start=lambda: args.serial)
    record = records[-1]
    return EXIT.get(record.outcome.name, 4), record


if __name__ == "__main__":
    sys.exit(run()[0])
