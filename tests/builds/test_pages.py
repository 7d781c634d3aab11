"""The builds pages: live filters, the build page and its polling, the dashboard's SVG charts, catalogue admin."""

from __future__ import annotations

import re

import pytest

from tests.found import found


@pytest.fixture
def seeded(catalogue, create_build, client, writer):
    a = create_build("page-a", platform="azure")
    b = create_build("page-b", platform="gcp")
    client.post(f"/api/v1/builds/{b['uuid']}/state", json={"state_code": 910, "message": "packer died"},
                headers=writer)
    client.post(f"/api/v1/builds/{b['uuid']}/failure", headers=writer,
                json={"error_message": "Timeout waiting for SSH", "component": "packer", "error_code": "PK1"})
    return a, b


def test_pages_need_sign_in(client, catalogue):
    for url in ("/builds", "/builds/dashboard", "/admin/catalog"):
        response = client.get(url)
        assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_list_page_filters_stay_in_the_url_and_update_as_you_type(login_as, client, seeded):
    login_as("viewer")
    page = client.get("/builds")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "page-a" in html and "page-b" in html
    form = found(re.search(r'<form[^>]*id="build-filters"[^>]*>', html)).group(0)
    assert 'hx-push-url="true"' in form and 'hx-get="/builds"' in form and "input delay:300ms" in form
    fragment = client.get("/builds?platform=gcp", headers={"HX-Request": "true"})
    body = fragment.get_data(as_text=True)
    assert "<html" not in body and "page-b" in body and "page-a" not in body
    assert "HX-Request" in fragment.headers["Vary"]
    full = client.get("/builds?result=failed&text=page").get_data(as_text=True)
    assert 'value="failed" selected' in full and "page-b" in full and "page-a" not in full
    dated = client.get("/builds?since=2000-01-01&until=2000-01-02").get_data(as_text=True)
    assert "No builds match" in dated


def _toggles(html: str) -> list[str]:
    """Each "Filters (N)" toggle label in `html`, as its opening tag followed by its text."""
    return [re.sub(r"<svg.*?</svg>", "", m, flags=re.S).strip()
            for m in re.findall(r'(<label for="filters-more".*?)</label>', html, flags=re.S)]


def test_filters_count_follows_each_results_swap(login_as, client, seeded):
    login_as("viewer")
    whole = client.get("/builds?platform=gcp&result=failed&text=page").get_data(as_text=True)
    assert len(_toggles(whole)) == 1 and _toggles(whole)[0].endswith(">Filters (2)")  # the search box is no filter
    assert "hx-swap-oob" not in _toggles(whole)[0]
    narrowed = client.get("/builds?platform=gcp&result=failed&commit=abc", headers={"HX-Request": "true"})
    (toggle,) = _toggles(narrowed.get_data(as_text=True))
    assert narrowed.status_code == 200 and 'hx-swap-oob="true"' in toggle and toggle.endswith(">Filters (3)")
    cleared = client.get("/builds?text=page", headers={"HX-Request": "true"}).get_data(as_text=True)
    (toggle,) = _toggles(cleared)
    assert 'id="filters-more-label"' in toggle and toggle.endswith(">Filters")
    refused = client.get("/builds?platform=moon", headers={"HX-Request": "true"})  # shown as chosen, though refused
    assert refused.status_code == 422 and _toggles(refused.get_data(as_text=True))[0].endswith(">Filters (1)")


def test_list_page_shows_bad_filters_inline(login_as, client, seeded):
    login_as("viewer")
    response = client.get("/builds?platform=moon", headers={"HX-Request": "true"})
    assert response.status_code == 422
    assert "aws-commercial" in response.get_data(as_text=True)
    assert client.get("/builds?state=abc").status_code == 422


