"""ASGI middleware: refuse what no route could take, and mark every answer (API room).

A body over the limit (413), and an address with control characters in it (422): no id,
date or page name has one, and a database may choke on them (PostgreSQL on NUL bytes).
Every answer carries the security headers (a strict Content-Security-Policy, no-store).
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
        if declared is not None and declared.isdigit():
            if int(declared) > self.max_bytes:
                await self._refuse(send)
                return
            # The HTTP parser delivers exactly the declared length and no more: nothing to
            # count, and the body need not be held here (this is every write's path).
            await self.app(scope, receive, send)
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


# The policy every page is written for: scripts and styles from our own files only (no
# inline script, no `style=` attribute, no `on…=` handler), requests to our own origin,
# forms posted to our own origin, never framed, no plugins, no <base> rewriting. `data:`
# images are the only outside source, for icons inside a stylesheet.
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "manifest-src 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
        "object-src 'none'",
    ]
)
HSTS = "max-age=31536000"
# Vendored files that never carry patient data and may be cached like any library.
CACHEABLE_PREFIXES = ("/static/", "/docs/assets/")


class SecurityHeaders:
    """The same security headers on every answer, pages, JSON, refusals and errors alike.

    `Cache-Control: no-store` on everything but the vendored static files (any answer may
    carry patient data, and a shared or back-button cache must keep none). HSTS only over
    HTTPS: the scope's scheme is `https` when served with TLS, or when a trusted proxy
    said so (uvicorn rewrites it from `X-Forwarded-Proto` for `forwarded_allow_ips`).
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope.get("path", "")
        cacheable = path.startswith(CACHEABLE_PREFIXES)
        https = scope.get("scheme") == "https"

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                ours = _security_headers(cacheable=cacheable, https=https)
                names = {name for name, _ in ours}
                kept = [(k, v) for k, v in message.get("headers", []) if k.lower() not in names]
                message = {**message, "headers": kept + ours}
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _security_headers(*, cacheable: bool, https: bool) -> list[tuple[bytes, bytes]]:
    headers = [
        (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
        (b"x-content-type-options", b"nosniff"),
        (b"referrer-policy", b"no-referrer"),
        (b"x-frame-options", b"DENY"),
        (b"cross-origin-opener-policy", b"same-origin"),
    ]
    if not cacheable:
        headers.append((b"cache-control", b"no-store"))
    if https:
        headers.append((b"strict-transport-security", HSTS.encode()))
    return headers
