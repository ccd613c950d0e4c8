"""Issue 12, done when: "flashrom over ``flashcheck sim serve`` identifies
every model its table knows, and reads, writes and verifies each".

Every built-in model (whatever is in ``sim/chips/`` when the tests run) is
served over serprog and driven by Debian's flashrom, an independent
program with its own chip table:

- identify: flashrom names a chip of the model's family (same vendor prefix
  and density, read from the name; '.' in flashrom's names is a wildcard).
  Where its table matches several, the best-matching one is chosen with
  ``-c``, as a user would.  A made-up model (``real: false``) must come out
  as flashrom's generic "SFDP-capable chip" (it has SFDP) or not at all;
- read: the whole array, preloaded with random bytes, comes back intact;
- write: a random image, written and verified by flashrom (the whole chip
  up to 1 MiB; above that a 64 KiB region at each end, from a layout file,
  to keep the run short), then the simulated array holds the new bytes in
  the regions and the old ones everywhere else.

Not skipped but asserted as they are:
- a chip that locks itself at power-up (SST26 block-protection register):
  flashrom must unlock it (0x98) and the write succeeds;
- chips flashrom writes with commands the simulator does not model
  (DataFlash AT45DB: erases and buffer programs taken without WREN; SST25:
  AAI word program): flashrom's write fails and says so, the region is
  left old or erased, nothing else changes.  When the simulator learns
  these commands, this test says so by failing.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from flashcheck.sim import builtin_models
from flashcheck.sim.serprog_server import SerprogServer
from flashcheck.transport import open_transport

KiB, MiB = 1 << 10, 1 << 20
FLASHROM = "/usr/sbin/flashrom" if os.path.exists("/usr/sbin/flashrom") else shutil.which("flashrom")
MODELS = sorted(builtin_models())

pytestmark = pytest.mark.skipif(
    FLASHROM is None,
    reason="Debian's flashrom is not installed (apt-get install flashrom); scripts/test.sh installs it as root")

#: Models whose flashrom name is not of the model's family by the rule
#: above, and why: flashrom 1.3's table has no entry of its own for them.
FLASHROM_NAMES = {
    "AT45DB321E": ("AT45DB321D", "flashrom 1.3 has no AT45DB321E; the D answers the same 1F 27 01"),
}

#: Where flashrom's table has several entries of the model's family for its
#: ID, the one the simulated part is (flashrom then needs -c).
TIES = {
    "S25FL127S": "S25FL127S-64kB",      # the model's factory layout: 64 KiB sectors, 4 KiB parameter sectors
    "S25FL128P": "S25FL128P......0",    # ......0: 64 KiB sectors (......1: 256 KiB)
}

#: flashrom names whose write path uses commands the simulator does not
#: model, and what flashrom sends there.
UNSIMULATED_WRITE = {
    r"AT45DB": "DataFlash erases and buffer programs (84h/88h), which take no WREN",
    r"SST25V?F0\d\dB": "AAI word program (ADh)",
}


def _stem(name: str) -> str | None:
    """Vendor prefix, series and density: W25Q128JV -> W25Q128."""
    m = re.match(r"[A-Z]+\d*[A-Z]+\d+", name.upper())
    return m.group(0) if m else None


def _score(model: str, alternative: str) -> int:
    """How many leading characters of ``model`` flashrom's name matches
    ('.' matches any); 0 when it does not cover the model's stem."""
    alt = re.sub(r"\(.*?\)", "", alternative).upper()
    n = 0
    for a, b in zip(alt, model.upper(), strict=False):
        if a not in (".", b):
            break
        n += 1
    stem = _stem(model)
    return n if stem and n >= len(stem) else 0


def best_match(model: str, found: list[str]) -> tuple[str | None, int]:
    """The flashrom chip name (of those found) closest to ``model``."""
    scored = [(max(_score(model, a) for a in f.split("/")), f) for f in found]
    top = max((s for s, _f in scored), default=0)
    best = sorted(f for s, f in scored if s == top and s > 0)
    if len(best) > 1 and TIES.get(model) in best:
        return TIES[model], top
    return (best[0] if best else None), top


def test_family_rule():
    """The matching rule itself, on names flashrom 1.3 prints."""
    assert best_match("W25Q128JV", ["W25Q128.V"])[0] == "W25Q128.V"
    assert best_match("GD25Q128C", ["GD25B128B/GD25Q128B", "GD25Q127C/GD25Q128C"])[0] == "GD25Q127C/GD25Q128C"
    assert best_match("MX25L12835F", ["MX25L12805D", "MX25L12833F/MX25L12835F/MX25L12845E"])[0].startswith("MX25L12833F")
    assert best_match("N25Q256A", ["N25Q256..1E", "MT25QU256"])[0] == "N25Q256..1E"
    assert best_match("GD25Q64C", ["GD25Q64(B)"])[0] == "GD25Q64(B)"
    assert best_match("MX25L3206E", ["MX25L3205(A)", "MX25L3205D/MX25L3208D"])[0] is None
    assert best_match("SIM-HYBRID-DEMO", ["SFDP-capable chip"])[0] is None


