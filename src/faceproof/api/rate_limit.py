"""Per-caller request rate limits: a token bucket per API key (or per client address while no keys exist).

Why: the bounded work queue (:mod:`faceproof.api.limits`) protects the server, not the other callers - one client
looping on ``/identify`` can keep every slot busy, and unlimited ``verify`` calls let a key holder probe the
gallery or hill-climb a synthetic face towards a profile (docs/security.md). Each caller gets ``per_minute``
requests a minute with bursts up to ``burst``; beyond that 429 ``rate_limited`` with ``Retry-After``.

The buckets live in each worker process (no shared store): with N workers behind a load balancer a caller can get
up to N times the allowance; set the limit per worker accordingly, or enforce a global one in the proxy. The table
keeps at most :data:`MAX_CALLERS` callers (least recently seen dropped first), so memory stays bounded. It runs on
the event loop thread only, so it needs no lock.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable

from starlette import types as asgi

from faceproof.api.responses import error_response
from faceproof.errors import RateLimited
from faceproof.security import KeyStore, is_open_path, key_id_of, token_from_scope

MAX_CALLERS = 10_000


class TokenBuckets:
    """``take(caller)`` spends one request of the caller's allowance: None when allowed, else seconds to wait."""

    def __init__(self, per_minute: float, burst: int, clock: Callable[[], float] = time.monotonic) -> None:
        if per_minute <= 0 or burst < 1:
            raise ValueError("per_minute must be > 0 and burst >= 1")
        self.rate = per_minute / 60.0
        self.burst = burst
        self._clock = clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # caller -> (tokens, last update)

    def take(self, caller: str) -> float | None:
        now = self._clock()
        tokens, last = self._buckets.pop(caller, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + (now - last) * self.rate)
        allowed = tokens >= 1.0
        self._buckets[caller] = (tokens - 1.0 if allowed else tokens, now)
        while len(self._buckets) > MAX_CALLERS:
            self._buckets.popitem(last=False)
        return None if allowed else (1.0 - tokens) / self.rate


class RateLimitMiddleware:
    """Applies :class:`TokenBuckets` to every call except the open paths (health, readiness, docs, web page)."""

    def __init__(self, app: asgi.ASGIApp, buckets: TokenBuckets, keys: KeyStore) -> None:
        self.app = app
        self.buckets = buckets
        self.keys = keys

    async def __call__(self, scope: asgi.Scope, receive: asgi.Receive, send: asgi.Send) -> None:
        if scope["type"] != "http" or is_open_path(scope["path"]):
            await self.app(scope, receive, send)
            return
        caller = None
        if self.keys.configured:  # the auth middleware (outside this one) has checked the key already
            caller = key_id_of(token_from_scope(scope))
        if caller is None:
            client = scope.get("client")
            caller = f"address {client[0] if client else 'unknown'}"
        wait_s = self.buckets.take(caller)
        if wait_s is None:
            await self.app(scope, receive, send)
            return
        retry = max(1, math.ceil(wait_s))
        error = RateLimited(f"Too many requests: retry in {retry} s.", retry_after_s=retry)
        await error_response(error)(scope, receive, send)
