"""Which column holds the order code, and the alternates one cell may list."""

from __future__ import annotations

import re



# --------------------------------------------------------------------------
# Columns

# Headers of the order-code column, normalised (lower case, letters and
# digits only), most specific first.
MPN_HEADERS: tuple[str, ...] = (
    "mpn",
    "manufacturerpartnumber",
    "manufacturerpartno",
    "manufacturerpn",
    "mfrpartnumber",
    "mfrpartno",
    "mfrpart",
    "mfrpn",
    "mfgpartnumber",
    "mfgpartno",
    "mfgpart",
    "mfgpn",
    "mfpn",
    "manufacturerpart",
    "manufacturer1partnumber",
    "manufacturerpartnumber1",
    "mpn1",
    "partnumber",
    "partno",
    "pn",
    "ordercode",
    "orderingcode",
    "mfrno",
    "value",
)
# "value" is last: in Eagle and plain KiCad exports the order code is
# sometimes only in Value.  It is used only when nothing better is there.
MANUFACTURER_HEADERS = ("manufacturer", "mfr", "mfg", "mf", "manufacturername", "manufacturer1", "mfrname", "vendor", "brand")
DESCRIPTION_HEADERS = ("description", "desc", "comment", "partdescription", "detaileddescription", "category")
HEADER_SCAN = 20  # rows searched for the header

OUT_COLUMNS = ("flashcheck verdict", "flashcheck reason", "flashcheck alternates")


def header_key(text: str) -> str:
    """'Mfr. Part #' -> 'mfrpartno': lower case, '#' read as 'no', the rest
    of the punctuation and spaces dropped."""
    return re.sub(r"[^a-z0-9]", "", str(text).lower().replace("#", "no"))


def find_column(header: list[str], names: tuple[str, ...]) -> int | None:
    keys = [header_key(h) for h in header]
    for want in names:
        if want in keys:
            return keys.index(want)
    return None


# --------------------------------------------------------------------------
# Alternates in one cell

_SPLIT = re.compile(r"[,;/|\n\r]+")
_OR = re.compile(r"\s+or\s+", re.IGNORECASE)
_ANY_SEP = re.compile(r"[,;/|\n\r]|\sor\s", re.IGNORECASE)
_PACK_SLASH = re.compile(r"\s*/\s*(?=(?:T&R|TR|TRAY|TUBE|REEL|CT)\b)", re.IGNORECASE)


def split_cell(cell: str) -> list[str]:
    """Order codes in one cell: ``W25Q128JVSIQ / GD25Q128ESIG`` -> two.

    Separators are comma, semicolon, slash, bar, newline and the word "or".
    A slash that is part of a code's packing suffix (``MX25L1606EM1I-12G/TR``,
    ``.../T&R``) stays with the code.  Empty pieces and duplicates are
    dropped; order is kept."""
    if not cell:
        return []
    if not _ANY_SEP.search(cell):  # the usual case: one code
        code = cell.strip().strip("\"'").strip()
        return [code] if code else []
    out: list[str] = []
    text = _OR.sub(",", cell)
    # keep packing suffixes: join "/TR", "/T&R", "/REEL" ... back on
    text = _PACK_SLASH.sub("\x00", text)
    for piece in _SPLIT.split(text):
        code = piece.replace("\x00", "/").strip().strip("\"'")
        code = code.strip()
        if code and code not in out:
            out.append(code)
    return out


