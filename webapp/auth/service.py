"""People and their credentials: the rules every front door (pages, API, CLI) shares."""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from werkzeug.security import check_password_hash, generate_password_hash

from webapp.auth.models import API_KEY_PREFIX, ROLE_SCOPES, ROLES, SCOPES, ApiKey, RefreshToken, User
from webapp.auth.passwords import password_problems
from webapp.auth.principal import Actor, Principal, Who, user_of
from webapp.auth.static_keys import user_for_static_key
from webapp.core import audit
from webapp.core.crypto import hash_token, new_token
from webapp.core.errors import Conflict, Forbidden, NotFound, ValidationFailed
from webapp.core.models import utcnow
from webapp.core.pagination import keyset_page
from webapp.extensions import db

USERNAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,99}$")
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_dummy_hashes: dict[str, str] = {}
LAST_USED_GRANULARITY = timedelta(minutes=1)


# --- users ---------------------------------------------------------------------------------


def get_user(user_id: int) -> User:
    user = db.session.get(User, user_id)
    if user is None:
        raise NotFound(f"User {user_id} does not exist.")
    return user


def find_user(username: str) -> User | None:
    return db.session.scalar(select(User).where(func.lower(User.username) == username.strip().lower()))


def list_users() -> list[User]:
    return list(db.session.scalars(select(User).order_by(User.username)))


def _validate_user_fields(
    username: str | None = None, email: str | None = None, password: str | None = None, role: str | None = None,
    *, owner: str | None = None,
) -> None:
    """Check the fields given; `owner` is the username a password is judged against when it is not changing."""
    errors: dict[str, list[str]] = {}
    if username is not None and not USERNAME_RE.match(username):
        errors["username"] = ["1-100 letters, digits, '.', '_' or '-', starting with a letter or digit"]
    if email is not None and email != "" and not EMAIL_RE.match(email):
        errors["email"] = ["not an email address"]
    if password is not None:
        problems = password_problems(password, username=username or owner)
        if problems:
            errors["password"] = problems
    if role is not None and role not in ROLES:
        errors["role"] = [f"one of {', '.join(ROLES)}"]
    if errors:
        raise ValidationFailed("Some fields are not valid.", errors=errors)


def create_user(
    *,
    username: str,
    email: str | None,
    password: str | None,
    role: str = "viewer",
    display_name: str = "",
    actor: Actor = None,
) -> User:
    """Create a person; the username and email must be new."""
    username = username.strip()
    email = (email or "").strip().lower() or None
    _validate_user_fields(username=username, email=email, password=password, role=role)
    if find_user(username) is not None:
        raise Conflict(f"The username {username!r} is taken.", errors={"username": ["already taken"]})
    if email and db.session.scalar(select(User).where(User.email == email)) is not None:
        raise Conflict("That email address belongs to another user.", errors={"email": ["already used"]})
    user = User(
        username=username,
        email=email,
        role=role,
        display_name=display_name or username,
        password_hash=hash_password(password) if password else None,
    )
    db.session.add(user)
    db.session.flush()
    audit.record("user.create", "user", user.id, actor=actor, details={"username": username, "role": role})
    _commit_unique("That username or email is taken.")
    return user


def _commit_unique(message: str) -> None:
    try:
        db.session.commit()
    except IntegrityError as exc:
        db.session.rollback()
        raise Conflict(message) from exc


def _active_admin_count() -> int:
    # The active admins' rows stay locked until this change commits, so two admins demoting each
    # other at the same moment cannot both still see the other one and leave nobody in charge.
    stmt = select(User.id).where(User.role == "admin", User.active.is_(True)).with_for_update()
    return len(db.session.scalars(stmt).all())


def _would_remove_last_admin(user: User, *, new_role: str | None = None, new_active: bool | None = None,
                             deleting: bool = False) -> bool:
    if not (user.role == "admin" and user.active):
        return False
    losing = deleting or (new_role is not None and new_role != "admin") or new_active is False
    return losing and _active_admin_count() <= 1


