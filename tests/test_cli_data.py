import subprocess
import sys

import pandas as pd

from heartbeat.cli import main
from heartbeat.data.readers import SIGNAL_COLUMNS
from heartbeat.data.rhythm import RHYTHM_NAMES


def test_check_good_and_bad_files(tmp_path, capsys, beat_rows):
    X, y = beat_rows
    df = pd.DataFrame(X, columns=SIGNAL_COLUMNS)
    df["target"] = y.astype(float)
    df.to_parquet(tmp_path / "heart_big_test.parq")
    assert main(["data", "check", str(tmp_path / "heart_big_test.parq")]) == 0
    out = capsys.readouterr().out
    assert "shape (12, 187)" in out and "N 3" in out
    (tmp_path / "mitbih_test.csv").write_text("1,2,3\n")
    assert main(["data", "check", str(tmp_path / "mitbih_test.csv")]) == 1  # bad input: exit 1, one line
    assert "wrong column count" in capsys.readouterr().err


def test_build_writes_course_files(tmp_path, mitdb, capsys):
    sub = tmp_path / "mitdb"
    sub.mkdir()
    for name in ("100", "101", "103", "105", "106"):
        for ext in ("hea", "dat", "atr"):
            (sub / f"{name}.{ext}").symlink_to(mitdb / f"{name}.{ext}")
    assert main(["data", "build", "--mitdb", str(sub), "--out", str(tmp_path / "out"), "--split", "inter"]) == 0
    train = pd.read_parquet(tmp_path / "out" / "heart_big_train.parq")
    test = pd.read_parquet(tmp_path / "out" / "heart_big_test.parq")
    from heartbeat.data.context import CONTEXT_NAMES

    assert list(train.columns) == SIGNAL_COLUMNS + ["target", "record", "sample", "time", *RHYTHM_NAMES,
                                                    *CONTEXT_NAMES]
    assert set(train.record).isdisjoint(test.record)
    assert "annotated" in capsys.readouterr().out


def test_help_and_bad_usage_exit_codes():
    ok = subprocess.run([sys.executable, "-m", "heartbeat.cli", "data", "build", "--help"], capture_output=True, text=True)
    assert ok.returncode == 0 and "--split" in ok.stdout
    bad = subprocess.run([sys.executable, "-m", "heartbeat.cli", "data", "build"], capture_output=True, text=True)
    assert bad.returncode == 2 and "--mitdb" in bad.stderr
