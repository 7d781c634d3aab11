"""Plumbing shared by every capability: models base, errors, jobs, crypto, audit, pages helpers."""
