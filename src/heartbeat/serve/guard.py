"""The service's front door: who is asking, how often they failed, and how much they send.

:class:`Guard` is a pure ASGI middleware that runs before FastAPI reads a body:

1. **Throttling.** A client address (or, at ``/token``, a user name) with ``max_failures`` failed
   credentials within ``window`` seconds is locked out for ``lockout`` seconds: every request
   from it gets 429 with ``Retry-After``, a correct credential included, until the lockout
   expires. Each lockout is logged with the address and user name, never the secret. The
   service counts in its database (:class:`DbThrottle`), so all worker processes share the
   counts; :class:`Throttle` is the same rule in one process's memory.
2. **Authentication first.** Every path but the open ones (``/health``, ``/token``, the API
   docs) needs a valid credential before its body is read, so an unauthenticated request gets
   401 whatever it sends, and learns nothing about the body it should have sent.
3. **Body limits.** A body larger than its path's bound is refused with 413: at once when its
   Content-Length says so, else (a chunked upload) as soon as the bytes read pass the bound,
   so no more than the bound is ever held in memory. A body that holds more numbers than its
   path takes (counted by its commas, before any parsing: short numbers such as ``0,`` fit many
   in the byte bound) is a 413 too.

Starlette has no body-size limit and FastAPI authenticates in dependencies, which it solves only
after it has parsed the body: that is why this is written here, as small as it can be.
"""

from __future__ import annotations

import json
import logging
import math
import threading
import time
from collections import deque
from typing import Callable

import anyio
from sqlalchemy import delete, func, select

from heartbeat.serve.db import AuthFailure, Lockout
from heartbeat.serve.docs import PATHS as DOCS_PATHS
from heartbeat.serve.routes.page import PATHS as PAGE_PATHS

log = logging.getLogger("heartbeat.serve")

#: the only paths that answer without a credential, matched exactly (``/healthz`` is not ``/health``)
OPEN_PATHS = frozenset({"/health", "/token", "/openapi.json", *DOCS_PATHS,  # the docs page and its assets
                        *PAGE_PATHS})  # the review page's files (heartbeat.serve.routes.page)
MAX_KEYS = 100_000  # failure records kept at most: a flood of made-up user names cannot grow memory further


class Throttle:
    """Failures per key (``("ip", address)``, ``("user", name)``) in a sliding window, and lockouts.

    In memory, per server process (the service uses :class:`DbThrottle`, shared by its workers), guarded by a
    lock (the event loop and ``/token``'s worker threads both use it), and pruned so that it keeps
    at most :data:`MAX_KEYS` keys: old failures fall out of the window, expired lockouts are dropped.
    """

    def __init__(self, max_failures: int = 10, window: float = 60.0, lockout: float = 60.0,
                 clock: Callable[[], float] = time.monotonic):
        self.max_failures, self.window, self.lockout, self.clock = max_failures, window, lockout, clock
        self.failures: dict[tuple, deque] = {}
        self.locked_until: dict[tuple, float] = {}
        self.lock = threading.Lock()

    def retry_after(self, *keys: tuple) -> float:
        """Seconds left of the longest lockout among ``keys`` (0: none)."""
        now = self.clock()
        with self.lock:
            return max([self.locked_until.get(k, 0.0) - now for k in keys] + [0.0])

    def fail(self, *keys: tuple) -> float:
        """Count a failure for each key; the lockout it starts (seconds), or 0."""
        now = self.clock()
        started = 0.0
        with self.lock:
            if len(self.failures) + len(self.locked_until) > MAX_KEYS:
                self._prune(now)
            for k in keys:
                q = self.failures.setdefault(k, deque())
                q.append(now)
                while q and q[0] <= now - self.window:
                    q.popleft()
                if len(q) >= self.max_failures:
                    self.locked_until[k] = now + self.lockout
                    del self.failures[k]
                    started = self.lockout
        return started

    def succeed(self, *keys: tuple) -> None:
        with self.lock:
            for k in keys:
                self.failures.pop(k, None)

    def _prune(self, now: float) -> None:
        self.locked_until = {k: t for k, t in self.locked_until.items() if t > now}
        self.failures = {k: q for k, q in self.failures.items() if q and q[-1] > now - self.window}
        while len(self.failures) > MAX_KEYS // 2:  # still a flood: forget the oldest failures first
            self.failures.pop(next(iter(self.failures)))


