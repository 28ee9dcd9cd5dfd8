"""Where bulk work runs: in this process, in a local process pool, or on a Ray cluster - with the same results.

Why tasks of many items: a task pays for scheduling and for shipping its function and results; an image takes
~0.2-0.5 s to analyse, so a few dozen images per task make that overhead negligible while still spreading the
work evenly. Models load lazily once per worker process (:mod:`faceproof.models.lazy`) and stay loaded for every
later task that worker runs.

Why results come back *in order*: callers (enrolment, evaluations) consume them as a stream and write or tally in
input order, so the outcome cannot depend on which worker finished first - the local and Ray paths give the same
report, and enrolment's identity gate sees the same photos before each new one.

Failures: the function given to :meth:`Engine.imap` handles the expected per-item failures itself (a photo without
a face is a result, not an error). An exception escaping a task, or a worker process dying, fails that task only:
it is run again (up to ``MAX_RETRIES`` times); finished tasks are never redone. Ray does this itself
(``max_retries`` / ``retry_exceptions``); the local pool does it here, restarting the pool when a worker died.
Inline, in the caller's own process, an exception is a bug and stops the batch at once.

Nothing heavy is imported at module level: worker processes import this module first (the pool initializer) and
must set their thread count before numpy, OpenCV or onnxruntime load.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Literal, Protocol, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")
Progress = Callable[[int, int], None]  # (items done, items total)
EngineName = Literal["local", "ray"]

#: Items per task (see the module docstring).
DEFAULT_CHUNK_SIZE = 16
#: Times a failed task is run again before the batch fails.
MAX_RETRIES = 3
#: Tasks kept in flight per worker: enough to keep every worker busy, few enough that a huge input is not
#: materialised as results all at once.
IN_FLIGHT_PER_WORKER = 2


class BatchFailed(RuntimeError):
    """A task still failed after :data:`MAX_RETRIES` retries; nothing after it was consumed."""


class Engine(Protocol):
    name: EngineName
    workers: int

    def imap(
        self, fn: Callable[[T], R], items: Sequence[T], *, chunk_size: int = ..., progress: Progress | None = ...
    ) -> Iterator[R]:
        """``fn`` applied to every item, results yielded in input order as soon as they are ready."""
        ...

    def close(self) -> None: ...


def run_chunk(fn: Callable[[T], R], chunk: Sequence[T]) -> list[R]:
    """One task: ``fn`` over a chunk of items, in the worker."""
    return [fn(item) for item in chunk]


def _chunks(items: Sequence[T], size: int, workers: int) -> list[Sequence[T]]:
    """Tasks of at most ``size`` items, smaller when that leaves a worker idle (at least 4 tasks per worker)."""
    size = max(1, min(size, -(-len(items) // (4 * workers))))
    return [items[i : i + size] for i in range(0, len(items), size)]


class _Ordered:
    """Collects finished chunks (in any order) and releases them in input order."""

    def __init__(self, total: int, progress: Progress | None) -> None:
        self._done: dict[int, list] = {}
        self._next = 0
        self._items_done = 0
        self._total = total
        self._progress = progress

    def add(self, index: int, results: list) -> None:
        self._done[index] = results
        self._items_done += len(results)
        if self._progress is not None:
            self._progress(self._items_done, self._total)

    def ready(self) -> Iterator:
        while self._next in self._done:
            yield from self._done.pop(self._next)
            self._next += 1


def _init_worker() -> None:
    """One thread per worker process: the pool parallelises across images, and oversubscribed BLAS/OpenMP
    threads on every worker would only fight for the same cores."""
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, "1")


class _PooledEngine:
    """The scheduling loop every engine shares: tasks submitted lowest index first, at most
    :data:`IN_FLIGHT_PER_WORKER` per worker, results released in input order, a failed task handed to
    :meth:`_failed` (which returns to have it resubmitted, or raises). Subclasses say how to submit, wait and
    collect."""

    name: EngineName
    workers: int

    def _ship(self, fn: Callable) -> object:
        """What each task receives as its function (Ray stores it once in its object store)."""
        return fn

    def _submit(self, fn: object, chunk: Sequence) -> object:
        raise NotImplementedError

    def _wait(self, handles: list[object]) -> list[object]:
        """At least one finished handle."""
        raise NotImplementedError

    def _result(self, handle: object) -> list:
        """The task's results; raises what the task raised."""
        raise NotImplementedError

    def _failed(self, index: int, attempt: int, exc: Exception) -> None:
        raise NotImplementedError

    def imap(
        self,
        fn: Callable[[T], R],
        items: Sequence[T],
        *,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
        progress: Progress | None = None,
    ) -> Iterator[R]:
        chunks = _chunks(items, chunk_size, self.workers)
        ordered = _Ordered(len(items), progress)
        shipped = self._ship(fn)
        attempts = [0] * len(chunks)
        waiting = list(range(len(chunks)))[::-1]  # a stack: pop() takes the lowest index
        running: dict[object, int] = {}
        while waiting or running:
            while waiting and len(running) < self.workers * IN_FLIGHT_PER_WORKER:
                i = waiting.pop()
                running[self._submit(shipped, chunks[i])] = i
            for handle in self._wait(list(running)):
                i = running.pop(handle)
                try:
                    ordered.add(i, self._result(handle))
                except Exception as exc:
                    attempts[i] += 1
                    self._failed(i, attempts[i], exc)
                    waiting.append(i)
            yield from ordered.ready()


