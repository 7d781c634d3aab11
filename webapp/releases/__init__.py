"""Releases: versioned releases per repository, promoted through ordered environments with approvals,
published as GitHub Releases and mirrored to GitHub Deployments."""
