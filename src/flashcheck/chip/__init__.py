"""Chip access: SPI NOR commands (:mod:`.spinor`) and SFDP decoding (:mod:`.sfdp`)."""
