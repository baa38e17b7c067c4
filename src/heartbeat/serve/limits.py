"""A time limit on work that cannot be interrupted: the call runs in a forked child process.

Finding the beats of a raw segment (XQRS, then the rate checks) is numpy and scipy code that no
Python thread can stop, and its cost grows with both the samples and the rate. The request's
size is bounded before it starts (``Settings.max_record_work``); this bounds its time too: the
child is killed at the deadline, so a request never holds a core longer than the limit.
"""

from __future__ import annotations

import multiprocessing
import time


class TimeLimit(Exception):
    """The call did not finish within its limit; the child doing it was killed."""

    def __init__(self, seconds: float):
        super().__init__(f"took longer than {seconds:g} s")
        self.seconds = seconds


def _child(conn, fn, args) -> None:
    try:
        out = ("ok", fn(*args))
    except Exception as exc:  # sent back and raised in the parent, as if the call had run there
        out = ("error", exc)
    try:
        conn.send(out)
    except Exception as exc:  # an exception that does not pickle: its words
        conn.send(("error", RuntimeError(f"{type(out[1]).__name__}: {out[1]}" if out[0] == "error" else str(exc))))
    conn.close()


def call_with_time_limit(fn, args: tuple, seconds: float | None):
    """``fn(*args)``, in a forked child killed after ``seconds`` (:class:`TimeLimit`); in process if None.

    The child shares nothing back but the (pickled) result or exception."""
    if not seconds:
        return fn(*args)
    ctx = multiprocessing.get_context("fork")  # the arguments are inherited, not pickled
    parent, child = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_child, args=(child, fn, args), daemon=True)
    deadline = time.monotonic() + seconds
    proc.start()
    child.close()
    try:
        if not parent.poll(max(0.0, deadline - time.monotonic())):
            raise TimeLimit(seconds)
        try:
            status, value = parent.recv()
        except EOFError:  # the child died without an answer (killed, out of memory)
            raise RuntimeError(f"the worker process ended with exit code {proc.exitcode}") from None
    finally:
        if proc.is_alive():
            proc.kill()
        proc.join(5)
        parent.close()
    if status == "error":
        raise value
    return value
