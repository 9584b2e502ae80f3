"""VAU-Bench data layer: parse and validate annotation CSVs into `VAURecord`s, resolve videos."""

from vau_plugin.data.schema import CLASSES, COLUMNS, LETTERS, NORMAL_CLASS, SOURCES, VAURecord, canonical_class

__all__ = ["CLASSES", "COLUMNS", "LETTERS", "NORMAL_CLASS", "SOURCES", "VAURecord", "canonical_class"]
