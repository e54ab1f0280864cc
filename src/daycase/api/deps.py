"""Request dependencies: the runtime and the signed-in user (API room).

A user is found from `Authorization: Bearer …` or, for pages, the session cookie; never
from a token in the URL.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from daycase.api.errors import ApiRefusal
from daycase.services.accounts import User
from daycase.services.runtime import Runtime

SESSION_COOKIE = "daycase_session"
STAFF_ROLES = frozenset({"front_desk", "nurse", "anesthesia", "proceduralist", "admin"})


def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


def bearer_token(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return request.cookies.get(SESSION_COOKIE) or None


def current_user(request: Request, runtime: RuntimeDep) -> User:
    token = bearer_token(request)
    user = runtime.accounts.user_for_token(token) if token else None
    if user is None:
        raise ApiRefusal(
            "auth",
            "Sign in first: the token is missing, expired or revoked",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return user


UserDep = Annotated[User, Depends(current_user)]


def staff_user(user: UserDep) -> User:
    if user.role not in STAFF_ROLES:
        raise ApiRefusal("role", "This sign-in may only see the family board")
    return user


StaffDep = Annotated[User, Depends(staff_user)]


def admin_user(user: UserDep) -> User:
    if user.role != "admin":
        raise ApiRefusal("role", "Only the centre manager (admin) may read the audit log")
    return user


AdminDep = Annotated[User, Depends(admin_user)]
