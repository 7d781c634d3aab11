"""Sign in with GitHub: state checked, replay refused, token encrypted, users created or linked, access synced."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from tests.found import found
from tests.github.helpers import github_login, start_github_login
from webapp.auth.models import User
from webapp.repos.models import GitHubAccount, RepositoryAccess


def _user(db: Any, username: str) -> User | None:
    db.session.expire_all()
    return db.session.scalar(sa.select(User).where(User.username == username))


def test_first_sign_in_creates_a_viewer_and_records_access(app: Any, client: Any, db: Any, fake_github: Any) -> None:
    response = github_login(client, fake_github, "octocat")
    assert response.status_code == 302 and response.headers["Location"] == "/"
    user = found(_user(db, "octocat"))
    assert user is not None and user.role == "viewer" and user.password_hash is None
    account = db.session.get(GitHubAccount, user.id)
    assert account.login == "octocat" and account.github_id == 583231
    access = {a.repository_id: a.permission for a in db.session.scalars(sa.select(RepositoryAccess))}
    assert access == {1001: "admin", 1002: "read"}  # 1004 has no installation: not listed by GitHub
    assert client.get("/repos").status_code == 200  # signed in
    assert fake_github.calls("GET", r"^/user/installations$")[0].auth == "user:octocat"


def test_token_is_encrypted_at_rest(app: Any, client: Any, db: Any, fake_github: Any) -> None:
    github_login(client, fake_github, "octocat")
    token = next(iter(fake_github.state.user_tokens))
    with db.engine.connect() as conn:
        dump = " ".join(str(row) for row in conn.execute(sa.text("SELECT * FROM github_accounts")))
    assert token not in dump
    user = found(_user(db, "octocat"))
    assert found(db.session.get(GitHubAccount, user.id)).access_token == token


def test_state_mismatch_is_refused(app: Any, client: Any, db: Any, fake_github: Any) -> None:
    callback = start_github_login(client)
    forged = callback.replace("state=", "state=forged")
    response = client.get(forged)
    assert response.status_code == 400
    assert "sign-in failed" in response.get_data(as_text=True)
    assert _user(db, "octocat") is None
    assert not fake_github.calls("POST", r"^/login/oauth/access_token$")


def test_replayed_callback_is_refused(app: Any, client: Any, db: Any, fake_github: Any) -> None:
    callback = start_github_login(client)
    assert client.get(callback).status_code == 302
    client.post("/logout", headers={"X-CSRFToken": _csrf(client)})
    again = client.get(callback)
    assert again.status_code == 400
    assert len(fake_github.calls("POST", r"^/login/oauth/access_token$")) == 1


def test_callback_without_state_in_session_is_refused(app: Any, client: Any, fake_github: Any) -> None:
    callback = start_github_login(client)
    other = app.test_client()  # a different browser: no state in its session
    assert other.get(callback).status_code == 400


def _csrf(client: Any) -> str:
    from tests.conftest import csrf_token

    return csrf_token(client)


def test_admin_logins_become_admins(app: Any, client: Any, db: Any, fake_github: Any, monkeypatch: Any) -> None:
    monkeypatch.setitem(app.config, "GITHUB_ADMIN_LOGINS", ["octocat"])
    github_login(client, fake_github, "octocat")
    assert found(_user(db, "octocat")).role == "admin"


def test_allowed_orgs_refuse_outsiders(app: Any, client: Any, db: Any, fake_github: Any, monkeypatch: Any) -> None:
    monkeypatch.setitem(app.config, "GITHUB_ALLOWED_ORGS", ["acme"])
    response = github_login(client, fake_github, "mallory")
    assert response.status_code == 403
    assert "not a member" in response.get_data(as_text=True)
    assert _user(db, "mallory") is None
    assert github_login(app.test_client(), fake_github, "octocat").status_code == 302


def test_second_sign_in_reuses_the_user_and_updates_the_token(app: Any, client: Any, db: Any,
                                                              fake_github: Any) -> None:
    github_login(client, fake_github, "octocat")
    github_login(app.test_client(), fake_github, "octocat")
    db.session.expire_all()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(User)) == 1
    newest = list(fake_github.state.user_tokens)[-1]
    assert db.session.scalars(sa.select(GitHubAccount)).one().access_token == newest


def test_username_clash_gets_a_free_name(app: Any, client: Any, db: Any, fake_github: Any, make_user: Any) -> None:
    make_user("admin", username="octocat")
    github_login(client, fake_github, "octocat")
    account = db.session.scalars(sa.select(GitHubAccount)).one()
    assert db.session.get(User, account.user_id).username == "octocat-gh2"


def test_signed_in_user_links_their_github_identity(app: Any, client: Any, db: Any, fake_github: Any,
                                                    login_as: Any) -> None:
    me = login_as("maintainer")
    response = github_login(client, fake_github, "octocat", query="?link=1&next=/github")
    assert response.status_code == 302 and response.headers["Location"] == "/github"
    db.session.expire_all()
    assert db.session.get(GitHubAccount, me.id).login == "octocat"
    assert db.session.scalar(sa.select(sa.func.count()).select_from(User)) == 1


def test_sign_in_survives_github_failing_the_access_sync(app: Any, client: Any, db: Any, fake_github: Any) -> None:
    fake_github.fail("GET", r"^/user/installations$", 502, times=3)
    assert github_login(client, fake_github, "octocat").status_code == 302
    assert db.session.scalar(sa.select(sa.func.count()).select_from(RepositoryAccess)) == 0


def test_open_redirect_is_refused(app: Any, client: Any, fake_github: Any) -> None:
    response = github_login(client, fake_github, "octocat", query="?next=https://evil.example/")
    assert response.headers["Location"] == "/"


def test_login_page_offers_github(app: Any, client: Any, fake_github: Any) -> None:
    assert "Sign in with GitHub" in client.get("/login").get_data(as_text=True)
