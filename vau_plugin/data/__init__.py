"""VAU-Bench data layer: parse and validate annotation CSVs into `VAURecord`s, resolve videos, and (`targets`) where a
row comes from, which tasks use it and its ground truth."""

from vau_plugin.data.reader import AnnotationError, read_csv
from vau_plugin.data.schema import CLASSES, COLUMNS, LETTERS, NORMAL_CLASS, SOURCES, VAURecord, canonical_class
from vau_plugin.data.sources import load_records
from vau_plugin.data.videos import resolve_videos

__all__ = [
    "CLASSES",
    "COLUMNS",
    "LETTERS",
    "NORMAL_CLASS",
    "SOURCES",
    "AnnotationError",
    "VAURecord",
    "canonical_class",
    "load_records",
    "read_csv",
    "resolve_videos",
]
