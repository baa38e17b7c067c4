"""Credentials and users: the OAuth2 token, who am I, and the admin's user management."""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi import Path as FastPath
from sqlalchemy import select
from sqlalchemy.orm import Session

from heartbeat.serve import auth
from heartbeat.serve.db import ApiKey, User, count, utcnow
from heartbeat.serve.deps import DB, Admin, Reader, Svc, invalid
from heartbeat.serve.guard import too_many
from heartbeat.serve.schemas import INT64_MAX, TokenOut, UserIn

log = logging.getLogger("heartbeat.serve")

router = APIRouter()


@router.post("/token", tags=["users"], response_model=TokenOut)
def token(svc: Svc, request: Request, s: DB, username: Annotated[str, Form()],
          password: Annotated[str, Form()]) -> TokenOut:
    """OAuth2 password flow: a user name and password (form fields) for a bearer token.

    Failed logins are limited per user and per client address (429 with Retry-After)."""
    keys = (("ip", request.client.host if request.client else "unknown"), ("user", username))
    retry = svc.throttle.retry_after(*keys)
    if retry > 0:
        status, detail, headers = too_many(retry)
        raise HTTPException(status, detail, headers=headers)
    try:
        tok, _ = auth.login(s, username, password, svc.settings.token_minutes)
    except auth.AuthError:
        locked = svc.throttle.fail(*keys)
        if locked:
            log.warning("lockout", extra={"fields": {"client": keys[0][1], "user": username, "seconds": locked,
                                                     "why": "failed logins"}})
        raise
    svc.throttle.succeed(*keys)
    s.commit()
    return TokenOut(access_token=tok, expires_in=int(svc.settings.token_minutes * 60))


@router.get("/me", tags=["users"])
def me(p: Reader) -> dict:
    return {"name": p.name, "role": p.role, "via": p.via}




@router.post("/users", tags=["users"], status_code=201)
def create_user(body: UserIn, p: Admin, s: DB) -> dict:
    """A new user with an API key; the key is shown here once and stored only as its hash."""
    try:
        user, key = auth.create_user(s, body.name, body.role, body.password, created_by=p.name)
    except LookupError as exc:
        raise HTTPException(409, str(exc)) from None
    except ValueError as exc:
        raise invalid(("body",), str(exc)) from None
    s.commit()
    log.info("user_created", extra={"fields": {"name": user.name, "role": user.role, "by": p.name,
                                               "password": body.password is not None}})
    return {"name": user.name, "role": user.role, "api_key": key}


@router.get("/users", tags=["users"])
def list_users(p: Admin, s: DB) -> list[dict]:
    users = s.scalars(select(User).order_by(User.id)).all()
    return [{"name": u.name, "role": u.role, "active": u.active, "password": u.password_hash is not None,
             "created_at": u.created_at.isoformat() + "Z", "created_by": u.created_by,
             "api_keys": [k.prefix + "..." for k in u.keys if k.revoked_at is None],
             "keys": [{"id": k.id, "prefix": k.prefix + "...", "created_at": k.created_at.isoformat() + "Z"}
                      for k in u.keys if k.revoked_at is None]} for u in users]


def user_named(s: Session, name: str) -> User | None:
    return s.scalar(select(User).where(User.name == name))


def active_user(s: Session, name: str) -> User:
    """The user named ``name``: 404 if there is none, 409 (saying how to re-enable) if disabled."""
    user = user_named(s, name)
    if user is None:
        raise HTTPException(404, f"no user named {name!r}")
    if not user.active:
        raise HTTPException(409, f"user {name!r} is disabled: POST /users/{name}/enable re-enables it with a new key")
    return user


@router.post("/users/{name}/keys", tags=["users"], status_code=201)
def new_key(name: str, p: Admin, s: DB, revoke_others: bool = False) -> dict:
    """A new API key for a user, shown once; ``?revoke_others=true`` rotates: every other key of the
    user is revoked in the same transaction (their tokens stay valid until they expire)."""
    user = active_user(s, name)
    key, row = auth.add_key_row(s, user)
    revoked = auth.revoke_keys(s, user, keep=row.id) if revoke_others else []
    s.commit()
    log.info("api_key_created", extra={"fields": {"name": name, "by": p.name, "prefix": key[:8], "key_id": row.id,
                                                  "revoked_key_ids": revoked}})
    return {"name": name, "api_key": key, "key_id": row.id, "revoked_key_ids": revoked}


@router.delete("/users/{name}/keys/{key_id}", tags=["users"])
def revoke_key(name: str, key_id: Annotated[int, FastPath(ge=1, le=INT64_MAX)], p: Admin, s: DB) -> dict:
    """Revoke one API key (its id is in ``GET /users``); the user's other keys and tokens stay."""
    auth.lock_users(s)
    user = user_named(s, name)
    row = s.get(ApiKey, key_id) if user is not None else None
    if row is None or row.user_id != user.id or row.revoked_at is not None:
        raise HTTPException(404, f"user {name!r} has no active API key with id {key_id}")
    if user.role == "admin" and user.active and auth.active_admins(s) <= 1 and user.password_hash is None and \
            count(s, ApiKey, ApiKey.user_id == user.id, ApiKey.revoked_at.is_(None)) <= 1:
        raise HTTPException(409, "cannot revoke the last credential of the last active admin: make another key first")
    row.revoked_at = utcnow()
    s.commit()
    log.info("api_key_revoked", extra={"fields": {"name": name, "by": p.name, "key_id": key_id,
                                                  "prefix": row.prefix}})
    return {"name": name, "revoked_key_id": key_id, "prefix": row.prefix + "..."}


@router.post("/users/{name}/enable", tags=["users"])
def enable_user(name: str, p: Admin, s: DB) -> dict:
    """Re-enable a disabled user with a new API key, shown once (the keys revoked when it was disabled
    stay revoked)."""
    user = user_named(s, name)
    if user is None:
        raise HTTPException(404, f"no user named {name!r}")
    if user.active:
        raise HTTPException(409, f"user {name!r} is already active: POST /users/{name}/keys makes a new key")
    user.active = True
    key, row = auth.add_key_row(s, user)
    s.commit()
    log.info("user_enabled", extra={"fields": {"name": name, "by": p.name, "prefix": key[:8], "key_id": row.id}})
    return {"name": name, "role": user.role, "active": True, "api_key": key, "key_id": row.id}


@router.delete("/users/{name}", tags=["users"])
def disable_user(name: str, p: Admin, s: DB) -> dict:
    """Disable a user and revoke their keys and tokens; never the last active admin, even when two
    admins disable each other at the same moment (auth.lock_users)."""
    auth.lock_users(s)
    user = user_named(s, name)
    if user is None:
        raise HTTPException(404, f"no user named {name!r}")
    if user.role == "admin" and user.active and auth.active_admins(s) <= 1:
        raise HTTPException(409, "cannot disable the last active admin")
    auth.deactivate_user(s, user)
    s.commit()
    log.info("user_disabled", extra={"fields": {"name": name, "by": p.name}})
    return {"name": name, "active": False,
            "revoked_keys": count(s, ApiKey, ApiKey.user_id == user.id, ApiKey.revoked_at.is_not(None))}
