"""Workflows: what a command does, step by step, over the data, rules and
chip-access layers (probe, erase test, BOM validation, station)."""
