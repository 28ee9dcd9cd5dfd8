"""Cap the size of a whole request body while it streams in, before the multipart parser writes it anywhere.

Why here and not per file: each upload is also read with a limit (:mod:`faceproof.api.uploads`), but Starlette's
multipart parser has already received the whole body by then and spooled large parts to temporary files, so a
2 GB body - or a thousand 15 MB files - would cost disk and time before any per-file check ran. This middleware
counts the bytes as the server receives them: a declared ``Content-Length`` over the cap is refused before a byte
is read, a chunked body is cut off one chunk past the cap (the app is told the client went away, and what it
answers to that is dropped). Both answer 413 ``request_too_large``; nothing of the request is stored.
"""

from __future__ import annotations

from starlette import types as asgi

from faceproof.api.responses import error_response
from faceproof.errors import RequestTooLarge


class BodyLimitMiddleware:
    def __init__(self, app: asgi.ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: asgi.Scope, receive: asgi.Receive, send: asgi.Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(scope, receive, send)
            return
        received = 0
        refused = started = False

        async def counted() -> asgi.Message:
            """The app's receive: once past the cap, answer 413 ourselves and tell the app the client left."""
            nonlocal received, refused
            message = await receive()
            if message["type"] == "http.request" and not refused:
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    refused = True
                    if not started:
                        await self._refuse(scope, receive, send)
                    return {"type": "http.disconnect"}
            return message

        async def guarded(message: asgi.Message) -> None:
            """The app's send: whatever it answers after the refusal (a parse error) is dropped."""
            nonlocal started
            if refused:
                return
            started = True
            await send(message)

        try:
            await self.app(scope, counted, guarded)
        except Exception:
            if not refused:
                raise  # a refused body makes the parser fail: that is expected and already answered

    async def _refuse(self, scope: asgi.Scope, receive: asgi.Receive, send: asgi.Send) -> None:
        error = RequestTooLarge(
            f"The request body is larger than the {self.max_bytes / 1e6:.1f} MB this server accepts.",
            limit_bytes=self.max_bytes,
        )
        await error_response(error)(scope, receive, send)
