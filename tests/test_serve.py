"""The prediction service as deployed: uvicorn in a subprocess on a free loopback port, a real SQLite file.

Two servers: one for credentials, roles and input checks; one with a fresh database and small
monitoring windows for feedback, the degraded state, drift, and a restart. A few in-process
tests cover the pieces (password hashing, token expiry, the first admin, PSI) directly.
"""

import hashlib
import json
import os
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import requests
from sqlalchemy.engine import make_url

import heartbeat as hb
from heartbeat.data import write_beats
from heartbeat.data.synthetic import synthetic_beats
from heartbeat.inference.modelio import load_model
from heartbeat.serve import auth
from heartbeat.serve.__main__ import main as serve_main
from heartbeat.serve.db import Base, Prediction, beat_bytes, beat_hash, make_engine, session_factory
from heartbeat.serve.monitor import Monitor, MonitorSettings, Reference, drift_level, read_reference, write_reference

# every test here trains a model or starts a server: make test-fast leaves them to make test
pytestmark = pytest.mark.slow

ADMIN_KEY = "hbk_" + "test-admin-key-0123456789abcdefghijklmnop"
CLASSES = ("N", "S", "V", "F", "Q")
PROTECTED = [("POST", "/predict"), ("POST", "/predict/batch"), ("GET", "/model"), ("GET", "/monitoring"),
             ("POST", "/feedback"), ("POST", "/users"), ("GET", "/users"), ("GET", "/me"),
             ("GET", "/retrain-requests"), ("POST", "/users/someone/keys"), ("DELETE", "/users/someone")]


# ---------------------------------------------------------------- fixtures
@pytest.fixture(scope="session")
def model_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("serve-model")
    data = write_beats(synthetic_beats(3000, seed=0), root / "beats.parq")
    out = root / "tiny"
    hb.train("gin/models/cnn1d.gin", {"fit.beats_per_epoch": 2000, "CNN1D.channels": 8}, data=hb.load_data(data),
             out=out, epochs=1)
    return out


@pytest.fixture(scope="session")
def beats():
    return synthetic_beats(400, seed=7)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """``python -m heartbeat.serve serve`` in a subprocess; its log goes to a file."""

    def __init__(self, model: Path, db: Path | str, workdir: Path, *args: str):
        """``db``: a SQLite file, or any database URL."""
        self.model, self.db, self.workdir, self.args = model, db, workdir, args
        self.db_url = db if isinstance(db, str) else f"sqlite:///{db}"
        self.log = workdir / "server.log"
        self.proc = None
        self.n_workers = int(args[args.index("--workers") + 1]) if "--workers" in args else 1
        self.workers: list[int] = []  # with --workers N: their pids, once every one has started

    def events(self, since: int = 0) -> list[dict]:
        """The server's JSON log lines, parsed, from byte ``since`` of its log on."""
        with open(self.log, "rb") as f:
            f.seek(since)
            return [json.loads(line) for line in f.read().decode().splitlines() if line.startswith("{")]

    def start(self, admin_key: str | None = ADMIN_KEY) -> "Server":
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {k: v for k, v in os.environ.items() if k not in ("HEARTBEAT_ADMIN_KEY", "HEARTBEAT_DB")}
        if admin_key:
            env["HEARTBEAT_ADMIN_KEY"] = admin_key
        cmd = [sys.executable, "-m", "heartbeat.serve", "serve", "--model", str(self.model), "--port", str(self.port),
               "--db", self.db_url, "--threads", "1", *self.args]
        since = self.log.stat().st_size if self.log.exists() else 0  # this start's lines, not a restart's
        with open(self.log, "a") as log:
            self.proc = subprocess.Popen(cmd, cwd=self.workdir, env=env, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 45
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}:\n{self.log.read_text()[-3000:]}")
            try:
                if requests.get(self.url + "/health", timeout=1).status_code == 200:
                    break
            except requests.ConnectionError:
                time.sleep(0.2)
        else:
            self.stop()
            raise RuntimeError("server did not answer /health in 45 s:\n" + self.log.read_text()[-3000:])
        if self.n_workers > 1:
            self.wait_for_workers(since)
        return self

    def wait_for_workers(self, since: int, timeout: float = 90) -> None:
        """Until each of the N workers has logged that its application started (their pids in ``workers``).

        /health answers as soon as one worker is up; on a loaded machine another can take many seconds more to
        import and load the model, and until then every connection lands on the first."""
        deadline = time.monotonic() + timeout
        while True:
            events = [e.get("event", "") for e in self.events(since)]
            self.workers = [int(e.rsplit("[", 1)[1].rstrip("]")) for e in events
                            if e.startswith("Started server process [")]
            if len(self.workers) >= self.n_workers and events.count("Application startup complete.") >= self.n_workers:
                return
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"{self.n_workers} workers did not start in {timeout} s:\n"
                                   + self.log.read_text()[-3000:])
            time.sleep(0.2)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)

    def call(self, method: str, path: str, key: str | None = None, token: str | None = None, **kw):
        headers = kw.pop("headers", {})
        if key:
            headers["X-API-Key"] = key
        if token:
            headers["Authorization"] = f"Bearer {token}"
        return requests.request(method, self.url + path, headers=headers, timeout=30, **kw)


