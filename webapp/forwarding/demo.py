"""Demo data for `flask seed-demo`: a forward target for Infrajet with a short delivery log."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from sqlalchemy import select

from webapp.auth.models import User
from webapp.core.models import utcnow
from webapp.extensions import db
from webapp.forwarding import signing
from webapp.forwarding.models import FAILED, PENDING, SUCCEEDED, ForwardAttempt, ForwardDelivery, ForwardTarget
from webapp.forwarding.models import ForwardTargetRepository as Link
from webapp.repos.models import Repository

DEMO_REPOSITORY_ID = 900101  # gantry-demo/infrajet, from the repositories seeder
DEMO_NAME = "Infrajet deploy (demo)"


def _payload(repo: Repository, n: int) -> dict[str, Any]:
    return {
        "ref": "refs/heads/main", "before": f"{n:040x}", "after": f"{n + 1:040x}",
        "repository": {"id": repo.id, "full_name": repo.full_name, "name": repo.name},
        "head_commit": {"id": f"{n + 1:040x}", "message": f"Demo change {n}"},
        "pusher": {"name": "maria"},
    }


def seed_forwarding(admin: Any) -> None:
    """Idempotent: one demo target (owned by maria when she exists) and three logged deliveries."""
    repo = db.session.get(Repository, DEMO_REPOSITORY_ID)
    if repo is None or db.session.scalar(select(ForwardTarget.id).where(ForwardTarget.name == DEMO_NAME)):
        return
    owner = db.session.scalar(select(User).where(User.username == "maria")) or admin
    target = ForwardTarget(
        name=DEMO_NAME, url="https://deploy.example.com/hooks/gantry", secret=signing.new_secret(),
        events=["push", "release.published"], branch_patterns=["main"], tag_patterns=["v*"], owner_id=owner.id,
        repositories=[Link(repository_id=repo.id)],
    )
    db.session.add(target)
    db.session.flush()
    now = utcnow()
    outcomes = [(SUCCEEDED, 200, "accepted"), (SUCCEEDED, 204, ""), (PENDING, 503, "deploys paused")]
    for n, (status, code, answer) in enumerate(outcomes):
        received = now - timedelta(hours=3 - n)
        payload = _payload(repo, n)
        delivery = ForwardDelivery(
            message_id=f"msg_demo-{n}_{target.id}", target_id=target.id, github_delivery_id=f"demo-{n}",
            event="push", repository_id=repo.id, repository_full_name=repo.full_name, received_at=received,
            payload=payload, status=status, attempt_count=1, retry_index=1 if status == PENDING else 0,
            last_attempt_at=received, last_status_code=code, created_at=received,
            succeeded_at=received if status == SUCCEEDED else None,
            next_attempt_at=now + timedelta(minutes=5) if status == PENDING else None,
            last_error=f"answered {code}" if status != SUCCEEDED else None,
        )
        db.session.add(delivery)
        db.session.flush()
        db.session.add(ForwardAttempt(
            delivery_id=delivery.id, number=1, started_at=received, url=target.url, address="93.184.216.34",
            request_headers={"Content-Type": "application/json", "webhook-id": delivery.message_id},
            request_body=json.dumps({"type": "github.push", "payload": payload}), response_status=code,
            response_headers={"Content-Type": "text/plain"}, response_body=answer, latency_ms=40 + 7 * n,
            outcome=SUCCEEDED if status == SUCCEEDED else FAILED, error=delivery.last_error,
            next_attempt_at=delivery.next_attempt_at,
        ))
    db.session.commit()