def test_build_page_shows_timeline_failures_links_and_polls_while_in_flight(login_as, client, seeded):
    login_as("viewer")
    running, failed = seeded
    html = client.get(f"/builds/{running['uuid']}").get_data(as_text=True)
    assert 'hx-trigger="every 5s"' in html and "Build created" in html
    assert "https://concourse.example.com/teams/images" in html
    fragment = client.get(f"/builds/{running['uuid']}", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert fragment.lstrip().startswith('<section id="build-live"')
    html = client.get(f"/builds/{failed['uuid']}").get_data(as_text=True)
    assert "every 5s" not in html  # finished: nothing left to poll for
    assert "Packer build failed" in html and "packer died" in html
    assert "Timeout waiting for SSH" in html and "PK1" in html
    assert client.get("/builds/00000000-0000-0000-0000-000000000000").status_code == 404
    assert client.get("/builds/not-a-uuid").status_code == 404


def test_build_page_hides_other_repositories_builds(login_as, client, catalogue, make_repo, make_user, make_key,
                                                    create_build):
    make_repo("octo-org/theirs", 2)
    theirs = create_build("theirs", repository="octo-org/theirs", headers=make_key(make_user("admin"), "admin"))
    login_as("maintainer")
    assert client.get(f"/builds/{theirs['uuid']}").status_code == 404
    assert "theirs" not in client.get("/builds").get_data(as_text=True)


def test_dashboard_page_draws_svg_charts(login_as, client, seeded):
    login_as("viewer")
    response = client.get("/builds/dashboard")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert html.count("<svg") >= 4
    assert 'class="bar-failed"' in html and "packer" in html
    assert "<script" not in html.split("</head>")[1]  # no inline scripts (CSP)
    assert "style=" not in html


def test_empty_dashboard(login_as, client, catalogue):
    login_as("viewer")
    html = client.get("/builds/dashboard").get_data(as_text=True)
    assert "No data yet." in html


def test_catalog_admin_page(login_as, browser, client, catalogue, make_repo, make_user, make_key):
    make_repo("octo-org/octo-repo", 300029405)
    login_as("admin")
    admin_key = make_key(make_user("admin", username="catalog-admin"), "admin")
    html = client.get("/admin/catalog").get_data(as_text=True)
    assert "Packer build completed" in html and "aws-govcloud" in html and "octo-org/octo-repo" in html
    added = browser.post("/admin/catalog/platforms", {"slug": "oci", "name": "Oracle", "cloud": "oci"}, htmx=True)
    assert added.status_code == 201 and "Oracle" in added.get_data(as_text=True)
    bad = browser.post("/admin/catalog/platforms", {"slug": "Bad Slug", "name": "", "cloud": "x"}, htmx=True)
    assert bad.status_code == 422 and "aria-invalid" in bad.get_data(as_text=True)
    code = browser.post("/admin/catalog/state-codes", {"code": "27", "name": "Encrypted", "phase": "build"},
                        htmx=True)
    assert code.status_code == 201 and "Encrypted" in code.get_data(as_text=True)
    mapping = browser.post("/admin/catalog/github-mappings", {"repository": "octo-org/octo-repo", "platform": "gcp",
                                                              "os_version": "rhel-8.8", "image_type": "base"},
                           htmx=True)
    assert mapping.status_code == 201 and "every workflow" in mapping.get_data(as_text=True)
    aliased = browser.post("/admin/catalog/platforms", {"slug": "ibm", "name": "IBM Cloud", "cloud": "ibm",
                                                         "aliases": "softlayer, ibmcloud"}, htmx=True)
    assert aliased.status_code == 201 and 'value="softlayer, ibmcloud"' in aliased.get_data(as_text=True)
    looked_up = client.get("/api/v1/catalog/platforms/softlayer", headers=admin_key)
    assert looked_up.json["slug"] == "ibm", looked_up.get_data(as_text=True)
    assert 'value="aws"' in html  # the default catalogue's alias, shown beside aws-commercial
    renamed = browser.post("/admin/catalog/platforms/ibm/aliases", {"aliases": "ibmcloud bluemix"}, htmx=True)
    assert renamed.status_code == 200 and 'value="ibmcloud, bluemix"' in renamed.get_data(as_text=True)
    clash = browser.post("/admin/catalog/platforms/oci/aliases", {"aliases": "bluemix"}, htmx=True)
    assert clash.status_code == 422 and "already names" in clash.get_data(as_text=True)
    assert client.get("/api/v1/catalog/platforms/oci", headers=admin_key).json["aliases"] == []
    deleted = browser.post("/admin/catalog/platforms/oci/delete", htmx=True)
    assert deleted.status_code == 200 and "Oracle" not in deleted.get_data(as_text=True)
    missing = browser.post("/admin/catalog/nothing/x/delete", htmx=True)
    assert missing.status_code == 404


def test_catalog_page_is_for_admins(login_as, client, catalogue):
    login_as("maintainer")
    assert client.get("/admin/catalog").status_code == 403
