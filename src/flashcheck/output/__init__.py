"""Output for people and programs: terminal tables and erase maps, the HTML report, the station screen, report formats."""