@pytest.fixture(scope="module")
def server(model_dir, tmp_path_factory):
    work = tmp_path_factory.mktemp("serve-main")
    # this server is hammered with wrong credentials on purpose: no lockout here (tests/test_serve_guard.py)
    srv = Server(model_dir, work / "serve.db", work, "--max-batch", "100", "--max-failures", "100000").start()
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def users(server):
    """A reader and a clinician made by the admin: name -> API key."""
    keys = {}
    for name, role in (("rita", "reader"), ("carl", "clinician")):
        r = server.call("POST", "/users", ADMIN_KEY, json={"name": name, "role": role})
        assert r.status_code == 201, r.text
        assert r.json()["role"] == role and r.json()["api_key"].startswith("hbk_")
        keys[name] = r.json()["api_key"]
    return keys


def body(beat) -> dict:
    return {"beat": [float(v) for v in beat]}


# ---------------------------------------------------------------- credentials and roles
def test_only_health_answers_without_credentials(server):
    r = server.call("GET", "/health")
    assert r.status_code == 200 and r.json()["status"] == "ok"
    assert r.json()["model_version"].startswith("tiny@")
    for method, path in PROTECTED:
        none = server.call(method, path, json={})
        assert none.status_code == 401, (method, path, none.text)
        assert none.headers["WWW-Authenticate"] == "Bearer"
        assert "credentials required" in none.json()["detail"]
        wrong_key = server.call(method, path, key="hbk_" + "x" * 43, json={})
        assert wrong_key.status_code == 401 and wrong_key.json()["detail"] == "invalid API key"
        wrong_token = server.call(method, path, token="hbt_" + "y" * 43, json={})
        assert wrong_token.status_code == 401 and "invalid or expired" in wrong_token.json()["detail"]


def test_each_role_reaches_only_its_endpoints(server, users, beats):
    reader, clinician = users["rita"], users["carl"]
    pred = server.call("POST", "/predict", reader, json=body(beats.X[0]))
    assert pred.status_code == 200
    assert server.call("GET", "/model", reader).status_code == 200
    assert server.call("GET", "/monitoring", reader).status_code == 200
    assert server.call("GET", "/me", reader).json() == {"name": "rita", "role": "reader", "via": "api_key"}
    refused = server.call("POST", "/users", reader, json={"name": "eve", "role": "admin"})
    assert refused.status_code == 403
    assert "'admin'" in refused.json()["detail"] and "'reader'" in refused.json()["detail"]
    feedback = {"prediction_id": pred.json()["id"], "label": "N"}
    assert server.call("POST", "/feedback", reader, json=feedback).status_code == 403
    for key in (reader, clinician):
        assert server.call("GET", "/users", key).status_code == 403
        assert server.call("GET", "/retrain-requests", key).status_code == 403
        assert server.call("POST", "/users/rita/keys", key).status_code == 403
    assert server.call("POST", "/feedback", clinician, json=feedback).status_code == 200
    assert server.call("POST", "/predict", clinician, json=body(beats.X[1])).status_code == 200
    listed = server.call("GET", "/users", ADMIN_KEY).json()
    assert {u["name"]: u["role"] for u in listed} == {"admin": "admin", "rita": "reader", "carl": "clinician"}
    assert reader not in json.dumps(listed) and clinician not in json.dumps(listed)


