"""Builds: catalogue, builds reported by CI pipelines, their states and failures, dashboards."""
