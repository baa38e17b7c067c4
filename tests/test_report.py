"""The report: tables from results folders, the two-page PDF summary and the headless notebook.

The fixture writes small results the way the search and ``heartbeat score`` write them: two
searches (trials.csv, search.json, Ray history for one of them), a tiny trained model folder
as the winner of one search, a second folder of the same family with one binding changed,
results/output*.csv and a shift table.
"""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import heartbeat as hb
from heartbeat.cli import main as heartbeat
from heartbeat.data import write_beats
from heartbeat.data.synthetic import synthetic_beats
from heartbeat.report import tables
from heartbeat.report.results import Results

ROOT = Path(__file__).resolve().parents[1]

CNN1D_SPACE = {
    "CNN1D.channels": ("choice", [8, 16, 32]),
    "CNN1D.depth": ("choice", [3, 4, 5]),
    "CNN1D.dropout": ("uniform", 0.0, 0.3),
    "fit.learning_rate": ("loguniform", 5e-4, 5e-3),
    "fit.balance": ("choice", ["sampler", "sampler_sqrt", "loss"]),
}
GRU_SPACE = {
    "GRU.hidden_size": ("choice", [32, 64]),
    "GRU.layers": ("choice", [1, 2]),
    "fit.learning_rate": ("loguniform", 5e-4, 5e-3),
}
# the winner of the cnn1d search is the model trained below: these are its bindings
WINNER = {"CNN1D.channels": 8, "CNN1D.depth": 4, "CNN1D.dropout": 0.1, "fit.learning_rate": 0.002,
          "fit.balance": "sampler_sqrt"}


def fake_trials(space: dict, n: int, seed: int, top: float, max_epochs: int = 6,
                winner: dict | None = None) -> pd.DataFrame:
    """trials.csv rows like tune.trials_table: the objective (at most ``top``) depends mostly on the first binding."""
    rng = np.random.default_rng(seed)
    rows = []
    first = next(iter(space))
    for i in range(n):
        cfg = {}
        for key, (kind, *args) in space.items():
            if kind == "choice":
                cfg[key] = args[0][rng.integers(len(args[0]))]
            elif kind == "uniform":
                cfg[key] = float(rng.uniform(*args))
            else:
                cfg[key] = float(np.exp(rng.uniform(np.log(args[0]), np.log(args[1]))))
        if winner and i == 0:
            cfg = dict(winner)
        rank = space[first][1].index(cfg[first]) / (len(space[first][1]) - 1)
        best = top * (0.5 + 0.35 * (1 - abs(rank - 0.5) * 2) + 0.03 * rng.uniform())
        if winner and i == 0:
            best = top
        status = "completed" if i % 3 == 0 else "stopped early (ASHA)"
        epochs = max_epochs if status == "completed" else int(rng.choice([2, 4]))
        if i == n - 1:
            status, epochs, best = "failed", 0, np.nan
        rows.append({"trial_id": f"{seed:02x}{i:06x}", **cfg, "status": status, "epochs": epochs,
                     "final_f2_macro": best - 0.01, "best_f2_macro": best, "best_epoch": max(epochs - 1, 0),
                     "best_recall_macro": best + 0.03, "best_f1_macro": best - 0.05,
                     "wall_seconds": 30.0 * epochs + rng.uniform(0, 5),
                     "error": "RuntimeError: loss is NaN" if status == "failed" else ""})
    return pd.DataFrame(rows).sort_values("best_f2_macro", ascending=False, na_position="last")


def write_search(results: Path, name: str, space: dict, trials: pd.DataFrame, best_model: Path | None,
                 best_valid: dict) -> None:
    folder = results / name
    folder.mkdir(parents=True)
    trials.to_csv(folder / "trials.csv", index=False)
    search_file = results.parent / f"search_{name}.gin"
    search_file.write_text(f"include 'gin/models/{name}.gin'\nsearch.space = {{\n"
                           + "".join(f"    {k!r}: {v!r},  # searched\n" for k, v in space.items()) + "}\n")
    status = trials["status"].value_counts().to_dict()
    (folder / "search.json").write_text(json.dumps({
        "experiment": name, "search": str(search_file), "trials": len(trials), "status": status,
        "wall_seconds": float(trials["wall_seconds"].sum() / 2), "num_samples": len(trials), "max_epochs": 6,
        "scheduler": "asha", "searcher": "optuna", "objective": "f2_macro", "cpus": 2,
        "data": "beats.parq", "synthetic": False, **({"best_model": str(best_model)} if best_model else {}),
        "best_valid": best_valid, "registered": f"heartbeat-{name}/1"}, indent=2))


def build_project(root: Path) -> Path:
    """A small results/ + models/ tree under ``root``, as a finished set of searches leaves it."""
    data = write_beats(synthetic_beats(1500, seed=0), root / "beats.parq")
    results, models = root / "results", root / "models"
    winner = models / "cnn1d"
    hb.train(ROOT / "gin/models/cnn1d.gin", {"CNN1D.channels": 8, "fit.beats_per_epoch": 500, "fit.batch_size": 32},
             data=hb.load_data(data), out=winner, epochs=1)
    info = json.loads((winner / "metrics.json").read_text())
    info["trial_config"] = WINNER
    (winner / "metrics.json").write_text(json.dumps(info))
    # the same family retrained with one binding changed (dropout leaves the weights' shapes alone)
    other = models / "cnn1d-dropout"
    shutil.copytree(winner, other)
    (other / "config.gin").write_text((winner / "config.gin").read_text().replace("CNN1D.dropout = 0.1",
                                                                                   "CNN1D.dropout = 0.25"))
    info["tag"] = "cnn1d-dropout"
    info.pop("trial_config")
    (other / "metrics.json").write_text(json.dumps(info))

    top = info["valid"]["f2_macro"]
    cnn = fake_trials(CNN1D_SPACE, 10, seed=1, top=top, winner=WINNER)
    write_search(results, "cnn1d", CNN1D_SPACE, cnn, winner, info["valid"])
    gru = fake_trials(GRU_SPACE, 7, seed=2, top=0.9 * top)
    best = gru.iloc[0]
    write_search(results, "gru", GRU_SPACE, gru, models / "gru",  # its model folder is not there
                 {"f2_macro": best.best_f2_macro, "recall_macro": best.best_recall_macro, "recall_N": 0.9,
                  "recall_S": 0.5, "recall_V": 0.8, "recall_F": 0.4, "recall_Q": 0.95})
    for k, (_, t) in enumerate(cnn[cnn.status != "failed"].iterrows(), start=1):  # Ray's per-epoch history
        run = results / "cnn1d" / "ray" / "tune" / f"run_trial_{t.trial_id}_{k}_x=1_2026-11-22_08-41-00"
        run.mkdir(parents=True)
        run.joinpath("result.json").write_text("".join(
            json.dumps({"epoch": e, "objective": t.best_f2_macro * e / t.epochs, "recall_macro": 0.5,
                        "f1_macro": 0.4, "time_total_s": 30.0 * e, "timestamp": 1795336918 + 60 * k + 30 * e,
                        "trial_id": t.trial_id, "training_iteration": e}) + "\n"
            for e in range(1, t.epochs + 1)))
    for on in ("valid", "test"):
        out = results / ("output.csv" if on == "valid" else "output_test.csv")
        assert heartbeat(["score", "--models", str(models), "--data", str(data), "--on", on, "--out", str(out)]) == 0
    (results / "shift").mkdir()
    pd.DataFrame({"model": ["cnn1d", "cnn1d"], "split": ["intra", "inter"], "f2_macro": [0.9, 0.6],
                  "recall_macro": [0.91, 0.62]}).to_csv(results / "shift" / "inter_patient.csv", index=False)
    write_protocol_results(results)
    return root