def test_user_management_and_the_password_flow(server, users):
    made = server.call("POST", "/users", ADMIN_KEY, json={"name": "dora", "role": "clinician",
                                                          "password": "correct horse battery"})
    assert made.status_code == 201
    assert server.call("POST", "/users", ADMIN_KEY, json={"name": "dora", "role": "reader"}).status_code == 409
    short = server.call("POST", "/users", ADMIN_KEY, json={"name": "ed", "role": "reader", "password": "short"})
    assert short.status_code == 422 and "at least 8 characters" in short.json()["message"]
    bad_role = server.call("POST", "/users", ADMIN_KEY, json={"name": "ed", "role": "superuser"})
    assert bad_role.status_code == 422 and "role" in bad_role.json()["message"]
    assert server.call("POST", "/token", data={"username": "dora", "password": "wrong"}).status_code == 401
    assert server.call("POST", "/token", data={"username": "nobody", "password": "x" * 9}).status_code == 401
    tok = server.call("POST", "/token", data={"username": "dora", "password": "correct horse battery"})
    assert tok.status_code == 200 and tok.json()["token_type"] == "bearer"
    token = tok.json()["access_token"]
    assert server.call("GET", "/me", token=token).json() == {"name": "dora", "role": "clinician", "via": "token"}
    assert server.call("POST", "/users", token=token, json={"name": "x", "role": "reader"}).status_code == 403
    # a new key works beside the old one; disabling the user revokes keys and tokens
    key2 = server.call("POST", "/users/dora/keys", ADMIN_KEY).json()["api_key"]
    assert server.call("GET", "/me", key2).status_code == 200
    assert server.call("DELETE", "/users/dora", ADMIN_KEY).status_code == 200
    for cred in ({"key": key2}, {"key": made.json()["api_key"]}, {"token": token}):
        assert server.call("GET", "/me", **cred).status_code == 401
    last_admin = server.call("DELETE", "/users/admin", ADMIN_KEY)
    assert last_admin.status_code == 409 and "last active admin" in last_admin.json()["detail"]


# ---------------------------------------------------------------- inputs
BAD_SINGLE = [
    ([0.5] * 186, "beat: expected 187 numbers, got 186"),
    ([0.5] * 188, "beat: expected 187 numbers, got 188"),
    ([0.5] * 5 + ["abc"] + [0.5] * 181, "beat value 5: expected a finite number, got 'abc'"),
    ([0.5] * 9 + ["NaN"] + [0.5] * 177, "beat value 9: expected a finite number, got 'NaN'"),
    ([0.5] * 3 + [None] + [0.5] * 183, "beat value 3: expected a finite number, got None"),
    ([True] + [0.5] * 186, "beat value 0: expected a finite number, got True"),
    ("0.5, 0.5", "beat: expected a list of 187 numbers"),
]


@pytest.mark.parametrize("beat,message", BAD_SINGLE)
def test_a_bad_beat_is_a_422_that_says_what_is_wrong(server, beat, message):
    r = server.call("POST", "/predict", ADMIN_KEY, json={"beat": beat})
    assert r.status_code == 422
    assert message in r.json()["message"], r.json()


