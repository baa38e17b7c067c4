"""Users, roles and credentials of the service.

Roles are ranked: ``reader`` (predict, model information, monitoring) < ``clinician``
(those and feedback) < ``admin`` (everything, user management included). An endpoint
names the lowest role it accepts.

A request carries one of two credentials:

- an API key, ``X-API-Key: hbk_...`` (or ``Authorization: Bearer hbk_...``). Keys are 43
  random URL-safe characters (256 bits) after the prefix, shown once when made, and stored
  as their SHA-256: a fast hash is enough for a secret with that much entropy, and lets a
  key be found by its hash.
- an OAuth2 password-flow token: ``POST /token`` with ``username`` and ``password`` (a form)
  returns ``{"access_token": "hbt_...", "token_type": "bearer"}``, sent as
  ``Authorization: Bearer hbt_...`` until it expires. Tokens are random and stored as their
  SHA-256 too, so they survive a restart and can be revoked. Passwords (optional, set when
  an admin creates a user) are stored as PBKDF2-HMAC-SHA256 with a random salt.

No credential: 401 with ``WWW-Authenticate: Bearer``; a role too low: 403.

The first admin: on start, if the database has no active admin and a bootstrap key is given
(``--admin-key-file PATH`` or ``$HEARTBEAT_ADMIN_KEY``), a user ``admin`` with that API key is
created. Once an admin exists the bootstrap key is ignored (it makes no second admin). A start with a
bootstrap key already in the database, and no active admin, re-enables that key's admin: starting
twice with the same key ends where starting once did.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from heartbeat.errors import ConfigError, ConflictError
from heartbeat.serve.db import AccessToken, ApiKey, User, utcnow

ROLES = ("reader", "clinician", "admin")
RANK = {role: i for i, role in enumerate(ROLES)}
KEY_PREFIX, TOKEN_PREFIX = "hbk_", "hbt_"
MIN_BOOTSTRAP_KEY = 32  # characters: a bootstrap key is chosen by a person, so ask for length
MIN_PASSWORD = 8
PBKDF2_ITERATIONS = 600_000  # OWASP 2023 for PBKDF2-HMAC-SHA256; stored with the hash, so it can grow
NAME_PATTERN = re.compile(r"[A-Za-z0-9_.@-]{1,64}")  # matched whole (fullmatch: "$" would let "admin\n" in)


class AuthError(Exception):
    """A refused credential (401) or role (403); the message says why without echoing secrets."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Principal:
    """Who a request is from."""

    user_id: int
    name: str
    role: str
    via: str  # "api_key" | "token"

    def allows(self, role: str) -> bool:
        return RANK[self.role] >= RANK[role]


