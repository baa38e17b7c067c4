"""The embedded sample: four original MIT-BIH records (ODC-By 1.0), the data of last resort.

A fresh clone with no data path runs on these real records (see README.md beside this file),
never silently on synthetic beats.
"""

from __future__ import annotations

from pathlib import Path

#: the records shipped, as in ``mitdb/RECORDS``
SAMPLE_RECORDS = ("208", "213", "217", "232")
SAMPLE_NAME = "<sample>"  # how a source string names the embedded sample: no path of the machine


def sample_dir() -> Path:
    """The folder of the shipped WFDB records (``.../heartbeat/data/sample/mitdb``)."""
    return Path(__file__).resolve().parent / "mitdb"


def is_sample(path: str | Path | None) -> bool:
    return path is not None and Path(path).resolve() in (sample_dir(), sample_dir().parent)