@pytest.mark.parametrize("literal,index", [("NaN", 7), ("Infinity", 0), ("-Infinity", 186)])
def test_nan_and_infinity_in_the_json_are_refused(server, literal, index):
    values = ["0.25"] * 187
    values[index] = literal
    raw = '{"beat": [' + ", ".join(values) + "]}"
    r = server.call("POST", "/predict", ADMIN_KEY, data=raw, headers={"content-type": "application/json"})
    assert r.status_code == 422
    assert f"beat value {index}: expected a finite number" in r.json()["message"]


def test_a_bad_batch_names_each_bad_beat(server, beats):
    good = [float(v) for v in beats.X[0]]
    batch = [good, good, good[:100], good[:7] + ["x"] + good[8:], good]
    r = server.call("POST", "/predict/batch", ADMIN_KEY, json={"beats": batch})
    assert r.status_code == 422
    msgs = [e["msg"] for e in r.json()["detail"]]
    assert msgs == ["beat 2: expected 187 numbers, got 100", "beat 3, value 7: expected a finite number, got 'x'"]
    assert [e["loc"] for e in r.json()["detail"]] == [["body", "beats", 2], ["body", "beats", 3, 7]]
    assert server.call("POST", "/predict/batch", ADMIN_KEY, json={"beats": []}).json()["message"] == \
        "beats: expected at least 1 beat, got 0"
    too_many = server.call("POST", "/predict/batch", ADMIN_KEY, json={"beats": [good] * 101})
    assert too_many.status_code == 422 and "at most 100 beats per request, got 101" in too_many.json()["message"]
    not_json = server.call("POST", "/predict", ADMIN_KEY, data="{beat: [1, 2",
                           headers={"content-type": "application/json"})
    assert not_json.status_code == 422 and "not valid JSON" in not_json.json()["message"]
    missing = server.call("POST", "/predict", ADMIN_KEY, json={"beats": [good]})
    assert missing.status_code == 422 and "beat: required" in missing.json()["message"]


# ---------------------------------------------------------------- predictions
def test_predictions_match_the_model_and_are_stored(server, users, model_dir, beats):
    model = load_model(model_dir)
    X = beats.X[:64]
    expected = model.predict_proba(X)
    one = server.call("POST", "/predict", users["rita"], json=body(X[0])).json()
    assert list(one["probabilities"]) == list(CLASSES)
    assert np.allclose(list(one["probabilities"].values()), expected[0], atol=1e-5)
    assert one["predicted_class"] == CLASSES[int(expected[0].argmax())]
    assert one["p_abnormal"] == pytest.approx(1 - expected[0][0], abs=1e-5)
    # the one rule for "abnormal" (heartbeat.inference.operating.abnormal): without --threshold, the class is not N
    assert one["threshold"] is None and one["abnormal"] == (one["predicted_class"] != "N")
    assert one["input_sha256"] == hashlib.sha256(np.asarray(X[0], "<f4").tobytes()).hexdigest()

    batch = server.call("POST", "/predict/batch", users["rita"], json={"beats": X.tolist()}).json()
    got = np.array([list(p["probabilities"].values()) for p in batch["predictions"]])
    assert got.shape == (64, 5) and np.allclose(got, expected, atol=1e-5)
    assert np.allclose(got.sum(1), 1, atol=1e-5)
    ids = [p["id"] for p in batch["predictions"]]
    assert ids == list(range(ids[0], ids[0] + 64))
    with sqlite3.connect(server.db) as con:
        rows = con.execute("SELECT input_hash, model_version, predicted, abnormal, beat FROM predictions "
                           f"WHERE id BETWEEN {ids[0]} AND {ids[-1]} ORDER BY id").fetchall()
    assert [r[0] for r in rows] == [beat_hash(x) for x in X]
    assert {r[1] for r in rows} == {batch["model_version"]}
    assert [r[2] for r in rows] == expected.argmax(1).tolist()
    assert [bool(r[3]) for r in rows] == (expected.argmax(1) != 0).tolist()  # the stored flag: the class is not N
    assert rows[5][4] == beat_bytes(X[5])


