"""Data layer: readers, the WFDB beat builder, synthetic beats, splits, augmentation, features."""

from heartbeat.data.beatset import BEAT_LEN, CLASSES, FS, BeatSet, DataError, Dataset, LoadReport
from heartbeat.data.readers import read_beats, write_beats
from heartbeat.data.sources import SYNTHETIC_WARNING, load_dataset, valid_split
from heartbeat.data.splits import split

__all__ = [
    "BEAT_LEN", "CLASSES", "FS", "BeatSet", "DataError", "Dataset", "LoadReport",
    "read_beats", "write_beats", "load_dataset", "valid_split", "split", "SYNTHETIC_WARNING",
]
