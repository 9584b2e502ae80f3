"""Synthetic VAU-Bench rows for tests that write CSVs of their own."""

from __future__ import annotations

import csv
from pathlib import Path

from vau_plugin.data.schema import COLUMNS

GOOD_ROW = {
    "Video Name": "msad_Assault_1.mp4",
    "Question": "What happens in the video?",
    "Option 1": "A man attacks another man",
    "Option 2": "No sign of anomaly",
    "Option 3": "A car crashes",
    "Option 4": "A fire starts",
    "Correct Option": "A",
    "Key Object": "man in red",
    "Description": "Two men on a street; one hits the other.",
    "Reasoning": "### Specific Anomaly Type: Assault",
    "Anomaly Class": "Assault",
    "Start Time": "1.5",
    "End Time": "4.0",
}


def write_csv(path: Path, rows: list[dict], *, header=COLUMNS, encoding="utf-8", lineterminator="\n") -> Path:
    """A VAU-Bench CSV whose rows are GOOD_ROW with the given fields replaced (video names numbered)."""
    with open(path, "w", newline="", encoding=encoding) as handle:
        writer = csv.writer(handle, lineterminator=lineterminator)
        writer.writerow(header)
        for i, overrides in enumerate(rows):
            row = {**GOOD_ROW, "Video Name": f"msad_Video_{i}.mp4", **overrides}
            writer.writerow([row.get(column, "") for column in header])
    return path
