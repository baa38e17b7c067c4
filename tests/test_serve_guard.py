"""The service's front door against a real server on 127.0.0.1: body limits, authentication before
the body, throttling of failed credentials, and a kill -9 that loses nothing acknowledged."""

from __future__ import annotations

import select
import socket
import time

import numpy as np
import pytest
from test_serve import ADMIN_KEY, Server, body, model_dir  # noqa: F401  (model_dir: the fixture)

# every test here starts a server: make test-fast leaves them to make test
pytestmark = pytest.mark.slow


def rss_kb(pid: int) -> int:
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def read_response(sock: socket.socket) -> bytes:
    """One whole HTTP response: its head, then as many body bytes as its Content-Length says."""
    data = b""
    while b"\r\n\r\n" not in data:
        part = sock.recv(65536)
        if not part:
            return data
        data += part
    top, rest = data.split(b"\r\n\r\n", 1)
    length = int(next(line.split(b":")[1] for line in top.split(b"\r\n") if line.lower().startswith(b"content-length")))
    while len(rest) < length and (part := sock.recv(65536)):
        rest += part
    return top + b"\r\n\r\n" + rest


def raw_request(port: int, head: str, chunks=()) -> bytes:
    """Send a request by hand (its head, then body chunks until the server answers); return the answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(head.encode())
        for chunk in chunks:  # stop sending once the server has answered (it stops reading at the bound)
            if select.select([sock], [], [], 0)[0]:
                break
            try:
                sock.settimeout(3)
                sock.sendall(chunk)
            except (BrokenPipeError, ConnectionResetError, TimeoutError):
                break  # the server answered and stopped reading: what we want
        sock.settimeout(30)
        return read_response(sock)


WINDOW = 4.0  # --failure-window of the guarded server, seconds
SETTLE = WINDOW + 0.5  # past the window and the 2 s lockout: an earlier test's failures no longer count


@pytest.fixture(scope="module")
def guarded(model_dir, tmp_path_factory):  # noqa: F811
    # three failures must fall inside the window: on a loaded machine three password checks can take well over
    # a second, so the window is several seconds and each test first waits out what an earlier one left
    work = tmp_path_factory.mktemp("serve-guard")
    srv = Server(model_dir, work / "serve.db", work, "--max-batch", "50", "--max-failures", "3",
                 "--lockout-seconds", "2", "--failure-window", str(WINDOW)).start()
    r = srv.call("POST", "/users", ADMIN_KEY, json={"name": "rhea", "role": "clinician", "password": "rhea-pass-1"})
    srv.key = r.json()["api_key"]
    yield srv
    srv.stop()


def test_a_declared_oversized_body_is_refused_before_it_is_sent(guarded):
    head = (f"POST /predict/batch HTTP/1.1\r\nHost: 127.0.0.1\r\nX-API-Key: {guarded.key}\r\n"
            "Content-Type: application/json\r\nContent-Length: 187000000\r\n\r\n")
    answer = raw_request(guarded.port, head)  # not one byte of the body sent
    assert answer.startswith(b"HTTP/1.1 413") and b"187000000 bytes" in answer


def test_a_chunked_upload_is_cut_at_the_bound_and_memory_stays_bounded(guarded):
    before = rss_kb(guarded.proc.pid)
    head = (f"POST /predict/batch HTTP/1.1\r\nHost: 127.0.0.1\r\nX-API-Key: {guarded.key}\r\n"
            "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n")
    piece = b"[" + b"0.123456789," * 87000 + b"0]"  # ~1 MB
    chunk = f"{len(piece):x}\r\n".encode() + piece + b"\r\n"
    answer = raw_request(guarded.port, head, [chunk] * 60)  # 60 MB offered, no Content-Length
    assert answer.startswith(b"HTTP/1.1 413") and b"the most /predict/batch takes" in answer
    grew = rss_kb(guarded.proc.pid) - before
    assert grew < 20_000, f"the server grew by {grew} kB"  # the bound is ~0.3 MB: far from 60 MB
    assert guarded.call("GET", "/health").status_code == 200


def test_only_the_exact_open_paths_answer_without_a_credential(guarded):
    assert guarded.call("GET", "/health").status_code == 200
    for path in ("/healthz", "/health/x", "/tokens", "/docsx"):
        assert guarded.call("GET", path).status_code == 401, path


def test_throttle_keeps_its_memory_bounded_and_settings_are_checked(monkeypatch):
    import heartbeat.serve.guard as guard
    from heartbeat.serve.app import Settings
    from heartbeat.serve.monitor import MonitorSettings

    monkeypatch.setattr(guard, "MAX_KEYS", 100)
    now = [0.0]
    t = guard.Throttle(max_failures=3, window=10, lockout=5, clock=lambda: now[0])
    for i in range(1000):  # a flood of made-up user names
        now[0] += 0.01
        t.fail(("user", f"u{i}"))
    assert len(t.failures) + len(t.locked_until) <= 101
    with pytest.raises(ValueError, match="recall window"):
        Settings(model_dir="x", monitor=MonitorSettings(recall_window=0))


def test_an_unauthenticated_bad_body_is_a_401_that_tells_nothing_of_the_body(guarded):
    for headers in ({}, {"X-API-Key": "hbk_" + "z" * 43}):
        r = guarded.call("POST", "/predict/batch", headers={**headers, "Content-Type": "application/json"},
                         data=b"{not json at all")
        assert r.status_code == 401 and "beats" not in r.text and "JSON" not in r.text
    # the same bad body with a good key: now the body is read, and described
    ok = guarded.call("POST", "/predict/batch", guarded.key, headers={"Content-Type": "application/json"},
                      data=b"{not json at all")
    assert ok.status_code == 422 and "not valid JSON" in ok.json()["message"]


def test_failed_keys_lock_the_address_out_until_the_lockout_expires(guarded):
    time.sleep(SETTLE)  # whatever an earlier test left
    for _ in range(3):
        assert guarded.call("GET", "/me", "hbk_" + "w" * 43).status_code == 401
    locked = guarded.call("GET", "/me", guarded.key)  # even the right key, during the lockout
    assert locked.status_code == 429 and 1 <= int(locked.headers["Retry-After"]) <= 2
    assert guarded.call("GET", "/health").status_code == 200  # a probe from a locked address sees the truth
    time.sleep(int(locked.headers["Retry-After"]) + 0.5)
    assert guarded.call("GET", "/me", guarded.key).json()["name"] == "rhea"
    log = guarded.log.read_text()
    assert '"lockout"' in log and "w" * 43 not in log  # logged, without the secret


def test_failed_logins_lock_the_user_out_until_the_lockout_expires(guarded):
    time.sleep(SETTLE)
    for _ in range(3):
        bad = guarded.call("POST", "/token", data={"username": "rhea", "password": "wrong-password"})
        assert bad.status_code == 401
    right = {"username": "rhea", "password": "rhea-pass-1"}
    locked = guarded.call("POST", "/token", data=right)
    assert locked.status_code == 429 and "Retry-After" in locked.headers
    time.sleep(int(locked.headers["Retry-After"]) + 0.5)
    ok = guarded.call("POST", "/token", data=right)
    assert ok.status_code == 200 and ok.json()["access_token"].startswith("hbt_")
    assert "wrong-password" not in guarded.log.read_text()


def test_a_kill_9_loses_nothing_acknowledged(guarded):
    time.sleep(SETTLE)
    rng = np.random.default_rng(0)
    ids = []
    for _ in range(5):
        r = guarded.call("POST", "/predict", guarded.key, json=body(rng.uniform(0, 1, 187)))
        assert r.status_code == 200
        ids.append(r.json()["id"])
    fb = guarded.call("POST", "/feedback", guarded.key, json={"prediction_id": ids[0], "label": "N"})
    assert fb.status_code == 200
    before = guarded.call("GET", "/monitoring", guarded.key).json()
    guarded.proc.kill()  # SIGKILL: no shutdown handler runs
    guarded.proc.wait(10)
    guarded.start(admin_key=None)
    after = guarded.call("GET", "/monitoring", guarded.key).json()
    assert after["predictions"] == before["predictions"] >= 5 and after["labelled"] == before["labelled"] >= 1
    again = guarded.call("POST", "/feedback", guarded.key, json={"prediction_id": ids[-1], "label": "V"})
    assert again.status_code == 200  # the last acknowledged prediction is there to be labelled
