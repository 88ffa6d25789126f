"""Where each data stage reads and writes: one sub-folder of DATA_DIR per stage."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tweet_triage.config import CORPUS_DIR, DataSettings


@dataclass(frozen=True)
class DataPaths:
    """The data folder layout; every stage and notebook takes its paths from here."""

    root: Path

    @classmethod
    def from_settings(cls, settings: DataSettings) -> DataPaths:
        return cls(settings.data_dir.expanduser().resolve())

    @property
    def raw(self) -> Path:
        return self.root / "raw"

    @property
    def combined(self) -> Path:
        return self.root / "combined"

    @property
    def quarantine(self) -> Path:
        return self.root / "quarantine"

    @property
    def filtered(self) -> Path:
        return self.root / "filtered"

    @property
    def processed(self) -> Path:
        return self.root / "processed"

    @property
    def labelled(self) -> Path:
        return self.root / "labelled"

    @property
    def splits(self) -> Path:
        return self.root / "splits"

    @property
    def manifest(self) -> Path:
        return self.splits / "manifest.json"

    @property
    def summaries(self) -> Path:
        return self.root / "summaries"

    @property
    def for_labelling(self) -> Path:
        return self.root / "for-labelling"


def default_annotations_path(settings: DataSettings) -> Path:
    """ANNOTATIONS_PATH, or the bundled demo corpus's annotations."""
    return settings.annotations_path or CORPUS_DIR / "annotations.csv.gz"
