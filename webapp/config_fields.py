"""The settings' field types and checks: trimmed text, comma lists, PEM keys, retention days, Fernet keys, networks."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet
from marshmallow import ValidationError, fields, validate

FERNET_HINT = (
    "must be comma-separated Fernet keys (generate one with: python -c 'from cryptography.fernet import Fernet; "
    "print(Fernet.generate_key().decode())')"
)


class Text(fields.String):
    """A string with surrounding blanks removed (`strip=False` keeps them, for secrets), then `transform`ed."""

    def __init__(self, *, strip: bool = True, transform: Callable[[str], str] | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.strip = strip
        self.transform = transform

    def _deserialize(self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any) -> str:
        text = super()._deserialize(value, attr, data, **kwargs)
        text = text.strip() if self.strip else text
        return self.transform(text) if self.transform else text


class CommaList(fields.Field):
    """Comma-separated values, blanks dropped; `lower=True` for case-insensitive names."""

    def __init__(self, *, lower: bool = False, **kwargs: Any) -> None:
        kwargs.setdefault("load_default", list)
        super().__init__(**kwargs)
        self.lower = lower

    def _deserialize(self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any) -> list[str]:
        items = [item.strip() for item in str(value).split(",") if item.strip()]
        return [item.lower() for item in items] if self.lower else items


class PrivateKey(fields.Field):
    """GITHUB_APP_PRIVATE_KEY holds the PEM itself (`\\n` escapes allowed) or the path of a file holding it."""

    def _deserialize(self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any) -> str:
        raw = str(value).strip()
        if raw.startswith("-----BEGIN"):
            return raw.replace("\\n", "\n") + ("\n" if not raw.endswith("\n") else "")
        path = Path(raw).expanduser()
        if not path.is_file():
            raise ValidationError(f"is neither a PEM nor a readable file: {raw!r}")
        return path.read_text()


# GitHub's delivery log reaches back three days; a delivery row forgotten sooner would look never
# received to the redelivery check, be redelivered and be handled twice.
MIN_DELIVERY_RETENTION_DAYS = 3


class Days(fields.Field):
    """A retention period in days: 0 or blank keeps the data forever (None)."""

    def __init__(self, default: int | None, **kwargs: Any) -> None:
        super().__init__(load_default=default, metadata={"blank": True}, **kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any) -> int | None:
        text = str(value).strip()
        if not text:
            return None
        try:
            days = int(text)
        except ValueError:
            days = -1
        if days < 0:
            raise ValidationError(f"must be a number of days, or 0 to keep the data forever; got {text!r}")
        return days or None


def outlives_redelivery(days: int | None) -> None:
    if days is not None and days < MIN_DELIVERY_RETENTION_DAYS:
        raise ValidationError(
            f"must be 0 (keep) or at least {MIN_DELIVERY_RETENTION_DAYS}: GitHub's delivery log reaches back 3 days, "
            "and a delivery forgotten sooner would be redelivered and handled twice"
        )


def whole_number(default: int) -> fields.Integer:
    return fields.Integer(load_default=default, error_messages={"invalid": "must be a whole number, got {input!r}"})


def flag(default: bool) -> fields.Boolean:
    return fields.Boolean(load_default=default, error_messages={"invalid": "must be true or false, got {input!r}"})


def one_of(choices: list[str]) -> validate.OneOf:
    wording = ", ".join(repr(choice) for choice in choices[:-1]) + f" or {choices[-1]!r}"
    return validate.OneOf(choices, error=f"must be {wording}, got {{input!r}}")


def no_trailing_slash(text: str) -> str:
    return text.rstrip("/")


def fernet_keys(keys: list[str]) -> None:
    for key in keys:
        try:
            Fernet(key.encode())
        except (ValueError, TypeError) as exc:
            raise ValidationError(FERNET_HINT) from exc


def networks(cidrs: list[str]) -> None:
    for cidr in cidrs:
        try:
            ipaddress.ip_network(cidr, strict=False)
        except ValueError as exc:
            raise ValidationError(f"holds {cidr!r}, which is not an address or network") from exc
