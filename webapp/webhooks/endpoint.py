"""`POST /webhooks/github`: the door GitHub knocks on. Answers in milliseconds; work happens in jobs."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify, request
from prometheus_client import Counter

from webapp.auth.access import public
from webapp.core.errors import GantryError
from webapp.core.metrics import REGISTRY
from webapp.webhooks import delivery_checks, intake

bp = Blueprint("webhook_intake", __name__)

INTAKE = Counter(
    "gantry_webhook_intake_total", "Webhook deliveries answered, by outcome", ["outcome"], registry=REGISTRY
)


@bp.route("/webhooks/github", methods=["POST"])
@public  # authenticated by the delivery's HMAC signature, not by a session or key
def github_webhook() -> Any:
    """Verify, store and queue one GitHub delivery: 202 when new, 200 when already stored."""
    try:
        # Size and type first: neither needs the body, and a 25 MB body is not read to be refused.
        delivery_checks.check_size(request.content_length)
        delivery_checks.check_content_type(request.mimetype)
        if request.content_length is None and request.environ.get("wsgi.input_terminated"):
            # chunked: counted while read from the server's de-chunked stream
            body = delivery_checks.read_bounded(request.environ["wsgi.input"])
        else:
            body = request.get_data(cache=False)
        result = intake.receive(
            body=body,
            mimetype=request.mimetype,
            content_length=request.content_length,
            signature=request.headers.get("X-Hub-Signature-256"),
            event=request.headers.get("X-GitHub-Event"),
            delivery_id=request.headers.get("X-GitHub-Delivery"),
            hook_id_header=request.headers.get("X-GitHub-Hook-ID"),
        )
    except GantryError as exc:
        INTAKE.labels(exc.code).inc()
        raise
    if not result.created:
        INTAKE.labels("duplicate").inc()
        return jsonify(status="duplicate", delivery_id=result.delivery_id,
                       message="This delivery was received before; nothing changed."), 200
    INTAKE.labels("stored" if result.queued else "stored_unqueued").inc()
    return jsonify(status="accepted", delivery_id=result.delivery_id, id=result.pk, queued=result.queued), 202
