"""The request side of sign-in, shared by the API and the sign-in page (API room).

Who is trying (the client's address and the device cookie it holds for the name typed),
the password check on the account service's own hashing pool (so no request thread waits
for it), and the device cookie handed back after a sign-in.
"""

from __future__ import annotations

import asyncio

from fastapi import Request
from starlette.responses import Response

from daycase.services.accounts import Client, SignInRefused, Token, device_cookie_name
from daycase.services.runtime import Runtime


def is_https(request: Request) -> bool:
    """The scheme as uvicorn settled it: X-Forwarded-Proto counts only from a trusted proxy
    (`DAYCASE_FORWARDED_ALLOW_IPS`), never from the client itself."""
    return request.url.scheme == "https"


def client_of(request: Request, purpose: str, subject: str) -> Client:
    """The client's address (as the server sees it: behind a proxy, the proxy must pass
    it on) and the device cookie it sent for `subject`."""
    address = request.client.host if request.client else "unknown"
    return Client(address, request.cookies.get(device_cookie_name(purpose, subject)))


async def sign_in(
    request: Request, runtime: Runtime, name: str, password: str
) -> Token | SignInRefused:
    """Check the password on the hashing pool; a refusal's slowdown is served here.

    Raises `HashingBusy` when the pool and its queue are full.
    """
    accounts = runtime.accounts
    client = client_of(request, "device", name)
    result = await accounts.hashing.run(accounts.sign_in, name, password, client=client)
    if isinstance(result, SignInRefused) and result.delay_s:
        await asyncio.sleep(result.delay_s)
    return result


def set_device_cookie(
    response: Response,
    request: Request,
    runtime: Runtime,
    *,
    purpose: str,
    subject: str,
    value: str,
) -> None:
    """Remember this browser for `subject`: HttpOnly, SameSite=Strict, Secure over HTTPS."""
    response.set_cookie(
        device_cookie_name(purpose, subject),
        value,
        max_age=int(runtime.settings.device_cookie_days * 86_400),
        httponly=True,
        samesite="strict",
        secure=is_https(request),
        path="/",
    )
