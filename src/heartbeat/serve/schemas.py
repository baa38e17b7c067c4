"""The service's request and response bodies (pydantic), and how a validation error is worded.

A beat is exactly 187 numbers in [0, 1] (JSON numbers, not strings; :data:`BEAT_TOLERANCE` either side
tolerated); anything else is a 422 whose ``detail`` names the beat and value index, the value and what
was expected, and whose ``message`` sums it up.
"""

from __future__ import annotations

import math
from typing import Annotated, Literal

from pydantic import BaseModel, Field

from heartbeat.data.beatset import BEAT_LEN
from heartbeat.data.rhythm import RHYTHM_NAMES

#: beats are scaled to [0, 1] by the preprocessing (heartbeat.data.wfdb_beats.beats_from_signal clips them there);
#: a value beyond it by more than this is not a beat the model has ever seen, and is refused rather than labelled
BEAT_TOLERANCE = 0.01
BEAT_LOW, BEAT_HIGH = 0.0 - BEAT_TOLERANCE, 1.0 + BEAT_TOLERANCE
FLOAT32_MAX = 3.4028234663852886e38  # a value past it overflows the model's float32 to infinity

Finite = Annotated[float, Field(strict=True, allow_inf_nan=False)]
BeatValue = Annotated[float, Field(strict=True, allow_inf_nan=False, ge=BEAT_LOW, le=BEAT_HIGH)]
Finite32 = Annotated[float, Field(strict=True, allow_inf_nan=False, ge=-FLOAT32_MAX, le=FLOAT32_MAX)]
Beat = Annotated[list[BeatValue], Field(min_length=BEAT_LEN, max_length=BEAT_LEN,
                                        description=f"one beat: {BEAT_LEN} numbers in [0, 1] (125 Hz, scaled as "
                                                    f"the model's preprocessing scales them; ±{BEAT_TOLERANCE} "
                                                    "tolerated)")]


Rhythm = Annotated[list[Finite32], Field(min_length=len(RHYTHM_NAMES), max_length=len(RHYTHM_NAMES),
                                       description=f"the beat's rhythm ({', '.join(RHYTHM_NAMES)}; seconds and "
                                                   "ratios), for a model trained with rhythm")]


class BeatIn(BaseModel):
    beat: Beat
    rhythm: Rhythm | None = None


class BeatsIn(BaseModel):
    beats: Annotated[list[Beat], Field(min_length=1, description="beats, each of 187 finite numbers")]
    rhythms: list[Rhythm] | None = Field(None, description="one rhythm per beat, for a model trained with rhythm")


class RecordIn(BaseModel):
    samples: Annotated[list[Finite], Field(min_length=1, description="one lead of a raw ECG, in mV")]
    fs: Annotated[float, Field(gt=0, description="sampling rate in Hz; refused (422, naming the rate the beats "
                                                 "fit) where the beats would be impossible at it")]
    lead: str | None = Field(None, max_length=32, description="what the lead is: one of I, II, III, aVR, aVL, aVF, "
                                                              "V1..V6, MLI, MLII, MLIII (or lead0); checked as "
                                                              "heartbeat predict checks an NPY file's")


class BeatOut(BaseModel):
    id: int = Field(description="prediction id, for feedback")
    probabilities: dict[str, float]
    predicted_class: str
    p_abnormal: float = Field(description="P(not class 0)")
    abnormal: bool = Field(description="the predicted class is not class 0; with a threshold, p_abnormal >= threshold")
    input_sha256: str


class PredictionOut(BeatOut):
    model_version: str
    threshold: float | None = Field(description="None: abnormal = the predicted class is not class 0")


class BatchOut(BaseModel):
    model_version: str
    threshold: float | None = Field(description="None: abnormal = the predicted class is not class 0")
    predictions: list[BeatOut]


class RecordBeatOut(BeatOut):
    time_s: float = Field(description="the beat's R peak, seconds from the segment's start")
    sample: int = Field(description="the R peak's sample index in the segment")


class RecordOut(BaseModel):
    model_version: str
    threshold: float | None = Field(description="None: abnormal = the predicted class is not class 0")
    fs: float
    lead: str | None
    seconds: float
    summary: dict = Field(description="beats per class, abnormal burden in %, the longest abnormal runs")
    notes: list[str]
    beats: list[RecordBeatOut]


INT64_MAX = 2**63 - 1  # the largest id a database integer column holds


class FeedbackIn(BaseModel):
    prediction_id: Annotated[int, Field(strict=True, ge=1, le=INT64_MAX)]
    label: str | int = Field(description="the true class: its name (e.g. 'V') or its index")


class UserIn(BaseModel):
    name: str = Field(description="1-64 letters, digits or _.@-")
    role: Literal["reader", "clinician", "admin"]
    password: str | None = Field(None, description="optional, for the OAuth2 password flow; >= 8 characters")


class TokenOut(BaseModel):
    access_token: str
    token_type: str = "bearer"
    expires_in: int


# ---------------------------------------------------------------- 422 messages
def _where(loc: tuple) -> str:
    path = loc[1:] if loc and loc[0] == "body" else loc
    if len(path) >= 2 and path[0] == "beats" and isinstance(path[1], int):
        return f"beat {path[1]}" + (f", value {path[2]}" if len(path) > 2 else "")
    if len(path) >= 2 and path[0] == "beat" and isinstance(path[1], int):
        return f"beat value {path[1]}"
    return ".".join(map(str, path)) or "body"


def _short(value) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def explain(err: dict) -> dict:
    """A validation error with a message that says where (beat, value index) and what was expected."""
    loc, typ, value = tuple(err.get("loc", ())), err.get("type", ""), err.get("input")
    where = _where(loc)
    if "input" not in err:  # raised by an endpoint, already worded
        return {"loc": list(loc), "type": typ, "msg": err.get("msg", typ)}
    is_beat = loc[-1:] == ("beat",) or (len(loc) == 3 and loc[1] == "beats" and isinstance(loc[2], int))
    is_value = (len(loc) == 3 and loc[1] == "beat") or (len(loc) == 4 and loc[1] == "beats")  # a beat's value
    if is_beat and typ in ("too_short", "too_long"):
        msg = f"{where}: expected {BEAT_LEN} numbers, got {len(value)}"
    elif typ in ("too_short", "too_long") and loc[-1:] == ("beats",):
        msg = f"beats: expected at least 1 beat, got {len(value)}"
    elif is_beat and typ == "list_type":
        msg = f"{where}: expected a list of {BEAT_LEN} numbers, got {_short(value)}"
    elif is_value and typ in ("greater_than_equal", "less_than_equal"):
        msg = (f"{where}: {_short(value)} is outside [0, 1], the range the model's preprocessing scales beats to "
               f"(±{BEAT_TOLERANCE} tolerated): send beats as heartbeat.data makes them, or the raw signal to "
               "/predict/record")
    elif typ in ("float_type", "float_parsing", "finite_number"):
        msg = f"{where}: expected a finite number, got {_short(value)}"
    elif typ == "json_invalid":
        msg = f"the body is not valid JSON ({err.get('ctx', {}).get('error', 'parse error')})"
    elif typ == "missing":
        msg = f"{where}: required"
    else:
        msg = f"{where}: {err.get('msg', typ)}"
    return {"loc": list(loc), "type": typ, "msg": msg}


def json_safe(value):
    """NaN and infinities (e.g. the recall of a class absent from the validation set) as null."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value


# ---------------------------------------------------------------- logging middleware
