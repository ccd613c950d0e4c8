"""Each rule with a passing and a failing part (fictional Testco parts in
tests/data, so the rule logic is tested independently of the curated data)."""

import pytest


def checks_by_rule(result):
    return {c["rule"]: c for c in result["checks"]}


def test_uniform_part_passes_every_rule(check_json):
    code, (r,) = check_json("strict", "TC25U128SI")
    assert r["verdict"] == "pass", r
    assert code == 0
    rules = checks_by_rule(r)
    assert set(rules) == {
        "command set", "page program", "erase 4 KiB", "erase 64 KiB", "voltage", "capacity", "address mode",
        "opcodes", "opcode 0x20", "erase time", "power-up protection", "clock",
    }
    assert all(c["ok"] is True for c in r["checks"])
    # every check names the board's source and the part's datasheet
    for c in r["checks"]:
        assert any(("Fictional host spec" if c["rule"] not in ("command set", "page program") else "Test host with every rule") in s
                   for s in c["sources"])
        assert any("TC25U128 fictional test part" in s for s in c["sources"])


def test_hybrid_fails_4k_and_names_the_region(check_json):
    code, (r,) = check_json("strict", "TC25H128BS")
    assert code == 1 and r["verdict"] == "fail"
    c = checks_by_rule(r)["erase 4 KiB"]
    assert c["ok"] is False
    assert "0x010000-0xFFFFFF" in c["detail"]  # where 4 KiB erase is missing
    assert "0x000000-0x00FFFF" in c["detail"]  # where it works
    assert "ignored elsewhere" in c["detail"]
    assert checks_by_rule(r)["erase 64 KiB"]["ok"] is True


def test_hybrid_fails_in_every_configuration(check_json):
    # No order-code restriction: both configurations are judged, both fail.
    _, (r,) = check_json("strict", "TC25H128XS")
    c = checks_by_rule(r)["erase 4 KiB"]
    assert c["ok"] is False
    assert "[bottom]" in c["detail"] and "[top]" in c["detail"]


def test_top_configuration_region(check_json):
    _, (r,) = check_json("strict", "TC25H128TS")
    c = checks_by_rule(r)["erase 4 KiB"]
    assert "0x000000-0xFEFFFF" in c["detail"]
    assert "0xFF0000-0xFFFFFF" in c["detail"]


def test_range_rule_depends_on_configuration(check_json):
    # 4 KiB needed only in the first 64 KiB: the bottom configuration meets it,
    # the top one does not; an order code that does not fix it -> unknown.
    assert check_json("lowrange", "TC25H128BS")[1][0]["verdict"] == "pass"
    assert check_json("lowrange", "TC25H128TS")[1][0]["verdict"] == "fail"
    code, (r,) = check_json("lowrange", "TC25H128XS")
    assert r["verdict"] == "unknown" and code == 3
    assert "depends on configuration" in checks_by_rule(r)["erase 4 KiB"]["detail"]


def test_nonuniform_block_erase_and_power_up_protection(check_json):
    _, (r,) = check_json("strict", "TC26N064")
    rules = checks_by_rule(r)
    assert rules["erase 4 KiB"]["ok"] is True
    e64 = rules["erase 64 KiB"]
    assert e64["ok"] is False
    # 64 KiB is missing in the first and last 64 KiB, where 0xD8 erases 8/32 KiB
    assert "0x000000-0x00FFFF" in e64["detail"] and "0x7F0000-0x7FFFFF" in e64["detail"]
    pu = rules["power-up protection"]
    assert pu["ok"] is False and "0x98" in pu["detail"]


def test_voltage_rule(check_json):
    _, (r,) = check_json("strict", "TC25L128")
    v = checks_by_rule(r)["voltage"]
    assert v["ok"] is False and "1.65-1.95 V" in v["detail"]
    assert r["verdict"] == "fail"


def test_capacity_and_address_mode(check_json):
    _, (r,) = check_json("strict", "TC25F256")
    rules = checks_by_rule(r)
    assert rules["capacity"]["ok"] is False and "32 MiB" in rules["capacity"]["detail"]
    assert rules["address mode"]["ok"] is False and "4-byte" in rules["address mode"]["detail"]


def test_opcode_0x20_that_erases_64k(check_json):
    _, (r,) = check_json("strict", "TC25P128")
    rules = checks_by_rule(r)
    op = rules["opcode 0x20"]
    assert op["ok"] is False and "erases 64 KiB" in op["detail"]
    assert rules["erase 4 KiB"]["ok"] is False
    assert "no 4 KiB erase at all" in rules["erase 4 KiB"]["detail"]


