"""Data: the part database, board profiles, their YAML loading and cache, the spiflash fallback, and the station results store."""
