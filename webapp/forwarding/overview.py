"""The overview page's forwarding figures: targets disabled, and targets failing but still on."""

from __future__ import annotations

from flask import url_for
from sqlalchemy import func

from webapp.auth.principal import Who
from webapp.core.overview import Card
from webapp.extensions import db
from webapp.forwarding.models import ForwardTarget
from webapp.forwarding.service import visible_targets


def overview_cards(principal: Who) -> list[Card]:
    """Only for maintainers and admins, who are the ones the forwarding pages are open to."""
    if not principal.has_role("maintainer"):
        return []
    disabled, failing = db.session.execute(visible_targets(principal).with_only_columns(
        func.count().filter(ForwardTarget.active.is_(False)),
        func.count().filter(ForwardTarget.active.is_(True), ForwardTarget.failing_since.is_not(None)),
        maintain_column_froms=True,
    ).select_from(ForwardTarget)).one()
    link = url_for("forwarding.targets")
    return [
        Card("Targets disabled", str(disabled), link, "turned off after failing or by hand",
             "failed" if disabled else "ok"),
        Card("Targets failing", str(failing), link, "on, but the last delivery failed",
             "warn" if failing else "neutral"),
    ]
