"""What a model sees of a beat: how the beat is cut (its window) and whether its rhythm goes in too.

``BeatInput`` is one gin configurable, so the choice is a binding like any hyperparameter
(``BeatInput.window = 'pwave'``, ``BeatInput.rhythm = True``), searched in the same names and
recorded in every model folder's ``config.gin``. Training, evaluation, scoring and serving
all ask it which beats to build (:func:`heartbeat.data.load_dataset`'s ``window``) and check
the beats they are given with :meth:`BeatInput.arrays`, so a model sees in production exactly
what it saw in training.
"""

from __future__ import annotations

from dataclasses import dataclass

import gin
import numpy as np

from heartbeat.data.beatset import WINDOWS, BeatSet, DataError
from heartbeat.data.rhythm import RHYTHM_NAMES
from heartbeat.errors import ConfigError


@gin.configurable("BeatInput")
@dataclass(frozen=True)
class BeatInput:
    """``window``: 'kachuee' (from the R peak, the course's format) or 'pwave' (from 0.28 s before it).
    ``rhythm``: the beat's RR features (heartbeat.data.rhythm) go in as a second input."""

    window: str = "kachuee"
    rhythm: bool = False

    def __post_init__(self) -> None:
        if self.window not in WINDOWS:
            raise ConfigError(f"unknown BeatInput.window {self.window!r}; expected one of {WINDOWS}")

    @property
    def num_rhythm(self) -> int:
        return len(RHYTHM_NAMES) if self.rhythm else 0

    def arrays(self, beats: BeatSet, who: str = "the model") -> tuple[np.ndarray, np.ndarray | None]:
        """(X, rhythm or None) of ``beats`` as this input takes them; a DataError names what is missing."""
        source = beats.report.source if beats.report is not None else "the data"
        if beats.window != self.window:
            raise DataError(f"{who} takes {self.window!r} beats, but {source} holds {beats.window!r} beats; "
                            f"{self.window!r} beats are built from WFDB records (give a folder of them, or a "
                            "file written by 'heartbeat data build --window')")
        if not self.rhythm:
            return beats.X, None
        if beats.rhythm is None:
            raise DataError(f"{who} was trained with rhythm input (BeatInput.rhythm = True), but {source} has no "
                            f"rhythm columns ({', '.join(RHYTHM_NAMES)}): rhythm comes only with beats built from "
                            "records (a folder of WFDB records, or a file written by 'heartbeat data build')")
        if beats.rhythm_names != RHYTHM_NAMES:
            raise DataError(f"{source}: rhythm columns {beats.rhythm_names}; {who} expects {RHYTHM_NAMES}")
        return beats.X, beats.rhythm
