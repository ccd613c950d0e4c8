import pytest
from hypothesis import given
from hypothesis import strategies as st

from flashcheck.units import format_size, parse_hex_bytes, parse_size


@pytest.mark.parametrize(
    "text,expected",
    [
        (4096, 4096),
        ("4 KiB", 4096),
        ("4K", 4096),
        ("64KB", 65536),
        ("16 MiB", 16 << 20),
        ("128 Mbit", 16 << 20),
        ("128Mb", 16 << 20),
        ("0x10000", 65536),
        ("512 B", 512),
    ],
)
def test_parse_size(text, expected):
    assert parse_size(text) == expected


@pytest.mark.parametrize("bad", ["four", "4 KQ", "-1", "1.5 B", True, None, 3.5])
def test_parse_size_rejects(bad):
    with pytest.raises(ValueError):
        parse_size(bad)


@given(st.integers(min_value=0, max_value=40), st.integers(min_value=1, max_value=1023))
def test_format_then_parse_round_trips(shift, mult):
    n = mult << shift
    assert parse_size(format_size(n)) == n


def test_hex_bytes():
    assert parse_hex_bytes("EF 40 18") == b"\xef\x40\x18"
    assert parse_hex_bytes("0x012018") == b"\x01\x20\x18"
    with pytest.raises(ValueError):
        parse_hex_bytes("ef401")