def write_protocol_results(results: Path) -> None:
    """DS1 -> DS2, per patient, Table 3, detectors and end-to-end, in the files' own columns, made by
    the project's own functions from seeded random predictions."""
    from heartbeat.data import BeatSet
    from heartbeat.evaluation.ablation import VARIANTS, summarise
    from heartbeat.evaluation.protocol import PUBLISHED, per_record, se_p

    rng = np.random.default_rng(3)
    y = rng.choice(4, size=600, p=[0.85, 0.06, 0.07, 0.02])
    pred = np.where(rng.uniform(size=600) < 0.8, y, rng.choice(4, size=600))
    classes = ("N", "S", "V", "F", "Q")
    ours = {"model": "cnn1d-ds1ds2", "family": "CNN1D", "window": "kachuee", "rhythm": True, **se_p(y, pred, classes),
            "records_DS1": 18, "records_DS2": 22, "source": "this project (18 of 22 DS1 records)"}
    (results / "ds1ds2").mkdir()
    pd.concat([pd.DataFrame([ours]), pd.DataFrame(PUBLISHED).assign(source="published (22 DS1 records)")]).to_csv(
        results / "ds1ds2" / "table.csv", index=False)
    beats = BeatSet(X=np.zeros((600, 187)), y=y, task="mitbih", record=np.repeat([str(r) for r in range(100, 112)], 50))
    per_record("cnn1d-ds1ds2", beats, pred, classes).to_csv(results / "ds1ds2" / "per_record.csv", index=False,
                                                           float_format="%.4f")  # as make protocol writes it
    runs = pd.DataFrame([{"variant": label, "seed": seed, "valid_recall_macro": rng.uniform(0.5, 0.8),
                          "valid_f2_macro": rng.uniform(0.5, 0.8), "test_macro_Se": rng.uniform(0.4, 0.85),
                          "test_Se_S": rng.uniform(0, 1), "test_P_S": rng.uniform(0, 1), "test_Se_V": rng.uniform(0, 1),
                          "test_P_V": rng.uniform(0, 1), "test_Se_F": rng.uniform(0, 1), "epochs": 10, "seconds": 60.0,
                          "params": 12345}
                         for _, label, _ in VARIANTS for seed in (0, 1)])
    (results / "table3").mkdir()
    summarise(runs).to_csv(results / "table3" / "table.csv", index=False)
    shutil.copy(ROOT / "gin" / "best" / "cnn1d-ds1ds2.gin", results / "table3" / "base.gin")
    (results / "bench").mkdir(exist_ok=True)
    pd.DataFrame([{"detector": d, "records": 43, "annotated": 97705, "tp": 96900 - i, "fn": 805 + i, "fp": 750 + i,
                   "seconds": 60.0, "record_seconds": 77638.9, "median_offset_ms": 0.0, "Se": 0.9918 - i / 1e4,
                   "P+": 0.992 - i / 1e4, "x_realtime": 1294.0} for i, d in enumerate(("xqrs", "sleepecg"))]).to_csv(
        results / "bench" / "detectors.csv", index=False)
    (results / "endtoend").mkdir()
    (results / "endtoend" / "cnn1d-ds1ds2.json").write_text(json.dumps({
        "model": "cnn1d-ds1ds2", "records": 22, "annotated": 49712, "detected": 49603, "missed": 168, "extra": 59,
        "qrs_Se": 0.9966, "qrs_P": 0.9988, "recall_macro_annotated": 0.795, "recall_macro_detected": 0.772,
        "f1_macro_annotated": 0.6, "f1_macro_detected": 0.58}))


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    return build_project(tmp_path_factory.mktemp("report"))


# ---------------------------------------------------------------- tables
def test_tables_read_searches_models_and_scores(project):
    results, models = project / "results", project / "models"
    assert tables.experiments(results) == ["cnn1d", "gru"]
    trials = tables.all_trials(results)
    assert len(trials) == 17 and trials["trial_id"].str.len().eq(8).all()  # ids stay text: '01000000'
    assert tables.param_columns(tables.read_trials(results, "gru")) == list(GRU_SPACE)
    overview = tables.search_overview(results).set_index("experiment")
    assert overview.loc["cnn1d", ["trials", "failed", "params"]].tolist() == [10, 1, 5]

    win = tables.winners(results, models)
    assert win["source"].tolist() == ["search", "search", "train"]
    info = json.loads((models / "cnn1d" / "metrics.json").read_text())
    test = pd.read_csv(results / "output_test.csv").set_index("modeltag")
    cnn = win.set_index("tag").loc["cnn1d"]
    assert cnn["experiment"] == "cnn1d" and cnn["family"] == "CNN1D"
    assert cnn["valid_f2_macro"] == pytest.approx(info["valid"]["f2_macro"])
    assert cnn["test_f2_macro"] == pytest.approx(test.loc["cnn1d", "F2scoremacro"])
    assert cnn["test_recall_N"] == pytest.approx(test.loc["cnn1d", "TP_0"])
    gru = win.set_index("experiment").loc["gru"]  # no model folder: search.json's best_valid
    assert gru["valid_recall_F"] == 0.4 and math.isnan(gru["test_f2_macro"])
    assert tables.class_names(win) == ("N", "S", "V", "F", "Q")
    per = tables.per_class(win, "valid")
    assert set(per["model"]) == {"cnn1d", "gru", "cnn1d-dropout"} and per["recall"].between(0, 1).all()


