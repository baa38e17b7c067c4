"""The Kachuee beat builder on real MIT-BIH records (skipped where ../shared/data is absent)."""

import numpy as np
import pytest

from heartbeat.data import load_dataset
from heartbeat.data.wfdb_beats import AAMI, build_beats


def test_builder_on_real_records(mitdb):
    beats, report = build_beats(mitdb, ["100", "102", "208"])
    assert beats.X.shape[1] == 187 and len(beats) == sum(report.built.values())
    assert beats.X.min() >= 0 and beats.X.max() <= 1
    # each beat starts at its R peak: the first sample is high in its 10 s window
    assert np.median(beats.X[:, 0]) > 0.6
    # zero padding after 1.2 T (T about 0.8 s = 100 samples at 125 Hz)
    assert np.median((beats.X > 0).sum(1)) < 187
    # 208 holds many V and F beats; 102 is paced (Q) and has no MLII lead
    assert report.built["V"] > 900 and report.built["F"] > 300 and report.built["Q"] > 2000
    assert any("102" in n and "MLII" in n for n in report.lead_notes)
    # at most the last beat of each record is lost
    assert 0 <= sum(report.annotated.values()) - sum(report.built.values()) <= 3
    assert set(beats.record) == {"100", "102", "208"}


def annotated_counts(mitdb) -> tuple[list[str], np.ndarray]:
    """The records listed in RECORDS and their AAMI beat counts, read from the annotations themselves."""
    import wfdb

    names = (mitdb / "RECORDS").read_text().split()
    counts = np.zeros(5, int)
    for name in names:
        for s in wfdb.rdann(str(mitdb / name), "atr").symbol:
            if s in AAMI:
                counts[AAMI[s]] += 1
    return names, counts


def test_annotation_counts_match_database_readme(mitdb):
    """The data folder's README states its records and class counts; the annotations must agree."""
    import re

    names, counts = annotated_counts(mitdb)
    readme = (mitdb.parent / "README.md").read_text()
    stated = re.search(r"Beats per AAMI class in these (\d+) records[^:]*:\s*N ([\d,]+), S ([\d,]+), V ([\d,]+), "
                       r"F ([\d,]+), Q ([\d,]+)", readme)
    if stated is None:
        pytest.skip(f"{mitdb.parent / 'README.md'} states no per-class counts to check")
    assert int(stated.group(1)) == len(names)
    assert counts.tolist() == [int(g.replace(",", "")) for g in stated.groups()[1:]]


@pytest.mark.slow
def test_full_build_through_source_resolution(mitdb, shared_data):
    names, counts = annotated_counts(mitdb)
    ds = load_dataset(shared_data, task="mitbih", split_how="inter", seed=0)
    built = len(ds.train) + len(ds.test)
    # every annotated beat is built but at most the last few of each record (cut off by the record's end)
    assert counts.sum() - 3 * len(names) <= built <= counts.sum()
    assert set(ds.train.record) | set(ds.test.record) == set(names)
    assert not set(ds.train.record) & set(ds.test.record)


def test_two_processes_building_one_cache_both_succeed(tmp_path, monkeypatch):
    """Two workers that build the same cold WFDB cache at once (heartbeat ablate --jobs 2) each write a whole
    file of their own and rename it; neither finds its temporary file taken by the other.

    Both processes are held at a barrier after writing and before renaming, so the renames happen one right
    after the other: with one shared temporary name, the second rename raised FileNotFoundError."""
    import multiprocessing as mp

    from heartbeat.data import sources
    from heartbeat.data.sample import sample_dir

    monkeypatch.setenv("HEARTBEAT_CACHE", str(tmp_path))
    ctx = mp.get_context("fork")
    barrier = ctx.Barrier(2, timeout=120)
    real_write = sources.write_beats

    def write_then_wait(beats, path):
        real_write(beats, path)
        barrier.wait()

    monkeypatch.setattr(sources, "write_beats", write_then_wait)
    results = ctx.Queue()

    def worker():
        try:
            results.put(len(sources.cached_wfdb_beats(sample_dir())))
        except Exception as e:  # reported to the parent, which fails the test with it
            results.put(repr(e))

    procs = [ctx.Process(target=worker) for _ in range(2)]
    for p in procs:
        p.start()
    got = [results.get(timeout=300) for _ in procs]
    for p in procs:
        p.join(timeout=60)
    assert all(isinstance(n, int) and n > 0 for n in got), got
    assert got[0] == got[1]
    assert [p.name for p in tmp_path.iterdir()] == [p.name for p in tmp_path.glob("wfdb-beats-*.parq")]
    assert len(list(tmp_path.iterdir())) == 1  # one cache file, no temporary file left behind