# ---------------------------------------------------------------- secrets
def sha256_hex(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def new_api_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def hash_password(password: str, iterations: int = PBKDF2_ITERATIONS) -> str:
    """``pbkdf2_sha256$<iterations>$<salt b64>$<hash b64>``."""
    salt = secrets.token_bytes(16)
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    return f"pbkdf2_sha256${iterations}${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


def verify_password(password: str, stored: str | None) -> bool:
    if not stored:
        # spend the same time as a real check, so a missing user is not told apart by timing
        hashlib.pbkdf2_hmac("sha256", password.encode(), b"\0" * 16, PBKDF2_ITERATIONS)
        return False
    scheme, iterations, salt, digest = stored.split("$")
    if scheme != "pbkdf2_sha256":
        return False
    got = hashlib.pbkdf2_hmac("sha256", password.encode(), base64.b64decode(salt), int(iterations))
    return hmac.compare_digest(got, base64.b64decode(digest))


# ---------------------------------------------------------------- users
def check_name(name: str) -> str:
    if not NAME_PATTERN.fullmatch(name):
        raise ConfigError(f"user name {name!r}: expected 1-64 characters among letters, digits and _.@-")
    return name


def create_user(session: Session, name: str, role: str, password: str | None = None,
                created_by: str | None = None, api_key: str | None = None) -> tuple[User, str]:
    """Add a user with a new API key (or the given one); returns (user, the key in clear, shown once)."""
    check_name(name)
    if role not in ROLES:
        raise ConfigError(f"role {role!r}: expected one of {', '.join(ROLES)}")
    if password is not None and len(password) < MIN_PASSWORD:
        raise ConfigError(f"password: at least {MIN_PASSWORD} characters")
    existing = session.scalar(select(User).where(User.name == name))
    if existing is not None:
        raise ConflictError(f"a user named {name!r} already exists" + (
            "" if existing.active else f" (disabled: POST /users/{name}/enable re-enables it with a new key)"))
    user = User(name=name, role=role, created_by=created_by,
                password_hash=hash_password(password) if password else None)
    session.add(user)
    session.flush()
    key = add_api_key(session, user, api_key)
    return user, key


def add_api_key(session: Session, user: User, key: str | None = None) -> str:
    return add_key_row(session, user, key)[0]


def add_key_row(session: Session, user: User, key: str | None = None) -> tuple[str, ApiKey]:
    """A new API key for ``user``: (the key in clear, shown once; its row, with an id once flushed)."""
    key = key or new_api_key()
    row = ApiKey(user_id=user.id, key_hash=sha256_hex(key), prefix=key[:8])
    session.add(row)
    session.flush()
    return key, row


def revoke_keys(session: Session, user: User, keep: int | None = None) -> list[int]:
    """Revoke every active key of ``user`` but the one with id ``keep``; the ids revoked."""
    rows = session.scalars(select(ApiKey).where(ApiKey.user_id == user.id, ApiKey.revoked_at.is_(None),
                                                ApiKey.id != (keep or 0))).all()
    now = utcnow()
    for row in rows:
        row.revoked_at = now
    return [row.id for row in rows]


def lock_users(session: Session) -> None:
    """Serialise changes to users within the calling transaction, on every worker and database.

    A write comes first: on SQLite it takes the database's write lock (a second writer waits its
    busy timeout), on PostgreSQL the admins' row locks (a second transaction waits until this one
    ends). What is read after it is what the other transaction committed, so two admins who
    disable each other at once cannot both see the other as the remaining admin."""
    session.execute(update(User).where(User.role == "admin").values(role="admin"))


def active_admins(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(User)
                          .where(User.role == "admin", User.active.is_(True))) or 0


def deactivate_user(session: Session, user: User) -> None:
    """Disable a user and revoke their keys and tokens."""
    now = utcnow()
    user.active = False
    session.execute(update(ApiKey).where(ApiKey.user_id == user.id, ApiKey.revoked_at.is_(None)).values(revoked_at=now))
    session.execute(update(AccessToken).where(AccessToken.user_id == user.id).values(revoked=True))


def bootstrap_admin(session: Session, key: str | None, name: str = "admin") -> str:
    """Create the first admin from a bootstrap key if there is no active admin; says what it did."""
    has_admin = session.scalar(select(User.id).where(User.role == "admin", User.active.is_(True)).limit(1))
    if has_admin is not None:
        return "an admin exists" + ("; the bootstrap admin key is ignored" if key else "")
    if not key:
        return ("no admin yet and no bootstrap key: start with --admin-key-file PATH or HEARTBEAT_ADMIN_KEY "
                "to create one")
    key = key.strip()
    if len(key) < MIN_BOOTSTRAP_KEY:
        raise ConfigError(f"the bootstrap admin key is {len(key)} characters; use at least {MIN_BOOTSTRAP_KEY} "
                         "random ones, e.g. python -c \"import secrets; print('hbk_' + secrets.token_urlsafe(32))\"")
    known = session.execute(select(User, ApiKey).join(ApiKey, ApiKey.user_id == User.id)
                            .where(ApiKey.key_hash == sha256_hex(key))).first()
    if known is not None:  # a start with the same key again: the first start's admin, active again
        user, api_key = known
        if user.role != "admin":
            raise ConfigError(f"the bootstrap admin key is an API key of the {user.role} {user.name!r}: use another key")
        user.active, api_key.revoked_at = True, None
        return f"re-enabled the admin {user.name!r} of the bootstrap key (no active admin was left)"
    while session.scalar(select(User.id).where(User.name == name)) is not None:
        name += "_"  # a disabled 'admin' keeps its name and history
    create_user(session, name, "admin", api_key=key, created_by="bootstrap")
    return f"created the first admin {name!r} from the bootstrap key"


# ---------------------------------------------------------------- requests
def authenticate(session: Session, api_key: str | None, bearer: str | None) -> Principal:
    """The principal of a request's credential, or :class:`AuthError` (401)."""
    secret, via = (api_key, "api_key") if api_key else (bearer, "token")
    if not secret:
        raise AuthError(401, "credentials required: an X-API-Key header or an 'Authorization: Bearer' token")
    h = sha256_hex(secret)
    now = utcnow()
    if secret.startswith(TOKEN_PREFIX):
        row = session.execute(select(User, AccessToken).join(AccessToken, AccessToken.user_id == User.id)
                              .where(AccessToken.token_hash == h)).first()
        if row is None or row[1].revoked or row[1].expires_at <= now:
            raise AuthError(401, "invalid or expired access token")
        user, via = row[0], "token"
    else:
        row = session.execute(select(User, ApiKey).join(ApiKey, ApiKey.user_id == User.id)
                              .where(ApiKey.key_hash == h)).first()
        if row is None or row[1].revoked_at is not None:
            raise AuthError(401, "invalid API key")
        user, via = row[0], "api_key"
    if not user.active:
        raise AuthError(401, "this user is disabled")
    return Principal(user.id, user.name, user.role, via)


def require_role(principal: Principal, role: str, what: str) -> None:
    if not principal.allows(role):
        raise AuthError(403, f"{what} needs the role '{role}' or higher; user {principal.name!r} is '{principal.role}'")


def login(session: Session, name: str, password: str, minutes: float) -> tuple[str, User]:
    """Check a user name and password; a new access token valid ``minutes``, or AuthError (401)."""
    user = session.scalar(select(User).where(User.name == name))
    ok = verify_password(password, user.password_hash if user is not None else None)
    if user is None or not ok or not user.active:
        raise AuthError(401, "wrong user name or password")
    token = new_token()
    session.add(AccessToken(user_id=user.id, token_hash=sha256_hex(token),
                            expires_at=utcnow() + timedelta(minutes=minutes)))
    return token, user