class DbThrottle:
    """:class:`Throttle`'s rule, kept in the service's database, so that every worker process
    (``--workers N``) and a restart see the same failures and lockouts.

    Times are wall-clock seconds (processes share no monotonic clock). A failure is a row; the
    failures of a key older than the window are deleted when it fails again, and every
    ``PRUNE_EVERY`` failures all expired rows go, so the tables stay as small as the traffic of
    one window. Two workers that lock a key out at once each write a lockout row; the latest counts."""

    PRUNE_EVERY = 200

    def __init__(self, sessions, max_failures: int = 10, window: float = 60.0, lockout: float = 60.0,
                 clock: Callable[[], float] = time.time):
        self.sessions, self.max_failures, self.window, self.lockout = sessions, max_failures, window, lockout
        self.clock, self.calls = clock, 0

    @staticmethod
    def _key(key: tuple) -> str:
        kind, value = key
        return f"{kind}:{value}"[:200]

    def retry_after(self, *keys: tuple) -> float:

        now = self.clock()
        with self.sessions() as s:
            until = s.scalar(select(func.max(Lockout.until)).where(Lockout.key.in_([self._key(k) for k in keys])))
        return max((until or 0.0) - now, 0.0)

    def fail(self, *keys: tuple) -> float:

        now, started = self.clock(), 0.0
        self.calls += 1
        with self.sessions.begin() as s:
            if self.calls % self.PRUNE_EVERY == 0:
                s.execute(delete(AuthFailure).where(AuthFailure.at <= now - self.window))
                s.execute(delete(Lockout).where(Lockout.until <= now))
            for k in map(self._key, keys):
                s.execute(delete(AuthFailure).where(AuthFailure.key == k, AuthFailure.at <= now - self.window))
                s.add(AuthFailure(key=k, at=now))
                s.flush()
                n = s.scalar(select(func.count()).select_from(AuthFailure).where(AuthFailure.key == k)) or 0
                if n >= self.max_failures:
                    s.execute(delete(AuthFailure).where(AuthFailure.key == k))
                    s.add(Lockout(key=k, until=now + self.lockout))
                    started = self.lockout
        return started

    def succeed(self, *keys: tuple) -> None:

        with self.sessions.begin() as s:
            s.execute(delete(AuthFailure).where(AuthFailure.key.in_([self._key(k) for k in keys])))


async def _respond(send, status: int, detail: str, headers: dict[str, str] | None = None) -> None:
    body = json.dumps({"detail": detail}).encode()
    head = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    head += [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": head})
    await send({"type": "http.response.body", "body": body})


RECORD_HINT = {"/predict/record": " (max_record_work, samples x Hz: send a long or fast recording in shorter "
                                   "segments)"}


def too_many(retry: float) -> tuple[int, str, dict[str, str]]:
    seconds = max(1, math.ceil(retry))
    return 429, f"too many failed credentials: try again in {seconds} s", {"Retry-After": str(seconds)}


class Guard:
    """ASGI middleware: throttle, authenticate, then bound the body (see the module's docstring).

    ``authenticate(api_key, bearer)`` returns a principal or raises an error with ``status``
    (heartbeat.serve.auth.AuthError); it runs in a worker thread (it reads the database).
    ``limit(path)`` is the largest body, in bytes, a path takes.
    """

    def __init__(self, app, authenticate: Callable, throttle: Throttle, limit: Callable[[str], int],
                 numbers: Callable[[str], int | None] = lambda _path: None):
        self.app, self.authenticate, self.throttle, self.limit = app, authenticate, throttle, limit
        self.numbers = numbers

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        path, client = scope["path"], (scope.get("client") or ("unknown", 0))[0]
        if path not in OPEN_PATHS:  # /health answers a locked-out address too (a probe behind it sees the truth)
            retry = await anyio.to_thread.run_sync(self.throttle.retry_after, ("ip", client))  # it may read the db
            if retry > 0:
                return await _respond(send, *too_many(retry))
            headers = {k.decode().lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
            bearer = headers.get("authorization", "")
            bearer = bearer[7:].strip() if bearer.lower().startswith("bearer ") else None
            key = headers.get("x-api-key")
            try:
                principal = await anyio.to_thread.run_sync(self.authenticate, key, bearer)
            except Exception as exc:
                status = getattr(exc, "status", None)
                if status != 401:
                    raise
                if key or bearer:  # a wrong credential counts; a missing one is only a 401
                    locked = await anyio.to_thread.run_sync(self.throttle.fail, ("ip", client))
                    if locked:
                        log.warning("lockout", extra={"fields": {"client": client, "path": path,
                                                                 "seconds": locked, "why": "failed credentials"}})
                return await _respond(send, 401, str(exc), {"WWW-Authenticate": "Bearer"})
            scope.setdefault("state", {})["principal"] = principal
        limit = self.limit(path)
        declared = dict(scope.get("headers", [])).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            return await _respond(send, 413, f"the body is {int(declared)} bytes; {path} takes at most {limit}"
                                  + RECORD_HINT.get(path, ""))
        chunks, size = [], 0
        while True:  # read the body up to the bound, never past it
            message = await receive()
            if message["type"] != "http.request":
                return  # the client left
            size += len(message.get("body", b""))
            if size > limit:
                return await _respond(send, 413, f"the body passed {limit} bytes, the most {path} takes"
                                      + RECORD_HINT.get(path, ""))
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        body, replayed = b"".join(chunks), False
        most = self.numbers(path)
        if most is not None and body.count(b",") > most + 64:  # ~10 ms for 19 MB; parsing it would take seconds
            return await _respond(send, 413, f"the body holds more than {most} numbers, the most {path} takes"
                                  + RECORD_HINT.get(path, ""))

        async def replay():
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)
