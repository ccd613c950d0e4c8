"""Running the erase test (see the package docstring for the design)."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from pathlib import Path

from flashcheck import __version__
from flashcheck.chip.spinor import SpiNor
from flashcheck.errors import ChipTimeout, FlashcheckError, HardwareError, InputError, TransportError
from flashcheck.rules import Check
from flashcheck.units import format_addr, format_size
from flashcheck.workflows.erasetest import journal
from flashcheck.workflows.erasetest.addressing import whole_array
from flashcheck.workflows.erasetest.lock import ChipLock, chip_key
from flashcheck.workflows.erasetest.plan import Plan, Target
from flashcheck.workflows.erasetest.protect import Protection, read_protection, relock, unlock
from flashcheck.workflows.erasetest.report import SRC, SectorResult, Step, TestReport, checks_of
from flashcheck.workflows.erasetest.restore import differing_chunks, erase_timed, program, restore_image, restore_window
from flashcheck.workflows.erasetest.sizecheck import check_size

KiB = 1024
#: Pages of each block programmed whole (and timed) with the test pattern.
TIMED_PAGES = 16
#: Bytes of the pattern put at the start of every other page, and the
#: marker put at the start of every blank 4 KiB sector of a window.
SPARSE_BYTES = 16
#: No SPI NOR erase is finer than this: one marked byte per granule shows
#: whether an erase reached it.
GRANULE = 4 * KiB

Progress = Callable[[int, int, str], None]


class Interrupt(Exception):
    pass


class Abandoned(FlashcheckError):
    """The user insisted (a second Ctrl-C): the journal keeps the block."""

    exit_code = 130


def pattern(addr: int, n: int) -> bytes:
    """A block's test pattern: pseudo-random, no 0xFF byte (every byte
    shows whether an erase reached it)."""
    seed = hashlib.sha256(addr.to_bytes(8, "big")).digest()
    base = b"".join(hashlib.sha256(seed + bytes([i])).digest() for i in range(32))  # 1 KiB
    reps = -(-n // (len(base) + 1))
    # 1025-byte period against 256-byte pages: no two pages alike
    return ((base + seed[:1]) * reps)[:n].replace(b"\xff", b"\x5a")


def ranges(addrs: list[int]) -> str:
    """'0x001000-0x001FFF, ...' of a sorted list of addresses."""
    if not addrs:
        return ""
    out, lo, prev = [], addrs[0], addrs[0]
    for a in addrs[1:]:
        if a != prev + 1:
            out.append((lo, prev))
            lo = a
        prev = a
    out.append((lo, prev))
    text = ", ".join(f"{format_addr(a)}-{format_addr(b)}" for a, b in out[:3])
    return text + (" ..." if len(out) > 3 else "")


def judge_erase(t: Target, before: bytes, after: bytes) -> tuple[bool, str]:
    """Whether the erase blanked exactly its block in the window.  Every
    4 KiB sector of ``before`` holds data (markers where it was blank), so
    an erase that is ignored, too small, too large or misplaced shows."""
    ws = t.window[0]
    lo, hi = t.address - ws, t.address - ws + t.size
    left = t.size - after[lo:hi].count(0xFF)
    op = f"0x{t.opcode:02X} at {format_addr(t.address)}"
    if before[:lo] != after[:lo] or before[hi:] != after[hi:]:
        changed = [ws + i for i in range(len(before)) if (i < lo or i >= hi) and before[i] != after[i]]
        return False, (f"{op} erased beyond its {format_size(t.size)} block: {len(changed)} neighbouring bytes "
                       f"changed at {ranges(changed)}")
    if left:
        if after[lo:hi] == before[lo:hi]:
            return False, f"{op} did not erase: {left} bytes still programmed"
        return False, f"{op} erased only part of its block: {left} bytes still programmed"
    return True, f"{op} erased its {format_size(t.size)} block and nothing else"


def _programs(nor: SpiNor, items: list[tuple[int, bytes]], timeout: float) -> list[float]:
    """Page programs (address, bytes), each timed in ms."""
    saved = nor.poll_interval_s
    nor.poll_interval_s = 0.0
    try:
        return [program(nor, a, d, timeout) * 1000.0 for a, d in items]
    finally:
        nor.poll_interval_s = saved


def mark_blank_sectors(nor: SpiNor, start: int, data: bytes) -> bytes:
    """Program a marker at the start of every blank 4 KiB sector of the
    window: afterwards every sector holds data, so any erase that reaches
    it shows.  Returns the window as it now is."""
    out = bytearray(data)
    items = []
    for off in range(0, len(data), GRANULE):
        if data[off : off + GRANULE].count(0xFF) == min(GRANULE, len(data) - off):
            mark = pattern(start + off, SPARSE_BYTES)
            out[off : off + SPARSE_BYTES] = mark
            items.append((start + off, mark))
    _programs(nor, items, 0.5)
    return bytes(out)


def _erase_step(nor: SpiNor, plan: Plan, t: Target, expect: bytes, res: SectorResult, name: str) -> bytes:
    """Erase (timed), read the window back and judge it against ``expect``."""
    ws, we = t.window
    timeout = max(2 * t.limit.max_ms / 1000.0, 0.5) if t.limit and t.limit.max_ms else (10.0 if t.size <= 64 * KiB else 30.0)
    ms, busy, err = erase_timed(nor, t.opcode, t.address, timeout, plan.facts.raw_id)
    cur = nor.read(ws, we - ws)
    ok, detail = judge_erase(t, expect, cur)
    if err:
        ok, detail = False, (detail if not ok else f"0x{t.opcode:02X} at {format_addr(t.address)} failed") + f": {err}"
    res.steps.append(Step(name, ok, ms, detail + ("" if busy or ok else " (the chip never went busy)")))
    res.erase_ok, res.detail = ok, detail
    if not ok:
        raise Interrupt
    res.erase_ms.append(ms)
    return cur


def _program_step(nor: SpiNor, plan: Plan, t: Target, res: SectorResult) -> bytes:
    """Program the pattern: whole pages (timed: the datasheet's time is for
    a whole page) for the first TIMED_PAGES pages and the last; a few bytes
    at the start of every other page.  Returns what the block now holds."""
    full = pattern(t.address, t.size)
    ps = plan.page_size
    npages = max(1, t.size // ps)
    timed = set(range(min(TIMED_PAGES, npages))) | {npages - 1}
    want = bytearray(b"\xff" * t.size)
    items = []
    for k, p in enumerate(range(0, t.size, ps)):
        n = min(ps if k in timed else SPARSE_BYTES, nor.max_program())
        want[p : p + n] = full[p : p + n]
        items.append((t.address + p, full[p : p + n]))
    lim = plan.program_limit
    ms = _programs(nor, items, max(4 * lim.max_ms / 1000.0, 0.1) if lim and lim.max_ms else 0.5)
    res.program_times = [m for k, m in enumerate(ms) if k in timed]
    res.program_ms = max(res.program_times)
    got = nor.read(t.address, t.size)
    bad = sum(1 for x, y in zip(got, want) if x != y) if got != bytes(want) else 0
    res.steps.append(Step("program", not bad, res.program_ms,
                          f"pattern programmed and read back ({len(res.program_times)} whole pages timed)"
                          if not bad else f"{bad} bytes read back wrong after programming the pattern"))
    if bad:
        res.erase_ok = False
        res.detail = f"program at {format_addr(t.address)}: {bad} bytes read back wrong"
        raise Interrupt
    return bytes(want)


def test_sector(nor: SpiNor, plan: Plan, t: Target, writer: journal.Writer, entry: int,
                stop: Callable[[], bool]) -> SectorResult:
    """One block: mark, erase, program, erase again, restore (each checked)."""
    res = SectorResult(t, "tested")
    ws, we = t.window
    lo, hi = t.address - ws, t.address - ws + t.size
    writer.begin(entry, address=t.address, size=t.size, opcode=t.opcode, window_start=ws, window_size=we - ws)
    before = nor.read(ws, we - ws)
    res.steps.append(Step("read", True, None, f"read {format_addr(ws)}-{format_addr(we - 1)} ({format_size(we - ws)}); "
                          f"journal {writer.path.name}"))
    cur = None
    try:
        marked = mark_blank_sectors(nor, ws, before)
        cur = _erase_step(nor, plan, t, marked, res, "erase")
        if stop():
            raise Interrupt
        block = _program_step(nor, plan, t, res)
        cur = None
        if stop():
            raise Interrupt
        cur = _erase_step(nor, plan, t, marked[:lo] + block + marked[hi:], res, "erase again")
    except Interrupt:
        pass
    if stop() and len(res.erase_ms) < 2 and res.erase_ok is not False:
        res.status, res.erase_ok, res.detail = "interrupted", None, "interrupted before the test finished"
    avoid = {t.opcode} if res.erase_ok is False else set()
    geo = plan.geo
    info = restore_window(nor, ws, before, lambda a: [e for e in geo.erasers_at(a) if e[0] not in avoid],
                          plan.page_size, first=cur, jedec=plan.facts.raw_id)
    res.restored = True
    res.steps.append(Step("restore", True, None, f"{len(info['erases'])} erase(s), {info['pages']} program(s); "
                          "read back equal"))
    writer.done(entry)
    return res


# ---------------------------------------------------------------------------
# The whole run


def _classify(plan: Plan, prot: Protection, allow_unlock: bool) -> tuple[list[SectorResult], list[Target]]:
    done: list[SectorResult] = []
    todo: list[Target] = []
    for t in plan.targets:
        if t.opcode < 0:
            done.append(SectorResult(t, "untestable", detail=f"{format_size(t.size)} at {format_addr(t.address)}: "
                                     f"{t.note}", erase_ok=False))
        elif prot.locked(t.address, t.size) and not allow_unlock:
            done.append(SectorResult(t, "skipped", detail=f"write-protected ({prot.detail}); not unlocked without --unlock"))
        else:
            todo.append(t)
    return done, todo


def _refuse_pending(plan: Plan, journal_dir: Path, url: str) -> None:
    """An unfinished journal of this chip: recover first (testing now would
    back up half-restored data as the original)."""
    good, bad = journal.read_all(journal_dir)
    tag = journal.tag(plan.jedec_hex, plan.uid_hex)
    mine = [j.path for j in good if j.jedec_id == plan.jedec_hex and j.unique_id == plan.uid_hex and j.unfinished]
    mine += [p for p, _e in bad if tag in p.name]
    if mine:
        raise InputError(
            f"this chip ({plan.jedec_hex}, unique ID {plan.uid_hex or 'none'}) has unfinished journal(s) (or damaged ones) "
            f"from an earlier run: {', '.join(str(p) for p in mine)}; run `{recover_command(url, journal_dir)}` "
            "first (testing now would save half-restored data as the original)")


def _backup(nor: SpiNor, plan: Plan, writer: journal.Writer, progress: Progress | None, figures: dict) -> bytes:
    """Read the chip [0, reach) and save it, durably, before any change."""
    t0 = time.perf_counter()
    step = 1 << 20
    parts = []
    for a in range(0, plan.reach, step):
        if progress:
            progress(a, plan.reach, f"backing up the chip {format_addr(a)}")
        parts.append(nor.read(a, min(step, plan.reach - a)))
    image = b"".join(parts)
    figures["backup_read_s"] = round(time.perf_counter() - t0, 4)
    writer.save_backup(image)
    figures["backup_s"] = round(time.perf_counter() - t0, 4)
    figures["backup_bytes"] = len(image)
    return image


def _verify_all(nor: SpiNor, plan: Plan, image: bytes, results: list[SectorResult], figures: dict) -> Check:
    """Read the whole range back; put back anything that differs from the
    backup; "restored" only once it reads back equal."""
    t0 = time.perf_counter()
    cur = nor.read(0, len(image))
    figures["verify_s"] = round(time.perf_counter() - t0, 4)
    figures["verify_bytes"] = len(image)
    bad = differing_chunks(cur, image)
    n = len(results)
    if not bad:
        return Check("data restored", True, f"the whole chip ({format_size(len(image))}) read back equal to the "
                     f"backup taken before the test ({n} block(s) tested)", SRC)
    avoid = frozenset(r.target.opcode for r in results if r.erase_ok is False)
    stats = restore_image(nor, image, plan.geo.erasers_at, plan.page_size, avoid=avoid, current=cur,
                          jedec=plan.facts.raw_id)
    return Check("data restored", True, f"{stats['bytes']} bytes in {len(bad)} 64 KiB chunk(s) outside the tested "
                 f"windows had changed (from {format_addr(bad[0])}) and were put back from the backup; the whole "
                 f"chip ({format_size(len(image))}) then read back equal", SRC)


def _size_step(nor: SpiNor, plan: Plan, image: bytes, writer: journal.Writer, writable) -> Check:
    entry = 10**6  # journal entry number of the size check's marker
    op, unit = plan.geo.erasers_at(0)[0]
    unit = max(unit, GRANULE)  # the sector the marker goes in: the smallest erase there can clear it

    def prepare(addr: int, blank: bool) -> int:
        start = addr - addr % unit
        writer.begin(entry, address=start, size=unit, opcode=0x02, window_start=start, window_size=unit)
        if not blank:  # no blank page: make one (the backup holds the sector)
            erase_timed(nor, op, start, 10.0 if unit <= 64 * KiB else 30.0, plan.facts.raw_id)
            return start
        return addr

    check, marked = check_size(nor, image, plan.page_size, prepare, lambda a: writable(a - a % unit, unit))
    if marked is not None:
        start = marked - marked % unit
        restore_window(nor, start, image[start : start + unit], plan.geo.erasers_at, plan.page_size,
                       jedec=plan.facts.raw_id)
        writer.done(entry)
    return check


class _Run:
    """State of one run, so its steps stay short."""

    def __init__(self, nor, plan, journal_dir, url, board, stop, progress) -> None:
        self.nor, self.plan, self.journal_dir, self.url = nor, plan, journal_dir, url
        self.stop, self.progress = stop, progress
        self.writer: journal.Writer | None = None
        self.report = TestReport(url, board, plan, [], list(plan.identity_checks), None)

    def open_journal(self) -> None:
        f = self.plan.facts
        sfdp = hashlib.sha256(f.sfdp_raw).hexdigest() if getattr(f, "sfdp_raw", None) else None
        self.writer = journal.Writer(self.journal_dir, jedec_id=self.plan.jedec_hex, unique_id=self.plan.uid_hex,
                                     transport=getattr(self.nor.transport, "description", self.url),
                                     tool=__version__, url=self.url, sfdp_sha256=sfdp)
        self.report.journal = self.writer.path

    def blocks(self, todo: list[Target]) -> list[SectorResult]:
        out = []
        for i, t in enumerate(todo):
            if self.stop():
                self.report.interrupted = True
                break
            if self.progress:
                self.progress(i, len(todo), t.label())
            out.append(test_sector(self.nor, self.plan, t, self.writer, i, self.stop))
        if self.progress:
            self.progress(len(todo), len(todo), "done")
        return out

    def body(self, prot: Protection, todo: list[Target], results: list[SectorResult]) -> None:
        nor, plan, rep = self.nor, self.plan, self.report
        if not todo:  # nothing to test: nothing is written either
            rep.checks += checks_of(plan, results, prot.detail)
            return
        self.open_journal()
        image = _backup(nor, plan, self.writer, self.progress, rep.figures)
        seq = None
        if any(prot.locked(t.address, t.size) for t in todo):
            seq = self.writer.append("protect", **prot.record())
            unlock(nor, prot)
            rep.unlocked = True
        writable = (lambda a, n: True) if seq is not None else (lambda a, n: not prot.locked(a, n))
        size = _size_step(nor, plan, image, self.writer, writable)
        rep.checks.append(size)
        if size.ok is False:
            rep.checks.append(Check("erase test", None, "not run: the array is not the size the chip claims", SRC))
        else:
            results += self.blocks(todo)
            rep.checks += checks_of(plan, results, prot.detail)
        if seq is not None:
            relock(nor, prot.state)
            self.writer.append("protect-restored", durable=False, ref=seq)
        rep.checks.append(_verify_all(nor, plan, image, results, rep.figures))
        self.writer.append("end", durable=False, result="interrupted" if rep.interrupted else "complete")


def run_test(nor: SpiNor, plan: Plan, journal_dir: Path, *, url: str = "", board: str = "",
             allow_unlock: bool = False, stop: Callable[[], bool] = lambda: False,
             progress: Progress | None = None) -> TestReport:
    """Test every target of ``plan``; see the package docstring.

    A chip whose identity or size disagrees fails before anything is
    erased.  HardwareError (device gone, chip stuck busy, data that will
    not go back) keeps the journal and names ``flashcheck recover``."""
    run = _Run(nor, plan, journal_dir, url, board, stop, progress)
    rep = run.report
    if plan.identity_failed:
        rep.checks.append(Check("erase test", None, "not run: the chip is not the part it claims to be "
                                "(see the checks above); nothing was erased", SRC))
        return rep
    prot = read_protection(nor, plan)
    rep.protection = prot.detail or None
    results, todo = _classify(plan, prot, allow_unlock)
    lock = ChipLock(chip_key(plan.jedec_hex, plan.uid_hex, url), f"chip {plan.jedec_hex}")
    with lock, whole_array(nor, plan.reach, plan.notes):
        _refuse_pending(plan, journal_dir, url)
        try:
            run.body(prot, todo, results)
        except (TransportError, ChipTimeout, HardwareError) as exc:
            raise type(exc)(_recover_hint(str(exc), run.writer, url, journal_dir)) from exc
        except KeyboardInterrupt:  # a second Ctrl-C: the block in progress is abandoned
            raise Abandoned(_recover_hint("interrupted before the block in progress was restored", run.writer, url,
                                          journal_dir)) from None
        finally:
            if run.writer is not None:
                run.writer.close()
        if run.writer is not None:
            journal.remove_with_backup(run.writer.path)
            rep.journal_removed = True
    results.sort(key=lambda r: (r.target.size, r.target.address))
    rep.sectors = results
    if rep.interrupted:
        untested = len(todo) - sum(1 for r in results if r.status in ("tested", "interrupted"))
        rep.checks.append(Check("complete", None, f"interrupted: the block in progress was restored; {untested} not tested"))
    return rep


def recover_command(url: str, journal_dir: Path) -> str:
    """The command line that puts the chip back (a simulated failure's
    ``fail_after`` left out of the URL)."""
    import re
    import shlex

    if url:
        url = re.sub(r"([?&])fail_after=\d+&?", r"\1", url).rstrip("?&")
    where = "" if journal_dir == journal.default_dir() else f" --journal-dir {shlex.quote(str(journal_dir))}"
    return f"flashcheck recover --url {shlex.quote(url) if url else '<URL>'}{where}"


def _recover_hint(msg: str, writer: journal.Writer | None, url: str, journal_dir: Path) -> str:
    if writer is None:
        return msg + " (nothing had been changed on the chip)"
    return (f"{msg}; the chip's contents before the test are kept with the journal {writer.path}: when the device "
            f"is back, run `{recover_command(url, journal_dir)}` to put them back")
