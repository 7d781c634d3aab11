"""Links made from data Gantry was sent (webhook payloads, API callers) are http(s) only."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from webapp.core.presentation import http_url

TEMPLATES = Path(__file__).resolve().parents[2] / "templates"


@pytest.mark.parametrize("url", ["javascript:alert(1)", "JavaScript:alert(1)", " javascript:alert(1)",
                                 "java\tscript:alert(1)", "data:text/html,<script>", "vbscript:x", "//evil.test/x",
                                 "https:", "http://[::1", None, 5, ""])
def test_only_http_urls_are_links(url: Any) -> None:
    assert http_url(url) is None


def test_http_urls_stay_as_they_are() -> None:
    assert http_url("https://github.com/octo/app") == "https://github.com/octo/app"
    assert http_url(" http://ci.example.test/job/1 ") == "http://ci.example.test/job/1"


def test_every_link_to_a_stored_url_goes_through_the_filter() -> None:
    """`href="{{ x.html_url }}"` without `|http_url` would make a link of whatever a payload said."""
    unguarded = []
    for template in TEMPLATES.rglob("*.html"):
        for match in re.finditer(r'href="\{\{ ([^}]+?) \}\}', template.read_text()):
            expr = match.group(1)
            if re.search(r"_url\b", expr) and "http_url" not in expr and expr != "swagger_ui_url":
                unguarded.append(f"{template.relative_to(TEMPLATES)}: {expr}")
    assert unguarded == []


def test_repository_page_shows_a_javascript_url_as_text(client: Any, login_as: Any, db: Any) -> None:
    from webapp.repos.models import Repository

    login_as("admin")
    db.session.add(Repository(id=42, owner="octo", name="app", full_name="octo/app",
                              html_url="javascript:alert(document.cookie)"))
    db.session.commit()
    page = client.get("/repos/octo/app").get_data(as_text=True)
    assert "javascript:alert(document.cookie)" in page  # shown, as text
    assert 'href="javascript:' not in page
