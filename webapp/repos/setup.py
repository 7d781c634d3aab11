"""The admins' first-run checklist steps that belong to the GitHub connection."""

from __future__ import annotations

from flask import url_for

from webapp.core.overview import SetupStep
from webapp.integrations import github


def github_app_step() -> SetupStep:
    return SetupStep("Connect a GitHub App", github.app_configured(), url_for("repos.app_setup_page"),
                     "Register one in a click (or enter an existing one) so Gantry can read repositories and "
                     "receive webhooks.")


def sign_in_step() -> SetupStep:
    return SetupStep("Turn on sign-in with GitHub", github.sign_in_configured(), url_for("repos.app_setup_page"),
                     "The App's OAuth client id and secret let people sign in and see the repositories GitHub "
                     "allows them.")
