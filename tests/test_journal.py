"""The erase-test journal and `flashcheck recover`: round trip, torn last
records, refusal of damaged files (never applied, never blocking other
chips' journals), one test per chip, the right chip only, and a recover
that writes nothing but the backup's data."""

import errno
import json
import os
from pathlib import Path

import pytest

from flashcheck.chip.spinor import SpiNor
from flashcheck.transport import open_transport
from flashcheck.workflows import erasetest
from flashcheck.workflows.erasetest import journal
from flashcheck.workflows.erasetest import run as runmod
from flashcheck.workflows.erasetest.lock import ChipLock, chip_key
from simimage import random_image

SMALL = "W25Q80DV"
SECTORS = "0x1000:4K,0x20000:64K"


def _writer(tmp_path: Path, jedec="ef4014ffffff", uid="0102030405060708") -> journal.Writer:
    return journal.Writer(tmp_path / "j", jedec_id=jedec, unique_id=uid, transport="sim W25Q80DV", tool="test")


def _random_image(path: Path, model: str = SMALL) -> bytes:
    return random_image(path, model)


def _cut_test(run, url: str, jdir: Path, cut: int = 1500) -> None:
    """A test that loses the device after ``cut`` transactions."""
    code, _, err = run("test", "--url", f"{url}&fail_after={cut}", "--board", "imp003", "--sectors", SECTORS,
                       "--journal-dir", jdir)
    assert code == 4, err
    assert "device vanished" in err and "flashcheck recover" in err


def test_round_trip_backup_entries_and_protection(tmp_path):
    image = os.urandom(65536)
    with _writer(tmp_path) as w:
        w.save_backup(image)
        w.begin(0, address=0x1000, size=4096, opcode=0x20, window_start=0, window_size=0x40000)
        w.done(0)
        w.begin(1, address=0x3000, size=4096, opcode=0x20, window_start=0, window_size=0x40000)
        seq = w.append("protect", kind="sr", value="1c", mask=0x1C)
        path = w.path
    j = journal.read(path)
    assert (j.jedec_id, j.unique_id) == ("ef4014ffffff", "0102030405060708")
    assert [e.entry for e in j.open_entries] == [1] and j.unfinished
    assert j.load_image() == image and j.image_path.suffix == ".img"
    assert j.open_protects[0].seq == seq and j.open_protects[0].value == b"\x1c"
    w2 = journal.Writer.reopen(j)  # appending later (as recover does) continues the numbering
    w2.done(1, by="recover")
    w2.append("protect-restored", ref=seq)
    w2.close()
    assert not journal.read(path).unfinished


def test_every_record_has_a_checksum_and_sequence(tmp_path):
    with _writer(tmp_path) as w:
        w.save_backup(b"\x00" * 4096)
        path = w.path
    lines = [json.loads(x) for x in path.read_text().splitlines()]
    assert [r["seq"] for r in lines] == [0, 1]
    assert [r["type"] for r in lines] == ["run", "backup"]
    assert all(len(r["sha256"]) == 64 for r in lines) and len(lines[1]["image_sha256"]) == 64


def test_a_torn_last_record_is_ignored_and_cut_off(tmp_path):
    """The run died (or the disk filled) while writing its last line: the
    record never completed, so the change it announced never started."""
    with _writer(tmp_path) as w:
        w.save_backup(b"\x11" * 4096)
        w.begin(0, address=0, size=4096, opcode=0x20, window_start=0, window_size=4096)
        path = w.path
    whole = path.read_bytes()
    path.write_bytes(whole + b'{"seq":3,"type":"do')
    j = journal.read(path)
    assert j.torn and [e.entry for e in j.open_entries] == [0] and j.good_length == len(whole)
    w = journal.Writer.reopen(j)
    w.done(0)
    w.close()
    assert not journal.read(path).torn and not journal.read(path).unfinished


