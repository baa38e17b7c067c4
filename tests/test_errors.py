"""One error policy: bad input is a HeartbeatError at every layer, and every entry point answers it with
one ``error:`` line and exit code 1 (usage errors exit 2), never a traceback."""

import subprocess
import sys
from pathlib import Path

import pytest

from heartbeat.errors import ConfigError, DataError, HeartbeatError, run_entry

ROOT = Path(__file__).resolve().parents[1]


def run(*argv: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *argv], cwd=cwd, capture_output=True, text=True, timeout=300)


def one_error_line(proc: subprocess.CompletedProcess, *names: str) -> str:
    assert "Traceback" not in proc.stderr, proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.startswith("error:")]
    assert len(lines) == 1, proc.stderr
    for name in names:
        assert name in lines[0], lines[0]
    return lines[0]


@pytest.mark.parametrize("argv", [
    ("-m", "heartbeat.cli", "evaluate", "--model", "no-such-model", "--data", "synthetic"),
    ("-m", "heartbeat.serve", "retrain", "--model", "no-such-model", "--db", "sqlite:///no-such.db"),
    ("-m", "heartbeat.serve", "serve", "--model", "no-such-model"),
    ("-m", "heartbeat.serve", "serve", "--registry", "no-such-model"),  # was exit 2, as if a usage error
    ("-m", "heartbeat.report.summary", "--results", "no-such-results", "--models", "no-such-models"),
])
@pytest.mark.slow  # starts a process, builds a PDF or runs a notebook: make test runs it
def test_every_entry_point_exits_1_with_one_line_on_bad_input(argv, tmp_path):
    proc = run(*argv, cwd=tmp_path)
    assert proc.returncode == 1, (proc.returncode, proc.stderr)
    one_error_line(proc, "no-such")


@pytest.mark.slow  # starts a process, builds a PDF or runs a notebook: make test runs it
def test_hypertune_exits_1_with_one_line_on_a_missing_config(tmp_path):
    proc = run(str(ROOT / "hypertune.py"), "--search", "no-such.gin", "--root", str(tmp_path), cwd=tmp_path)
    assert proc.returncode == 1, (proc.returncode, proc.stderr)
    one_error_line(proc, "no-such.gin")


@pytest.mark.parametrize("argv", [
    ("-m", "heartbeat.cli", "no-such-verb"),
    ("-m", "heartbeat.serve", "serve", "--no-such-flag"),
    ("-m", "heartbeat.report.summary", "--no-such-flag"),
])
@pytest.mark.slow  # starts a process, builds a PDF or runs a notebook: make test runs it
def test_usage_errors_exit_2(argv, tmp_path):
    proc = run(*argv, cwd=tmp_path)
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    assert "Traceback" not in proc.stderr


def test_run_entry_turns_bad_input_into_exit_1_and_lets_bugs_through(capsys):
    def bad():
        raise DataError("beats.csv row 3: expected 187 numbers")

    assert run_entry(bad) == 1
    assert capsys.readouterr().err.strip() == "error: beats.csv row 3: expected 187 numbers"
    assert run_entry(lambda: None) == 0
    assert run_entry(lambda: 3) == 3
    with pytest.raises(ZeroDivisionError):
        run_entry(lambda: 1 / 0)


@pytest.mark.parametrize("build", [
    lambda: __import__("heartbeat.models.cnn1d", fromlist=["CNN1D"]).CNN1D(1, 5, dropout=1.5),
    lambda: __import__("heartbeat.models.gru", fromlist=["GRU"]).GRU(1, 5, pooling="median"),
    lambda: __import__("heartbeat.models.resnet1d", fromlist=["ResNet1D"]).ResNet1D(1, 5, widths=()),
    lambda: __import__("heartbeat.models.transformer", fromlist=["Transformer"]).Transformer(1, 5, positional="none?"),
    lambda: __import__("heartbeat.data.augment", fromlist=["Augment"]).Augment(p=2.0),
])
def test_bad_gin_values_in_constructors_are_config_errors(build):
    with pytest.raises(ConfigError):
        build()


def test_an_unknown_window_is_one_error_wherever_it_is_met():
    import numpy as np

    from heartbeat.data.beatset import BeatSet
    from heartbeat.data.wfdb_beats import beats_from_signal

    with pytest.raises(ConfigError, match="unknown beat window 'qrs'"):
        BeatSet(np.zeros((1, 187), np.float32), np.zeros(1, np.int64), task="mitbih", window="qrs")
    with pytest.raises(ConfigError, match="unknown beat window 'qrs'"):
        beats_from_signal(np.zeros(3600), 360, np.array([1000, 1400]), window="qrs")
    assert issubclass(ConfigError, HeartbeatError) and issubclass(ConfigError, ValueError)
