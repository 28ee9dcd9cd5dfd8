"""A bounded work queue for the CPU-bound analysis behind the API.

Why: each analysis keeps a core busy for a few hundred milliseconds. Without a bound, a burst of requests all
start at once, share the cores, and *every* caller waits longer and longer until clients time out - the server
looks dead although it is working. With a bound, at most ``max_inflight`` analyses run per worker, at most
``max_queue`` more wait (first come, first served), and anything beyond is answered at once with 503
``overloaded`` and ``Retry-After: 1``: the caller learns immediately and can back off or go to another worker.

The time-out (``request_timeout_s``, queueing included) answers 503 ``timeout`` but does not pretend to stop the
work: a Python thread cannot be killed. The slot therefore stays taken until the thread really finishes, so the
bound counts what actually uses the CPU, even when callers have given up.

Everything here runs on the event loop thread, so plain counters need no lock.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable
from contextlib import suppress
from typing import Annotated, ParamSpec, TypeVar

from fastapi import Depends, Request
from starlette.concurrency import run_in_threadpool

from faceproof.errors import Overloaded, RequestTimedOut

log = logging.getLogger(__name__)

P = ParamSpec("P")
T = TypeVar("T")


class WorkLimiter:
    """At most ``max_inflight`` jobs in worker threads, ``max_queue`` waiting, each within ``timeout_s``."""

    def __init__(self, max_inflight: int, max_queue: int, timeout_s: float) -> None:
        if max_inflight < 1 or max_queue < 0 or timeout_s <= 0:
            raise ValueError("max_inflight must be >= 1, max_queue >= 0 and timeout_s > 0")
        self.max_inflight = max_inflight
        self.max_queue = max_queue
        self.timeout_s = timeout_s
        self._running = 0
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._orphans: set[asyncio.Task[object]] = set()  # jobs whose caller timed out or went away

    @property
    def running(self) -> int:
        return self._running

    @property
    def waiting(self) -> int:
        return len(self._waiters)

    async def run(self, func: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """``func(*args, **kwargs)`` in a worker thread, once a slot is free; 503 errors as described above."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout_s
        await self._acquire(deadline)
        job = asyncio.ensure_future(self._job(func, *args, **kwargs))
        try:
            return await asyncio.wait_for(asyncio.shield(job), max(0.0, deadline - loop.time()))
        except TimeoutError:
            log.warning("analysis %s timed out after %.1f s", getattr(func, "__name__", "job"), self.timeout_s)
            raise RequestTimedOut(
                f"The analysis did not finish within {self.timeout_s:g} s; retry later.", timeout_s=self.timeout_s
            ) from None
        finally:
            if not job.done():  # keep a reference until the thread ends; it releases the slot itself
                self._orphans.add(job)
                job.add_done_callback(self._forget)

    async def _job(self, func: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        try:
            return await run_in_threadpool(func, *args, **kwargs)
        finally:
            self._release()

    async def _acquire(self, deadline: float) -> None:
        if self._running < self.max_inflight and not self._waiters:
            self._running += 1
            return
        if len(self._waiters) >= self.max_queue:
            raise Overloaded(
                "The server is busy: every analysis slot and queue place is taken. Retry in a second.",
                retry_after_s=1,
            )
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[None] = loop.create_future()
        self._waiters.append(waiter)
        try:
            await asyncio.wait_for(waiter, max(0.0, deadline - loop.time()))
        except BaseException as exc:
            if waiter.done() and not waiter.cancelled():
                self._release()  # a slot was handed over just as this caller gave up: pass it on
            else:
                with suppress(ValueError):
                    self._waiters.remove(waiter)
            if isinstance(exc, TimeoutError):
                raise RequestTimedOut(
                    f"No analysis slot became free within {self.timeout_s:g} s; retry later.",
                    timeout_s=self.timeout_s,
                ) from None
            raise

    def _release(self) -> None:
        """Hand the slot to the longest waiter, or free it."""
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return
        self._running -= 1

    def _forget(self, job: asyncio.Task[object]) -> None:
        self._orphans.discard(job)
        if not job.cancelled() and job.exception() is not None:
            log.warning("abandoned analysis failed: %s", type(job.exception()).__name__)


def analysis_limiter(request: Request) -> WorkLimiter:
    return request.app.state.limiter


#: Route parameter for CPU-bound work: ``await work.run(service.analyze, data)`` instead of ``run_in_threadpool``.
Work = Annotated[WorkLimiter, Depends(analysis_limiter)]