def update_user(user_id: int, changes: dict[str, Any], *, actor: Actor = None) -> User:
    """Change a user's role, active flag, display name, email or password."""
    user = get_user(user_id)
    allowed = {"role", "active", "display_name", "email", "password"}
    unknown = set(changes) - allowed
    if unknown:
        raise ValidationFailed("Unknown fields.", errors={k: ["unknown field"] for k in sorted(unknown)})
    _validate_user_fields(
        email=changes.get("email"), password=changes.get("password"), role=changes.get("role"), owner=user.username
    )
    if _would_remove_last_admin(user, new_role=changes.get("role"), new_active=changes.get("active")):
        raise Conflict("This is the last active admin: make someone else admin first.", code="last_admin")
    ending = [reason for reason, happens in (
        ("password changed", bool(changes.get("password"))),
        ("deactivated", "active" in changes and user.active and not changes["active"]),
        ("role changed", "role" in changes and changes["role"] != user.role),
    ) if happens]
    if "role" in changes:
        user.role = changes["role"]
    if "active" in changes:
        user.active = bool(changes["active"])
    if "display_name" in changes:
        user.display_name = changes["display_name"]
    if "email" in changes:
        user.email = (changes["email"] or "").strip().lower() or None
    if changes.get("password"):
        user.password_hash = hash_password(changes["password"])
    safe = {k: v for k, v in changes.items() if k != "password"}
    if "password" in changes:
        safe["password"] = "changed"
    audit.record("user.update", "user", user.id, actor=actor, details=safe)
    if ending:
        end_sign_ins(user, reason=", ".join(ending), actor=actor)
    _commit_unique("That email address belongs to another user.")
    return user


def delete_user(user_id: int, *, actor: Actor = None) -> None:
    user = get_user(user_id)
    if _would_remove_last_admin(user, deleting=True):
        raise Conflict("This is the last active admin and cannot be deleted.", code="last_admin")
    audit.record("user.delete", "user", user.id, actor=actor, details={"username": user.username})
    db.session.delete(user)
    db.session.commit()


def hash_password(password: str) -> str:
    return generate_password_hash(password, method=current_app.config["PASSWORD_HASH_METHOD"])


def _dummy_hash() -> str:
    """Checked against when the username is unknown, so a miss costs as much time as a hit."""
    method = current_app.config["PASSWORD_HASH_METHOD"]
    if method not in _dummy_hashes:
        _dummy_hashes[method] = generate_password_hash("not-a-real-password", method=method)
    return _dummy_hashes[method]


def authenticate(username: str, password: str) -> User | None:
    """The active user with this username and password, or None (same answer and cost for every miss)."""
    user = find_user(username)
    if user is None or not user.password_hash:
        check_password_hash(_dummy_hash(), password)
        return None
    if not check_password_hash(user.password_hash, password):
        return None
    if not user.active:
        return None
    return user


