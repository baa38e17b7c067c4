"""Tuning: the Ray Tune search over gin bindings, with ASHA and Optuna, tracked in MLflow (``tune``).

Not named ``search``: ``heartbeat.search`` is the API's search function.
"""