class _Finished:
    """An inline task's outcome, shaped like a future."""

    def __init__(self, fn: Callable, chunk: Sequence) -> None:
        self.results: list | None = None
        self.error: Exception | None = None
        try:
            self.results = run_chunk(fn, chunk)
        except Exception as exc:
            self.error = exc


class InlineEngine(_PooledEngine):
    """One worker: the work runs in this process as it is submitted (no start-up, no pickling; the reference the
    other engines are tested against)."""

    name: EngineName = "local"
    workers: int = 1

    def _submit(self, fn: object, chunk: Sequence) -> _Finished:
        assert callable(fn)
        return _Finished(fn, chunk)

    def _wait(self, handles: list) -> list:
        return handles

    def _result(self, handle: object) -> list:
        assert isinstance(handle, _Finished)
        if handle.error is not None:
            raise handle.error
        return handle.results or []

    def _failed(self, index: int, attempt: int, exc: Exception) -> None:
        raise BatchFailed(f"task {index} failed: {exc!r}") from exc

    def close(self) -> None:
        return None


class LocalEngine(_PooledEngine):
    """A pool of ``workers`` processes on this machine (``spawn``: no inherited model or lock state). A task that
    raises, or whose worker process dies, is resubmitted; a dead worker breaks the whole pool, so the pool is
    replaced and the other tasks that were in it run again too (finished ones never do)."""

    name: EngineName = "local"

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self._pool: ProcessPoolExecutor | None = None
        self._pool_of: dict[Future, ProcessPoolExecutor] = {}

    def _new_pool(self) -> ProcessPoolExecutor:
        import multiprocessing

        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
        self._pool = ProcessPoolExecutor(
            max_workers=self.workers, mp_context=multiprocessing.get_context("spawn"), initializer=_init_worker
        )
        return self._pool

    def _submit(self, fn: object, chunk: Sequence) -> Future:
        pool = self._pool or self._new_pool()
        future = pool.submit(run_chunk, fn, chunk)
        self._pool_of[future] = pool
        return future

    def _wait(self, handles: list) -> list:
        return list(wait(handles, return_when=FIRST_COMPLETED)[0])

    def _result(self, handle: object) -> list:
        assert isinstance(handle, Future)
        pool = self._pool_of.pop(handle)
        try:
            return handle.result()
        except BrokenProcessPool:
            if pool is self._pool:  # the first failure from this pool replaces it; the others just resubmit
                self._new_pool()
            raise

    def _failed(self, index: int, attempt: int, exc: Exception) -> None:
        if attempt > MAX_RETRIES:
            raise BatchFailed(f"task {index} failed {attempt} times; last error: {exc!r}") from exc
        log.warning("task %d failed (%r); running it again (attempt %d)", index, exc, attempt + 1)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
        self._pool_of.clear()


class RayEngine(_PooledEngine):
    """Tasks on a Ray cluster: ``address`` of a running one, or ``None`` to start a local instance of
    ``workers`` CPUs (stopped again by :meth:`close`). Every node needs this faceproof version installed and the
    input paths readable (a shared file system). Ray itself reruns a failed task (``max_retries``,
    ``retry_exceptions``); what still fails here has failed :data:`MAX_RETRIES` times already."""

    name: EngineName = "ray"

    def __init__(self, workers: int | None, address: str | None = None) -> None:
        try:
            import ray
        except ImportError as exc:
            raise RuntimeError(
                "the Ray engine needs Ray: pip install 'faceproof[ray]' (or 'make setup-ray' in a checkout)"
            ) from exc
        self._ray = ray
        self._started_here = not ray.is_initialized()
        if self._started_here:
            options = {"num_cpus": workers} if address is None and workers else {}
            ray.init(
                address=address,
                include_dashboard=False,
                log_to_driver=False,
                configure_logging=False,
                **options,
            )
        self.workers = int(ray.cluster_resources().get("CPU", workers or 1))
        self._task = ray.remote(num_cpus=1, max_retries=MAX_RETRIES, retry_exceptions=True)(run_chunk)

    def _ship(self, fn: Callable) -> object:
        return self._ray.put(fn)  # once per batch; tasks receive the stored function, not a copy each

    def _submit(self, fn: object, chunk: Sequence) -> object:
        return self._task.remote(fn, chunk)

    def _wait(self, handles: list) -> list:
        return self._ray.wait(handles, num_returns=1)[0]

    def _result(self, handle: object) -> list:
        return self._ray.get(handle)

    def _failed(self, index: int, attempt: int, exc: Exception) -> None:
        raise BatchFailed(f"task {index} failed after {MAX_RETRIES} retries: {exc}") from exc

    def close(self) -> None:
        if self._started_here:
            self._ray.shutdown()


def open_engine(name: EngineName = "local", workers: int | None = None, ray_address: str | None = None) -> Engine:
    """The engine a CLI command asked for. ``workers`` defaults to every core of this machine (local) or every CPU
    of the cluster (Ray); one local worker runs inline."""
    if name == "ray":
        return RayEngine(workers, ray_address)
    workers = workers or os.cpu_count() or 1
    return InlineEngine() if workers == 1 else LocalEngine(workers)