def test_model_information(server, users, model_dir):
    info = server.call("GET", "/model", users["rita"]).json()
    saved = json.loads((model_dir / "metrics.json").read_text())
    assert info["tag"] == "tiny" and info["family"] == "CNN1D" and info["classes"] == list(CLASSES)
    assert info["config"] == (model_dir / "config.gin").read_text()
    assert info["valid"]["recall_macro"] == pytest.approx(saved["valid"]["recall_macro"])
    assert info["version"] == server.call("GET", "/health").json()["model_version"]


def test_no_secret_is_stored_or_logged_in_clear(server, users):
    tok = server.call("POST", "/users", ADMIN_KEY, json={"name": "pat", "role": "reader", "password": "pat-password-1"})
    token = server.call("POST", "/token", data={"username": "pat", "password": "pat-password-1"}).json()["access_token"]
    secrets = [ADMIN_KEY, *users.values(), tok.json()["api_key"], "pat-password-1", token]
    with sqlite3.connect(server.db) as con:
        con.execute("PRAGMA wal_checkpoint(FULL)")
        hashes = {r[0] for r in con.execute("SELECT key_hash FROM api_keys")}
        pw = con.execute("SELECT password_hash FROM users WHERE name = 'pat'").fetchone()[0]
    assert {hashlib.sha256(k.encode()).hexdigest() for k in [ADMIN_KEY, *users.values()]} <= hashes
    assert pw.startswith("pbkdf2_sha256$600000$")
    stored = b"".join(p.read_bytes() for p in server.db.parent.glob("serve.db*"))
    logged = server.log.read_text()
    for secret in secrets:
        assert secret.encode() not in stored
        assert secret not in logged
    requests_logged = [x for x in server.events() if x["event"] == "request"]
    assert requests_logged and {"request_id", "method", "path", "status", "ms", "user"} <= set(requests_logged[-1])
    assert any(x["user"] == "rita" and x["path"] == "/predict/batch" and x["beats"] == 64 for x in requests_logged)


# ---------------------------------------------------------------- monitoring, degraded, drift, restart
@pytest.fixture(scope="module")
def watched(model_dir, tmp_path_factory):
    """A fresh database and small windows: judge recall over the last 8 labels once 4 exist."""
    work = tmp_path_factory.mktemp("serve-monitor")
    srv = Server(model_dir, work / "serve.db", work, "--recall-window", "8", "--recall-min-labels", "4",
                 "--recall-threshold", "0.6", "--drift-reference", "40", "--drift-window", "40").start()
    made = srv.call("POST", "/users", ADMIN_KEY, json={"name": "nina", "role": "clinician"}).json()
    srv.clinician = made["api_key"]
    yield srv
    srv.stop()


def expected_recall(labels: list[int], predicted: list[int]) -> dict:
    labels, predicted = np.array(labels), np.array(predicted)
    return {c: (float(np.mean(predicted[labels == i] == i)) if (labels == i).any() else None)
            for i, c in enumerate(CLASSES)}


