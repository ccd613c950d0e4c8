"""Order codes as BOMs and carts write them: decorations are stripped and
reported, and a partial match never becomes a family."""

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flashcheck.data.database import PartsDB, strip_decorations

DB = PartsDB.load()


@pytest.mark.parametrize("query, code, family", [
    ("GD25Q64CSIG TR", "GD25Q64CSIG", "GD25Q64C"),
    ("W25Q32JVSSIQ REEL", "W25Q32JVSSIQ", "W25Q32JV"),
    ("W25Q128JVSIQCT-ND", "W25Q128JVSIQ", "W25Q128JV"),
    ("W25Q128JVSIQTR-ND", "W25Q128JVSIQ", "W25Q128JV"),
    ("256-W25Q128JVSIQ-ND", "W25Q128JVSIQ", "W25Q128JV"),
    ("454-W25Q128JVSIQ", "W25Q128JVSIQ", "W25Q128JV"),
    ("Winbond W25Q128JVSIQ", "W25Q128JVSIQ", "W25Q128JV"),
    ("Winbond W25Q128JVSIQ TR", "W25Q128JVSIQ", "W25Q128JV"),
])
def test_cart_forms_decode_and_say_what_was_stripped(query, code, family):
    m = DB.resolve(query)
    assert [p.name for p in m.parts] == [family]
    assert m.stripped == code and m.removed


def test_stripped_shown_in_json_and_explain(run):
    code, out, _ = run("check", "--json", "--board", "imp003", "256-W25Q128JVSIQ-ND")
    (r,) = json.loads(out)["results"]
    assert r["read_as"] == {"order_code": "W25Q128JVSIQ", "removed": ["distributor prefix '256-'", "Digi-Key suffix '-ND'"]}
    _, out, _ = run("check", "--explain", "--board", "imp003", "GD25Q64CSIG TR")
    assert "read 'GD25Q64CSIG TR' as GD25Q64CSIG (removed packing suffix 'TR')" in out


def test_a_partial_match_is_never_a_family(run):
    # dash missing: starts with the curated MT25QL128ABA, must not become N25Q128A13
    code, out, _ = run("check", "--json", "--board", "imp003", "MT25QL128ABA1ESE0SIT")
    (r,) = json.loads(out)["results"]
    assert r["verdict"] == "unknown" and r["part"] is None and code == 3
    assert "N25Q128A13" not in out and "MT25QL128ABA" in r["checks"][0]["detail"]


_CODES = [oc.text for p in DB.parts for oc in p.order_codes if p.name.startswith(("W25Q", "GD25Q", "MX25L"))]
_DECOR = st.sampled_from([
    ("{} TR", "packing"), ("{} REEL", "packing"), ("{}CT-ND", "Digi-Key"), ("{}TR-ND", "Digi-Key"),
    ("256-{}-ND", "distributor"), ("454-{}", "distributor"), ("Winbond {}", "maker"), ("{}-TR", "packing"),
])


@settings(max_examples=150, deadline=None)
@given(st.sampled_from(_CODES).flatmap(lambda rx: st.from_regex(rx, fullmatch=True)), _DECOR)
def test_decorated_code_resolves_like_the_code(code, decor):
    """Property: a code that decodes still decodes to the same family,
    whatever decoration a cart adds, and the decoration is reported."""
    code = code.upper()
    if not code.isascii() or any(c.isspace() for c in code) or code.endswith("-"):
        return
    plain = DB.resolve(code)
    if not plain.parts or plain.how != "order code":
        return
    template, what = decor
    m = DB.resolve(template.format(code))
    assert [p.name for p in m.parts] == [p.name for p in plain.parts], (code, template)
    if m.removed:
        assert any(what in r for r in m.removed)


@given(st.text(alphabet="ABCDEFGHJKLMNPQRSTUVWXYZ0123456789-/ ", min_size=1, max_size=30))
def test_strip_never_invents_characters(text):
    code, removed = strip_decorations(text)
    squashed = "".join(text.split()).upper()
    assert all(c in squashed for c in code)
    assert len(code) <= len(squashed)
