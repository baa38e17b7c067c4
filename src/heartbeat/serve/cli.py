"""The ``serve`` and ``retrain`` verbs: ``add_parsers(sub)`` adds them to an argparse subparsers object.

``heartbeat serve --model models/<tag> | --registry NAME[/VERSION]`` starts the prediction
service (FastAPI under uvicorn; see :mod:`heartbeat.serve.app`) on 127.0.0.1:8000 by default,
with its database at ``--db URL`` (default ``$HEARTBEAT_DB``, else ``sqlite:///serve.db`` in
the working directory; PostgreSQL: ``postgresql+psycopg://USER:PASSWORD@HOST/DB``).

The first admin: give a bootstrap API key, ``--admin-key-file PATH`` (a file holding the
key) or the environment variable ``HEARTBEAT_ADMIN_KEY``. On a start where the database has
no active admin, a user ``admin`` with that key is created (the key is stored hashed);
once an admin exists the key is ignored. Make one with
``python -c "import secrets; print('hbk_' + secrets.token_urlsafe(32))"``; at least 32
characters. The admin then creates the other users (``POST /users``).

``heartbeat retrain --model DIR`` retrains a model folder from its own ``config.gin`` on its
original data plus the beats clinicians labelled in the service's database, and
``--register NAME`` adds it to the MLflow registry (:mod:`heartbeat.serve.retrain`).
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import sys
from pathlib import Path

from heartbeat.errors import NotFoundError, RegistryError
from heartbeat.inference.modelinfo import ModelInfo
from heartbeat.serve.logs import configure_logging

ADMIN_KEY_ENV = "HEARTBEAT_ADMIN_KEY"
DB_ENV = "HEARTBEAT_DB"

SERVE_EPILOG = f"""
first admin:
  On a start with no admin in the database, a user 'admin' is created with the API key read
  from --admin-key-file PATH, else from ${ADMIN_KEY_ENV} (at least 32 characters; stored as
  its SHA-256, never in clear). Once an admin exists the key is ignored. Make a key with
    python -c "import secrets; print('hbk_' + secrets.token_urlsafe(32))"

credentials:
  X-API-Key: hbk_...            an API key (admins create users with POST /users)
  Authorization: Bearer hbt_... a token from POST /token (OAuth2 password flow)
  Only GET /health (and the API docs at /docs, unless --no-docs) answer without one.

examples:
  HEARTBEAT_ADMIN_KEY=hbk_... heartbeat serve --model models/cnn1d --port 8000
  heartbeat serve --registry heartbeat-mitbih/3 --db postgresql+psycopg://hb:secret@db/heartbeat
  curl -s -H "X-API-Key: $KEY" -H 'content-type: application/json' \\
       -d '{{"beat": [0.97, 0.91, ... 187 numbers]}}' http://127.0.0.1:8000/predict

See docs/serving.md for the whole guide.
"""

RETRAIN_EPILOG = """
The model's original data is found from its metrics.json (the file or folder it was
trained on, or the built-in synthetic beats); give --data PATH when it moved. The labelled
beats of the database (every model version of the same task) join the training side only;
validation is carved as at first, so the metrics before and after compare like for like.

example:
  heartbeat retrain --model models/cnn1d --db sqlite:///serve.db --register heartbeat-mitbih
