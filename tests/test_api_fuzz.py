"""Property-based fuzzing of every operation in /api/openapi.json with an admin key.

Each operation gets a bounded number of generated requests (valid and invalid); every answer must
be a documented status with a body matching the spec, and never a server error.

A second run sends what schemathesis does not think of on its own, drawn by schema-local hooks
over the same generated requests: valid base64 cursors with the wrong contents, NUL in a query
parameter or a string field, strings of 100,000 characters, JSON nested past the decoder's limit
and integers of thousands of digits. Those answers must be documented 4xx statuses.
"""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from schemathesis.checks import positive_data_acceptance

from tests.test_hostile_input import CRAFTED_CURSORS

schema = schemathesis.pytest.from_fixture("api_schema")
hostile_schema = schemathesis.pytest.from_fixture("hostile_api_schema")

NUL_TEXT = "a\x00b"
LONG_TEXT = "x" * 100_000
BIG_INT = 10**4000  # as long as Python will still write it as JSON (4,300 digits is its limit)


def _nested(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = {"a": value}
    return value


def _with(container: dict[str, Any], key: str, value: Any) -> dict[str, Any]:
    return {**container, key: value}


def hostile_query(ctx: Any, query: dict[str, Any] | None) -> st.SearchStrategy[Any]:
    """The drawn query with a crafted cursor or a NUL in one of the operation's query parameters.

    The parameter is set even when the drawn query left it out: an optional `cursor` is otherwise
    seldom sent at all.
    """
    names = sorted(parameter.name for parameter in ctx.operation.query)
    if not names:
        return st.just(query)
    query = query or {}
    variants = [st.sampled_from(names).map(lambda name: _with(query, name, NUL_TEXT))]
    if "cursor" in names:
        variants.append(st.sampled_from(CRAFTED_CURSORS).map(lambda cursor: _with(query, "cursor", cursor)))
    return st.one_of(variants)


def hostile_body(ctx: Any, body: Any) -> st.SearchStrategy[Any]:
    """The drawn body with one field made hostile: NUL, 100,000 characters, too deep, a giant integer."""
    if not isinstance(body, dict) or not body:
        return st.just(body)
    bad_values = st.sampled_from([NUL_TEXT, LONG_TEXT, _nested(150), BIG_INT, [NUL_TEXT]])
    return st.tuples(st.sampled_from(sorted(body)), bad_values).map(lambda pair: _with(body, *pair))


@pytest.fixture
def api_schema(app: Any) -> Any:
    return schemathesis.openapi.from_wsgi("/api/openapi.json", app)


@pytest.fixture
def hostile_api_schema(app: Any) -> Any:
    loaded = schemathesis.openapi.from_wsgi("/api/openapi.json", app)
    loaded.hook("flatmap_query")(hostile_query)
    loaded.hook("flatmap_body")(hostile_body)
    return loaded


@pytest.fixture
def admin_headers(make_user: Any, make_key: Any) -> dict[str, str]:
    return make_key(make_user("admin"), "admin")


@schema.parametrize()
@settings(max_examples=8, deadline=None, derandomize=True, database=None,
          suppress_health_check=list(HealthCheck))
def test_api_answers_as_its_spec_says(case: Any, admin_headers: dict[str, str]) -> None:
    # Valid-looking input may still be refused by a business rule (unknown id, conflict): that
    # is a documented 4xx, not a contradiction of the spec.
    case.call_and_validate(headers=admin_headers, excluded_checks=[positive_data_acceptance])


@hostile_schema.parametrize()
@settings(max_examples=4, deadline=None, derandomize=True, database=None,
          suppress_health_check=list(HealthCheck))
def test_hostile_input_never_gets_a_server_error(case: Any, admin_headers: dict[str, str]) -> None:
    # The key replaces any credential schemathesis drew from the security schemes: a hostile
    # request must reach the operation, not stop at authentication.
    case.headers = {**(case.headers or {}), **admin_headers}
    response = case.call()
    assert response.status_code < 500, (case.method, case.formatted_path, case.query, response.text[:300])
    if response.content and not 300 <= response.status_code < 400:  # redirects to sign-in pages aside,
        # every answer with a body, refusals included, is JSON
        content_type = response.headers["content-type"][0]
        assert content_type.startswith("application/json"), (response.status_code, response.text[:300])
