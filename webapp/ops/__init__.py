"""Health, readiness, status, metrics and the queue dashboard."""
