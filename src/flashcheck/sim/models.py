"""Built-in chip models, in the same schema as a user's YAML file
(:mod:`flashcheck.sim.model`).

These are defined independently of ``parts/``: the figures are this
module's own reading of each vendor datasheet (named per model) and of the
erase layouts in the ``spiflash`` records (flashrom/flashprog entries).
Where a figure is recalled rather than re-read from the document it says
"(recalled)"; those are the ones to check first when the sim and the part
database disagree.  Times are datasheet typical / maximum, in ms.
"""

from __future__ import annotations

from functools import cache

from flashcheck.sim.model import ChipModel, model_from_dict

KiB = 1024
MiB = 1024 * KiB

_WINBOND_SR = [
    # SR1: BUSY WEL BP0 BP1 BP2 TB SEC SRP
    {"name": "SR1", "read": 0x05, "value": 0x00, "writable": 0xFC},
    # SR2: SRL QE (R) LB1 LB2 LB3 CMP SUS; LB bits are OTP
    {"name": "SR2", "read": 0x35, "value": 0x00, "writable": 0x43, "otp": 0x38, "nonvolatile": True},
    # SR3: WPS, DRV1:0
    {"name": "SR3", "read": 0x15, "value": 0x60, "writable": 0x64, "nonvolatile": True},
]

# GigaDevice GD25Q64C and Adesto AT25SF128A: SR1 as Winbond (BP3/BP4 of the
# GigaDevice table act as TB/SEC), SR2 at 35h; no third register modelled.
_SR1_SR2 = _WINBOND_SR[:2]