def _mangle(path: Path, how: str) -> None:
    lines = path.read_text().splitlines()
    if how == "flipped":
        rec = json.loads(lines[2])
        rec["address"] ^= 0x1000
        lines[2] = json.dumps(rec)  # the record checksum no longer matches
    elif how == "missing":
        del lines[1]
    elif how == "not json":
        lines[1] = lines[1][: len(lines[1]) // 2]
    path.write_text("\n".join(lines) + "\n")


@pytest.mark.parametrize("how, why", [("flipped", "checksum mismatch"), ("missing", "record number"),
                                      ("not json", "not a complete JSON")])
def test_damaged_journal_is_refused_never_applied_and_blocks_no_other_chip(tmp_path, run, how, why):
    img_a, img_b = tmp_path / "a.bin", tmp_path / "b.bin"
    _random_image(img_a)
    data_b = _random_image(img_b)
    jdir = tmp_path / "j"
    url_a, url_b = f"sim://{SMALL}?image={img_a}", f"sim://{SMALL}?image={img_b}"
    _cut_test(run, url_a, jdir)
    (path,) = journal.files(jdir)
    _mangle(path, how)
    half = img_a.read_bytes()
    code, _, err = run("recover", "--url", url_a, "--journal-dir", jdir)
    assert code == 2 and path.name in err and why in err and "nothing in it was applied" in err
    assert img_a.read_bytes() == half  # not one byte written
    # another chip's test and recover in the same directory go on
    code, out, err = run("test", "--url", url_b, "--board", "imp003", "--sectors", "0x1000:4K", "--journal-dir", jdir)
    assert code in (0, 3), err
    code, out, err = run("recover", "--url", url_b, "--journal-dir", jdir)
    assert code == 0 and "nothing to recover" in out and path.name in err  # A's damaged journal is named, not applied
    assert img_b.read_bytes() == data_b


def test_recover_refuses_another_chip_without_a_unique_id_and_force_shows_the_difference(tmp_path, run):
    """S25FL127S has no unique ID: the journal's backup tells the chips apart."""
    img_a, img_b = tmp_path / "a.bin", tmp_path / "b.bin"
    data_a = _random_image(img_a, "S25FL127S")
    data_b = _random_image(img_b, "S25FL127S")
    jdir = tmp_path / "j"
    url_a, url_b = f"sim://S25FL127S?image={img_a}", f"sim://S25FL127S?image={img_b}"
    code, _, err = run("test", "--url", f"{url_a}&fail_after=400", "--board", "imp003", "--sectors", "0x20000:64K",
                       "--journal-dir", jdir)
    assert code == 4, err
    code, out, err = run("recover", "--url", url_b, "--journal-dir", jdir)
    assert code == 2 and "looks like another chip" in err and "--force" in err
    assert img_b.read_bytes() == data_b
    code, out, err = run("recover", "--url", url_a, "--journal-dir", jdir)
    assert code == 0, err
    assert "read the whole of it back equal" in out and img_a.read_bytes() == data_a
    assert not journal.files(jdir)


def test_force_overwrites_only_with_the_difference_listed(tmp_path, run):
    img_a = tmp_path / "a.bin"
    data_a = _random_image(img_a)
    jdir = tmp_path / "j"
    url = f"sim://{SMALL}?image={img_a}"
    _cut_test(run, url, jdir)
    changed = bytearray(img_a.read_bytes())
    changed[0xF0000:0xF0010] = os.urandom(16)  # someone wrote elsewhere meanwhile
    img_a.write_bytes(bytes(changed))
    code, _, err = run("recover", "--url", url, "--journal-dir", jdir)
    assert code == 2 and "0x0F0000" in err
    code, out, err = run("recover", "--url", url, "--journal-dir", jdir, "--force", "--json")
    assert code == 0, err
    rep = json.loads(out)
    assert rep["forced"] and "0x0F0000" in rep["forced"][0]
    assert img_a.read_bytes() == data_a


def test_recover_and_a_second_test_refuse_while_a_test_runs(tmp_path, run, monkeypatch):
    """A running test holds its journal and its chip: a recover (any
    journal directory) and another test are refused, and change nothing."""
    img = tmp_path / "c.bin"
    data = _random_image(img)
    url = f"sim://{SMALL}?image={img}"
    seen = {}
    real = runmod.test_sector

    def meanwhile(nor, plan, t, writer, entry, stop):
        if not seen:
            seen["recover"] = run("recover", "--url", url, "--journal-dir", writer.path.parent)
            seen["test"] = run("test", "--url", url, "--board", "imp003", "--sectors", "0x1000:4K",
                               "--journal-dir", tmp_path / "other")
        return real(nor, plan, t, writer, entry, stop)

    monkeypatch.setattr(runmod, "test_sector", meanwhile)
    code, out, err = run("test", "--url", url, "--board", "imp003", "--sectors", "0x1000:4K",
                         "--journal-dir", tmp_path / "j")
    assert code in (0, 3), err
    code_r, _, err_r = seen["recover"]
    code_t, _, err_t = seen["test"]
    assert code_r == 2 and "another flashcheck test or recover is running" in err_r
    assert code_t == 2 and "another flashcheck test or recover is running" in err_t
    assert img.read_bytes() == data
    assert not journal.files(tmp_path / "other")


def test_a_journal_held_by_a_live_writer_is_in_use_and_free_once_it_dies(tmp_path):
    w = _writer(tmp_path)
    assert journal.in_use(w.path)
    w.close()  # the process holding it is gone (kill -9 closes it the same way)
    assert not journal.in_use(w.path)


def test_stale_chip_lock_is_taken_over(tmp_path, monkeypatch):
    monkeypatch.setenv("FLASHCHECK_LOCK_DIR", str(tmp_path / "locks"))
    key = chip_key("ef4014", "01", "sim://X?image=/a.bin&fail_after=3")
    assert key == chip_key("ef4014", "01", "sim://X?image=/a.bin")  # the same chip, however it is reached
    (tmp_path / "locks").mkdir()
    (tmp_path / "locks" / f"{key}.lock").write_text("pid 999999")  # left by a dead run
    with ChipLock(key, "chip"):
        with pytest.raises(Exception, match="another flashcheck test"):
            ChipLock(key, "chip").acquire()
    assert chip_key("ef4014", None, "sim://W25Q80DV") is None  # a chip only this process can reach


def test_disk_full_stops_the_test_before_anything_changes(tmp_path, run, monkeypatch):
    img = tmp_path / "c.bin"
    data = _random_image(img)
    url = f"sim://{SMALL}?image={img}"
    real_write = os.write
    budget = {"n": 200_000}

    def write(fd, buf):  # a disk with 200 kB free
        if budget["n"] < len(buf):
            raise OSError(errno.ENOSPC, "No space left on device")
        budget["n"] -= len(buf)
        return real_write(fd, buf)

    monkeypatch.setattr(journal.os, "write", write)
    code, _, err = run("test", "--url", url, "--board", "imp003", "--sectors", "0x1000:4K", "--journal-dir", tmp_path / "j")
    monkeypatch.undo()
    assert code == 2 and "No space left" in err
    assert img.read_bytes() == data  # the backup did not fit: nothing was changed
    for p in journal.files(tmp_path / "j"):
        assert not journal.read(p).unfinished  # whole records only, nothing open
    code, _, err = run("test", "--url", url, "--board", "imp003", "--sectors", "0x1000:4K", "--journal-dir", tmp_path / "j")
    assert code in (0, 3), err  # the next test of that chip runs
    assert img.read_bytes() == data


def test_recover_writes_only_the_backup_with_its_own_erases(tmp_path, run):
    """An edited journal (re-sealed) that names a chip erase and addresses
    past the chip: recover uses the chip's own erase commands, stays inside
    it, and makes it read back the backup."""
    img = tmp_path / "c.bin"
    data = _random_image(img)
    jdir = tmp_path / "j"
    url = f"sim://{SMALL}?image={img}"
    _cut_test(run, url, jdir)
    (path,) = journal.files(jdir)
    lines = [json.loads(x) for x in path.read_text().splitlines()]
    for rec in lines:
        if rec["type"] == "begin":
            rec.update(opcode=0xC7, window_start=0, window_size=0x7F000000)
    path.write_text("".join(journal._seal(r) + "\n" for r in lines))
    t = open_transport(url)
    try:
        erasetest.recover(SpiNor(t), jdir)
        ops = {r.opcode for r in t.chip.history}
        assert 0xC7 not in ops and 0x60 not in ops
        assert all(r.addr < 1 << 20 for r in t.chip.history)
    finally:
        t.close()
    assert img.read_bytes() == data


def test_recover_refuses_a_backup_that_does_not_match_its_hash(tmp_path, run):
    img = tmp_path / "c.bin"
    _random_image(img)
    jdir = tmp_path / "j"
    url = f"sim://{SMALL}?image={img}"
    _cut_test(run, url, jdir)
    (path,) = journal.files(jdir)
    backup = path.with_suffix(".img")
    backup.write_bytes(b"\x00" * backup.stat().st_size)
    half = img.read_bytes()
    code, _, err = run("recover", "--url", url, "--journal-dir", jdir)
    assert code == 2 and "does not match the size and SHA-256" in err
    assert img.read_bytes() == half


def test_cli_json_is_one_document_even_on_a_fault(tmp_path, run):
    img = tmp_path / "c.bin"
    _random_image(img)
    code, out, err = run("test", "--url", f"sim://{SMALL}?image={img}&fail_after=60", "--board", "imp003",
                         "--sectors", "0x1000:4K", "--journal-dir", tmp_path / "j", "--json")
    assert code == 4
    doc = json.loads(out)
    assert doc["verdict"] == "error" and doc["exit_code"] == 4 and "device vanished" in doc["error"]
    code, out, _ = run("recover", "--url", "sim://none", "--journal-dir", tmp_path / "j", "--json")
    assert code == 4 and json.loads(out)["verdict"] == "error"


def test_empty_journal_file_is_refused(tmp_path):
    (tmp_path / "j").mkdir()
    p = tmp_path / "j" / "x.jsonl"
    p.write_bytes(b"")
    with pytest.raises(journal.JournalError, match="no complete record"):
        journal.read(p)


def test_default_dir_honours_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("FLASHCHECK_JOURNAL_DIR", str(tmp_path / "jj"))
    assert journal.default_dir() == tmp_path / "jj"
    monkeypatch.delenv("FLASHCHECK_JOURNAL_DIR")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    if os.name == "posix" and not os.uname().sysname == "Darwin":
        assert journal.default_dir() == tmp_path / "xdg" / "flashcheck" / "journal"