def test_importances_from_trials_csv(project):
    trials = tables.read_trials(project / "results", "cnn1d")
    space = tables.search_space(tables.search_info(project / "results", "cnn1d"))
    assert space == {k: tuple(v) for k, v in CNN1D_SPACE.items()}  # read from the search file named in search.json
    imp = tables.importances(trials, space)
    assert set(imp.index) == set(CNN1D_SPACE) and imp.sum() == pytest.approx(1.0)
    assert imp.index[0] == "CNN1D.channels"  # the fixture's objective depends mostly on it
    assert imp.equals(tables.importances(trials, space))  # seeded: the same ranking every time
    assert tables.importances(trials.head(3), space).empty  # too few scored trials
    effects = tables.param_effects(trials, space).set_index("param")
    assert effects.loc["CNN1D.channels", "best_value"] == "16"  # fake_trials favours the middle choice
    assert -1 <= effects.loc["fit.learning_rate", "rho"] <= 1


def test_variations_table_starts_with_the_base_and_varies_what_mattered(project):
    results, models = project / "results", project / "models"
    imp = tables.importances(tables.read_trials(results, "cnn1d"))
    table = tables.variations(results, models, "cnn1d", top=3, per_group=2, importance=imp)
    base = table.iloc[0]
    assert base["group"] == "base" and base["source"] == "model cnn1d"
    assert {p: base[p] for p in WINNER} == WINNER
    params = [c for c in table.columns if "." in c]
    assert params[:3] == list(imp.index[:3])  # columns ordered by importance
    varied = table[~table["group"].isin(["base", "(R)"])]
    assert varied["group"].iloc[0] == "(A)" and varied["varied"].iloc[0] == imp.index[0]
    assert set(varied["varied"]) <= set(imp.index[:3])
    trials = tables.read_trials(results, "cnn1d").set_index("trial_id")
    for _, row in varied.iterrows():
        trial = trials.loc[row["source"].removeprefix("trial ")]
        assert pd.notna(row[row["varied"]]) and row[row["varied"]] != WINNER[row["varied"]]
        for p in params:  # a blank cell holds the base's value; a filled one the trial's own, another one
            if pd.isna(row[p]):
                assert trial[p] == pytest.approx(WINNER[p]) if isinstance(WINNER[p], float) else trial[p] == WINNER[p]
            else:
                assert row[p] == trial[p] and row[p] != WINNER[p]
        assert row["epochs"] == trial["epochs"] and pd.isna(row["test_f2_macro"])  # trials never saw the test split
    retrained = table[table["group"] == "(R)"].iloc[0]
    assert retrained["source"] == "model cnn1d-dropout" and retrained["CNN1D.dropout"] == 0.25
    assert retrained["varied"] == "CNN1D.dropout" and pd.notna(retrained["test_f2_macro"])


def test_table3_has_the_papers_form_base_in_full_and_variants_only_what_they_change(project):
    from heartbeat.evaluation.ablation import VARIANTS

    layout = tables.read_table3(project / "results")
    varied = list(dict.fromkeys(b.split("=")[0].strip() for _, _, binds in VARIANTS for b in binds))
    assert layout["bindings"] == varied  # a column per varied binding, in the order the rows first vary them
    assert len(set(layout["headers"])) == len(varied) and all(len(h) <= 6 for h in layout["headers"])
    assert all(b in layout["legend"] for b in varied)
    base_gin = (project / "results" / "table3" / "base.gin").read_text()
    base = layout["rows"][0]
    assert base["group"] == "base" and all(base["cells"])  # the base row is complete
    set_in_base = tables.gin_values(base_gin, set(varied))
    for b, cell in zip(varied, base["cells"]):
        if b in set_in_base:
            assert cell == tables.hp_cell(b, set_in_base[b])
    assert dict(zip(varied, base["cells"]))["BeatInput.context"] == "no"  # not in the base's gin: the default
    by_label = {label: binds for _, label, binds in VARIANTS}
    for row in layout["rows"][1:]:
        changed = {b.split("=")[0].strip(): tables.gin_values(b, {b.split("=")[0].strip()}).popitem()[1]
                   for b in by_label[row["variant"]]}
        for b, cell in zip(varied, row["cells"]):
            differs = b in changed and tables.hp_cell(b, changed[b]) != tables.hp_cell(b, set_in_base.get(b))
            assert bool(cell) == differs, (row["variant"], b, cell)  # only the changed cells are shown
        assert row["same_as_base"] == (not any(row["cells"]))
    loss = next(r for r in layout["rows"] if r["variant"] == "loss weights (1/n)")
    # the base already balances by loss weights: only the power differs, so only it is shown
    assert [c for c in loss["cells"] if c] == ["1"]
    frame = tables.table3_frame(layout)
    assert list(frame.columns[1:len(varied) + 1]) == layout["headers"] and frame["params"].iloc[0] == "12.3k"
    assert frame.iloc[0]["macro Se"].count("±") == 1


def test_the_tuned_hyperparameter_table_has_one_row_per_searched_binding(project):
    t = tables.tuned_hyperparameters(project / "results", project / "models", [ROOT])
    assert list(t["search"].unique()) == ["cnn1d"]  # gru's winner is not a model folder here
    assert sorted(t["binding"]) == sorted(CNN1D_SPACE) and len(t) == len(CNN1D_SPACE)
    row = t.set_index("binding")
    assert row.loc["fit.learning_rate", "space"] == "5e-04 – 5e-03, log"
    assert row.loc["CNN1D.depth", "space"] == "{3, 4, 5}" and row.loc["CNN1D.depth", "chosen"] == "4"
    assert row.loc["fit.balance", "chosen"] == "sqrt"  # WINNER's sampler_sqrt, read from the model folder
    imp = t["importance"].dropna()
    assert len(imp) == len(t) and abs(imp.sum() - 1) < 1e-6 and imp.is_monotonic_decreasing


def test_history_sources_are_optional(project, tmp_path):
    results = project / "results"
    hist = tables.history(results, "cnn1d")
    assert set(hist["source"]) == {"ray"} and hist["trial_id"].nunique() == 9
    assert (hist.groupby("trial_id")["best_objective"].diff().dropna() >= 0).all()
    assert tables.history(results, "gru").empty
    # the history.csv a search saves is preferred over Ray's folders, and its ids stay text
    copy = tmp_path / "results"
    shutil.copytree(results, copy)
    pd.DataFrame({"trial_id": ["0200abcd", "0200abcd", "0200beef"], "trial_number": [1, 1, 2],
                  "epoch": [1, 2, 1], "objective": [0.5, 0.6, 0.4], "best_objective": [0.5, 0.6, 0.4],
                  "timestamp": [1000.0, 1060.0, 1001.0]}).to_csv(copy / "cnn1d" / "history.csv", index=False)
    hist = tables.history(copy, "cnn1d")
    assert set(hist["source"]) == {"history.csv"}
    assert hist["trial_id"].tolist() == ["0200abcd", "0200abcd", "0200beef"]
    assert hist["best_objective"].tolist() == [0.5, 0.6, 0.4] and hist["minutes"].max() == pytest.approx(1.0)


