"""The request body limit (`--max-body-mb`): 413 beyond it, before the body is read.

A request that says its length (Content-Length) is answered at once; one that does not
(chunked) is counted as it arrives and cut off when it passes the limit. Either way the
server never holds more than the limit of one request's body.
"""

from __future__ import annotations

import json
from typing import Any


class BodyTooLarge(Exception):
    pass


class BodyLimit:
    """ASGI middleware: HTTP requests with a body over `max_bytes` get 413."""

    def __init__(self, app: Any, max_bytes: int):
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None and declared > self.max_bytes:
            await self._refuse(send)
            return
        received = 0
        started = False

        async def counted() -> dict:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise BodyTooLarge
            return message

        async def watched(message: dict) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, watched)
        except BodyTooLarge:
            if not started:
                await self._refuse(send)

    async def _refuse(self, send: Any) -> None:
        limit = f"{self.max_bytes / 2**20:.3g} MiB"
        body = json.dumps(
            {"error": f"the request body is over the limit of {limit} (--max-body-mb)"}
        ).encode()
        headers = [(b"content-type", b"application/json"), (b"connection", b"close")]
        headers.append((b"content-length", str(len(body)).encode()))
        await send({"type": "http.response.start", "status": 413, "headers": headers})
        await send({"type": "http.response.body", "body": body})


def _content_length(scope: dict) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None
