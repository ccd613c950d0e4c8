"""flashcheck: will this SPI NOR flash part work on this board?"""

__version__ = "0.1.0"