def test_importances_come_from_the_stored_study(project, tmp_path):
    import optuna

    results = tmp_path / "results"
    shutil.copytree(project / "results", results)
    trials = tables.read_trials(results, "gru")
    space = tables.search_space(tables.search_info(results, "gru"))
    rebuilt = tables.search_importances(results, "gru", trials, space)
    assert rebuilt.equals(tables.importances(trials, space))  # no optuna.db: rebuilt from trials.csv
    # a kept study in which only fit.learning_rate matters
    study = optuna.create_study(study_name="gru", storage=f"sqlite:///{results / 'gru' / 'optuna.db'}",
                                direction="maximize", sampler=optuna.samplers.RandomSampler(seed=0))
    study.optimize(lambda t: -abs(t.suggest_float("fit.learning_rate", 1e-4, 1e-1, log=True) - 3e-3)
                   + 0 * t.suggest_int("GRU.hidden", 8, 64), n_trials=20)
    kept = tables.search_importances(results, "gru", trials, space)
    assert set(kept.index) == {"fit.learning_rate", "GRU.hidden"} and kept.sum() == pytest.approx(1.0)
    assert kept.index[0] == "fit.learning_rate" and kept["fit.learning_rate"] > 0.8


# ---------------------------------------------------------------- the summary
def pdf_text(path: Path) -> tuple[int, str]:
    from pypdf import PdfReader

    reader = PdfReader(path)
    return len(reader.pages), "\n".join(page.extract_text() for page in reader.pages)


@pytest.mark.slow  # starts a process, builds a PDF or runs a notebook: make test runs it
def test_summary_is_two_pages_of_numbers_from_the_results(project, tmp_path):
    from heartbeat.report import summary

    results, models = project / "results", project / "models"
    out = summary.build(results, models, tmp_path / "summary.pdf", figure_dir=tmp_path / "figures", log=lambda *_: 0)
    pages, text = pdf_text(out)
    assert pages == 2
    flat = " ".join(text.split())
    info = json.loads((models / "cnn1d" / "metrics.json").read_text())
    assert f"{info['valid']['f2_macro']:.3f}" in flat  # the winner's valid F2, from its model folder
    test = pd.read_csv(results / "output_test.csv").set_index("modeltag")
    assert f"{test.loc['cnn1d', 'F2scoremacro']:.3f}" in flat
    imp = tables.importances(tables.read_trials(results, "cnn1d"),
                             tables.search_space(tables.search_info(results, "cnn1d")))
    assert f"mattered most {imp.index[0]} ({imp.iloc[0]:.2f})" in flat  # the conclusion comes from the data
    assert "Attention Is All You Need" in flat and "DS2" in flat and "de Chazal 2004" in flat
    table3 = pd.read_csv(results / "table3" / "table.csv").set_index("variant")
    base = table3.loc["base"]
    # mean ± spread of 2 seeds (the spread in smaller type)
    assert f"{base['test_macro_Se']:.3f}±{base['test_macro_Se_spread']:.3f}" in flat.replace(" ±", "±")
    assert "QRS Se 0.9966" in flat and "found the 97,705 annotated beats" in flat
    assert "What was tuned" in flat and "fit.balance" in flat
    assert {p.name for p in (tmp_path / "figures").iterdir()} == {"winners_recall.png", "importances.png",
                                                                  "asha_epochs.png", "ds1ds2.png", "ds1ds2_per_record.png"}
    again = summary.build(results, models, tmp_path / "again.pdf", figure_dir=tmp_path / "figures",
                          log=lambda *_: 0, png=tmp_path / "pages")
    assert again.read_bytes() == out.read_bytes()  # deterministic: a rebuild on the same files changes nothing
    # two steps: the text is written beside the PDF, naming no folder of this machine, and compiles alone
    text = tmp_path / "summary.json"
    written = text.read_text()
    assert str(tmp_path) not in written and json.loads(written)["figures"]["recall"] == "figures/winners_recall.png"
    assert f"{info['valid']['f2_macro']:.3f}" in written
    compiled = summary.compile_text(text, tmp_path / "compiled.pdf", log=lambda *_: 0)
    assert compiled.read_bytes() == out.read_bytes()
    drawn = sorted((tmp_path / "pages").iterdir())
    assert [p.name for p in drawn] == ["page-1.png", "page-2.png"]  # one image per page, to read as a reader would
    assert all(p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in drawn)


def test_no_summary_table_cell_is_empty_where_the_results_hold_a_value(project, tmp_path):
    from heartbeat.report import summary

    g = summary.gather(project / "results", project / "models")
    doc = summary.document(g, summary.LEVELS[0], tmp_path / "figures")
    # a cell is empty exactly where its source holds no value (e.g. a paper's unreported figure)
    fam = g["families"].head(summary.LEVELS[0]["winners"])
    keys = ["model", "family", "split", "trials", "valid recall", "test recall", "test F1", "test recall_S",
            "test recall_V", "test recall_F", "unseen-patient recall"]
    assert len(doc["winners"]["rows"]) == len(fam) > 0
    for row, (_, src) in zip(doc["winners"]["rows"], fam.iterrows()):
        assert [c == "" for c in row] == [bool(pd.isna(src[k])) for k in keys]
    cols = ["macro_Se", *[f"{k}_{c}" for c in "NSVF" for k in ("Se", "P")]]
    assert len(doc["protocol"]["rows"]) == len(g["protocol"])
    for row, (_, src) in zip(doc["protocol"]["rows"], g["protocol"].iterrows()):
        assert [c == "" for c in row[1:]] == [bool(pd.isna(src[k])) for k in cols]
    assert len(doc["table3"]["rows"]) == len(g["table3"]) > 10
    n_hp = len(g["table3_layout"]["headers"])
    for row in doc["table3"]["rows"]:
        assert all(cell != "" for cell in row[1 + n_hp:])  # every variant has every figure, over both seeds


