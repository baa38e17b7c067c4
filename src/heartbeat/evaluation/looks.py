"""Every look at DS2 (the inter-patient test side), logged: when, by what, which configuration, the result.

Searches and selection see DS1 alone; DS2 is for the final evaluation. Each evaluation that scores a
model on DS2 appends one row to ``results/ds1ds2/looks.csv``, so the number of looks behind a
published figure is counted, not remembered.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
from pathlib import Path

import pandas as pd

LOOKS = Path("results/ds1ds2/looks.csv")  # $HEARTBEAT_LOOKS names another file (the tests' own)
COLUMNS = ("when", "by", "what", "config_sha1", "seed", "macro_Se", "Se_S", "P_S", "Se_V", "P_V", "Se_F")


def log_look(by: str, what: str, config: str, figures: dict, seed: int | None = None,
             path: str | Path | None = None) -> None:
    """Append one look at DS2: ``by`` (the command), ``what`` (the model or row), a hash of its ``config``
    text (gin), and its DS2 ``figures`` (keys as :func:`heartbeat.evaluation.protocol.se_p` gives them).
    ``path``: default ``$HEARTBEAT_LOOKS``, else results/ds1ds2/looks.csv."""
    path = Path(path or os.environ.get("HEARTBEAT_LOOKS") or LOOKS)
    path.parent.mkdir(parents=True, exist_ok=True)
    row = {"when": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"), "by": by, "what": what,
           "config_sha1": hashlib.sha1(config.encode()).hexdigest()[:12], "seed": seed}
    for key in COLUMNS[5:]:
        value = figures.get(key, figures.get(key.replace("P_", "+P_")))
        row[key] = None if value is None else round(float(value), 5)
    pd.DataFrame([row], columns=list(COLUMNS)).to_csv(path, mode="a", header=not path.exists(), index=False)


def count_looks(path: str | Path = LOOKS) -> int:
    path = Path(path)
    return len(pd.read_csv(path)) if path.exists() else 0


def config_text(bindings: list[str], base: str) -> str:
    return json.dumps({"base": base, "bindings": sorted(bindings)})
