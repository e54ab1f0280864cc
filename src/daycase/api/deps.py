"""Request dependencies: the runtime and the signed-in user (API room).

A user is found from `Authorization: Bearer …` or, for pages, the session cookie; never
from a token in the URL.
"""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import OAuth2PasswordBearer

from daycase.api.errors import ApiRefusal
from daycase.services.accounts import User
from daycase.services.runtime import Runtime

SESSION_COOKIE = "daycase_session"


# The dependencies are `async def` so that FastAPI runs them on the event loop: a plain
# `def` costs a thread-pool round trip each, several per request. Only a token this
# process has not checked recently goes to a thread (and the database).


async def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


def bearer_token(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return request.cookies.get(SESSION_COOKIE) or None


# Declares the bearer scheme in the OpenAPI (so `/docs` can sign in with the password form);
# the token itself is read by `bearer_token`, which also accepts the page's session cookie.
_oauth2 = OAuth2PasswordBearer(tokenUrl="/api/v1/auth/token", auto_error=False)


async def _signed_in(request: Request) -> User:
    runtime: Runtime = request.app.state.runtime
    token = bearer_token(request)
    user = None
    if token:
        user = runtime.accounts.cached_user(token) or await asyncio.to_thread(
            runtime.accounts.user_for_token, token
        )
    if user is None:
        raise ApiRefusal(
            "auth",
            "Sign in first: the token is missing, expired or revoked",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return user


# Each of these is one flat dependency (the bearer scheme only documents the sign-in for
# the OpenAPI): FastAPI solves every nested dependency on every request, and on the write
# path that cost as much as the clinical rules.


async def current_user(request: Request, _: Annotated[str | None, Depends(_oauth2)]) -> User:
    return await _signed_in(request)


UserDep = Annotated[User, Depends(current_user)]


async def staff_user(request: Request, _: Annotated[str | None, Depends(_oauth2)]) -> User:
    user = await _signed_in(request)
    runtime: Runtime = request.app.state.runtime
    if not runtime.centre.is_staff(user.role):
        raise ApiRefusal("role", "This sign-in may only see the family board")
    return user


StaffDep = Annotated[User, Depends(staff_user)]


async def admin_user(user: UserDep, runtime: RuntimeDep) -> User:
    if not runtime.centre.is_admin(user.role):
        raise ApiRefusal("role", "Only the centre manager (admin) may read the audit log")
    return user


AdminDep = Annotated[User, Depends(admin_user)]
