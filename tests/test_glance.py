"""Output a person reads at a glance: each verdict leads with the one fact
that decides it (Check.headline), one line per part in `check`, `bom` and
`probe`; the full reasoning only with --explain."""

from __future__ import annotations

import json

import pytest

from conftest import DATA

FAIL_CODE = "S25FL127SABMFI101"


def test_every_shipped_verdict_has_a_short_headline():
    from flashcheck.app import App
    from flashcheck.data.database import Match
    from flashcheck.rules import judge

    app = App(fallback=False)
    for board in app.boards.boards.values():
        for part in app.parts.parts:
            r = judge(Match(part.name, [part], "family name"), board)
            assert 0 < len(r.headline) <= 90, (board.name, part.name, r.headline)
            deciding = [c for c in r.checks if c.ok is (False if r.verdict == "fail" else None)]
            if deciding:  # the headline is the first deciding check's, never a passing one's
                assert r.headline.startswith(deciding[0].short)
            else:
                assert r.verdict == "pass" and r.headline == f"all {len(r.checks)} rules met"


def test_check_line_and_explain(run):
    code, out, _ = run("check", "--board", "imp003", FAIL_CODE)
    assert code == 1 and out.count("\n") == 1
    assert "no 4 KiB erase above 0x010000" in out and "[hybrid-64k-top]" not in out
    _, out, _ = run("check", "--board", "imp003", FAIL_CODE, "--explain")
    assert "[hybrid-64k-top] 4 KiB erase missing at 0x000000-0xFEFFFF" in out and "evidence:" in out
    code, data = run("check", "--board", "imp003", FAIL_CODE, "--json")[:2]
    erase = next(c for c in json.loads(data)["results"][0]["checks"] if c["rule"] == "erase 4 KiB")
    assert erase["headline"] == "no 4 KiB erase above 0x010000; 2 other configurations fail too"


def test_bom_table_at_80_columns(run, tmp_path):
    bom = tmp_path / "b.csv"
    bom.write_text(f"Ref,MPN\nU1,{FAIL_CODE}\nU2,W25Q128FVSIG\n")
    code, out, _ = run("bom", bom, "--board", "imp003")  # not a terminal: rich lays out 80 columns
    assert code == 1
    assert max(len(ln) for ln in out.splitlines()[:-1]) <= 80
    rows = [ln for ln in out.splitlines() if ln.strip()]
    first = next(i for i, ln in enumerate(rows) if FAIL_CODE in ln)
    second = next(i for i, ln in enumerate(rows) if "W25Q128FVSIG" in ln)
    assert second - first <= 4, out  # the S25FL127S line took 25 rows before
    assert "no 4 KiB erase above" in out and "→ " in out
    assert "[hybrid-64k-top]" not in out
    _, out, _ = run("bom", bom, "--board", "imp003", "--explain")
    assert "[hybrid-64k-top]" in out and "alternates compared on" in out


def test_probe_leads_with_what_is_wrong(run):
    code, out, _ = run("probe", "--url", "sim://S25FL127S", "--board", "imp003")
    assert code == 1
    assert out.splitlines()[-1].split()[:2] == ["FAIL", "no"] and "no 4 KiB erase above 0x010000" in out
    assert "more rules met" in out and "ok  identify" not in out
    _, out, _ = run("probe", "--url", "sim://S25FL127S", "--board", "imp003", "--explain")
    assert "ok  identify" in out and "source:" in out


def test_station_screen_says_why_in_a_few_words():
    """The operator's screen shows the failing check's headline, not the
    whole reasoning over every configuration."""
    from test_station import record, screen_text

    import flashcheck.workflows.station as st
    from flashcheck.app import App

    app = App()
    r = app.check(FAIL_CODE, app.board("imp003"))
    rec = record("fail", reason=r.reason, part="S25FL127S")
    rec.checks = [{"rule": c.rule, "ok": c.ok, "detail": c.detail, "headline": c.short} for c in r.checks]
    fx = st.FixtureState(1, "sim://S25FL127S", phase="result", last=rec, boards=1)
    text, _ = screen_text([fx])
    flat = " ".join(" ".join(line.strip("│ ").split()) for line in text.split("\n"))
    assert "Why: erase 4 KiB: no 4 KiB erase above 0x010000" in flat
    assert "[hybrid-64k-top]" not in flat
    rec.checks = []  # a hardware fault has no checks: its reason is shown
    rec.reason = "hardware fault: device vanished"
    text, _ = screen_text([fx])
    assert "device vanished" in text
