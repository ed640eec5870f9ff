"""API authentication and the error shape."""


def test_unauthenticated_request_is_401_in_posthog_shape(client):
    response = client.get("/api/projects/")
    assert response.status_code == 401
    assert response.json == {
        "type": "authentication_error",
        "code": "not_authenticated",
        "detail": "Authentication credentials were not provided.",
        "attr": None,
    }


def test_bearer_key_lists_the_callers_projects(client, auth, project_id):
    response = client.get("/api/projects", headers=auth)
    assert response.status_code == 200
    assert response.json["count"] == 1
    assert response.json["results"][0]["id"] == project_id