@pytest.mark.slow  # starts a process, builds a PDF or runs a notebook: make test runs it
def test_summary_stays_two_pages_with_many_searches(project, tmp_path):
    from heartbeat.report import summary

    results = tmp_path / "results"
    trials = pd.read_csv(project / "results" / "cnn1d" / "trials.csv", dtype={"trial_id": str})
    info = json.loads((project / "results" / "cnn1d" / "search.json").read_text())
    for k in range(9):  # nine searches of 40 trials each, no model folders, no scores, no shift
        many = pd.concat([trials] * 4, ignore_index=True)
        many["trial_id"] = [f"{k:02d}{i:06d}" for i in range(len(many))]
        many["best_f2_macro"] = many["best_f2_macro"] * (1 - 0.01 * k)
        (results / f"family{k}").mkdir(parents=True)
        many.to_csv(results / f"family{k}" / "trials.csv", index=False)
        (results / f"family{k}" / "search.json").write_text(json.dumps({**info, "best_model": f"models/family{k}"}))
        # each search's winner is a model folder: the tuned-hyperparameter table has a part per search
        folder = shutil.copytree(project / "models" / "cnn1d", tmp_path / "models" / f"family{k}")
        meta = json.loads((folder / "metrics.json").read_text())
        (folder / "metrics.json").write_text(json.dumps({**meta, "tag": f"family{k}"}))
    shutil.copytree(project / "results" / "table3", results / "table3")
    assert tables.tuned_hyperparameters(results, tmp_path / "models", [ROOT])["search"].nunique() == 9
    out = summary.build(results, tmp_path / "models", tmp_path / "s.pdf", log=lambda *_: 0)
    pages, text = pdf_text(out)
    assert pages == 2 and "family0" in text and "family8" in text and "SYNTHETIC" not in text


def test_summary_compile_without_its_text_is_a_clear_error(tmp_path, capsys):
    from heartbeat.report import summary

    assert summary.main(["--compile", str(tmp_path / "summary.json"), "--out", str(tmp_path / "s.pdf")]) == 1
    err = capsys.readouterr().err
    assert "no summary text at" in err and "summary.json" in err and "Traceback" not in err
    assert not (tmp_path / "s.pdf").exists()


def test_summary_cli_without_results_is_a_clear_error(tmp_path, capsys):
    from heartbeat.report import summary

    assert summary.main(["--results", str(tmp_path), "--models", str(tmp_path), "--out", str(tmp_path / "s.pdf")]) == 1
    assert "no search results" in capsys.readouterr().err and not (tmp_path / "s.pdf").exists()


# ---------------------------------------------------------------- the notebook
def outputs_of(path: Path) -> tuple[set[str], list[str]]:
    import nbformat

    nb = nbformat.read(path, as_version=4)
    kinds, errors = set(), []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            kinds |= set(out.get("data", {}))
            if out["output_type"] == "error" or out.get("name") == "stderr":
                errors.append(out.get("ename") or out.get("text", ""))
    return kinds, errors


def figures_without_png(path: Path) -> tuple[int, int]:
    """(figure outputs, those without an image/png): a figure must render in any notebook viewer."""
    import nbformat

    figures = missing = 0
    for cell in nbformat.read(path, as_version=4).cells:
        for out in cell.get("outputs", []):
            data = out.get("data", {})
            if "application/vnd.plotly.v1+json" in data or str(data.get("text/plain", "")).startswith("<Figure"):
                figures += 1
                missing += "image/png" not in data
    return figures, missing


@pytest.mark.slow  # starts a process, builds a PDF or runs a notebook: make test runs it
def test_notebook_executes_on_the_fixture_results(project, tmp_path):
    from heartbeat.report.notebook import NOTEBOOK, execute

    out = execute(NOTEBOOK, tmp_path / "analysis.ipynb", project / "results", project / "models",
                  tmp_path / "figures", project / "beats.parq", timeout=120)
    kinds, errors = outputs_of(out)
    assert "image/png" in kinds and "text/html" in kinds and not errors
    shown, missing = figures_without_png(out)
    assert shown >= 12 and missing == 0
    written = {p.name for p in (tmp_path / "figures").iterdir()}
    assert {"winners_recall.png", "importances.png", "asha_epochs.png", "confusions.png",
            "data_mean_beats.png", "precision_recall.png"} <= written
    assert NOTEBOOK.read_text() != out.read_text()  # the source notebook is left alone


@pytest.mark.slow  # starts a process, builds a PDF or runs a notebook: make test runs it
def test_notebook_does_without_the_optional_sources(project, tmp_path):
    from heartbeat.report.notebook import NOTEBOOK, execute

    results = tmp_path / "results"
    for name in ("cnn1d", "gru"):  # trials.csv and search.json only: no Ray folders, models, scores or shift
        (results / name).mkdir(parents=True)
        for f in ("trials.csv", "search.json"):
            shutil.copy(project / "results" / name / f, results / name / f)
    out = execute(NOTEBOOK, tmp_path / "bare.ipynb", results, tmp_path / "no-models", tmp_path / "figures",
                  project / "beats.parq", timeout=120)
    kinds, errors = outputs_of(out)
    assert "image/png" in kinds and not errors and figures_without_png(out)[1] == 0
    assert (tmp_path / "figures" / "importances.png").exists()


def test_the_committed_notebook_renders_without_javascript_and_stays_small():
    from heartbeat.report.notebook import NOTEBOOK

    shown, missing = figures_without_png(NOTEBOOK)
    assert shown >= 12 and missing == 0
    assert NOTEBOOK.stat().st_size < 5 * 2**20


@pytest.mark.parametrize("name", ["analysis.ipynb", "manual_exploration.ipynb"])
def test_no_committed_notebook_or_result_names_a_folder_of_the_machine_that_made_it(name):
    import os

    home, root = str(Path.home()), str(ROOT)
    texts = {name: (ROOT / "notebooks" / name).read_text()}
    texts.update({str(p): p.read_text() for p in (ROOT / "results" / "exploration").glob("*.*")})
    for where, text in texts.items():
        for folder in {home, root, os.path.dirname(root)} - {"", "/"}:
            assert folder + os.sep not in text, f"{where} names {folder}"


def test_the_manual_exploration_notebook_has_its_curves_and_checks_every_searched_sweep():
    from heartbeat.report.explore import PLAN, runs

    shown, missing = figures_without_png(ROOT / "notebooks" / "manual_exploration.ipynb")
    assert shown >= len(PLAN) and missing == 0  # a figure per sweep, each a static PNG
    table = runs(ROOT / "results" / "exploration")
    assert sorted(table["sweep"].unique()) == sorted(s for s, _, _ in PLAN)
    assert len(table) == sum(len(v) for _, _, v in PLAN)


