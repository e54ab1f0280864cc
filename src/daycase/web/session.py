"""Page sessions and CSRF protection (web room).

The session cookie holds a sign-in token from the same account service as the API
(HttpOnly, SameSite=Strict, Secure over HTTPS, a shift long). Every form carries a CSRF
token derived from the session token, which another site can neither read nor guess;
the sign-in form, which has no session yet, uses a double-submit cookie instead. The
CSRF value is made by the account service, so the API's sign-out checks the same one.
"""

from __future__ import annotations

import hmac
import secrets

from fastapi import Request
from starlette.responses import Response

from daycase.api.deps import SESSION_COOKIE
from daycase.api.signin import is_https
from daycase.services.accounts import csrf_for as csrf_for  # the pages use it from here

LOGIN_CSRF_COOKIE = "daycase_login_csrf"
CSRF_FIELD = "csrf"
CSRF_HEADER = "x-csrf-token"


def session_token(request: Request) -> str | None:
    return request.cookies.get(SESSION_COOKIE) or None


def set_session(response: Response, request: Request, token: str, *, max_age_s: int) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=max_age_s,
        httponly=True,
        samesite="strict",
        secure=is_https(request),
        path="/",
    )


def clear_session(response: Response) -> None:
    response.delete_cookie(SESSION_COOKIE, path="/")


def new_login_csrf() -> str:
    return secrets.token_urlsafe(24)


def set_login_csrf(response: Response, request: Request, value: str) -> None:
    response.set_cookie(
        LOGIN_CSRF_COOKIE,
        value,
        httponly=True,
        samesite="strict",
        secure=is_https(request),
        path="/",
    )


def csrf_ok(request: Request, submitted: str | None) -> bool:
    token = session_token(request)
    if not token or not submitted:
        return False
    return hmac.compare_digest(csrf_for(token), submitted)


def login_csrf_ok(request: Request, submitted: str | None) -> bool:
    cookie = request.cookies.get(LOGIN_CSRF_COOKIE)
    return bool(cookie and submitted and hmac.compare_digest(cookie, submitted))
