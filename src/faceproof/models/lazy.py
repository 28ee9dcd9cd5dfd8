"""Load a model once, on first use, from any thread.

Why: start-up stays fast (``faceproof --help`` must not load 200 MB of weights), and a server with a thread pool
must never load the same model twice or hand out a half-built one. Double-checked locking keeps the hot path to a
single attribute read.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class Lazy(Generic[T]):
    """A value built by ``factory`` on the first :meth:`get`, exactly once."""

    def __init__(self, factory: Callable[[], T]) -> None:
        self._factory = factory
        self._lock = threading.Lock()
        self._value: T | None = None

    def get(self) -> T:
        value = self._value
        if value is None:
            with self._lock:
                value = self._value
                if value is None:
                    value = self._factory()
                    self._value = value
        return value

    @property
    def loaded(self) -> bool:
        return self._value is not None