DEFINITIONS: list[dict] = [
    {
        # Winbond W25Q128JV datasheet (rev F, "AC Electrical Characteristics"):
        # tPP 0.4/3 ms, tSE 45/400 ms, tBE1 (32 KB) 120/1600 ms,
        # tBE2 (64 KB) 150/2000 ms, tCE 40/200 s, tW 10/15 ms.
        # Read Unique ID 4Bh: 4 dummy bytes then 64 bits.  BP=001 protects the
        # upper 1/64 (256 KB).  Erase layout as flashrom's entry: uniform 4K/32K/64K.
        "name": "W25Q128JV",
        "source": "Winbond W25Q128JV datasheet",
        "jedec_id": "ef 40 18",
        "size": "16 MiB",
        "program": {"typ_ms": 0.4, "max_ms": 3},
        "write_status": {"typ_ms": 10, "max_ms": 15},
        "chip_erase": {"opcodes": [0xC7, 0x60], "typ_ms": 40000, "max_ms": 200000},
        "erase": {
            0x20: {"typ_ms": 45, "max_ms": 400, "block": "4 KiB"},
            0x52: {"typ_ms": 120, "max_ms": 1600, "block": "32 KiB"},
            0xD8: {"typ_ms": 150, "max_ms": 2000, "block": "64 KiB"},
        },
        "registers": _WINBOND_SR,
        "write_registers": ["SR1", "SR2"],
        "protection": {"kind": "bp", "mask": 0x1C, "unit": "256 KiB",
                       "tb": {"mask": 0x20}, "sec": {"mask": 0x40}},
        "unique_id": {"dummy_bytes": 4, "length": 8},
        "res_id": 0x17,
        "sfdp": {"revision": "1.5", "bfpt_dwords": 16},  # JESD216A-era part (recalled)
    },
    {
        # Winbond W25Q80DV datasheet (AC characteristics): tPP 0.8/3 ms,
        # tSE 45/400 ms, tBE1 120/800 ms, tBE2 150/1000 ms, tCE 2/6 s (recalled).
        # SFDP of the JESD216 (1.0) generation: 9-dword BFPT, no erase times.
        "name": "W25Q80DV",
        "source": "Winbond W25Q80DV datasheet",
        "jedec_id": "ef 40 14",
        "size": "1 MiB",
        "program": {"typ_ms": 0.8, "max_ms": 3},
        "write_status": {"typ_ms": 10, "max_ms": 15},
        "chip_erase": {"opcodes": [0xC7, 0x60], "typ_ms": 2000, "max_ms": 6000},
        "erase": {
            0x20: {"typ_ms": 45, "max_ms": 400, "block": "4 KiB"},
            0x52: {"typ_ms": 120, "max_ms": 800, "block": "32 KiB"},
            0xD8: {"typ_ms": 150, "max_ms": 1000, "block": "64 KiB"},
        },
        "registers": _WINBOND_SR,
        "write_registers": ["SR1", "SR2"],
        "protection": {"kind": "bp", "mask": 0x1C, "unit": "64 KiB",
                       "tb": {"mask": 0x20}, "sec": {"mask": 0x40}},
        "unique_id": {"dummy_bytes": 4, "length": 8},
        "res_id": 0x13,
        "sfdp": {"revision": "1.0", "bfpt_dwords": 9},
    },
    {
        # Macronix MX25L12835F datasheet (ERASE AND PROGRAMMING PERFORMANCE):
        # tPP 0.5/3 ms (recalled), tSE 43/200 ms, tBE32 160/1000 ms,
        # tBE 320/2000 ms, tCE 50/150 s (recalled).  SR: WIP WEL BP0-3 QE SRWD;
        # CR (15h): ODS, TB (bit 3, OTP), 4BYTE, DC.  No 4Bh unique id
        # (Macronix uses the secured OTP, ENSO B1h).  SFDP JESD216 1.0.
        "name": "MX25L12835F",
        "source": "Macronix MX25L12835F datasheet",
        "jedec_id": "c2 20 18",
        "size": "16 MiB",
        "program": {"typ_ms": 0.5, "max_ms": 3},
        "write_status": {"typ_ms": 40, "max_ms": 40},
        "chip_erase": {"opcodes": [0xC7, 0x60], "typ_ms": 50000, "max_ms": 150000},
        "erase": {
            0x20: {"typ_ms": 43, "max_ms": 200, "block": "4 KiB"},
            0x52: {"typ_ms": 160, "max_ms": 1000, "block": "32 KiB"},
            0xD8: {"typ_ms": 320, "max_ms": 2000, "block": "64 KiB"},
        },
        "registers": [
            {"name": "SR1", "read": 0x05, "value": 0x00, "writable": 0xFC},
            {"name": "CR", "read": 0x15, "value": 0x07, "writable": 0xC7, "otp": 0x08,
             "nonvolatile": True},
        ],
        "write_registers": ["SR1", "CR"],
        "protection": {"kind": "bp", "mask": 0x3C, "unit": "64 KiB",
                       "tb": {"register": "CR", "mask": 0x08}},
        "res_id": 0x17,
        "sfdp": {"revision": "1.0", "bfpt_dwords": 9},
    },
    {
        # GigaDevice GD25Q64C datasheet (AC characteristics): tPP 0.6/2.4 ms,
        # tSE 50/400 ms, tBE32 150/800 ms, tBE64 250/1200 ms, tCE 25/100 s
        # (recalled).  Read Unique ID 4Bh: 3 address + 1 dummy byte, 128 bits.
        "name": "GD25Q64C",
        "source": "GigaDevice GD25Q64C datasheet",
        "jedec_id": "c8 40 17",
        "size": "8 MiB",
        "program": {"typ_ms": 0.6, "max_ms": 2.4},
        "write_status": {"typ_ms": 5, "max_ms": 30},
        "chip_erase": {"opcodes": [0xC7, 0x60], "typ_ms": 25000, "max_ms": 100000},
        "erase": {
            0x20: {"typ_ms": 50, "max_ms": 400, "block": "4 KiB"},
            0x52: {"typ_ms": 150, "max_ms": 800, "block": "32 KiB"},
            0xD8: {"typ_ms": 250, "max_ms": 1200, "block": "64 KiB"},
        },
        "registers": _SR1_SR2,
        "write_registers": ["SR1", "SR2"],
        "protection": {"kind": "bp", "mask": 0x1C, "unit": "128 KiB",
                       "tb": {"mask": 0x20}, "sec": {"mask": 0x40}},
        "unique_id": {"dummy_bytes": 4, "length": 16},
        "res_id": 0x16,
        "sfdp": {"revision": "1.0", "bfpt_dwords": 9},
    },
    {
        # Adesto AT25SF128A datasheet DS-AT25SF128A-168E: 2.7-3.6 V;
        # 4 KB erase 70 ms typ, 64 KB erase 250 ms typ, page program 0.6 ms
        # typ (as the domain notes quote it); maxima 300 ms / 1800 ms /
        # 2.5 ms, 32 KB 160/1300 ms, chip 60/200 s (recalled).
        # Winbond-compatible status registers.
        "name": "AT25SF128A",
        "source": "Adesto DS-AT25SF128A-168E",
        "jedec_id": "1f 89 01",
        "size": "16 MiB",
        "program": {"typ_ms": 0.6, "max_ms": 2.5},
        "write_status": {"typ_ms": 5, "max_ms": 30},
        "chip_erase": {"opcodes": [0xC7, 0x60], "typ_ms": 60000, "max_ms": 200000},
        "erase": {
            0x20: {"typ_ms": 70, "max_ms": 300, "block": "4 KiB"},
            0x52: {"typ_ms": 160, "max_ms": 1300, "block": "32 KiB"},
            0xD8: {"typ_ms": 250, "max_ms": 1800, "block": "64 KiB"},
        },
        "registers": _SR1_SR2,
        "write_registers": ["SR1", "SR2"],
        "protection": {"kind": "bp", "mask": 0x1C, "unit": "256 KiB",
                       "tb": {"mask": 0x20}, "sec": {"mask": 0x40}},
        "res_id": 0x17,
        "sfdp": {"revision": "1.6", "bfpt_dwords": 16},
    },
    {
        # Spansion/Cypress S25FL127S datasheet 001-98282: 0x9F gives
        # 01 20 18, ID-CFI length 4D, sector architecture (01 = 4 KB
        # parameter sectors + 64 KB sectors, 00 = uniform 256 KB), family 80.
        # Hybrid: sixteen 4 KB parameter sectors at the bottom (CR1[2]
        # TBPARM = 0, OTP) or top (TBPARM = 1); P4E 20h outside them is
        # ignored; SE D8h erases 64 KB (the whole parameter area when
        # addressed there).  Uniform option: D8h erases 256 KB and there
        # are no 4 KB sectors.  Which one is chosen by SR2[7] BES (Block
        # Erase Size, 0 = 64 KB, 1 = 256 KB; SR2 read with 07h; SR2[6] PBW is
        # the 256/512-byte page buffer, not modelled: pages are 256 B), as
        # the datasheet's SR2 table gives them (rev 05 table 8.8, as quoted
        # in the Cosa S25FL127S driver).  The datasheet's WRR (01h) writes
        # SR1 and CR1; how SR2 is set in the field is not modelled
        # faithfully: here a third WRR byte sets it (one-time bits).
        # Timings (Program and Erase Performance, recalled): page program
        # 0.25/0.75 ms, P4E 200/725 ms, SE 64 KB 130/650 ms,
        # SE 256 KB 520/2600 ms, bulk erase 33/165 s.
        # SR1: WIP WEL BP0-2 E_ERR P_ERR SRWD; CR1: FREEZE QUAD TBPARM BPNV
        # (RFU) TBPROT LC1:0; TBPARM/BPNV/TBPROT are OTP.  0x4B on this part
        # is OTPR (reads the OTP array), not a unique id: not modelled.
        # No Sector Map table: FL-S predates JESD216B's sector map (the
        # FS-S family has one); see SIM-HYBRID-DEMO for a part that has one.
        "name": "S25FL127S",
        "source": "Cypress S25FL127S datasheet 001-98282",
        "jedec_id": "01 20 18 4d 01 80",
        "jedec_id_by_config": {1: "01 20 18 4d 00 80", 3: "01 20 18 4d 00 80"},
        "size": "16 MiB",
        "program": {"typ_ms": 0.25, "max_ms": 0.75},
        "write_status": {"typ_ms": 200, "max_ms": 700},
        "chip_erase": {"opcodes": [0xC7, 0x60], "typ_ms": 33000, "max_ms": 165000},
        "erase": {
            0x20: {"typ_ms": 200, "max_ms": 725},
            0xD8: {"typ_ms": 130, "max_ms": 650},
        },
        "erase_sizes": {0xD8: {"256 KiB": {"typ_ms": 520, "max_ms": 2600}}},
        "configurations": {
            "detect": [{"read": 0x35, "mask": 0x04}, {"read": 0x07, "mask": 0x80}],
            "maps": {
                0: [{"size": "64 KiB", "blocks": {0x20: "4 KiB", 0xD8: "64 KiB"}},
                    {"size": "16320 KiB", "blocks": {0xD8: "64 KiB"}}],
                1: [{"size": "16 MiB", "blocks": {0xD8: "256 KiB"}}],
                2: [{"size": "16320 KiB", "blocks": {0xD8: "64 KiB"}},
                    {"size": "64 KiB", "blocks": {0x20: "4 KiB", 0xD8: "64 KiB"}}],
                3: [{"size": "16 MiB", "blocks": {0xD8: "256 KiB"}}],
            },
        },
        "registers": [
            {"name": "SR1", "read": 0x05, "value": 0x00, "writable": 0x9C},
            {"name": "CR1", "read": 0x35, "value": 0x00, "writable": 0xEE, "otp": 0x2C,
             "nonvolatile": True},
            {"name": "SR2", "read": 0x07, "value": 0x00, "writable": 0xC0, "otp": 0xC0,
             "nonvolatile": True},
        ],
        "write_registers": ["SR1", "CR1", "SR2"],
        "protection": {"kind": "bp", "mask": 0x1C, "unit": "256 KiB",
                       "tb": {"register": "CR1", "mask": 0x20}},
        "sfdp": {"revision": "1.6", "bfpt_dwords": 16},
    },
    {
        # Microchip SST26VF064B datasheet DS20005119: sector/block erase
        # 18/25 ms, chip erase 35/50 ms, page program 1.5 ms max (typ 1.0,
        # recalled).  20h erases 4 KB everywhere; D8h erases the block at
        # the address: 4 x 8 KB, 1 x 32 KB, 126 x 64 KB, 1 x 32 KB, 4 x 8 KB
        # (the same layout as flashrom's and flashprog's entries).  The
        # Block-Protection Register (72h read, 42h write, 98h ULBPR) has all
        # write-lock bits set at power-up.  Status: BUSY in bits 0 and 7.
        # SFDP 1.6 with a Sector Map header (the SST26VF032B datasheet
        # DS20005218 table 11-1 lists BFPT, Sector Map and a vendor table;
        # assumed alike here); erase types 4K/20h, 8K/D8h, 32K/D8h, 64K/D8h.
        # The 64-bit Secure ID is read with 88h, not 4Bh.
        "name": "SST26VF064B",
        "source": "Microchip SST26VF064B datasheet DS20005119",
        "jedec_id": "bf 26 43",
        "size": "8 MiB",
        "program": {"typ_ms": 1.0, "max_ms": 1.5},
        "write_status": {"typ_ms": 1.0, "max_ms": 1.5},
        "chip_erase": {"opcodes": [0xC7], "typ_ms": 35, "max_ms": 50},
        "busy_bits": 0x81,
        "erase": {
            0x20: {"typ_ms": 18, "max_ms": 25},
            0xD8: {"typ_ms": 18, "max_ms": 25},
        },
        "regions": [
            {"size": "32 KiB", "blocks": {0x20: "4 KiB", 0xD8: "8 KiB"}},
            {"size": "32 KiB", "blocks": {0x20: "4 KiB", 0xD8: "32 KiB"}},
            {"size": "8064 KiB", "blocks": {0x20: "4 KiB", 0xD8: "64 KiB"}},
            {"size": "32 KiB", "blocks": {0x20: "4 KiB", 0xD8: "32 KiB"}},
            {"size": "32 KiB", "blocks": {0x20: "4 KiB", 0xD8: "8 KiB"}},
        ],
        "registers": [
            {"name": "SR1", "read": 0x05, "value": 0x00, "writable": 0x00},
            {"name": "CR", "read": 0x35, "value": 0x08, "writable": 0x82},
        ],
        "write_registers": ["SR1", "CR"],
        "protection": {"kind": "bpr"},
        "sfdp": {"revision": "1.6", "bfpt_dwords": 16, "sector_map": True,
                 "erase_types": [["4 KiB", 0x20], ["8 KiB", 0xD8], ["32 KiB", 0xD8],
                                 ["64 KiB", 0xD8]]},
    },
    {
        # Micron (ST/Numonyx) M25P16 datasheet: RDID 9Fh gives 20 20 15, then
        # the UID: length 10h and 16 bytes of customized factory data (zeros
        # here).  SE D8h 64 KB 0.6/3 s, BE C7h 13/40 s, PP 0.64/5 ms, tW 5/15 ms
        # (recalled).  No 4 KB erase: 20h does nothing.  No SFDP: 5Ah is not
        # a command, the bus stays high.  RES ABh gives 14h.
        "name": "M25P16",
        "source": "Micron M25P16 datasheet",
        "jedec_id": "20 20 15 10" + " 00" * 16,
        "size": "2 MiB",
        "program": {"typ_ms": 0.64, "max_ms": 5},
        "write_status": {"typ_ms": 5, "max_ms": 15},
        "chip_erase": {"opcodes": [0xC7], "typ_ms": 13000, "max_ms": 40000},
        "erase": {0xD8: {"typ_ms": 600, "max_ms": 3000, "block": "64 KiB"}},
        "registers": [{"name": "SR1", "read": 0x05, "value": 0x00, "writable": 0x9C}],
        "protection": {"kind": "bp", "mask": 0x1C, "unit": "64 KiB"},
        "res_id": 0x14,
    },
    {
        # Not a real part: an S25FL127S-like hybrid whose SFDP carries a
        # Sector Map table (0xFF81) with two detection reads, so the sector
        # map decoder and SpiNor's map-in-use detection have something to
        # read.  0xEE has even parity: no JEP106 manufacturer has it.
        "name": "SIM-HYBRID-DEMO",
        "real": False,
        "source": "made up for the simulator",
        "jedec_id": "ee 40 18",
        "size": "16 MiB",
        "program": {"typ_ms": 0.25, "max_ms": 0.75},
        "chip_erase": {"opcodes": [0xC7], "typ_ms": 33000, "max_ms": 165000},
        "erase": {
            0x20: {"typ_ms": 200, "max_ms": 725},
            0xD8: {"typ_ms": 130, "max_ms": 650},
        },
        "erase_sizes": {0xD8: {"256 KiB": {"typ_ms": 520, "max_ms": 2600}}},
        "configurations": {
            "detect": [{"read": 0x35, "mask": 0x04}, {"read": 0x07, "mask": 0x80}],
            "maps": {
                0: [{"size": "64 KiB", "blocks": {0x20: "4 KiB", 0xD8: "64 KiB"}},
                    {"size": "16320 KiB", "blocks": {0xD8: "64 KiB"}}],
                1: [{"size": "16 MiB", "blocks": {0xD8: "256 KiB"}}],
                2: [{"size": "16320 KiB", "blocks": {0xD8: "64 KiB"}},
                    {"size": "64 KiB", "blocks": {0x20: "4 KiB", 0xD8: "64 KiB"}}],
                3: [{"size": "16 MiB", "blocks": {0xD8: "256 KiB"}}],
            },
        },
        "registers": [
            {"name": "SR1", "read": 0x05, "value": 0x00, "writable": 0x9C},
            {"name": "CR1", "read": 0x35, "value": 0x00, "writable": 0xEE, "otp": 0x2C,
             "nonvolatile": True},
            {"name": "SR2", "read": 0x07, "value": 0x00, "writable": 0xC0, "otp": 0xC0,
             "nonvolatile": True},
        ],
        "write_registers": ["SR1", "CR1", "SR2"],
        "protection": {"kind": "bp", "mask": 0x1C, "unit": "256 KiB",
                       "tb": {"register": "CR1", "mask": 0x20}},
        "unique_id": {"dummy_bytes": 4, "length": 8},
        "sfdp": {"revision": "1.6", "bfpt_dwords": 16, "sector_map": True,
                 "erase_types": [["4 KiB", 0x20], ["64 KiB", 0xD8], ["256 KiB", 0xD8]]},
    },
]


@cache
def builtin_models() -> dict[str, ChipModel]:
    """Every built-in model by upper-case name."""
    out = {}
    for d in DEFINITIONS:
        m = model_from_dict(d, "builtin")
        out[m.name.upper()] = m
    return out


def get_model(name: str) -> ChipModel | None:
    return builtin_models().get(name.strip().upper())
