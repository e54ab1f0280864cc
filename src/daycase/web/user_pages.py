"""The centre manager's users page: add, disable, reset a password, change a role, unlock
(web room).

The same account service as `daycase user`: the same rules for names and passwords, and a
disabled user or one given a new role loses every sign-in at once. Each change made here
is written to the audit log with who made it.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from daycase.api.deps import RuntimeDep
from daycase.services.accounts import NAME_RE, AccountError, User
from daycase.services.passwords import HashingBusy
from daycase.services.runtime import Runtime
from daycase.web.admin_pages import AdminPage
from daycase.web.common import checked_form, form_text, render

router = APIRouter(include_in_schema=False)


@router.get("/admin/users", response_class=HTMLResponse)
def users_page(request: Request, runtime: RuntimeDep, user: AdminPage) -> Response:
    return _users(request, runtime, user)


@router.post("/admin/users", response_class=HTMLResponse)
async def add_user(request: Request, runtime: RuntimeDep, user: AdminPage) -> Response:
    form = await checked_form(request)
    name, role = form_text(form, "name"), form_text(form, "role")
    password = form.get("password")
    try:
        runtime.accounts.add_user(
            name, role=role, password=password if isinstance(password, str) else ""
        )
    except (AccountError, HashingBusy) as exc:
        return _users(request, runtime, user, error=_said(exc), status=422, name=name, role=role)
    _audit(runtime, user, "user_added", name, f"role {role}")
    return _users(request, runtime, user, done=f"{name} added as {_title(runtime, role)}.")


@router.post("/admin/users/{name}/{action}", response_class=HTMLResponse)
async def change_user(
    request: Request, runtime: RuntimeDep, user: AdminPage, name: str, action: str
) -> Response:
    """`unlock`, `disable`, `password` (a new one, which also enables) or `role`."""
    form = await checked_form(request)
    accounts = runtime.accounts
    if not NAME_RE.match(name):  # never sent to the database (a NUL byte is an error there)
        return _users(request, runtime, user, error="There is no such user.", status=404)
    try:
        if action == "unlock":
            accounts.unlock(name, by=f"{user.name} (users page)")
            done = f"{name} can sign in again from any computer."
        elif action == "disable":
            if name == user.name:
                raise AccountError("you cannot disable your own sign-in")
            accounts.disable(name)
            _audit(runtime, user, "user_disabled", name, "")
            done = f"{name} is disabled and signed out everywhere."
        elif action == "password":
            password = form.get("password")
            accounts.set_password(name, password if isinstance(password, str) else "")
            _audit(runtime, user, "password_reset", name, "")
            done = f"{name} has a new password (give it to them in person) and is enabled."
        elif action == "role":
            role = form_text(form, "role")
            if name == user.name:
                raise AccountError("ask another manager to change your own role")
            accounts.change_role(name, role)
            _audit(runtime, user, "role_changed", name, f"to {role}")
            done = f"{name} is now {_title(runtime, role)} and must sign in again."
        else:
            return _users(request, runtime, user, error="No such change.", status=404)
    except (AccountError, HashingBusy) as exc:
        status = 404 if str(exc).startswith("no user") else 422
        return _users(request, runtime, user, error=f"{name}: {_said(exc)}", status=status)
    return _users(request, runtime, user, done=done)


def _said(exc: Exception) -> str:
    if isinstance(exc, HashingBusy):
        return "The server is busy. Try again in a moment."
    return str(exc)


def _title(runtime: Runtime, role: str) -> str:
    return runtime.centre.role_titles.get(role, role)


def _audit(runtime: Runtime, by: User, action: str, name: str, detail: str) -> None:
    runtime.accounts.accounts.audit(
        at=runtime.now(),
        user_name=by.name,
        role=by.role,
        action=action,
        case_id=None,
        detail=f"{name}" + (f" {detail}" if detail else ""),
    )


def _users(
    request: Request,
    runtime: Runtime,
    user: User,
    *,
    done: str | None = None,
    error: str | None = None,
    status: int = 200,
    name: str = "",
    role: str = "",
) -> Response:
    return render(
        request,
        runtime,
        "users.html",
        status,
        user=user,
        users=runtime.accounts.users(),
        locked=runtime.accounts.locked_until(),
        roles=sorted(runtime.centre.role_titles.items(), key=lambda item: item[1]),
        done=done,
        error=error,
        new_name=name,
        new_role=role,
    )