# ---------------------------------------------------------------- README block
def test_readme_block_is_rebuilt_from_the_results(project, tmp_path):
    from heartbeat.report.readme import END, START, update

    readme = tmp_path / "README.md"
    readme.write_text(f"# title\n\nbefore\n\n{START}\nstale figures\n{END}\n\nafter\n")
    update(readme, project / "results", project / "models")
    text = readme.read_text()
    assert text.startswith("# title\n\nbefore\n\n") and text.endswith("\n\nafter\n")
    assert "stale figures" not in text
    block = text.split(START)[1].split(END)[0]
    first = next(t for t in block.split("\n\n") if t.startswith("| model | family"))  # the models' table
    rows = [line for line in first.splitlines() if line.startswith("| cnn1d")]
    protocol = pd.read_csv(project / "results" / "ds1ds2" / "table.csv").iloc[0]
    assert f"| cnn1d-ds1ds2 | {protocol['macro_Se']:.3f} |" in block and "| de Chazal et al. 2004" in block
    assert sorted(r.split(" | ")[0] for r in rows) == ["| cnn1d", "| cnn1d-dropout"]
    valid = pd.read_csv(project / "results" / "output.csv").set_index("modeltag")
    expected = f"{valid.loc['cnn1d', 'Recallmacro']:.3f}"
    assert expected in next(r for r in rows if r.startswith("| cnn1d |"))  # the figure comes from output.csv
    t3 = pd.read_csv(project / "results" / "table3" / "table.csv").set_index("variant")
    base = t3.loc["base"]  # Table 3 in the paper's form: the base row with every binding, then mean ± spread
    base_line = next(line for line in block.split("**Table 3**")[1].splitlines() if line.startswith("| base |"))
    assert f"| {base['valid_recall_macro']:.3f} ± {base['valid_recall_macro_spread']:.3f} | " \
           f"{base['test_macro_Se']:.3f} ± {base['test_macro_Se_spread']:.3f} |" in base_line
    assert "| loss | 0.96 |" in base_line  # the base's own bindings (gin/best/cnn1d-ds1ds2.gin)
    assert sum(line.startswith("| ") for line in block.split("**Table 3**")[1].split("\n\n")[1].splitlines()) \
        == len(t3) + 1
    worst = block.split("does worst")[1].split("\n\n")[1].splitlines()[2:]  # the worst patients' rows
    per = pd.read_csv(project / "results" / "ds1ds2" / "per_record.csv", dtype={"record": str}).set_index("record")
    assert worst and all(f"| {r.split(' | ')[0][2:]} | {int(per.loc[r.split(' | ')[0][2:], 'n'])} |" in r
                         for r in worst)  # beat counts as counts, not 50.000
    update(readme, project / "results", project / "models")
    assert readme.read_text() == text  # rebuilding changes nothing
    readme.write_text("no markers")
    with pytest.raises(ValueError, match="no '<!-- results:start -->'"):
        update(readme, project / "results", project / "models")


def test_corruption_table_for_the_readme_is_one_row_per_model():
    from heartbeat.report.readme import corruption_wide

    long = pd.DataFrame({"model": ["a", "a", "b", "b"], "corruption": ["noise", "wander"] * 2,
                         "L0": [0.9, 0.9, 0.8, 0.8], "L2": [0.85, 0.7, 0.75, 0.6], "L4": [0.5, 0.4, 0.3, 0.2],
                         "L2_strength": [0.03, 0.1] * 2, "L4_strength": [0.1, 0.4] * 2})
    wide = corruption_wide(long)
    assert list(wide.columns) == ["model", "clean", "noise L2 (0.03)", "noise L4 (0.1)", "wander L2 (0.1)",
                                  "wander L4 (0.4)"]
    assert wide.set_index("model").loc["b", "wander L4 (0.4)"] == 0.2 and wide["clean"].tolist() == [0.9, 0.8]


@pytest.mark.slow  # starts a process, builds a PDF or runs a notebook: make test runs it
def test_summary_builds_with_template_and_figures_under_one_folder(project, tmp_path, monkeypatch):
    """As in the repository: summary/summary.typ and results/figures/ share a root below '/' (typst reads
    an absolute image path from that root, so a full path used to be doubled), given relative."""
    from heartbeat.report import summary

    (tmp_path / "summary").mkdir()
    shutil.copy(summary.TEMPLATE, tmp_path / "summary" / "summary.typ")
    shutil.copytree(project / "results", tmp_path / "results")
    shutil.copytree(project / "models", tmp_path / "models")
    monkeypatch.chdir(tmp_path)
    out = summary.build("results", "models", "summary/summary.pdf", template="summary/summary.typ",
                        log=lambda *_: 0)
    assert pdf_text(out)[0] == 2 and (tmp_path / "summary" / "figures" / "winners_recall.png").exists()
    # its figures are its own: the notebook redraws figures of the same names, at other sizes, in results/figures/
    text = json.loads((tmp_path / "summary" / "summary.json").read_text())
    assert text["figures"] and all(v.startswith("figures/") for v in text["figures"].values())
    assert not (tmp_path / "results" / "figures" / "winners_recall.png").exists()


def test_the_machine_is_read_from_the_searches_not_written_in():
    from heartbeat.report.summary import machine_text

    assert machine_text(pd.DataFrame({"cpus": [2, 2], "gpus": [0, np.nan]})) == "2-core CPU machine, no GPU"
    assert machine_text(pd.DataFrame({"cpus": [16], "gpus": [1]})) == "16-core CPU machine with 1 GPU"
    assert machine_text(pd.DataFrame({"cpus": [2]})) == "2-core CPU machine"  # GPUs not recorded: not claimed
    assert machine_text(pd.DataFrame()) == "machine not recorded"


def test_the_project_root_can_be_named(tmp_path, monkeypatch):
    from heartbeat.data.sources import project_root

    assert (project_root() / "gin").is_dir()  # the source checkout, from an editable install
    monkeypatch.setenv("HEARTBEAT_ROOT", str(tmp_path))
    assert project_root() == tmp_path.resolve()


def test_grouped_fold_figures_pool_every_patient_once_and_rank_against_the_test_side():
    from heartbeat.evaluation.ablation import cv_summary, pooled, rank_agreement

    # two folds of one row, counts chosen by hand: S is found 3 of 4 times, then 1 of 4 (pooled 4/8)
    runs = pd.DataFrame([
        {"variant": "base", "fold": 0, "folds": 2, "seed": 0, "fold_recall_macro": 0.875,
         "n_N": 10, "hit_N": 10, "called_N": 11, "n_S": 4, "hit_S": 3, "called_S": 3, "n_F": 0, "hit_F": 0, "called_F": 0},
        {"variant": "base", "fold": 1, "folds": 2, "seed": 0, "fold_recall_macro": 0.55,
         "n_N": 10, "hit_N": 8, "called_N": 11, "n_S": 4, "hit_S": 1, "called_S": 3, "n_F": 2, "hit_F": 1, "called_F": 1},
    ])
    p = pooled(runs)
    assert p["Se_N"] == pytest.approx(18 / 20) and p["P_N"] == pytest.approx(18 / 22)
    assert p["Se_S"] == pytest.approx(4 / 8) and p["P_S"] == pytest.approx(4 / 6)
    assert p["Se_F"] == pytest.approx(1 / 2)
    assert p["macro_Se"] == pytest.approx((0.9 + 0.5 + 0.5) / 3)
    other = runs.assign(variant="none", hit_S=[0, 0], hit_N=[10, 10])
    half = runs[runs["fold"] == 0].assign(variant="sampler")  # one of its two folds: left out, not guessed
    one_fold = pd.DataFrame({"variant": ["base", "none", "sampler"], "valid_recall_macro": [0.5, 0.6, 0.9],
                             "test_macro_Se": [0.7, 0.4, 0.8], "test_macro_Se_spread": [0.01, 0.02, 0.03]})
    table = cv_summary(pd.concat([runs, other, half]), one_fold)
    assert list(table["variant"]) == ["base", "none"]
    assert table.set_index("variant").loc["none", "cv_Se_S"] == 0
    agree = rank_agreement(table)
    # base beats none on the pooled folds and on the test side, but not on the one fold
    assert agree["grouped folds"] == pytest.approx(1.0) and agree["one fold"] == pytest.approx(-1.0)


