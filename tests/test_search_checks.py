"""What a search refuses before Ray starts: folders it would overwrite, data that cannot serve its space.

Each refusal is one line (a SearchError, so the CLI prints ``error: ...`` and exits 1), names the
command line's flags on the command line and Python's keyword arguments in the API, and leaves
nothing behind: no results folder, no Ray.
"""

import dataclasses
from pathlib import Path

import numpy as np
import pytest

import heartbeat as hb
from heartbeat.data import write_beats
from heartbeat.data.synthetic import synthetic_beats
from heartbeat.tuning.tune import SearchError, main

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture()
def beats(tmp_path):
    """Beat-only data (no rhythm columns, no record ids), every class present."""
    return write_beats(synthetic_beats(1500, seed=0), tmp_path / "beats.parq")


@pytest.fixture(autouse=True)
def _no_ray_left():
    import ray

    yield
    assert not ray.is_initialized(), "a refused search must not start Ray"


def space_file(tmp_path: Path, extra: str = "", space: str = "'fit.learning_rate': ('loguniform', 0.001, 0.01)") -> Path:
    path = tmp_path / "space.gin"
    path.write_text(f"include 'gin/models/cnn1d.gin'\n{extra}\nsearch.space = {{{space}}}\n")
    return path


def cli(tmp_path: Path, *args: str) -> int:
    return main(["--results", str(tmp_path / "results"), "--models", str(tmp_path / "models"),
                 "--best-gin", str(tmp_path / "gin"), "--cpus", "1", *args])


def test_rhythm_search_on_beat_only_data_fails_before_ray(beats, tmp_path, capsys):
    import ray

    with pytest.raises(SearchError, match=r"needs rhythm columns .* has none.* give data='PATH'") as err:
        hb.search(ROOT / "gin/search/inter.gin", data=str(beats), split="intra", root=str(tmp_path / "api"))
    assert "\n" not in str(err.value) and not ray.is_initialized()
    assert not (tmp_path / "api").exists()

    # rhythm asked for in the space only (one choice among two) is enough to need it
    either = space_file(tmp_path, space="'BeatInput.rhythm': ('choice', [False, True])")
    assert cli(tmp_path, "--search", str(either), "--data", str(beats), "--name", "either") == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and "--data PATH" in err and "Traceback" not in err
    assert not (tmp_path / "results" / "either").exists()


def test_patient_split_on_data_without_records_fails(beats, tmp_path, capsys):
    # a file without record ids: the data layer says so
    assert cli(tmp_path, "--search", str(space_file(tmp_path)), "--data", str(beats), "--split", "ds1ds2") == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and "record id" in err
    # synthetic beats have no patients either (the data layer splits them by beat whatever was asked)
    assert cli(tmp_path, "--search", str(space_file(tmp_path)), "--data", "synthetic", "--split", "inter") == 1
    err = capsys.readouterr().err
    assert "split 'inter' splits by patient" in err and "--split intra" in err


def test_a_class_missing_from_the_training_beats_fails(tmp_path, capsys):
    full = synthetic_beats(1500, seed=0)
    f = full.classes.index("F")
    path = write_beats(full.subset(np.flatnonzero(full.y != f)), tmp_path / "no_f.parq")
    assert cli(tmp_path, "--search", str(space_file(tmp_path)), "--data", str(path)) == 1
    err = capsys.readouterr().err
    assert "class F has no beats in the search's" in err and "--data PATH" in err


def test_overwrite_is_refused_without_force(beats, tmp_path, capsys):
    search = space_file(tmp_path)
    model = tmp_path / "models" / "mine"
    model.mkdir(parents=True)
    (model / "model.pt").write_bytes(b"committed weights")
    assert cli(tmp_path, "--search", str(search), "--data", str(beats), "--name", "mine") == 1
    err = capsys.readouterr().err
    assert err.startswith(f"error: {model} exists") and "--force" in err and err.count("\n") == 1
    assert (model / "model.pt").read_bytes() == b"committed weights"
    assert not (tmp_path / "results" / "mine").exists()

    # the winner's gin file alone is refused too; the API says force=True
    (tmp_path / "gin").mkdir()
    (tmp_path / "gin" / "other.gin").write_text("CNN1D.channels = 8\n")
    with pytest.raises(SearchError, match=r"other\.gin exists: .* give force=True"):
        hb.search(search, data=str(beats), name="other", results=str(tmp_path / "results"),
                  models=str(tmp_path / "models"), best_gin=str(tmp_path / "gin"))

    # an experiment that exists: --resume continues it, --force starts it afresh
    (tmp_path / "results" / "old" / "ray" / "tune").mkdir(parents=True)
    assert cli(tmp_path, "--search", str(search), "--data", str(beats), "--name", "old") == 1
    err = capsys.readouterr().err
    assert "continue it with --resume" in err and "--force" in err


def test_smoke_tests_and_the_api_write_under_runs(tmp_path):
    from heartbeat.tuning.tune import SearchOptions, SearchPaths

    smoke = SearchPaths.of(SearchOptions(smoke_test=True), "s", "s", api=False)
    assert smoke.model_dir == Path("runs/models/s") and smoke.gin_file == Path("runs/gin/best/s.gin")
    assert smoke.results_dir == Path("runs/results/s").resolve()
    api = SearchPaths.of(SearchOptions(), "a", "a", api=True)
    assert api.model_dir == Path("runs/models/a")
    cli_paths = SearchPaths.of(SearchOptions(), "c", "c", api=False)
    assert cli_paths.model_dir == Path("models/c") and cli_paths.gin_file == Path("gin/best/c.gin")
    mine = SearchPaths.of(SearchOptions(smoke_test=True, root=str(tmp_path)), "s", "s", api=True)
    assert mine.model_dir == tmp_path / "models" / "s"
    assert "runs/" in (ROOT / ".gitignore").read_text().splitlines()


def test_ds1ds2_does_not_ask_for_the_q_beats_it_leaves_out(tmp_path):
    """The protocol drops Q beats by design (de Chazal 2004): a ds1ds2 search needs N, S, V and F only,
    and still refuses when one of those is missing."""
    from types import SimpleNamespace

    from heartbeat.tuning.tune import SearchOptions, Voice, check_data

    full = synthetic_beats(1500, seed=0)
    labels = {c: full.classes.index(c) for c in ("Q", "F")}
    no_q = full.subset(np.flatnonzero(full.y != labels["Q"]))
    no_q = dataclasses.replace(no_q, record=np.array(["101"] * len(no_q)))  # a patient split's record ids
    ds = SimpleNamespace(source="test beats", split="ds1ds2")
    opts = SearchOptions(split="ds1ds2")
    check_data(opts, ds, no_q, "", {}, Voice(None))  # no error: Q is not asked for
    no_qf = no_q.subset(np.flatnonzero(no_q.y != labels["F"]))
    with pytest.raises(SearchError, match=r"class F has no beats"):
        check_data(opts, ds, no_qf, "", {}, Voice(None))
    with pytest.raises(SearchError, match=r"class Q has no beats"):  # an intra split still wants Q
        check_data(SearchOptions(split="intra"), SimpleNamespace(source="test beats", split="intra"), no_q, "", {},
                   Voice(None))