def run_flashrom(srv: SerprogServer, *args: str) -> subprocess.CompletedProcess:
    host, port = srv.address
    return subprocess.run([FLASHROM, "-p", f"serprog:ip={host}:{port}", *args],
                          capture_output=True, text=True, timeout=300)


def found_names(r: subprocess.CompletedProcess) -> list[str]:
    return re.findall(r'Found .* flash chip "([^"]+)"', r.stdout)


def identify_and_read(srv, model, tmp_path: Path) -> tuple[list[str], subprocess.CompletedProcess]:
    """flashrom -r (which probes first); with -c when flashrom's table has
    several candidates.  Returns (the -c option used, the read's result)."""
    dump = tmp_path / "dump.bin"
    r = run_flashrom(srv, "-r", str(dump))
    found = found_names(r)
    assert found, f"flashrom found no chip for {model.name}:\n{r.stdout}{r.stderr}"
    if not model.real:
        assert found == ["SFDP-capable chip"], f"{model.name} is made up, flashrom cannot know it: {found}"
        return [], r
    if model.name.upper() in FLASHROM_NAMES:
        name = FLASHROM_NAMES[model.name.upper()][0]
        assert name in found, found
    else:
        name, _score_ = best_match(model.name, found)
        assert name is not None, (
            f"flashrom names {found} for {model.name}: not its family; if flashrom's table lacks the part, "
            "say so in FLASHROM_NAMES")
    if len(found) == 1:
        return [], r
    assert "Multiple flash chip definitions match" in r.stdout + r.stderr
    r = run_flashrom(srv, "-c", name, "-r", str(dump))
    return ["-c", name], r


def regions_for(model, tmp_path: Path) -> tuple[list[str], list[tuple[int, int]]]:
    """flashrom layout options, and the (start, end) ranges they write."""
    if model.size <= MiB:
        return [], [(0, model.size)]
    spans = [(0, 64 * KiB), (model.size - 64 * KiB, model.size)]
    layout = tmp_path / "layout.txt"
    layout.write_text("".join(f"{a:#x}:{b - 1:#x} r{i}\n" for i, (a, b) in enumerate(spans)))
    return ["-l", str(layout), "-i", "r0", "-i", "r1"], spans


def unsimulated(names: list[str]) -> str | None:
    for pattern, what in UNSIMULATED_WRITE.items():
        if any(re.match(pattern, n) for n in names):
            return what
    return None


@pytest.mark.parametrize("name", MODELS)
def test_flashrom_identifies_reads_writes_and_verifies(name, tmp_path):
    model = builtin_models()[name]
    t = open_transport(f"sim://{name}")
    chip = t.chip
    preload = os.urandom(model.size)
    chip.data[:] = preload
    locked_at_power_up = chip.bpr != 0 if model.protection and model.protection.kind == "bpr" else None
    try:
        with SerprogServer(t) as srv:
            chosen, r = identify_and_read(srv, model, tmp_path)
            assert r.returncode == 0, r.stdout + r.stderr
            assert (tmp_path / "dump.bin").read_bytes() == preload
            names = chosen[1:] or found_names(r)
            gap = unsimulated(names)
            if gap:
                spans = [(0, 4 * KiB)]  # enough to see it; flashrom's byte-wise fallbacks are slow
                layout = tmp_path / "layout.txt"
                layout.write_text("0:0xfff r0\n")
                region = ["-l", str(layout), "-i", "r0"]
            else:
                region, spans = regions_for(model, tmp_path)
            new = os.urandom(model.size)
            (tmp_path / "new.bin").write_bytes(new)
            w = run_flashrom(srv, *chosen, *region, "-w", str(tmp_path / "new.bin"))
    finally:
        t.close()
    out = w.stdout + w.stderr
    data = bytes(chip.data)
    if gap:
        # flashrom's write path needs commands the simulator lacks: the
        # write fails and says so, the region is left old or erased (never
        # half-written garbage) and nothing outside it is touched.
        assert w.returncode != 0 and "FAILED" in out, f"{gap}: {out}"
        head = data[:4 * KiB]
        assert head in (preload[:4 * KiB], b"\xff" * (4 * KiB)) and head != new[:4 * KiB]
        assert data[4 * KiB:] == preload[4 * KiB:]
        return
    assert w.returncode == 0, out
    assert "VERIFIED" in out
    last = 0
    for a, b in spans:
        assert data[a:b] == new[a:b], f"{name}: {a:#x}..{b:#x} does not hold the image"
        assert data[last:a] == preload[last:a], f"{name}: flashrom's write changed {last:#x}..{a:#x}"
        last = b
    assert data[last:] == preload[last:]
    if locked_at_power_up is not None:
        # SST26: every block locked at power-up; flashrom unlocked them (98h)
        assert locked_at_power_up and chip.bpr == 0
