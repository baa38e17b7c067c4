"""Every look at DS2 is a row in looks.csv."""

import pandas as pd

from heartbeat.evaluation.looks import config_text, count_looks, log_look


def test_each_look_is_appended_with_its_figures(tmp_path):
    path = tmp_path / "looks.csv"
    assert count_looks(path) == 0
    log_look("heartbeat ablate", "base", config_text(["fit.seed = 0"], "gin/best/x.gin"),
             {"macro_Se": 0.81, "Se_S": 0.7, "P_S": 0.3, "Se_V": 0.9, "P_V": 0.8, "Se_F": 0.5}, seed=0, path=path)
    log_look("heartbeat protocol", "cnn1d-ds1ds2", "config text", {"macro_Se": 0.79}, path=path)
    looks = pd.read_csv(path)
    assert count_looks(path) == 2 and list(looks["by"]) == ["heartbeat ablate", "heartbeat protocol"]
    assert looks.loc[0, "Se_S"] == 0.7 and looks.loc[0, "seed"] == 0 and pd.isna(looks.loc[1, "Se_S"])
    # the same configuration hashes the same, a different one differently
    assert looks.loc[0, "config_sha1"] == pd.read_csv(path).loc[0, "config_sha1"]
    assert config_text(["a", "b"], "x") == config_text(["b", "a"], "x") != config_text(["a"], "x")
