def test_health(client):
    response = client.get("/health")
    assert response.status_code == 200
    assert response.json == {"status": "ok"}


def test_login_page(client):
    response = client.get("/login")
    assert response.status_code == 200
    assert b"Sign in" in response.data


def test_api_me_with_key(client, make_user, make_key):
    user = make_user("maintainer")
    response = client.get("/api/v1/me", headers=make_key(user, "read"))
    assert response.status_code == 200, response.json
    assert response.json["username"] == user.username


def test_login_flow(login_as, client):
    user = login_as("admin")
    response = client.get("/")
    assert response.status_code == 200
    assert user.username.encode() in response.data
