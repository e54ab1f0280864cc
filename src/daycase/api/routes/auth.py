"""Sign-in and sign-out with bearer tokens (API room)."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from fastapi.security import OAuth2PasswordRequestForm

from daycase.api.deps import RuntimeDep, UserDep, bearer_token
from daycase.api.errors import ApiRefusal
from daycase.api.routes.common import refusals
from daycase.api.schemas import TokenOut
from daycase.services.accounts import SignInRefused

router = APIRouter(tags=["auth"])


@router.post("/auth/token", response_model=TokenOut, responses=refusals(413, 429))
async def sign_in(
    form: Annotated[OAuth2PasswordRequestForm, Depends()], runtime: RuntimeDep
) -> TokenOut:
    """OAuth2 password form in, bearer token out. Wrong name or password look the same."""
    result = await asyncio.to_thread(runtime.accounts.sign_in, form.username, form.password)
    if isinstance(result, SignInRefused):
        if result.delay_s:
            await asyncio.sleep(result.delay_s)
        if result.locked:
            raise ApiRefusal(
                "auth",
                "Too many failed sign-ins for this user name; try again later",
                headers={"Retry-After": str(result.retry_after_s)},
                status=429,
            )
        raise ApiRefusal(
            "auth", "Wrong user name or password", headers={"WWW-Authenticate": "Bearer"}
        )
    return TokenOut(
        access_token=result.access_token,
        expires_at=result.expires_at.isoformat(),
        role=result.user.role,
    )


@router.post("/auth/logout", status_code=204, responses=refusals(413))
def sign_out(request: Request, user: UserDep, runtime: RuntimeDep) -> Response:
    """Revoke the token (or session) used for this request."""
    token = bearer_token(request)
    if token:
        runtime.accounts.sign_out(token)
    return Response(status_code=204)
