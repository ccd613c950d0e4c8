"""Issue 13's audit: every route to a false PASS, closed, on the CLI path
users take (built-in parts and boards, spiflash fallback included)."""

import json

import pytest


def result(run, board, query):
    code, out, err = run("check", "--json", "--board", board, query)
    assert err == "", err
    (r,) = json.loads(out)["results"]
    return code, r


def check(r, name):
    return next(c for c in r["checks"] if c["rule"] == name)


def test_route1_opcode_only_emulators_list_never_passes(run):
    # S25FL064P: QEMU and openFPGALoader claim a uniform 0x20; flashrom, Linux, U-Boot do not.
    code, r = result(run, "imp006", "S25FL064P")
    c = check(r, "erase 4 KiB")
    assert r["verdict"] == "unknown" and c["ok"] is None
    assert "not listed by" in c["detail"] and "flashrom" in c["detail"] and "qemu" in c["detail"]


def _uncurated(name: str, board: str):
    """The spiflash fallback's answer for ``name`` judged on ``board``, as
    the CLI gives it for a part not in parts/ (these three are curated from
    their datasheets now, so the CLI no longer reaches the fallback for them)."""
    from flashcheck.app import App
    from flashcheck.data import fallback
    from flashcheck.data.database import Match
    from flashcheck.rules import judge

    app = App()
    return judge(fallback.resolve(Match(name, [], "none")), app.board(board)).to_json()


@pytest.mark.parametrize("name", ["MX25L1605D", "MX25L3206E", "MX25L6406E"])
def test_route1_disputed_is_unknown_not_a_false_fail(name):
    r = _uncurated(name, "cc3200")
    assert r["curated"] is False
    assert r["verdict"] != "fail", r["checks"]
    assert check(r, "opcode 0x20")["ok"] is None


@pytest.mark.parametrize("name", ["MX25L1605D", "MX25L3206E", "MX25L6406E"])
def test_route1_curated_from_the_datasheet_the_same_parts_erase_4k_with_0x20(run, name):
    _, r = result(run, "cc3200", name)
    assert r["curated"] is True and check(r, "opcode 0x20")["ok"] is True


def test_route1_every_disputed_opcode_is_reported():
    detail = check(_uncurated("MX25L1605D", "cc3200"), "erase 4 KiB")["detail"]
    assert "0x20:" in detail and "0x52:" in detail


@pytest.mark.parametrize("hexid, older", [("c22016", "MX25L3205"), ("c22015", "MX25L1605")])
def test_route2_an_id_query_sees_every_part_that_answers_it(run, hexid, older):
    code, r = result(run, "cc3200", hexid)
    assert r["verdict"] != "pass" and code != 0
    names = {p["name"] for p in r["candidates"]}
    assert len(names) >= 2
    assert older in json.dumps(r["checks"])


def test_route2_extended_id_that_names_one_part_still_narrows(run):
    # with extended bytes the curated database tells parts apart by itself
    _, r = result(run, "imp003", "ef4018")
    assert "W25R128FV" in json.dumps(r) or "S25FL128K" in json.dumps(r)


@pytest.mark.parametrize("board", ["cc3200", "imp004m", "imp005", "imp006"])
def test_route3_power_up_locked_part_never_passes(run, board):
    # SST26VF032B: its power-up block protection is read in the library's datasheet; the
    # SST26VF064B's was not read in any source (issue 13), so it no longer shows this route.
    _, r = result(run, board, "SST26VF032B")
    assert r["verdict"] != "pass"
    assert check(r, "power-up protection")["ok"] is False


@pytest.mark.parametrize("board", ["cc3200", "imp006"])
def test_route3_1v8_part_never_passes_where_supply_is_not_known(run, board):
    _, r = result(run, board, "W25Q128JW")
    assert r["verdict"] == "unknown"
    assert check(r, "voltage")["ok"] is None and "not known" in check(r, "voltage")["detail"]


def test_route3_every_shipped_board_states_every_kind():
    from flashcheck.data.boards import BoardsDB
    from flashcheck.rules.kinds import kinds

    for board in BoardsDB.load().boards.values():
        stated = {r.kind for r in board.rules} | set(board.not_applicable) | set(board.not_known)
        assert stated == set(kinds()), (board.name, set(kinds()) - stated)


@pytest.mark.parametrize("name", ["SST25VF016B", "SST25VF032B"])
@pytest.mark.parametrize("board", ["imp003", "cc3200"])
def test_route4_byte_program_part_fails_a_page_programming_host(run, name, board):
    code, r = result(run, board, name)
    c = check(r, "page program")
    assert r["verdict"] == "fail" and c["ok"] is False and "writes 1 byte" in c["detail"]


@pytest.mark.parametrize("name", ["N25Q256A", "N25Q128A"])
def test_route5_ambiguous_name_never_passes(run, name):
    code, r = result(run, "imp003", name)
    assert r["verdict"] == "unknown" and r["part"] is None
    assert len(r["candidates"]) >= 2 and "different verdicts" in r["checks"][0]["detail"]


def test_route6_uncurated_answer_shown_under_the_queried_name():
    r = _uncurated("MX25L1605D", "cc3200")  # spiflash files it with MX25L1606E
    assert r["part"]["name"] == "MX25L1605D" and r["curated"] is False


def test_route6_no_0x52_on_s25fl1xxk():
    from flashcheck.data.database import PartsDB

    db = PartsDB.load()
    for name in ("S25FL132K", "S25FL164K"):
        (p,) = db.by_name[name]
        assert 0x52 not in {op.opcode for lay in p.layouts for op in lay.erase}


def test_route6_at45db321e_does_not_claim_the_321c_id():
    from flashcheck.data.database import PartsDB

    (p,) = PartsDB.load().by_name["AT45DB321E"]
    assert "1f2700" not in p.jedec_ids
