"""Deployment: the prediction service, its database, users, monitoring, and retraining from feedback.

- :mod:`heartbeat.serve.app`: ``create_app(Settings)``, the FastAPI app and its endpoints;
- :mod:`heartbeat.serve.db`: the SQLAlchemy tables (users, keys, tokens, predictions,
  feedback, retraining requests);
- :mod:`heartbeat.serve.auth`: roles, API keys, the OAuth2 password flow, the first admin;
- :mod:`heartbeat.serve.monitor`: recall on labelled predictions, input drift (PSI);
- :mod:`heartbeat.serve.retrain`: a model retrained on its data plus the labelled beats;
- :mod:`heartbeat.serve.cli`: the ``serve`` and ``retrain`` verbs (``add_parsers``).

The user guide is ``docs/serving.md``.
"""