def test_missing_data_is_unknown_never_pass(run_test_data, tmp_path):
    # A board asking only for what TC25P128 lacks data for: clock, erase time, protection.
    board = tmp_path / "needs.yaml"
    board.write_text(
        "name: needs\ntitle: t\nsources: {s: {title: x}}\nrules:\n"
        "  - {rule: clock, mhz: 10, source: s}\n"
        "  - {rule: erase_time, max_ms: 5000, source: s}\n"
        "  - {rule: power_up_protection, host_unlocks: false, source: s}\n"
    )
    import json

    code, out, _ = run_test_data("check", "--json", "--board", str(board), "TC25P128")
    (r,) = json.loads(out)["results"]
    assert code == 3 and r["verdict"] == "unknown"
    judged = [c for c in r["checks"] if c["rule"] in ("clock", "erase time", "power-up protection")]
    assert [c["ok"] for c in judged] == [None, None, None]
    assert all("not in the database" in c["detail"] for c in judged)


def test_erase_time_rule(run_test_data, tmp_path):
    board = tmp_path / "fast.yaml"
    board.write_text(
        "name: fast\ntitle: t\nsources: {s: {title: x}}\nrules:\n"
        "  - {rule: erase_time, max_ms: 300, sizes: [4 KiB], source: s}\n"
    )
    import json

    code, out, _ = run_test_data("check", "--json", "--board", str(board), "TC25U128", "TC25H128BS")
    a, b = json.loads(out)["results"]
    assert a["verdict"] == "fail" and "up to 400 ms" in checks_by_rule(a)["erase time"]["detail"]
    assert checks_by_rule(b)["erase time"]["ok"] is True  # hybrid's 4 KiB erase max 200 ms
    assert code == 1


def test_clock_rule_uses_read_clock_for_0x03(run_test_data, tmp_path):
    board = tmp_path / "slow.yaml"
    board.write_text(
        "name: slow\ntitle: t\nsources: {s: {title: x}}\nrules:\n"
        "  - {rule: clock, mhz: 60, read_opcode: 0x03, source: s}\n"
    )
    import json

    _, out, _ = run_test_data("check", "--json", "--board", str(board), "TC25U128")
    (r,) = json.loads(out)["results"]
    assert r["verdict"] == "fail" and "50 MHz" in checks_by_rule(r)["clock"]["detail"]


def test_same_id_different_answers_is_unknown(check_json):
    # 7e4018 answers for TC25U128 (passes) and TC25V128 (no command list -> unknown)
    code, (r,) = check_json("strict", "7e4018")
    assert r["verdict"] == "unknown" and r["part"] is None
    assert {p["name"] for p in r["candidates"]} == {"TC25U128", "TC25V128"}
    assert "different verdicts" in r["checks"][0]["detail"]
    # the extended ID bytes tell them apart
    _, (r,) = check_json("strict", "7e401800")
    assert r["part"]["name"] == "TC25U128" and r["verdict"] == "pass"


def test_same_id_same_answer_passes(check_json, tmp_path):
    _, (r,) = check_json("lowrange", "7e4018")
    assert r["verdict"] == "pass"
    assert len(r["candidates"]) == 2


def test_exit_code_fail_beats_unknown(check_json):
    code, results = check_json("strict", "TC25U128SI", "NOSUCHPART123", "TC25L128")
    assert [r["verdict"] for r in results] == ["pass", "unknown", "fail"]
    assert code == 1


@pytest.mark.parametrize("query,ok", [("TC25U128SI", True), ("TC25H128BS", False)])
def test_text_output_one_line_per_part(run_test_data, query, ok):
    code, out, _ = run_test_data("check", "--board", "strict", query)
    lines = out.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("PASS" if ok else "FAIL")
    if not ok:
        assert "no 4 KiB erase above 0x010000" in lines[0]


def test_dataflash_board_accepts_dataflash_only(run_test_data, tmp_path):
    import json

    board = tmp_path / "df.yaml"
    board.write_text("name: df\ntitle: t\ncommand_set: dataflash\nsources: {s: {title: x}}\nrules:\n  - {rule: capacity, min: 1 MiB, source: s}\n"
                     "not_applicable:\n" + "".join(f"  {k}: {{why: fictional}}\n" for k in
                     ("erase", "voltage", "address_mode", "opcodes", "erase_time", "power_up_protection", "clock")))
    _, out, _ = run_test_data("check", "--json", "--board", str(board), "TC25U128", "AT45DB161E")
    a, b = json.loads(out)["results"]
    assert a["verdict"] == "fail" and a["checks"][0]["rule"] == "command set"
    assert b["verdict"] == "pass"


