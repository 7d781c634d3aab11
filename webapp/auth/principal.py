"""Who acts: the principal a service shows things to, and the actor the audit log names.

A request gets a `Principal` (signed in by session, API key or access token, with scopes that
never exceed its user's role). Services that only ask "what may this person see?" also accept
the `User` itself, as tasks and the CLI hold a user, not a request. The audit log additionally
names system actors: a string such as "github", "system" or "cli", or None for Gantry itself.
Principals never reach the audit log: it records their user.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeAlias

from webapp.auth.models import User


@dataclass(frozen=True)
class Principal:
    user: User
    scopes: frozenset[str]
    via: str  # "session", "api_key" or "token"
    api_key_id: int | None = None

    def has_scope(self, scope: str) -> bool:
        return scope in self.scopes or "admin" in self.scopes

    def has_role(self, role: str) -> bool:
        return self.user.has_role(role)

    @property
    def is_admin(self) -> bool:
        return self.user.is_admin and "admin" in self.scopes


# A signed-in person: a request's principal, or a user acting outside a request.
Who: TypeAlias = Principal | User

# Whoever did something, as the audit log records it: a user, a named system actor such as "github",
# or None for Gantry itself.
Actor: TypeAlias = User | str | None


def user_of(who: Who) -> User:
    """The user behind `who`."""
    return who.user if isinstance(who, Principal) else who