def test_feedback_updates_the_figures_and_low_recall_degrades(watched, beats):
    key = watched.clinician
    preds = watched.call("POST", "/predict/batch", key, json={"beats": beats.X[:12].tolist()}).json()["predictions"]
    ids = [p["id"] for p in preds]
    predicted = [CLASSES.index(p["predicted_class"]) for p in preds]
    empty = watched.call("GET", "/monitoring", key).json()
    assert empty["labelled"] == 0 and empty["recall"]["recall_macro"] is None and empty["status"] == "ok"

    labels = []
    for pid, p in zip(ids[:4], predicted[:4]):  # a clinician agrees with the first four
        r = watched.call("POST", "/feedback", key, json={"prediction_id": pid, "label": CLASSES[p]}).json()
        assert r["correct"] and not r["updated"]
        labels.append(p)
    m = watched.call("GET", "/monitoring", key).json()
    assert m["labelled"] == 4 and m["recall"]["recall_per_class"] == expected_recall(labels, predicted[:4])
    assert m["recent_recall"]["recall_macro"] == 1.0 and m["recent_recall"]["judged"] and m["status"] == "ok"

    requests_made = []
    for pid, p in zip(ids[4:], predicted[4:]):  # and disagrees with the next eight (given as class indices)
        wrong = (p + 1) % 5
        r = watched.call("POST", "/feedback", key, json={"prediction_id": pid, "label": wrong}).json()
        assert not r["correct"]
        labels.append(wrong)
        requests_made.append(r["retrain_request"])
    m = watched.call("GET", "/monitoring", key).json()
    assert m["labelled"] == 12 and m["predictions"] == 12
    assert m["recall"]["recall_per_class"] == expected_recall(labels, predicted)
    present = [v for v in expected_recall(labels, predicted).values() if v is not None]
    assert m["recall"]["recall_macro"] == pytest.approx(np.mean(present))
    # the last 8 labels are all wrong: recent macro recall 0 < 0.6
    assert m["recent_recall"]["n"] == 8 and m["recent_recall"]["recall_macro"] == 0.0
    assert m["degraded"] and m["status"] == "degraded" and "below 0.6" in m["reason"]
    made = [r for r in requests_made if r is not None]
    assert len(made) == 1  # one open request per model version, however many bad labels follow
    assert [r["id"] for r in m["retrain_requests"]] == made and m["retrain_requests"][0]["status"] == "open"
    health = watched.call("GET", "/health").json()
    assert health["status"] == "degraded" and "macro recall 0.000" in health["reason"]
    with sqlite3.connect(watched.db) as con:
        assert con.execute("SELECT status, model_version FROM retrain_requests").fetchall() == \
            [("open", health["model_version"])]

    again = watched.call("POST", "/feedback", key, json={"prediction_id": ids[0], "label": CLASSES[predicted[0]]})
    assert again.json()["updated"] is True
    assert watched.call("GET", "/monitoring", key).json()["labelled"] == 12
    unknown = watched.call("POST", "/feedback", key, json={"prediction_id": ids[0], "label": "Z"})
    assert unknown.status_code == 422 and "expected a class name (N, S, V, F, Q)" in unknown.json()["message"]
    assert watched.call("POST", "/feedback", key, json={"prediction_id": 10**6, "label": "N"}).status_code == 404


def test_drift_against_the_first_served_beats(watched, beats):
    key = watched.clinician
    served = watched.call("GET", "/monitoring", key).json()["predictions"]
    drift = watched.call("GET", "/monitoring", key).json()["drift"]
    assert drift["status"] == "collecting reference" and f"({served} so far)" in drift["reference"]
    watched.call("POST", "/predict/batch", key, json={"beats": beats.X[12:12 + 40 - served].tolist()})
    drift = watched.call("GET", "/monitoring", key).json()["drift"]
    assert drift["reference"] == "first 40 served beats" and drift["recent_beats"] == 0
    assert drift["status"].startswith("waiting for")
    flat = beats.X[100:140] * 0.2  # a quiet amplifier: every amplitude feature shifts
    watched.call("POST", "/predict/batch", key, json={"beats": flat.tolist()})
    drift = watched.call("GET", "/monitoring", key).json()["drift"]
    assert drift["recent_beats"] == 40 and drift["drifted"] and drift["status"] == "major"
    # "max" is the feature (the beat's peak), not the largest PSI; the padding length does not scale
    assert drift["psi_max"] > 1.0 and drift["psi"]["max"] > 1.0 and drift["psi"]["length"] < drift["psi"]["max"]