# -- Route 3: a board states every requirement kind -----------------------------


def _board(tmp_path, extra=""):
    board = tmp_path / "partial.yaml"
    board.write_text("name: partial\ntitle: t\nsources: {s: {title: x}}\nrules:\n"
                     "  - {rule: erase, sizes: [4 KiB], source: s}\n" + extra)
    return board


def test_unstated_requirement_caps_at_unknown_naming_it(run_test_data, tmp_path):
    """A profile that leaves a kind out passes nothing that kind would catch."""
    import json

    _, out, _ = run_test_data("check", "--json", "--board", _board(tmp_path), "TC25U128SI")
    (r,) = json.loads(out)["results"]
    assert r["verdict"] == "unknown"
    unstated = {c["rule"] for c in r["checks"] if c["ok"] is None}
    assert unstated == {"voltage", "capacity", "address mode", "opcodes", "erase time", "power up protection", "clock"}
    assert all("does not state" in c["detail"] for c in r["checks"] if c["ok"] is None)


def test_not_known_caps_and_not_applicable_explains(run_test_data, tmp_path):
    import json

    extra = ("not_applicable:\n"
             + "".join(f"  {k}: {{why: 'fictional {k}', source: s}}\n" for k in
                       ("capacity", "address_mode", "opcodes", "erase_time", "power_up_protection", "clock"))
             + "not_known:\n  voltage: nobody published the supply\n")
    _, out, _ = run_test_data("check", "--json", "--board", _board(tmp_path, extra), "TC25U128SI")
    (r,) = json.loads(out)["results"]
    c = checks_by_rule(r)
    assert r["verdict"] == "unknown" and c["voltage"]["ok"] is None
    assert "requirement not known" in c["voltage"]["detail"] and "nobody published" in c["voltage"]["detail"]
    assert c["clock"]["ok"] is True and "not applicable" in c["clock"]["detail"] and "fictional clock" in c["clock"]["detail"]
    # once every kind is stated, the same part passes
    extra = extra.replace("not_known:\n  voltage: nobody published the supply\n", "  voltage: {why: any}\n")
    _, out, _ = run_test_data("check", "--json", "--board", _board(tmp_path, extra), "TC25U128SI")
    assert json.loads(out)["results"][0]["verdict"] == "pass"


@pytest.mark.parametrize("extra, words", [
    ("not_known:\n  erase: x\n", "erase is stated as a rule and under not_known"),
    ("not_known:\n  clock: x\nnot_applicable:\n  clock: {why: y}\n", "clock is under both"),
    ("not_applicable:\n  clock: {why: y, source: nosuch}\n", "source 'nosuch' is not one of"),
    ("not_known:\n  speed: x\n", "not_known"),
])
def test_bad_statements_are_input_errors(run_test_data, tmp_path, extra, words):
    code, _, err = run_test_data("check", "--board", _board(tmp_path, extra), "TC25U128SI")
    assert code == 2 and words in err and "partial.yaml:" in err and "Traceback" not in err


def test_byte_program_part_fails_a_page_programming_host(check_json, tmp_path):
    """Route 4: a part whose 0x02 writes one byte fails every spi-nor host
    unless the host says it writes one byte at a time."""
    import json

    (tmp_path / "p").mkdir()
    src = (__import__("pathlib").Path(__file__).parent / "data" / "parts" / "testco.yaml").read_text()
    (tmp_path / "p" / "testco.yaml").write_text(src.replace("program: {opcode: 0x02, typ_ms: 0.7, max_ms: 3}", "program: {opcode: 0x02, bytes: 1}", 1))
    code, (r,) = check_json("strict", "TC25U128SI", extra=("--parts", tmp_path / "p"))
    c = checks_by_rule(r)["page program"]
    assert r["verdict"] == "fail" and c["ok"] is False and "writes 1 byte" in c["detail"]
    board = (__import__("pathlib").Path(__file__).parent / "data" / "boards" / "strict.yaml").read_text()
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "strict.yaml").write_text(board + "program_bytes: 1\n")
    code, (r,) = check_json("strict", "TC25U128SI", extra=("--parts", tmp_path / "p", "--boards", tmp_path / "b"))
    assert r["verdict"] == "pass"
