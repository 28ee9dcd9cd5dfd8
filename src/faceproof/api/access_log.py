"""One structured log line per request, and nothing biometric in it.

Why its own access log instead of uvicorn's: uvicorn logs the raw request line (query strings included) and
nothing about who called or how long it took. This one logs ``key=value`` fields a log pipeline can parse -
method, the route *template* (``/profiles/{profile_id}/verify``, so no ids or query values), status, duration and
the API key's public id - and never a body, a header value, an image or an embedding.
"""

from __future__ import annotations

import logging
import time

from starlette import types as asgi

log = logging.getLogger("faceproof.access")


class AccessLogMiddleware:
    def __init__(self, app: asgi.ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: asgi.Scope, receive: asgi.Receive, send: asgi.Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # what the client gets if the app fails before answering

        async def send_and_note(message: asgi.Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        finally:
            route = scope.get("route")
            state = scope.get("state", {})
            log.info(
                "request method=%s route=%s status=%d duration_ms=%.1f key=%s",
                scope["method"],
                getattr(route, "path", "-"),
                status,
                1000 * (time.perf_counter() - started),
                state.get("api_key_id", "-"),
            )