def test_a_restart_keeps_users_tokens_predictions_feedback_and_state(watched):
    key = watched.clinician
    pw = watched.call("POST", "/users", ADMIN_KEY, json={"name": "olga", "role": "reader", "password": "olga-pass-1"})
    assert pw.status_code == 201
    token = watched.call("POST", "/token", data={"username": "olga", "password": "olga-pass-1"}).json()["access_token"]
    before = watched.call("GET", "/monitoring", key).json()
    watched.stop()
    watched.start(admin_key=None)  # no bootstrap key this time: the admin is in the database
    after = watched.call("GET", "/monitoring", key).json()
    for field in ("predictions", "labelled", "recall", "recent_recall", "degraded", "reason", "retrain_requests",
                  "drift", "model_version"):
        assert after[field] == before[field], field
    assert watched.call("GET", "/me", token=token).json()["name"] == "olga"
    assert watched.call("GET", "/users", ADMIN_KEY).status_code == 200
    assert watched.call("GET", "/health").json()["status"] == "degraded"


POSTGRES_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"  # the CI machine's (trust)


def scratch_database(kind: str, tmp_path):
    """A database URL of ``kind`` for one test, and how to drop it: a SQLite file, or a fresh PostgreSQL
    database on $HEARTBEAT_TEST_POSTGRES_ADMIN (default: the CI machine's 127.0.0.1:5432), dropped after
    (never the shared 'test' database, which other runs may use). Skips, saying why, without PostgreSQL."""
    import os
    import uuid

    if kind == "sqlite":
        return f"sqlite:///{tmp_path / 'serve.db'}", lambda: None
    import sqlalchemy as sa
    from sqlalchemy.engine import make_url

    admin = os.environ.get("HEARTBEAT_TEST_POSTGRES_ADMIN", POSTGRES_ADMIN_URL)
    try:
        import psycopg  # noqa: F401

        engine = sa.create_engine(admin, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 3})
        name = f"heartbeat_test_{uuid.uuid4().hex[:12]}"
        with engine.connect() as c:
            c.execute(sa.text(f"CREATE DATABASE {name}"))
    except Exception as exc:  # no driver, no server, no right to create a database
        pytest.skip(f"PostgreSQL is not available at {make_url(admin).render_as_string(hide_password=True)} "
                    f"({type(exc).__name__}: {str(exc).splitlines()[0][:120]}); set HEARTBEAT_TEST_POSTGRES_ADMIN "
                    "to a server where a scratch database may be created")

    def drop():
        with engine.connect() as c:
            c.execute(sa.text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        engine.dispose()

    return make_url(admin).set(database=name).render_as_string(hide_password=False), drop


def test_postgresql_keeps_everything_across_a_restart(model_dir, tmp_path, beats):
    """On $HEARTBEAT_TEST_POSTGRES (a scratch URL: its tables are dropped), else on a fresh database of the
    server scratch_database finds; skipped, saying why, without PostgreSQL."""
    if os.environ.get("HEARTBEAT_TEST_POSTGRES"):
        url, drop = os.environ["HEARTBEAT_TEST_POSTGRES"], lambda: None
        engine = make_engine(url)
        Base.metadata.drop_all(engine)
        engine.dispose()
    else:
        url, drop = scratch_database("postgresql", tmp_path)
    srv = Server(model_dir, url, tmp_path, "--recall-min-labels", "2", "--recall-window", "2").start()
    try:
        key = srv.call("POST", "/users", ADMIN_KEY, json={"name": "pg", "role": "clinician"}).json()["api_key"]
        preds = srv.call("POST", "/predict/batch", key, json={"beats": beats.X[:3].tolist()}).json()["predictions"]
        for p in preds[:2]:
            wrong = CLASSES[(CLASSES.index(p["predicted_class"]) + 1) % 5]
            assert srv.call("POST", "/feedback", key, json={"prediction_id": p["id"], "label": wrong}).ok
        before = srv.call("GET", "/monitoring", key).json()
        assert before["predictions"] == 3 and before["labelled"] == 2 and before["degraded"]
        srv.stop()
        srv.start(admin_key=None)
        after = srv.call("GET", "/monitoring", key).json()
        assert {k: after[k] for k in ("predictions", "labelled", "recall", "degraded", "retrain_requests")} == \
            {k: before[k] for k in ("predictions", "labelled", "recall", "degraded", "retrain_requests")}
        startup = [json.loads(x) for x in srv.log.read_text().splitlines() if '"startup"' in x]
        assert startup[-1]["db"].startswith("postgresql")
        password = make_url(url).password
        assert password is None or password not in srv.log.read_text()
    finally:
        srv.stop()
        drop()


# ---------------------------------------------------------------- pieces, in process
def test_passwords_are_salted_pbkdf2():
    a, b = auth.hash_password("same password"), auth.hash_password("same password")
    assert a != b and a.startswith("pbkdf2_sha256$")
    assert auth.verify_password("same password", a) and not auth.verify_password("other", a)
    assert not auth.verify_password("anything", None)


def test_first_admin_bootstrap_and_token_expiry(tmp_path):
    sessions = session_factory(make_engine(f"sqlite:///{tmp_path / 'a.db'}"))
    with sessions.begin() as s:
        assert "no admin yet" in auth.bootstrap_admin(s, None)
        with pytest.raises(ValueError, match="at least 32"):
            auth.bootstrap_admin(s, "short-key")
        assert "created the first admin 'admin'" in auth.bootstrap_admin(s, ADMIN_KEY)
    with sessions.begin() as s:
        assert "ignored" in auth.bootstrap_admin(s, "hbk_" + "z" * 40)
        assert auth.authenticate(s, ADMIN_KEY, None).role == "admin"
        with pytest.raises(auth.AuthError):
            auth.authenticate(s, "hbk_" + "z" * 40, None)
        auth.create_user(s, "tim", "reader", password="tims-password")
        expired, _ = auth.login(s, "tim", "tims-password", minutes=-1)
        fresh, _ = auth.login(s, "tim", "tims-password", minutes=5)
    with sessions() as s:
        assert auth.authenticate(s, None, fresh).name == "tim"
        with pytest.raises(auth.AuthError, match="expired"):
            auth.authenticate(s, None, expired)


def test_psi_is_small_on_the_same_distribution_and_large_on_a_shift():
    ref = Reference.from_beats(synthetic_beats(3000, seed=1).X, "test")
    same = ref.psi(synthetic_beats(3000, seed=2).X)
    shifted = ref.psi(synthetic_beats(3000, seed=2).X * 0.5)
    assert max(same.values()) < 0.05
    assert shifted["max"] > 0.25 and shifted["std"] > 0.25  # the features "max" (peak) and "std"


def test_drift_reference_from_the_model_folder(tmp_path, beats):
    folder = tmp_path / "m"
    folder.mkdir()
    train = synthetic_beats(1000, seed=3).X
    write_reference(folder, train)
    reference = read_reference(folder)
    assert reference.n == len(train) and reference.source == "training data"
    sessions = session_factory(make_engine(f"sqlite:///{tmp_path / 'm.db'}"))
    monitor = Monitor("v1", CLASSES, MonitorSettings(drift_reference=500, drift_window=50), reference)
    with sessions.begin() as s:
        s.add_all([Prediction(model_version="v1", task="mitbih", input_hash=beat_hash(x), beat=beat_bytes(x),
                              probabilities=[1, 0, 0, 0, 0], predicted=0, abnormal=False) for x in beats.X[:60]])
    with sessions() as s:
        drift = monitor.drift(s)
    assert drift["reference"] == "training data" and drift["recent_beats"] == 50
    assert set(drift["psi"]) == {"mean", "std", "max", "length", "r_amplitude", "line_length"}
    # the figures are the reference's PSI on the 50 most recent served beats, recomputed here
    expected = reference.psi(beats.X[10:60])
    assert drift["psi"] == pytest.approx(expected)
    assert drift["status"] == drift_level(max(expected.values())) and drift["psi_max"] == pytest.approx(
        max(expected.values()))


def test_help_documents_the_first_admin(capsys):
    with pytest.raises(SystemExit):
        serve_main(["serve", "--help"])
    text = capsys.readouterr().out
    assert "HEARTBEAT_ADMIN_KEY" in text and "--admin-key-file" in text and "--registry" in text