def test_the_grouped_folds_sentence_is_read_from_cv_table(tmp_path):
    (tmp_path / "table3").mkdir()
    rows = pd.DataFrame({"variant": ["base", "a", "b", "c"], "folds": 5, "cv_macro_Se": [0.5, 0.6, 0.7, 0.4],
                         "valid_recall_macro": [0.4, 0.5, 0.6, 0.7], "test_macro_Se": [0.71, 0.6, 0.8, 0.5]})
    assert tables.grouped_folds_sentence(tmp_path) is None
    rows.to_csv(tmp_path / "table3" / "cv_table.csv", index=False)
    text = tables.grouped_folds_sentence(tmp_path)
    assert "5 patient-grouped folds" in text and "4 rows" in text and "their best, b" in text
    assert "+0.80" in text and "-0.40" in text and "closer to DS2" in text and "the base 0.710" in text


def test_the_adapt_sentence_gives_each_modes_change_and_adopts_only_past_the_spread(tmp_path):
    (tmp_path / "table3").mkdir()
    rows = pd.DataFrame({"variant": ["unadapted", "beat layers, whole record", "every layer, first 5 min"],
                         "seeds": 3, "folds": 5, "cv_macro_Se": [0.585, 0.55, 0.51],
                         "cv_macro_Se_spread": [0.023, 0.006, 0.008], "cv_macro_Se_change": [0.0, -0.035, -0.076]})
    assert tables.adapt_sentence(tmp_path) is None
    rows.to_csv(tmp_path / "table3" / "adapt_cv_table.csv", index=False)
    text = tables.adapt_sentence(tmp_path)
    assert "5 grouped folds, 3 seeds" in text and "(0.585 ± 0.023)" in text
    assert "beat layers, whole record -0.035; every layer, first 5 min -0.076." in text
    assert "Every mode lowers it, so none was adopted" in text
    rows.loc[1, "cv_macro_Se_change"] = 0.01  # a gain within the seeds' spread
    rows.to_csv(tmp_path / "table3" / "adapt_cv_table.csv", index=False)
    assert "None gains more than the seeds' spread" in tables.adapt_sentence(tmp_path)
    rows.loc[1, "cv_macro_Se_change"] = 0.04  # past it
    rows.to_csv(tmp_path / "table3" / "adapt_cv_table.csv", index=False)
    assert "The best, beat layers, whole record, gains more" in tables.adapt_sentence(tmp_path)


def test_a_table3_folder_keeps_one_base_for_its_rows_and_its_folds(tmp_path):
    from heartbeat.errors import ConflictError
    from heartbeat.evaluation.ablation import claim_folder

    a, b = tmp_path / "a.gin", tmp_path / "b.gin"
    a.write_text("CNN1D.channels = 8\n")
    b.write_text("CNN1D.channels = 16\n")
    out = tmp_path / "table3"
    claim_folder(out, str(a))
    claim_folder(out, str(b))  # no runs yet: the base may change
    assert (out / "base.gin").read_text() == b.read_text()
    (out / "cv.csv").write_text("variant,fold\nbase,0\n")
    with pytest.raises(ConflictError, match="cv.csv holds runs of another base"):
        claim_folder(out, str(a))
    assert (out / "base.gin").read_text() == b.read_text()


@pytest.mark.slow  # starts a process, builds a PDF or runs a notebook: make test runs it
def test_drawing_a_figure_leaves_the_callers_matplotlib_as_it_was(tmp_path):
    """The report's style lives inside each drawing function (rc_context), and its figures are not
    pyplot's: importing and drawing change neither rcParams, the backend nor pyplot's open figures."""
    import subprocess
    import sys

    code = f"""
import matplotlib, matplotlib.pyplot as plt, pandas as pd
backend, before = matplotlib.get_backend(), dict(matplotlib.rcParams)
from heartbeat.report import figures
fig = figures.mpl_class_counts(pd.DataFrame({{"class": ["N", "S"], "train": [900, 30], "test": [200, 8]}}))
figures.save(fig, {str(tmp_path / 'counts.png')!r})
assert fig.axes[0].title.get_fontsize() == figures.STYLE["axes.titlesize"], fig.axes[0].title.get_fontsize()
changed = [k for k in before if matplotlib.rcParams[k] != before[k]]
assert not changed, changed
assert matplotlib.get_backend() == backend and plt.get_fignums() == []
"""
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "counts.png").stat().st_size > 1000


def test_the_summary_reads_each_results_file_once(project, monkeypatch):
    """Results.load is the one reader: gathering everything the summary shows opens each trials.csv,
    search.json and metrics.json once (the summary used to read every trials.csv three times)."""
    from collections import Counter

    from heartbeat.report.summary import gather

    opened = Counter()
    read_csv, read_text = pd.read_csv, Path.read_text

    def counting_csv(path, *a, **kw):
        opened[str(path)] += 1
        return read_csv(path, *a, **kw)

    def counting_text(self, *a, **kw):
        opened[str(self)] += 1
        return read_text(self, *a, **kw)

    monkeypatch.setattr(pd, "read_csv", counting_csv)
    monkeypatch.setattr(Path, "read_text", counting_text)
    g = gather(project / "results", project / "models")
    watched = {p: n for p, n in opened.items() if p.endswith(("trials.csv", "search.json", "metrics.json"))}
    assert len(g["names"]) >= 2 and sum(p.endswith("trials.csv") for p in watched) == len(g["names"])
    assert all(n == 1 for n in watched.values()), {p: n for p, n in watched.items() if n > 1}