def end_sign_ins(user: User, *, reason: str, actor: Actor = None) -> None:
    """End every session, remember cookie and token family of a user; the caller commits."""
    user.session_generation = (user.session_generation or 0) + 1
    # Every token family of the user: their refresh tokens stop refreshing and, as tokens.py checks
    # an access token's family, their access tokens stop working.
    db.session.execute(
        update(RefreshToken).where(RefreshToken.user_id == user.id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )
    audit.record("user.sessions_ended", "user", user.id, actor=actor or user, details={"reason": reason})


def sign_out(user_id: int) -> None:
    """Log a person out of everything: every browser and every API login."""
    user = db.session.get(User, user_id)
    if user is None:
        return
    audit.record("user.logout", "user", user.id, actor=user)
    end_sign_ins(user, reason="signed out", actor=user)
    db.session.commit()


def user_for_session(session_id: str) -> User | None:
    """The active user a session or remember cookie names ("<id>:<generation>"), if it is still current."""
    user_id, _, generation = session_id.partition(":")
    if not (user_id.isdigit() and generation.isdigit()) or len(session_id) > 40:
        return None
    user = db.session.get(User, int(user_id))
    if user is None or not user.active or user.session_generation != int(generation):
        return None
    return user


def record_login(user: User) -> None:
    user.last_login_at = utcnow()
    audit.record("user.login", "user", user.id, actor=user)
    db.session.commit()


# --- API keys ------------------------------------------------------------------------------


def _normalise_scopes(scopes: Iterable[str], owner: User) -> list[str]:
    wanted = sorted({s.strip() for s in scopes if s and s.strip()})
    if not wanted:
        raise ValidationFailed("Choose at least one scope.", errors={"scopes": ["at least one scope"]})
    unknown = [s for s in wanted if s not in SCOPES]
    if unknown:
        raise ValidationFailed(
            "Unknown scopes.", errors={"scopes": [f"unknown: {', '.join(unknown)}; valid: {', '.join(SCOPES)}"]}
        )
    beyond = [s for s in wanted if s not in ROLE_SCOPES[owner.role]]
    if beyond:
        raise ValidationFailed(
            f"A {owner.role} cannot hold these scopes.", errors={"scopes": [f"beyond your role: {', '.join(beyond)}"]}
        )
    return wanted


def create_api_key(
    owner: User, *, name: str, scopes: Iterable[str], expires_at: datetime | None = None, actor: Actor = None
) -> tuple[ApiKey, str]:
    """Create a key and return it with its secret, which is never stored and never shown again."""
    name = (name or "").strip()
    if not name or len(name) > 100:
        raise ValidationFailed("Name the key (1-100 characters).", errors={"name": ["1-100 characters"]})
    if expires_at is not None and expires_at <= utcnow():
        raise ValidationFailed("The expiry must be in the future.", errors={"expires_at": ["must be in the future"]})
    secret = new_token(API_KEY_PREFIX)
    key = ApiKey(
        user_id=owner.id,
        name=name,
        prefix=secret[:12],
        key_hash=hash_token(secret),
        scopes=_normalise_scopes(scopes, owner),
        expires_at=expires_at,
    )
    db.session.add(key)
    db.session.flush()
    audit.record(
        "api_key.create", "api_key", key.id, actor=actor or owner,
        details={"name": name, "owner": owner.username, "scopes": key.scopes},
    )
    db.session.commit()
    return key, secret


def list_api_keys(owner: User | None = None) -> list[ApiKey]:
    stmt = select(ApiKey).order_by(ApiKey.created_at.desc(), ApiKey.id.desc())
    if owner is not None:
        stmt = stmt.where(ApiKey.user_id == owner.id)
    return list(db.session.scalars(stmt))


def get_api_key(key_id: int, *, visible_to: Who) -> ApiKey:
    """A key its owner, or an admin acting with the admin scope, may see (a User or a request's Principal)."""
    user = user_of(visible_to)
    key = db.session.get(ApiKey, key_id)
    # A Principal's is_admin needs the admin scope too: an admin's read-only key is not an admin.
    if key is None or (key.user_id != user.id and not visible_to.is_admin):
        raise NotFound(f"API key {key_id} does not exist.")
    return key


def _may_revoke(who: Who, key: ApiKey) -> bool:
    """People (a page session or an access token) manage their keys; a key may always revoke itself
    (whoever holds a leaked key can kill it), and revoke others only with the admin scope."""
    if not isinstance(who, Principal) or who.via != "api_key":
        return True
    return key.id == who.api_key_id or who.has_scope("admin")


def revoke_api_key(key_id: int, *, actor: Who) -> ApiKey:
    """Revoke a key; `actor` is a User or a request's Principal, whose credentials are checked too."""
    key = get_api_key(key_id, visible_to=actor)
    if not _may_revoke(actor, key):
        raise Forbidden("Revoking another key needs a person's sign-in or a key with the 'admin' scope.",
                        code="scope_required")
    if key.revoked_at is None:
        key.revoked_at = utcnow()
        audit.record("api_key.revoke", "api_key", key.id, actor=user_of(actor),
                     details={"name": key.name})
        db.session.commit()
    return key


def user_for_api_key(secret: str) -> tuple[User, ApiKey] | None:
    """The owner and key for a presented secret, if the key is usable and its owner active."""
    if not secret.startswith(API_KEY_PREFIX):
        return user_for_static_key(secret)
    key = db.session.scalar(select(ApiKey).where(ApiKey.key_hash == hash_token(secret)))
    now = utcnow()
    if key is None or not key.is_usable(now) or not key.user.active:
        return None
    if key.last_used_at is None or now - key.last_used_at > LAST_USED_GRANULARITY:
        key.last_used_at = now
        db.session.commit()
    return key.user, key


def effective_scopes(user: User, key_scopes: Iterable[str] | None) -> frozenset[str]:
    """What a request may do: the key's scopes, never more than the owner's role allows today."""
    allowed = ROLE_SCOPES.get(user.role, frozenset())
    if key_scopes is None:
        return allowed
    return frozenset(key_scopes) & allowed


def page_users(*, cursor: str | None, limit: int) -> Any:
    return keyset_page(select(User), [User.id], cursor, limit)
