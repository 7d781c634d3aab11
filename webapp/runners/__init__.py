"""Ephemeral GitHub Actions runners on AWS ECS: pools, the job ledger, scaler and reconciler."""
