"""`found(x)`: a value the test expects to be there (a row, a regex match, a stored string).

Tests read rows and matches that may be None in general but must exist in the case at hand; this
says so once, fails with the reason if not, and gives the type checker the value without None.
"""

from __future__ import annotations

from typing import TypeVar

T = TypeVar("T")


def found(value: T | None, what: str = "the value") -> T:
    assert value is not None, f"{what} is missing"
    return value
