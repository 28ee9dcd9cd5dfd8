"""The C heap of the server process: how many heaps glibc may keep for its threads.

Why: one analysis allocates tens of megabytes of short-lived buffers outside Python's own allocator (the decoded
image, OpenCV and numpy temporaries, every network's activations). glibc gives each thread that allocates its
own heap ("arena"), up to eight per core, and keeps what is freed in it for reuse rather than returning it to the
system. The API runs analyses on a pool of worker threads, so the process ends up holding the high-water mark of
several heaps at once. Two heaps are enough: at most ``max_inflight`` analyses run at a time, and a thread that
finds its heap busy takes the other. Measured on the test server (docs/performance.md, memory), peak RSS over
300 requests 576 MiB with glibc's default, 551 MiB with two heaps; latency unchanged.

Handing freed memory back after every request (``malloc_trim``) was measured too and not kept: peak RSS fell
further (to ~525 MiB) but every request then paid 10-20 ms to fault its buffers in again.

glibc only (``mallopt``); elsewhere (macOS, musl) :func:`limit_arenas` does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging

log = logging.getLogger(__name__)

#: glibc's ``mallopt`` parameter for the most heaps ("arenas") threads may spread over (malloc.h).
M_ARENA_MAX = -8
ARENAS = 2


def _glibc() -> ctypes.CDLL | None:
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    except OSError:
        return None
    return libc if hasattr(libc, "mallopt") and hasattr(libc, "gnu_get_libc_version") else None


def limit_arenas(arenas: int = ARENAS) -> None:
    """Let threads created from now on share at most ``arenas`` heaps (call before the worker threads start)."""
    libc = _glibc()
    if libc is not None and libc.mallopt(M_ARENA_MAX, arenas) != 1:
        log.warning("could not limit the C heap to %d arenas", arenas)


def release_free_memory() -> None:
    """Hand the heap memory freed so far back to the system (``malloc_trim``); called once, after the models load.

    Why: building the networks' sessions folds their weights in numpy and in ONNX protobufs, ~170 MB of
    short-lived buffers for each SFace graph; glibc keeps what is freed, so without this the server would stay
    ~160 MB above what the models need (docs/performance.md, memory). Once at start it costs nothing per request,
    unlike a trim after every request (above)."""
    libc = _glibc()
    if libc is not None and hasattr(libc, "malloc_trim"):
        libc.malloc_trim(0)
