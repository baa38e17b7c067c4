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
from heartbeat.data.context import CONTEXT_GROUPS, CONTEXT_NAMES
from heartbeat.data.rhythm import RHYTHM_NAMES
from heartbeat.errors import ConfigError


@gin.configurable("BeatInput")
@dataclass(frozen=True)
class BeatInput:
    """``window``: 'kachuee' (from the R peak, the course's format) or 'pwave' (from 0.28 s before it).
    ``rhythm``: the beat's RR features (heartbeat.data.rhythm) go in as a second input.
    ``context``: the beat's patient context (heartbeat.data.context: RR against the underlying rhythm,
    the neighbours, the running template) goes in beside the rhythm; it needs ``rhythm``. True takes all
    of it; a part's name (``'underlying'``, ``'neighbours'``, ``'template'``), or several joined by ``+``
    (``'underlying+template'``), takes those parts alone."""

    window: str = "kachuee"
    rhythm: bool = False
    context: bool | str = False

    def __post_init__(self) -> None:
        if self.window not in WINDOWS:
            raise ConfigError(f"unknown BeatInput.window {self.window!r}; expected one of {WINDOWS}")
        self.context_names  # an unknown part is refused here, when the binding is read
        if self.context and not self.rhythm:
            raise ConfigError(f"BeatInput.context = {self.context!r} needs BeatInput.rhythm = True: the context "
                              "goes in beside the rhythm, through the same second input")

    @property
    def context_names(self) -> tuple[str, ...]:
        """The context columns ``context`` takes, in :data:`CONTEXT_NAMES` order."""
        if self.context is True:
            return CONTEXT_NAMES
        if self.context is False or self.context is None:
            return ()
        parts = self.context.split("+") if isinstance(self.context, str) else [self.context]
        if any(part not in CONTEXT_GROUPS for part in parts):
            raise ConfigError(f"unknown BeatInput.context {self.context!r}; expected True, False, or one or more "
                              f"of {', '.join(CONTEXT_GROUPS)} joined by '+'")
        chosen = {c for part in parts for c in CONTEXT_GROUPS[part]}
        return tuple(c for c in CONTEXT_NAMES if c in chosen)

    @property
    def names(self) -> tuple[str, ...]:
        """The per-beat features the model takes, in order (empty for a beat-only model)."""
        if not self.rhythm:
            return ()
        return RHYTHM_NAMES + self.context_names

    @property
    def num_rhythm(self) -> int:
        return len(self.names)

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
        missing = [c for c in self.names if c not in beats.rhythm_names]
        if missing:
            raise DataError(f"{source}: has no {', '.join(missing)} column(s) (it has {', '.join(beats.rhythm_names)}); "
                            f"{who} takes {', '.join(self.names)}: build the beats again from WFDB records "
                            "('heartbeat data build', or give the folder of records)")
        if beats.rhythm_names[: len(self.names)] == self.names:
            return beats.X, beats.rhythm[:, : len(self.names)]
        return beats.X, beats.rhythm[:, [beats.rhythm_names.index(c) for c in self.names]]
