"""``flashcheck recover``: put a chip back from the backup its unfinished
test journal holds.

Which journal: the chip's JEDEC ID and unique ID must match, its SFDP
area must hash the same, and its contents must be the backup's outside
what the test may have changed (64 KiB chunks that differ and are not
blank are another chip's data); ``force`` overrides the contents check
only, with the difference listed.  A journal a running test holds is
refused; one whose test died is taken over.  What is written: only the
backup's data, within the chip, with erase commands chosen from the
chip's own geometry (never the journal's opcodes, never a chip erase);
"restored" only after the whole range reads back equal to the backup."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flashcheck.chip.spinor import SpiNor
from flashcheck.errors import InputError
from flashcheck.units import format_addr, format_size
from flashcheck.workflows.erasetest import journal
from flashcheck.workflows.erasetest.lock import ChipLock, chip_key
from flashcheck.workflows.erasetest.plan import chip_capacity, geometry, identify
from flashcheck.workflows.erasetest.addressing import whole_array
from flashcheck.workflows.erasetest.protect import current_protection, relock, state_from_record, unlock
from flashcheck.workflows.erasetest.restore import CHUNK, differing_chunks, restore_image

KiB = 1024


@dataclass
class RecoverReport:
    chip: str
    restored: list[tuple[Path, int]] = field(default_factory=list)  # (journal, bytes put back)
    protection: list[str] = field(default_factory=list)
    other: list[Path] = field(default_factory=list)  # unfinished journals of other chips
    damaged: list[str] = field(default_factory=list)  # journals that do not read (other chips')
    forced: list[str] = field(default_factory=list)

    @property
    def nothing(self) -> bool:
        return not self.restored and not self.protection

    def to_json(self) -> dict[str, Any]:
        return {
            "chip": self.chip,
            "restored": [{"journal": str(p), "bytes_changed": n} for p, n in self.restored],
            "protection": self.protection,
            "other_chips": [str(p) for p in self.other],
            "damaged_journals": self.damaged,
            "forced": self.forced,
        }


def _foreign_chunks(cur: bytes, image: bytes, j: journal.Journal) -> list[int]:
    """64 KiB chunks that differ from the backup, hold data, and lie
    outside every window the journal says the test may have changed."""
    def touched(a: int) -> bool:
        return any(e.window_start < a + CHUNK and a < e.window_end for e in j.entries)

    out = []
    for a in differing_chunks(cur, image):
        piece = cur[a : a + CHUNK]
        if not touched(a) and piece.count(0xFF) != len(piece):
            out.append(a)
    return out


def _mine(jl: list[journal.Journal], jedec: str, uid: str | None) -> list[journal.Journal]:
    return [j for j in jl if j.jedec_id == jedec and j.unique_id == uid and j.unfinished]


def _select(journal_dir: Path, jedec: str, uid: str | None, who: str, report: RecoverReport) -> list[journal.Journal]:
    good, bad = journal.read_all(journal_dir)
    tag = journal.tag(jedec, uid)
    for p, exc in bad:
        if tag in p.name:
            raise exc  # this chip's journal is damaged: refuse, apply nothing
        report.damaged.append(str(exc))
    for j in good:  # finished (or never started changing anything) but not deleted: nothing to keep
        if not j.unfinished and j.jedec_id == jedec and j.unique_id == uid and not journal.in_use(j.path):
            journal.remove_with_backup(j)
    unfinished = [j for j in good if j.unfinished]
    mine = _mine(unfinished, jedec, uid)
    report.other = [j.path for j in unfinished if j not in mine]
    if unfinished and not mine:
        listing = "; ".join(f"{j.path.name} ({j.identity()})" for j in unfinished)
        raise InputError(f"the chip on this transport ({who}) is not the chip the unfinished journal(s) were written "
                         f"for: {listing}; refusing to write anything (fit the chip the journal names, or use its "
                         "--journal-dir)")
    for j in mine:
        if journal.in_use(j.path):
            raise InputError(f"journal {j.path} is in use by a running `flashcheck test` on this chip; refusing to "
                             "touch the chip while it runs (it restores its own blocks)")
    return mine


def _check_same_chip(j: journal.Journal, sfdp_hash: str | None, cur: bytes, image: bytes, force: bool,
                     report: RecoverReport) -> None:
    if j.sfdp_sha256 and sfdp_hash and j.sfdp_sha256 != sfdp_hash:
        raise InputError(f"journal {j.path.name}: the chip's SFDP tables differ from those recorded: another chip "
                         "model or revision; refusing to write anything")
    if len(image) > len(cur):
        raise InputError(f"journal {j.path.name}: its backup is {format_size(len(image))}, larger than this chip")
    foreign = _foreign_chunks(cur, image, j)
    if not foreign:
        return
    shown = ", ".join(format_addr(a) for a in foreign[:8]) + (" ..." if len(foreign) > 8 else "")
    what = (f"{len(foreign)} of {len(image) // CHUNK} 64 KiB chunks outside the tested windows hold data different "
            f"from the backup ({shown})")
    if not force:
        raise InputError(f"journal {j.path.name} ({j.identity()}): this looks like another chip: {what}; refusing "
                         "to write anything (fit the chip the journal was written for, or pass --force to "
                         "overwrite those chunks with the backup)")
    report.forced.append(f"{j.path.name}: --force: overwrote {what}")


def _relock(nor: SpiNor, j: journal.Journal, w: journal.Writer, now, seq, report: RecoverReport) -> None:
    if j.open_protects:
        p0 = j.open_protects[0]  # the protection the chip had before the test
        relock(nor, state_from_record(p0.kind, p0.value, p0.registers))
        for p in j.open_protects:
            w.append("protect-restored", ref=p.seq)
        report.protection.append(f"{p0.kind} protection put back as before the test ({p0.value.hex()}), read back equal")
    elif now is not None:
        relock(nor, now.state)
        report.protection.append(f"protection lifted for the restore and put back, read back equal ({now.detail})")
    if seq is not None:
        w.append("protect-restored", ref=seq)


def _restore_one(nor: SpiNor, j: journal.Journal, geo, page: int, raw_id: bytes, report: RecoverReport,
                 sfdp_hash: str | None, force: bool) -> None:
    image = j.load_image() if j.backup else None
    w = journal.Writer.reopen(j)
    try:
        now = current_protection(nor)
        now = now if now.active else None
        seq = None
        if image is not None:
            cur = nor.read(0, len(image))
            _check_same_chip(j, sfdp_hash, cur, image, force, report)
            if now is not None:
                seq = w.append("protect", **now.record())
                unlock(nor, now)
            changed = sum(1 for x, y in zip(cur, image) if x != y) if cur != image else 0
            restore_image(nor, image, geo.erasers_at, page, strict=True, current=cur, jedec=raw_id)
            for e in j.open_entries:
                w.done(e.entry, by="recover")
            report.restored.append((j.path, changed))
        _relock(nor, j, w, now if seq is not None else None, seq, report)
        w.append("end", result="recovered")
    finally:
        w.close()
    journal.remove_with_backup(j)


def recover(nor: SpiNor, journal_dir: Path, app=None, *, url: str = "", force: bool = False) -> RecoverReport:
    """Restore the chip on ``nor`` from its unfinished journal(s)."""
    if app is None:
        from flashcheck.app import App

        app = App()
    facts, _parts, _how, _checks, layouts = identify(nor, app, None)
    jedec, uid = facts.raw_id.hex(), facts.unique_id.hex() if facts.unique_id else None
    who = f"JEDEC ID {jedec}, unique ID {uid or 'none'}"
    report = RecoverReport(who)
    with ChipLock(chip_key(jedec, uid, url), f"chip {jedec}"):
        mine = _select(journal_dir, jedec, uid, who, report)
        if not mine:
            return report
        notes: list[str] = []
        capacity = chip_capacity(facts, layouts, notes)
        nor.size = nor.size or capacity
        geo = geometry(nor, layouts, facts.sfdp, capacity, notes)
        page = facts.sfdp.page_size if facts.sfdp and facts.sfdp.page_size else 256
        sfdp_hash = hashlib.sha256(facts.sfdp_raw).hexdigest() if facts.sfdp_raw else None
        with whole_array(nor, capacity):
            for j in mine:
                _restore_one(nor, j, geo, page, facts.raw_id, report, sfdp_hash, force)
    return report