def test_the_context_search_sentence_is_read_from_its_seeds_and_the_earlier_winners(tmp_path):
    """make search-context + make seeds-context: the sentence says what selection on DS1 prefers and what
    DS2 then says, from the two base rows; it says nothing where either file is absent."""
    from heartbeat.inference.modelinfo import ModelInfo
    from heartbeat.report.tables import context_search_sentence

    results, models = tmp_path / "results", tmp_path / "models"
    row = {"group": "base", "variant": "base", "change": "(base)", "seeds": 3}
    figures = ("valid_f2_macro", "test_macro_Se", "test_Se_V", "test_P_V", "test_Se_S", "test_P_S")
    for folder, values in (("context-search", (0.66, 0.59, 0.93, 0.69, 0.28, 0.30)),
                           ("context", (0.63, 0.75, 0.80, 0.58, 0.75, 0.33))):
        (results / "ds1ds2" / folder).mkdir(parents=True)
        cells = {**row, **dict(zip(figures, values)), **{f"{f}_spread": 0.01 for f in figures}}
        pd.DataFrame([cells]).to_csv(results / "ds1ds2" / folder / "table.csv", index=False)
    assert context_search_sentence(results) is None  # no search folder yet
    search = results / "cnn1d-ds1ds2-context"
    search.mkdir()
    pd.DataFrame({"trial_id": ["a", "b", "c"], "BeatInput.context": [True, False, True], "status": "completed",
                  "best_f2_macro": [0.6, 0.5, 0.4], "epochs": 3}).to_csv(search / "trials.csv", index=False)
    (search / "search.json").write_text(json.dumps({"best_model": "models/cnn1d-ds1ds2-context"}))
    (models / "cnn1d-ds1ds2-context").mkdir(parents=True)
    ModelInfo(task="mitbih", tag="cnn1d-ds1ds2-context").write(models / "cnn1d-ds1ds2-context")
    (models / "cnn1d-ds1ds2-context" / "config.gin").write_text("BeatInput.context = True\n")
    unknown = context_search_sentence(results)  # no models folder: whether it chose the context is not known
    assert "3 trials, 2 with the context). Over 3 seeds" in unknown and "choose" not in unknown
    text = context_search_sentence(Results.load(results, models))
    assert "3 trials, 2 with the context) chose it" in text
    assert "valid F2 0.660 ± 0.010 against 0.630 ± 0.010" in text and "selection on DS1 prefers it" in text
    assert "macro Se 0.590 ± 0.010 against 0.750 ± 0.010" in text and "VEB Se 0.930" in text


def test_the_context_loss_sentence_names_the_record_whose_dominant_rhythm_is_s(tmp_path):
    """make protocol's per_record.csv: the DS2 record with the most S beats, where S is most of its beats,
    and what each model finds there; nothing when S is a minority of that record's beats."""
    from heartbeat.report.tables import context_loss_sentence

    folder = tmp_path / "results" / "ds1ds2"
    folder.mkdir(parents=True)

    def write(n_232: int):
        rows = [{"model": m, "record": rec, "n": n, "n_S": s, "Se_S": se}
                for m, found in (("cnn1d-ds1ds2-context", (0.2, 0.5)), ("cnn1d-ds1ds2", (0.8, 0.6)))
                for (rec, n, s), se in zip(((232, n_232, 900), (222, 2000, 100)), found)]
        pd.DataFrame(rows).to_csv(folder / "per_record.csv", index=False)

    assert context_loss_sentence(tmp_path / "results") is None  # no per_record.csv yet
    write(1200)
    text = context_loss_sentence(tmp_path / "results")
    assert "record 232 holds 900 of DS2's 1,000 S beats, and they are 75% of its beats" in text
    assert "cnn1d-ds1ds2-context finds 20% of them, cnn1d-ds1ds2 80%" in text
    write(3000)  # S is 30 % of 232's beats: the patient has a normal to judge against
    assert context_loss_sentence(tmp_path / "results") is None


def test_the_seeds_headline_is_each_target_per_seed_from_ec57_reports(tmp_path):
    """make seeds: one EC57 report.json per seed; each target figure per seed, mean ± sample sd, and the
    mean against its target. The macro Se is the mean of N, S, V and F at detected peaks."""
    from heartbeat.report.readme import seeds_section
    from heartbeat.report.tables import SEED_TARGETS, seeds_headline, seeds_sentence

    results = tmp_path / "results"
    assert seeds_headline(results).empty and seeds_section(Results.load(results, None)) == []

    def report(sveb_se: float, veb_ppv: float, s_se: float) -> dict:
        return {"classes": {"N": {"se": 0.9}, "S": {"se": s_se}, "V": {"se": 0.8}, "F": {"se": 0.5}, "Q": {"se": 0.0}},
                "gross": {"sveb": {"se": sveb_se, "ppv": 0.3}, "veb": {"se": 0.95, "ppv": veb_ppv}},
                "average": {"sveb": {"se": 0.75}}}

    for seed, values in enumerate([(0.80, 0.90, 0.6), (0.86, 0.92, 0.8)]):
        folder = results / "ds1ds2" / "seeds" / "ec57" / f"m-seed{seed}"
        folder.mkdir(parents=True)
        (folder / "report.json").write_text(json.dumps(report(*values)))
    h = seeds_headline(results).set_index("figure")
    assert list(h.index) == [name for name, _, _ in SEED_TARGETS]
    np.testing.assert_allclose(h.loc["macro Se (N, S, V, F)", ["m-seed0", "m-seed1"]].astype(float),
                               [(0.9 + 0.6 + 0.8 + 0.5) / 4, (0.9 + 0.8 + 0.8 + 0.5) / 4])
    assert h.loc["SVEB Se", "mean"] == pytest.approx(0.83) and h.loc["SVEB Se", "sd"] == pytest.approx(0.06 / 2 ** 0.5)
    assert h.loc["SVEB Se", "met"] and not h.loc["SVEB +P", "met"]  # 0.83 >= 0.82; 0.30 < 0.55
    assert h.loc["VEB +P", "met"] and h.loc["record-average SVEB Se", "met"]
    text = seeds_sentence(seeds_headline(results))
    assert "2 fit seeds" in text and "SVEB Se 0.830 ± 0.042 (target 0.82, met)" in text and "4 of 6 targets met" in text
    section = "\n".join(seeds_section(Results.load(results, None)))
    assert "| SVEB +P | 0.300 | 0.300 | 0.300 ± 0.000 | ≥ 0.55 | missed |" in section


def test_table3_shows_a_part_of_the_context_in_its_narrow_column(project):
    """BeatInput.context = 'template' shows as tmpl (parts joined by +), True as yes, and the legend says so."""
    assert tables.hp_cell("BeatInput.context", "template") == "tmpl"
    assert tables.hp_cell("BeatInput.context", "underlying+neighbours") == "under+neigh"
    assert tables.hp_cell("BeatInput.context", True) == "yes"
    layout = tables.read_table3(project / "results")
    assert "tmpl: its underlying-rhythm, neighbouring-beat or template part alone" in layout["legend"]
    cells = {row["variant"]: row["cells"][layout["bindings"].index("BeatInput.context")] for row in layout["rows"]}
    assert cells["template only"] == "tmpl" and cells["patient context"] == "yes"
