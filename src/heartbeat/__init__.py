"""heartbeat: hyperparameter search for ECG heartbeat classification."""

__version__ = "0.1.0"
