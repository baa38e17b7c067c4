import numpy as np
import pandas as pd
import pytest

from heartbeat.data import BeatSet, DataError, read_beats, write_beats
from heartbeat.data.readers import SIGNAL_COLUMNS


def parquet(path, X, y, **extra):
    df = pd.DataFrame(X, columns=SIGNAL_COLUMNS)
    df["target"] = np.asarray(y, dtype=float)
    for k, v in extra.items():
        df[k] = v
    df.to_parquet(path)
    return path


def csv(path, X, y):
    pd.DataFrame(np.column_stack([X, y])).to_csv(path, header=False, index=False)
    return path


def test_course_parquet_roundtrip(tmp_path, beat_rows):
    X, y = beat_rows
    beats = read_beats(parquet(tmp_path / "heart_big_train.parq", X, y))
    assert beats.task == "mitbih" and beats.X.dtype == np.float32 and beats.y.dtype == np.int64
    np.testing.assert_allclose(beats.X, X)
    np.testing.assert_array_equal(beats.y, y)
    again = read_beats(write_beats(BeatSet(X, y, "mitbih", record=np.arange(12)), tmp_path / "b.parq"), "mitbih")
    assert list(again.record) == [str(i) for i in range(12)]


def test_kaggle_csv(tmp_path, beat_rows):
    X, y = beat_rows
    beats = read_beats(csv(tmp_path / "mitbih_test.csv", X, y))
    assert beats.X.shape == (12, 187) and beats.task == "mitbih"
    np.testing.assert_array_equal(beats.y, y)


def test_ptb_csv_label_implied_by_name(tmp_path, beat_rows):
    X, _ = beat_rows
    beats = read_beats(csv(tmp_path / "ptbdb_abnormal.csv", X, np.ones(12)))
    assert beats.task == "ptb" and set(beats.y) == {1}
    with pytest.raises(DataError, match=r"row 1, column 188.*file name implies label 0"):
        read_beats(csv(tmp_path / "ptbdb_normal.csv", X, np.ones(12)))


def test_missing_and_empty_files(tmp_path):
    with pytest.raises(DataError, match="nope.parq: file not found"):
        read_beats(tmp_path / "nope.parq")
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(DataError, match="empty.csv: empty file"):
        read_beats(tmp_path / "empty.csv")
    parquet(tmp_path / "zero.parq", np.zeros((0, 187)), [])
    with pytest.raises(DataError, match="zero.parq: empty file"):
        read_beats(tmp_path / "zero.parq")


def test_wrong_column_count(tmp_path, beat_rows):
    X, y = beat_rows
    with pytest.raises(DataError, match=r"wrong column count: 187 columns; expected 188"):
        read_beats(csv(tmp_path / "mitbih_train.csv", X[:, :186], y))
    df = pd.DataFrame(X[:, :180], columns=SIGNAL_COLUMNS[:180])
    df["target"] = y
    df.to_parquet(tmp_path / "short.parq")
    with pytest.raises(DataError, match=r"short.parq: wrong columns.*missing '180'"):
        read_beats(tmp_path / "short.parq")


def test_non_numeric_cell_names_row_and_column(tmp_path, beat_rows):
    X, y = beat_rows
    lines = [",".join(f"{v:.4f}" for v in row) + f",{lab}" for row, lab in zip(X, y)]
    cells = lines[3].split(",")
    cells[9] = "abc"
    lines[3] = ",".join(cells)
    (tmp_path / "mitbih_train.csv").write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match=r"row 4, column 10: non-numeric value 'abc'; expected a number"):
        read_beats(tmp_path / "mitbih_train.csv")

    df = pd.DataFrame(X, columns=SIGNAL_COLUMNS)
    df["7"] = df["7"].map(str)  # a column of text, as a spreadsheet export may leave it
    df.loc[5, "7"] = "x"
    df["target"] = y.astype(float)
    df.to_parquet(tmp_path / "bad.parq")
    with pytest.raises(DataError, match=r"row 6, column '7': non-numeric value 'x'"):
        read_beats(tmp_path / "bad.parq", "mitbih")


def test_labels_outside_task(tmp_path, beat_rows):
    X, y = beat_rows
    y = y.astype(float)
    y[7] = 9
    with pytest.raises(DataError, match=r"row 8, column 'target': label 9.0 is not a class of task 'mitbih'; "
                                        r"expected an integer 0..4 \(N S V F Q\)"):
        read_beats(parquet(tmp_path / "heart_big_test.parq", X, y))
    y[7] = 1.5
    with pytest.raises(DataError, match=r"row 8.*label 1.5"):
        read_beats(parquet(tmp_path / "heart_big_test.parq", X, y))
    with pytest.raises(DataError, match=r"row 3.*task 'ptb'"):
        read_beats(parquet(tmp_path / "heart_train.parq", X, np.arange(12) % 5))


def test_non_finite_values_are_imputed_and_reported(tmp_path, beat_rows):
    X, y = beat_rows
    X = X.astype(np.float64)
    X[2, 10] = np.nan
    X[2, 0] = np.inf
    X[4, 100:103] = np.nan
    X[6, :] = np.nan  # nothing to interpolate from: dropped and reported
    beats = read_beats(parquet(tmp_path / "heart_big_train.parq", X, y))
    assert len(beats) == 11
    assert beats.report.rows_dropped == [6]
    assert beats.report.values_imputed == 5 and beats.report.rows_imputed == 2
    assert np.isfinite(beats.X).all()
    # linear interpolation along time; the edge takes the nearest finite value
    assert beats.X[2, 10] == pytest.approx((X[2, 9] + X[2, 11]) / 2, rel=1e-5)
    assert beats.X[2, 0] == pytest.approx(X[2, 1], rel=1e-5)
    np.testing.assert_allclose(beats.X[4, 100:103], np.linspace(X[4, 99], X[4, 103], 5)[1:4], rtol=1e-5)
    assert any("dropped (no finite value): 1 at rows [6]" in line for line in beats.report.lines())


def test_a_data_path_is_recorded_without_this_machines_folders(tmp_path, monkeypatch):
    """What a result file records of a data folder (heartbeat ec57's report.json): ``<data>/...`` under
    $HEARTBEAT_DATA, relative under the working folder, else the path as given."""
    from heartbeat.data.sources import shown_path

    data, work = tmp_path / "shared" / "data", tmp_path / "work"
    (data / "mitdb").mkdir(parents=True)
    (work / "records").mkdir(parents=True)
    monkeypatch.chdir(work)
    monkeypatch.setenv("HEARTBEAT_DATA", str(data))
    assert shown_path(data / "mitdb") == "<data>/mitdb" and shown_path(data) == "<data>"
    assert shown_path(work / "records") == "records" and shown_path("records") == "records"
    assert shown_path(tmp_path / "elsewhere") == str(tmp_path / "elsewhere")
    monkeypatch.delenv("HEARTBEAT_DATA")
    assert shown_path(data / "mitdb") == str(data / "mitdb")
