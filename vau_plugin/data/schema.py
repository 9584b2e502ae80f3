"""The VAU-Bench annotation schema: one place for the column names, classes and sources."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Optional

COLUMNS: tuple[str, ...] = (
    "Video Name",
    "Question",
    "Option 1",
    "Option 2",
    "Option 3",
    "Option 4",
    "Correct Option",
    "Key Object",
    "Description",
    "Reasoning",
    "Anomaly Class",
    "Start Time",
    "End Time",
)
OPTION_COLUMNS: tuple[str, ...] = ("Option 1", "Option 2", "Option 3", "Option 4")
LETTERS: tuple[str, ...] = ("A", "B", "C", "D")

NORMAL_CLASS = "Normal"
# The 20 VAU-Bench classes, spelled as in the published annotations.
CLASSES: tuple[str, ...] = (
    "Abuse",
    "Agriculture",
    "Arrest",
    "Arson",
    "Assault",
    "Explosion",
    "Fighting",
    "Fire",
    "Food Safety",
    "Medical Abnormality",
    "Natural Hazard",
    NORMAL_CLASS,
    "Object_falling",
    "People_falling",
    "Robbery",
    "Shooting",
    "Stealing",
    "Traffic_accident",
    "Vandalism",
    "Water_incident",
)

# Source datasets of VAU-Bench (where a row comes from); the value is the name prefix used in train/val video
# names. Which test split holds which source, and a row's source: `vau_plugin.data.targets`.
SOURCES: tuple[str, ...] = ("msad", "ucf", "ecva")
# Sub-folder names under a video root that hold one source's videos.
SOURCE_DIR_ALIASES: dict[str, tuple[str, ...]] = {
    "msad": ("msad", "MSAD"),
    "ucf": ("ucf", "ucf_crime", "ucf-crime", "UCF_Crime", "UCF-Crime", "UCF"),
    "ecva": ("ecva", "ECVA"),
}

TASKS: tuple[str, ...] = ("qa", "tag", "cls", "reason")

MISSING = "-1"


def class_key(text: str) -> str:
    """Normalise a class name for comparison: case-, `_`/space- and hyphen-insensitive."""
    return re.sub(r"[\s_\-]+", "", text).lower()


CLASS_BY_KEY: dict[str, str] = {class_key(c): c for c in CLASSES}


def canonical_class(text: str) -> Optional[str]:
    """The VAU-Bench spelling of a class name, or None when it is not one of the 20 classes."""
    return CLASS_BY_KEY.get(class_key(text)) if text else None


@dataclass(frozen=True)
class VAURecord:
    """One VAU-Bench annotation row. A field that is missing in the CSV (-1 or empty) is None."""

    video: str
    source: Optional[str]
    split: str
    question: Optional[str] = None
    options: Optional[tuple[str, str, str, str]] = None
    answer: Optional[str] = None  # letter A-D
    key_object: Optional[str] = None
    description: Optional[str] = None
    reasoning: Optional[str] = None
    anomaly_class: Optional[str] = None  # one of CLASSES, or None when unknown/missing
    raw_class: Optional[str] = None  # the class cell as written (trimmed)
    span: Optional[tuple[float, float]] = None  # seconds; None for Normal or missing
    file: str = ""
    row: int = 0  # 1-based data row number in `file` (the header is row 0)
    extra: dict = field(default_factory=dict, compare=False, hash=False)
    # Why the row has no source although its file names one: its video is of another source (a UCF-Crime name in
    # test_msad.csv). Tasks and `prepare` refuse such rows; `validate` lists them (`targets.source_conflict`).
    source_conflict: Optional[str] = field(default=None, compare=False)

    @property
    def is_normal(self) -> Optional[bool]:
        if self.anomaly_class is None:
            return None
        return self.anomaly_class == NORMAL_CLASS

    @property
    def usable_qa(self) -> bool:
        return self.question is not None and self.options is not None and self.answer is not None

    @property
    def usable_tag(self) -> bool:
        """TAG (DESIGN.md): the class is not Normal and the span has 0 <= start < end. A missing class (-1)
        or an unknown one is "not Normal": with a valid span the row still serves TAG (UCF-Crime test has
        12 such rows). Only Normal rules TAG out (the reader gives Normal rows no span, too)."""
        is_normal = self.raw_class is not None and class_key(self.raw_class) == class_key(NORMAL_CLASS)
        return not is_normal and self.span is not None

    @property
    def usable_cls(self) -> bool:
        return self.anomaly_class is not None

    @property
    def usable_reason(self) -> bool:
        return self.description is not None and self.reasoning is not None

    def usable(self, task: str) -> bool:
        return getattr(self, f"usable_{task}")

    def annotation(self) -> dict[str, object]:
        """The row's annotation by column (the two times together), as read: what two rows of one video must agree on."""
        return {
            "Question": self.question,
            "Options": self.options,
            "Correct Option": self.answer,
            "Key Object": self.key_object,
            "Description": self.description,
            "Reasoning": self.reasoning,
            "Anomaly Class": self.raw_class,
            "Start Time/End Time": self.span,
        }

    def differences(self, other: "VAURecord") -> list[str]:
        """`differences(other) -> ["Correct Option 'B' vs 'A'", ...]`: the columns in which two rows differ, this
        row's value first (long texts shortened); [] when they agree."""
        mine, theirs = self.annotation(), other.annotation()
        return [
            f"{column} {_shown(mine[column])} vs {_shown(theirs[column])}"
            for column in mine
            if mine[column] != theirs[column]
        ]


def _shown(value: object, limit: int = 40) -> str:
    """A value for a message: None as "missing", texts cut at `limit` characters."""
    if value is None:
        return "missing"
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 4] + "...'"