"""


def admin_key(args) -> str | None:
    if args.admin_key_file:
        path = Path(args.admin_key_file)
        if not path.is_file():
            raise NotFoundError(f"--admin-key-file {path}: no such file")
        return path.read_text().strip() or None
    return os.environ.get(ADMIN_KEY_ENV) or None


def resolve_registry(spec: str) -> tuple[Path, str]:
    """(model folder, "NAME/VERSION") of a registry entry; the latest version when none is given."""
    import mlflow  # mlflow: 1.5 s to import; only with a registry

    # heartbeat.registry brings fastapi, mlflow, scipy, sklearn: only where this function runs
    from heartbeat.registry import fetch_model_dir, tracking_uri, use_tracking

    name, _, version = spec.partition("/")
    if not version:
        use_tracking()
        versions = mlflow.MlflowClient().search_model_versions(f"name='{name}'")
        if not versions:
            raise RegistryError(f"no registered model named {name!r} in {tracking_uri()}")
        version = str(max(int(v.version) for v in versions))
    return fetch_model_dir(f"{name}/{version}"), f"{name}/{version}"


def cmd_serve(args) -> int:
    import uvicorn  # uvicorn: only to serve

    # heartbeat.serve.app brings fastapi, scipy, sklearn, sqlalchemy, torch: only where this function runs
    from heartbeat.serve.app import Settings, create_app

    # heartbeat.serve.monitor brings scipy, sklearn, sqlalchemy: only where this function runs
    from heartbeat.serve.monitor import MonitorSettings

    configure_logging(args.log_level)
    if args.threads:
        import torch  # torch: seconds to import, and this module is used without it

        torch.set_num_threads(args.threads)
    if args.registry:
        model_dir, version = resolve_registry(args.registry)  # a RegistryError: one line and exit 1
        source = f"registry {version}"
    else:
        model_dir, version, source = Path(args.model), None, str(Path(args.model).resolve())
    settings = Settings(
        model_dir=model_dir, model_version=version, source=source, db_url=args.db or os.environ.get(DB_ENV),
        threshold=args.threshold, admin_key=admin_key(args), token_minutes=args.token_minutes,
        max_batch=args.max_batch, max_record_seconds=args.max_record_seconds,
        max_record_work=args.max_record_work, record_time_limit=args.record_time_limit or None,
        max_failures=args.max_failures,
        failure_window=args.failure_window, lockout=args.lockout_seconds, docs=not args.no_docs,
        trust_pickle=args.trust_pickle,
        monitor=MonitorSettings(recall_window=args.recall_window, recall_threshold=args.recall_threshold,
                                recall_min_labels=args.recall_min_labels, drift_reference=args.drift_reference,
                                drift_window=args.drift_window))
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        logging.getLogger("heartbeat.serve").warning("listening beyond loopback", extra={"fields": {
            "host": args.host, "advice": "serve behind a TLS-terminating proxy: credentials travel in headers"}})
    # behind a TLS proxy every request comes from the proxy's address: trust its X-Forwarded-For (and only
    # its), so that lockouts and logs name the real client
    proxy = ({"proxy_headers": True, "forwarded_allow_ips": args.forwarded_allow_ips} if args.forwarded_allow_ips
             else {"proxy_headers": False})
    if args.workers > 1:  # each worker process builds the app from the same settings
        # heartbeat.serve.app brings fastapi, scipy, sklearn, sqlalchemy, torch: only where this function runs
        from heartbeat.serve.app import SETTINGS_ENV, settings_to_env

        os.environ[SETTINGS_ENV] = settings_to_env(settings)
        os.environ["HEARTBEAT_SERVE_LOG_LEVEL"] = args.log_level
        uvicorn.run("heartbeat.serve.app:app_from_env", factory=True, workers=args.workers, host=args.host,
                    port=args.port, log_level=args.log_level, access_log=False, log_config=None, **proxy)
        return 0
    app = create_app(settings)
    uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level, access_log=False, log_config=None,
                **proxy)
    return 0


def cmd_retrain(args) -> int:
    import torch  # torch: seconds to import, and this module is used without it

    # heartbeat.serve.db brings scipy, sklearn, sqlalchemy: only where this function runs
    from heartbeat.serve.db import default_url

    # heartbeat.serve.retrain brings scipy, sklearn, sqlalchemy: only where this function runs
    from heartbeat.serve.retrain import describe_run, retrain

    if args.threads:
        torch.set_num_threads(args.threads)
    db = args.db or os.environ.get(DB_ENV)
    if db is None:
        local = Path.cwd() / "serve.db"
        if local.exists():
            db = default_url()
        else:
            print(f"note: no --db and no {local}: retraining on the original data alone", file=sys.stderr)
    elif db.startswith("sqlite:///") and not Path(db.removeprefix("sqlite:///")).exists():
        raise NotFoundError(f"--db {db}: no such SQLite file")
    model_dir = Path(args.model)
    old_valid = ModelInfo.read(model_dir).valid if (model_dir / "metrics.json").exists() else None

    def show(row, _model):
        print(f"epoch {row['epoch']:>3}  loss {row['loss']:.4f}  objective {row['objective']:.4f}  "
              f"recall_macro {row['recall_macro']:.4f}  {row['seconds']:.1f}s", flush=True)

    result = retrain(model_dir, data=args.data, db_url=db, out=args.out, register=args.register,
                     epochs=args.epochs, feedback_repeat=args.feedback_repeat, on_epoch=show)
    if result.info.synthetic:
        # heartbeat.data brings scipy, sklearn: only where this function runs
        from heartbeat.data import SYNTHETIC_WARNING

        print("\n" + SYNTHETIC_WARNING + "\n", file=sys.stderr)
    describe_run(result, old_valid)
    return 0


def plain(doc: str, first: int, stop: int) -> str:
    """Paragraphs [first, stop) of a docstring without its reST markup, for --help."""
    text = "\n\n".join(doc.split("\n\n")[first:stop])
    return re.sub(r":mod:`([^`]+)`", r"\1", text).replace("``", "")


def add_parsers(sub) -> None:
    """Add ``serve`` and ``retrain`` to ``sub`` (from ``ArgumentParser.add_subparsers``)."""
    s = sub.add_parser("serve", help="serve a model over HTTP (FastAPI): predict, feedback, monitoring, users",
                       description=plain(__doc__, 1, 3), epilog=SERVE_EPILOG,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    which = s.add_mutually_exclusive_group(required=True)
    which.add_argument("--model", metavar="DIR", help="model folder (models/<tag>)")
    which.add_argument("--registry", metavar="NAME[/VERSION]",
                       help="MLflow registry entry (latest version when none given; $MLFLOW_TRACKING_URI)")
    s.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    s.add_argument("--port", type=int, default=8000, help="port (default: 8000)")
    s.add_argument("--db", metavar="URL", default=None,
                   help=f"SQLAlchemy URL (default: ${DB_ENV}, else sqlite:///serve.db in the working directory)")
    s.add_argument("--admin-key-file", metavar="PATH", default=None,
                   help=f"file holding the first admin's API key (else ${ADMIN_KEY_ENV}); used only while "
                        "the database has no admin")
    s.add_argument("--threshold", type=float, default=None, metavar="P",
                   help="flag a beat abnormal when P(not class 0) >= P, even where its most likely class is N "
                        "(default: none; a beat is abnormal when its predicted class is not N, as heartbeat "
                        "predict flags it)")
    s.add_argument("--max-batch", type=int, default=1024, help="most beats in one /predict/batch (default: 1024)")
    s.add_argument("--max-record-seconds", type=float, default=600.0,
                   help="longest raw segment one /predict/record takes, in seconds (default: 600)")
    s.add_argument("--max-record-work", type=float, default=6e8, metavar="SAMPLES_X_HZ",
                   help="most work one /predict/record takes, its samples times its rate: finding beats costs both "
                        "(default: 6e8, 600 s at 1,000 Hz or 6 s at 10 kHz; about 10 s of one core)")
    s.add_argument("--record-time-limit", type=float, default=30.0, metavar="SECONDS",
                   help="seconds one /predict/record may spend finding beats (a child process, killed then; "
                        "a 422); 0: no limit (default: 30)")
    s.add_argument("--forwarded-allow-ips", default=None, metavar="IPS",
                   help="behind a reverse proxy: its address(es), comma-separated, whose X-Forwarded-For is trusted "
                        "as the client's address (default: none; every client is the connecting address)")
    s.add_argument("--workers", type=int, default=1,
                   help="server processes (uvicorn workers) sharing the port and the database (default: 1); "
                        "they share the failed-credential counts and lockouts through the database")
    s.add_argument("--max-failures", type=int, default=10,
                   help="failed credentials from one address, or failed logins of one user, that start a lockout "
                        "(default: 10)")
    s.add_argument("--failure-window", type=float, default=60.0,
                   help="seconds in which those failures are counted (default: 60)")
    s.add_argument("--lockout-seconds", type=float, default=60.0,
                   help="how long a lockout lasts: 429 with Retry-After, even for a right credential (default: 60)")
    s.add_argument("--token-minutes", type=float, default=60.0, help="lifetime of a /token token (default: 60)")
    s.add_argument("--recall-window", type=int, default=200, metavar="K",
                   help="degraded check: macro recall over the K most recently labelled predictions (200)")
    s.add_argument("--recall-threshold", type=float, default=0.8,
                   help="degraded when that recall is below this (default: 0.8); writes a retraining request")
    s.add_argument("--recall-min-labels", type=int, default=20,
                   help="judge the recall only once this many labels are in the window (default: 20)")
    s.add_argument("--drift-reference", type=int, default=500, metavar="N",
                   help="drift reference when the model folder has no reference.json: the first N served "
                        "beats (default: 500)")
    s.add_argument("--drift-window", type=int, default=500, help="drift of the last this-many beats (default: 500)")
    s.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's own)")
    s.add_argument("--no-docs", action="store_true", help="turn off /docs and /openapi.json")
    s.add_argument("--trust-pickle", action="store_true",
                   help="serve a classical baseline (GBT) folder: its model.joblib is a pickle, which can run "
                        "code when it loads, so it is refused unless you made the folder yourself and say so here")
    s.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"],
                   help="log level of the JSON request log on stderr (default: info)")
    s.set_defaults(func=cmd_serve)

    r = sub.add_parser("retrain", help="retrain a model folder on its data plus the clinicians' labels, "
                                       "optionally register it in MLflow",
                       description=plain(__doc__, 3, 4), epilog=RETRAIN_EPILOG,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    r.add_argument("--model", required=True, metavar="DIR", help="model folder to retrain (its config.gin)")
    r.add_argument("--data", default=None, metavar="PATH",
                   help="the original data, when not where metrics.json says (file or folder)")
    r.add_argument("--db", metavar="URL", default=None,
                   help=f"the service's database with the feedback (default: ${DB_ENV}, else sqlite:///serve.db "
                        "in the working directory if it exists)")
    r.add_argument("--out", default=None, metavar="DIR",
                   help="new model folder (default: <model>-retrained-<time> beside the model)")
    r.add_argument("--register", default=None, metavar="NAME", help="register the new folder as a version of NAME")
    r.add_argument("--epochs", type=int, default=None, help="stop after N epochs (default: fit.epochs of the config)")
    r.add_argument("--feedback-repeat", type=int, default=1,
                   help="add each labelled beat this many times to the training side (default: 1)")
    r.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's own)")
    r.set_defaults(func=cmd_retrain)
