"""The erase-test journal: round trip, durability markers, and refusal of
corrupt or truncated files (never applied)."""

import base64
import json
import os
from pathlib import Path

import pytest

from flashcheck.workflows.erasetest import journal
from flashcheck.chip.spinor import SpiNor
from flashcheck.transport import open_transport
from flashcheck.workflows import erasetest


def _writer(tmp_path: Path, jedec="ef4014ffffff", uid="0102030405060708") -> journal.Writer:
    return journal.Writer(tmp_path / "j", jedec_id=jedec, unique_id=uid, transport="sim W25Q80DV", tool="test")


def test_round_trip_open_and_closed_entries(tmp_path):
    data = os.urandom(8192)
    with _writer(tmp_path) as w:
        w.begin(0, address=0x1000, size=4096, opcode=0x20, window_start=0, data=data, erasers=[(0x20, 4096)])
        w.done(0)
        w.begin(1, address=0x3000, size=4096, opcode=0x20, window_start=0x2000, data=data, erasers=[(0x20, 4096), (0xD8, 65536)])
        seq = w.append("protect", kind="sr", value="1c", mask=0x1C)
        path = w.path
    j = journal.read(path)
    assert (j.jedec_id, j.unique_id) == ("ef4014ffffff", "0102030405060708")
    assert [e.entry for e in j.entries] == [0, 1]
    assert [e.entry for e in j.open_entries] == [1]
    assert j.open_entries[0].data == data and j.open_entries[0].erasers == [(0x20, 4096), (0xD8, 65536)]
    assert j.open_protects[0].seq == seq and j.open_protects[0].value == b"\x1c"
    assert j.unfinished
    # appending to it later (as recover does) continues the numbering
    w2 = journal.Writer.reopen(j)
    w2.done(1, by="recover")
    w2.append("protect-restored", ref=seq)
    w2.close()
    j2 = journal.read(path)
    assert not j2.unfinished
    assert journal.files(tmp_path / "j") == [path]


def test_every_record_has_a_checksum_and_sequence(tmp_path):
    with _writer(tmp_path) as w:
        w.begin(0, address=0, size=4096, opcode=0x20, window_start=0, data=b"\x00" * 4096, erasers=[])
        path = w.path
    lines = [json.loads(x) for x in path.read_text().splitlines()]
    assert [r["seq"] for r in lines] == [0, 1]
    assert [r["type"] for r in lines] == ["run", "begin"]
    assert all(len(r["sha256"]) == 64 for r in lines)


def _corrupt_cases():
    def flip_data(lines):
        rec = json.loads(lines[1])
        raw = bytearray(base64.b64decode(rec["data"]))
        raw[10] ^= 0xFF
        rec["data"] = base64.b64encode(bytes(raw)).decode()
        lines[1] = json.dumps(rec)  # the record checksum no longer matches
        return lines

    def truncate(lines):
        lines[-1] = lines[-1][: len(lines[-1]) // 2]
        return lines

    def drop_record(lines):
        del lines[1]
        return lines

    def reseal_bad_data(lines):
        # a record whose own checksum is right but whose data is not
        rec = json.loads(lines[1])
        raw = bytearray(base64.b64decode(rec["data"]))
        raw[0] ^= 1
        rec["data"] = base64.b64encode(bytes(raw)).decode()
        lines[1] = journal._seal(rec)
        return lines

    return {"flipped data": (flip_data, "checksum mismatch"), "truncated": (truncate, "truncated"),
            "record missing": (drop_record, "record number"), "data vs data_sha256": (reseal_bad_data, "does not match its checksum")}


@pytest.mark.parametrize("case", sorted(_corrupt_cases()))
def test_corrupt_journal_is_refused_and_never_applied(tmp_path, case):
    mangle, why = _corrupt_cases()[case]
    img = tmp_path / "chip.bin"
    url = f"sim://W25Q80DV?image={img}"
    t = open_transport(url)
    nor = SpiNor(t)
    nor.erase(0x20, 0x1000, 1.0)  # the block "half tested": blank, where the journal says data was
    raw_id, uid = nor.read_id(6), nor.read_unique_id()
    t.close()
    before = img.read_bytes()
    with journal.Writer(tmp_path / "j", jedec_id=raw_id.hex(), unique_id=uid.hex(), transport="sim", tool="t") as w:
        w.begin(0, address=0x1000, size=4096, opcode=0x20, window_start=0, data=os.urandom(65536), erasers=[(0x20, 4096)])
        w.append("end", result="complete")  # a later record, so the truncation hits a whole line
        path = w.path
    text = path.read_text()
    lines = mangle(text.splitlines())
    path.write_text("\n".join(lines) + ("" if case == "truncated" else "\n"))
    with pytest.raises(journal.JournalError) as exc:
        journal.read(path)
    assert str(path) in str(exc.value) and why in str(exc.value)
    t = open_transport(url)
    with pytest.raises(journal.JournalError) as exc:
        erasetest.recover(SpiNor(t), tmp_path / "j")
    assert "nothing in it was applied" in str(exc.value)
    assert not t.chip.history  # not one program or erase
    t.close()
    assert img.read_bytes() == before


def test_cli_refuses_a_truncated_journal_with_exit_2(tmp_path, run):
    with _writer(tmp_path) as w:
        w.begin(0, address=0, size=4096, opcode=0x20, window_start=0, data=b"\x00" * 4096, erasers=[])
        path = w.path
    path.write_bytes(path.read_bytes()[:-40])
    code, out, err = run("recover", "--url", f"sim://W25Q80DV?image={tmp_path / 'c.bin'}", "--journal-dir", tmp_path / "j")
    assert code == 2
    assert path.name in err and "truncated" in err


def test_empty_journal_file_is_refused(tmp_path):
    (tmp_path / "j").mkdir()
    p = tmp_path / "j" / "x.jsonl"
    p.write_bytes(b"")
    with pytest.raises(journal.JournalError, match="empty"):
        journal.read(p)


def test_default_dir_honours_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("FLASHCHECK_JOURNAL_DIR", str(tmp_path / "jj"))
    assert journal.default_dir() == tmp_path / "jj"
    monkeypatch.delenv("FLASHCHECK_JOURNAL_DIR")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    if os.name == "posix" and not os.uname().sysname == "Darwin":
        assert journal.default_dir() == tmp_path / "xdg" / "flashcheck" / "journal"
