"""USB round trips and bytes of a full probe through the real pyftdi driver.

Opens ``sim+ftdi://W25Q128JV`` (a simulated chip behind a virtual FT232H:
pyftdi, the ftdi:// transport and pyusb all run; only USB is emulated, and
counted) and reads what a probe reads: the JEDEC ID with extended bytes,
the SFDP image, the status register and the unique ID.  Three ways:

``sequential``  one SpiNor call each, as the probe workflow does today
                (one round trip per transaction, three for the SFDP image);
``batched``     :meth:`exchange_many`: the four reads in one MPSSE write and
                one read (SFDP read speculatively as 256 bytes, enough for
                JESD216 tables of most parts), then one more round trip only
                if the parameter headers point past 256 bytes;
``workflow``    :func:`flashcheck.workflows.probe.read_facts`, if present.

A round trip is a bulk OUT followed by the bulk IN that waits for its
answer.  Target: a full probe in at most 4 round trips.

    python benchmarks/bench_ftdi_roundtrips.py [--model W25Q128JV] [--json]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from flashcheck.chip.spinor import RDID, RDSFDP, RDSR, RUID, SpiNor  # noqa: E402
from flashcheck.transport.vftdi import open_sim_ftdi  # noqa: E402

TARGET_ROUND_TRIPS = 4
SFDP_GUESS = 256


def probe_sequential(nor: SpiNor) -> dict:
    return {
        "id": nor.read_id(6),
        "status": nor.read_status(),
        "sfdp": nor.read_sfdp_image(),
        "unique_id": nor.read_unique_id(),
    }


def probe_batched(transport) -> dict:
    """What the probe workflow can do on a transport with ``exchange_many``."""
    ident, status, sfdp, uid = transport.exchange_many(
        [
            (bytes([RDID]), 6),
            (bytes([RDSR]), 1),
            (bytes([RDSFDP, 0, 0, 0, 0]), SFDP_GUESS),
            (bytes([RUID, 0, 0, 0, 0]), 8),
        ]
    )
    image = None
    if sfdp[:4] == b"SFDP":
        nph = sfdp[6] + 1
        end = 8 + 8 * nph
        for i in range(nph):
            h = sfdp[8 + 8 * i : 16 + 8 * i]
            end = max(end, int.from_bytes(h[4:7], "little") + 4 * h[3])
        if end > SFDP_GUESS:  # a second round trip, only for big SFDP areas
            sfdp += transport.exchange(bytes([RDSFDP]) + SFDP_GUESS.to_bytes(3, "big") + b"\x00", end - SFDP_GUESS)
        image = sfdp[:end]
    return {
        "id": ident,
        "status": status[0],
        "sfdp": image,
        "unique_id": None if uid in (b"\xff" * 8, b"\x00" * 8) else uid,
    }


def measure(model: str) -> tuple[dict, dict, dict]:
    """Each way on one opened device (so the chip's unique ID is the same);
    the counters are reset before each."""
    rows, results = {}, {}
    t = open_sim_ftdi(f"sim+ftdi://{model}?time_scale=0")
    try:
        opened = t.stats.as_dict()
        nor = SpiNor(t)
        for how in ("sequential", "batched", "workflow"):
            t.stats.reset()
            first = len(t.transactions)
            if how == "sequential":
                result = probe_sequential(nor)
            elif how == "batched":
                result = probe_batched(t)
            else:
                try:
                    from flashcheck.workflows.probe import read_facts  # noqa: PLC0415
                except ImportError:
                    continue  # no probe workflow in this tree
                f = read_facts(nor)
                result = {"id": f.raw_id, "status": f.status, "sfdp": f.sfdp_raw, "unique_id": f.unique_id}
            stats = t.stats.as_dict()
            stats["transactions"] = len(t.transactions) - first
            rows[how], results[how] = stats, result
    finally:
        t.close()
    return rows, results, opened


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default="W25Q128JV")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    rows, results, opened = measure(args.model)
    ref = results["sequential"]
    same = {how: r == ref for how, r in results.items()}
    if args.json:
        print(json.dumps({"model": args.model, "target_round_trips": TARGET_ROUND_TRIPS, "open": opened, "probe": rows, "same_answers": same}, indent=2))
    else:
        sfdp = ref["sfdp"]
        print(f"full probe of sim+ftdi://{args.model}: ID {ref['id'].hex()}, SFDP {len(sfdp) if sfdp else 0} bytes, "
              f"status 0x{ref['status']:02x}, unique ID {ref['unique_id'].hex() if ref['unique_id'] else 'none'}")
        print(f"{'':12}{'round trips':>12}{'bulk out':>10}{'bytes out':>10}{'bulk in':>9}{'bytes in':>9}{'payload':>9}{'CS txns':>8}")
        for how, s in rows.items():
            print(f"{how:12}{s['round_trips']:>12}{s['bulk_out']:>10}{s['bulk_out_bytes']:>10}{s['bulk_in']:>9}"
                  f"{s['bulk_in_bytes']:>9}{s['bulk_in_payload']:>9}{s['transactions']:>8}"
                  + ("" if same[how] else "  (answers differ!)"))
        print(f"opening the device (not counted above): {opened['ctrl_out'] + opened['ctrl_in']} control transfers, "
              f"{opened['bulk_out']} bulk OUT, {opened['round_trips']} bulk round trips")
        verdict = "meets" if rows["batched"]["round_trips"] <= TARGET_ROUND_TRIPS else "MISSES"
        print(f"batched probe {verdict} the target of at most {TARGET_ROUND_TRIPS} round trips")
    ok = rows["batched"]["round_trips"] <= TARGET_ROUND_TRIPS and same["batched"]
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
