"""The values an option may take, one definition each: the data layer, the training loop, the search,
the runtime and every command line read them from here.

Each is a :class:`enum.StrEnum`, so a member is its string (``Split.DS1DS2 == "ds1ds2"``) and a plain
string from a command line, a gin file or a model record compares equal to it. The tuples below are the
values as plain strings, for ``argparse``'s ``choices`` and for error messages. The module imports
nothing but :mod:`enum`: ``heartbeat --help`` and the lowest floors of the house can use it.
"""

from __future__ import annotations

from enum import StrEnum


class Window(StrEnum):
    """How a beat is cut from a record (heartbeat.data.inputs): Kachuee's 187 samples from the R peak, or a
    window that starts before it to hold the P wave."""

    KACHUEE = "kachuee"
    PWAVE = "pwave"


class Split(StrEnum):
    """How a source without its own test file is split: by beat, by record, or de Chazal's DS1/DS2."""

    INTRA = "intra"
    INTER = "inter"
    DS1DS2 = "ds1ds2"


class Objective(StrEnum):
    """The validation metric a search and the fit loop maximise (heartbeat.metrics.objective)."""

    F2_MACRO = "f2_macro"
    RECALL_MACRO = "recall_macro"
    F1_MACRO = "f1_macro"
    ACCURACY = "accuracy"
    ABNORMAL_SENSITIVITY = "abnormal_sensitivity"


class Task(StrEnum):
    """The label set: MIT-BIH's five AAMI classes, or PTB's normal / abnormal."""

    MITBIH = "mitbih"
    PTB = "ptb"


class Runtime(StrEnum):
    """What runs a model folder's network: torch, or onnxruntime on its model.onnx."""

    TORCH = "torch"
    ONNX = "onnx"


class Device(StrEnum):
    """Where torch runs the network; ``auto`` is CUDA where there is a GPU."""

    AUTO = "auto"
    CPU = "cpu"
    CUDA = "cuda"


class Scheduler(StrEnum):
    """How a search stops trials early: ASHA, or not at all."""

    ASHA = "asha"
    NONE = "none"


class Searcher(StrEnum):
    """How a search proposes configurations: Optuna's TPE, or random sampling."""

    OPTUNA = "optuna"
    RANDOM = "random"


def values(enum: type[StrEnum]) -> tuple[str, ...]:
    """The members' values as plain strings, in their order."""
    return tuple(member.value for member in enum)


WINDOWS = values(Window)
SPLITS = values(Split)
OBJECTIVES = values(Objective)
TASKS = values(Task)
RUNTIMES = values(Runtime)
DEVICES = values(Device)
SCHEDULERS = values(Scheduler)
SEARCHERS = values(Searcher)
