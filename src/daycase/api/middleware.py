"""ASGI middleware: refuse what no route could take before the app reads it (API room).

A body over the limit (413), and an address with control characters in it (422): no id,
date or page name has one, and a database may choke on them (PostgreSQL on NUL bytes).
"""

from __future__ import annotations

import json
import re
from urllib.parse import unquote

from starlette.types import ASGIApp, Message, Receive, Scope, Send

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


class CleanAddress:
    """422 `invalid` for a path or query string that carries control characters."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            query = unquote(scope.get("query_string", b"").decode("latin-1"), errors="replace")
            for part, text in (("path", scope.get("path", "")), ("query", query)):
                if _CONTROL.search(text):
                    problem = "must not contain control characters"
                    await _refuse(
                        send,
                        422,
                        {
                            "kind": "invalid",
                            "messages": [f"{part}: {problem}"],
                            "fields": {part: problem},
                        },
                    )
                    return
        await self.app(scope, receive, send)


class BodyLimit:
    """413 `too_large` for a body over `max_bytes`, whether or not it declares its length."""

    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers", [])).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(send)
            return
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                await self.app(scope, _replay([message]), send)
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await self._refuse(send)
                return
            chunks.append(chunk)
            more = message.get("more_body", False)
        body = b"".join(chunks)
        await self.app(
            scope,
            _replay([{"type": "http.request", "body": body, "more_body": False}], receive),
            send,
        )

    async def _refuse(self, send: Send) -> None:
        message = f"The request body is over {self.max_bytes // 1024} KiB"
        await _refuse(send, 413, {"kind": "too_large", "messages": [message], "fields": {}})


async def _refuse(send: Send, status: int, refusal: dict[str, object]) -> None:
    body = json.dumps(refusal).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def _replay(messages: list[Message], then: Receive | None = None) -> Receive:
    pending = list(messages)

    async def receive() -> Message:
        if pending:
            return pending.pop(0)
        if then is not None:
            return await then()
        return {"type": "http.disconnect"}

    return receive
