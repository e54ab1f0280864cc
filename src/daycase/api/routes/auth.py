"""Sign-in and sign-out with bearer tokens, and the admin's sign-in locks (API room)."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request, Response
from fastapi.security import OAuth2PasswordRequestForm
from pydantic import BaseModel

from daycase.api import signin
from daycase.api.deps import RuntimeDep, UserDep, bearer_token
from daycase.api.errors import ApiRefusal
from daycase.api.routes.common import refusals
from daycase.api.schemas import TokenOut
from daycase.services.accounts import NAME_RE, AccountError, SignInRefused, User, csrf_for
from daycase.services.passwords import HashingBusy

router = APIRouter(tags=["auth"])
CSRF_HEADER = "x-csrf-token"


def busy() -> ApiRefusal:
    return ApiRefusal(
        "busy",
        "Too many sign-ins at once; try again in a moment",
        headers={"Retry-After": str(HashingBusy.retry_after_s)},
        status=503,
    )


def locked_message(refused: SignInRefused) -> str:
    if refused.by_address:
        return "Too many failed sign-ins from this computer; try again later"
    return "Too many failed sign-ins for this user name; try again later"


@router.post("/auth/token", response_model=TokenOut, responses=refusals(413, 429, 503))
async def sign_in(
    request: Request,
    response: Response,
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
    runtime: RuntimeDep,
) -> TokenOut:
    """OAuth2 password form in, bearer token out. Wrong name or password look the same.

    The answer also sets a device cookie for the user: a client that sends it back is not
    refused because of other people's failed sign-ins for that name.
    """
    try:
        result = await signin.sign_in(request, runtime, form.username, form.password)
    except HashingBusy as exc:
        raise busy() from exc
    if isinstance(result, SignInRefused):
        if result.locked:
            raise ApiRefusal(
                "auth",
                locked_message(result),
                headers={"Retry-After": str(result.retry_after_s)},
                status=429,
            )
        raise ApiRefusal(
            "auth", "Wrong user name or password", headers={"WWW-Authenticate": "Bearer"}
        )
    signin.set_device_cookie(
        response,
        request,
        runtime,
        purpose="device",
        subject=result.user.name,
        value=result.device_cookie,
    )
    return TokenOut(
        access_token=result.access_token,
        expires_at=result.expires_at.isoformat(),
        role=result.user.role,
    )


@router.post("/auth/logout", status_code=204, responses=refusals(403, 413))
def sign_out(request: Request, user: UserDep, runtime: RuntimeDep) -> Response:
    """Revoke the token (or session) used for this request.

    With the page's session cookie, the request must carry the page's CSRF token in
    `X-CSRF-Token`: another site's form can send the cookie, never that header.
    """
    token = bearer_token(request)
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    by_header = scheme.lower() == "bearer" and bool(value.strip())
    if token and not by_header:
        submitted = request.headers.get(CSRF_HEADER, "")
        if not hmac.compare_digest(csrf_for(token), submitted):
            raise ApiRefusal(
                "csrf",
                "Sign-out with the session cookie needs the page's CSRF token "
                "(X-CSRF-Token header), or sign out with an Authorization: Bearer header",
                status=403,
            )
    if token:
        runtime.accounts.sign_out(token)
    return Response(status_code=204)


class UserOut(BaseModel):
    name: str
    role: str
    disabled: bool
    locked_until: str | None


UserPath = Annotated[str, Path(pattern=NAME_RE.pattern.replace(r"\Z", "$"))]


async def user_manager(user: UserDep, runtime: RuntimeDep) -> User:
    if not runtime.centre.is_admin(user.role):
        raise ApiRefusal("role", "Only the centre manager (admin) may manage users")
    return user


ManagerDep = Annotated[User, Depends(user_manager)]


@router.get("/users", response_model=list[UserOut], responses=refusals(403))
def users(user: ManagerDep, runtime: RuntimeDep) -> list[UserOut]:
    """Every user, and until when new browsers are refused sign-in for them (admin)."""
    locked = runtime.accounts.locked_until()
    return [
        UserOut(
            name=u.name,
            role=u.role,
            disabled=u.disabled,
            locked_until=locked[u.name].isoformat() if u.name in locked else None,
        )
        for u in runtime.accounts.users()
    ]


@router.post("/users/{name}/unlock", status_code=204, responses=refusals(403, 404, 413))
def unlock(name: UserPath, user: ManagerDep, runtime: RuntimeDep) -> Response:
    """Forget a user's failed sign-ins, so they can sign in from any browser at once (admin)."""
    try:
        runtime.accounts.unlock(name, by=f"{user.name} (API)")
    except AccountError as exc:
        raise ApiRefusal("not_found", f"No user {name}") from exc
    return Response(status_code=204)
