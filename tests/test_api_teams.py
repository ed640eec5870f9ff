"""/api/organizations/@current/members/ and invites/, /api/projects/ writes: PostHog's shapes, every rule."""

import pytest
from sqlalchemy import func, select

from webapp.extensions import db
from webapp.models import ActivityLog, Evaluation, Membership, MembershipLevel, Release, SymbolSet
from webapp.services import accounts, evaluations, invites, organizations
from webapp.storage.local import LocalStorage

from .conftest import installed_storage, log_in
from .symbol_blobs import cli_blob
from .test_api_symbol_sets import ErrorTracking, all_objects, sha512

OWNER, ADMIN, MEMBER = MembershipLevel.OWNER, MembershipLevel.ADMIN, MembershipLevel.MEMBER
MEMBERS = "/api/organizations/@current/members/"
INVITES = "/api/organizations/@current/invites/"


@pytest.fixture
def team(make_user, make_key):
    """Owner, admin and member of one organization, each with a `*` key: {name: (user_id, headers)}."""
    ids = {
        "owner": make_user("owner@example.com"),
        "admin": make_user("admin@example.com", level=ADMIN),
        "member": make_user("member@example.com", level=MEMBER),
    }
    return {name: (uid, {"Authorization": f"Bearer {make_key(uid)}"}) for name, uid in ids.items()}


def uuid_of(app, user_id):
    with app.app_context():
        value = str(accounts.get_user(user_id).uuid)
        db.session.remove()
    return value


def assert_forbidden(response, detail):
    assert response.status_code == 403, response.get_json()
    assert response.get_json() == {
        "type": "authentication_error",
        "code": "permission_denied",
        "detail": detail,
        "attr": None,
    }


def test_everyone_lists_members_in_posthogs_shape(client, team, app):
    body = client.get(MEMBERS, headers=team["member"][1]).get_json()
    assert body["count"] == 3
    first = body["results"][0]
    assert set(first) == {
        "id", "user", "level", "joined_at", "updated_at", "is_2fa_enabled", "has_social_auth", "last_login",
    }  # fmt: skip
    assert first["level"] == 15 and first["user"]["email"] == "owner@example.com"
    assert first["user"]["uuid"] == uuid_of(app, team["owner"][0])


def test_admin_changes_a_level(client, team, app):
    target = uuid_of(app, team["member"][0])
    response = client.patch(MEMBERS + target + "/", json={"level": 8}, headers=team["admin"][1])
    assert response.status_code == 200
    assert response.get_json()["level"] == 8


@pytest.mark.parametrize(
    ("actor", "target", "level", "detail"),
    [
        ("member", "admin", 1, "Only admins and owners can change members' levels."),
        ("admin", "member", 15, "Only owners can make or remove owners."),
        ("admin", "owner", 8, "Only owners can make or remove owners."),
        (
            "owner",
            "owner",
            8,
            "You are the organization's only owner, so you cannot stop being one. Make another member an "
            "owner first.",
        ),
    ],
)
def test_forbidden_level_changes_answer_403(client, team, app, actor, target, level, detail):
    url = MEMBERS + uuid_of(app, team[target][0]) + "/"
    assert_forbidden(client.patch(url, json={"level": level}, headers=team[actor][1]), detail)


@pytest.mark.parametrize("level", [2, "8", None, True, 16])
def test_a_level_must_be_1_8_or_15(client, team, app, level):
    url = MEMBERS + uuid_of(app, team["member"][0]) + "/"
    response = client.patch(url, json={"level": level}, headers=team["owner"][1])
    assert response.status_code == 400
    assert response.get_json()["attr"] == "level"


@pytest.mark.parametrize(
    ("actor", "target", "detail"),
    [
        ("member", "admin", "Only admins and owners can remove members."),
        ("admin", "owner", "Only owners can remove owners."),
        (
            "owner",
            "owner",
            "You are the organization's only owner, so you cannot leave. Make another member an owner first.",
        ),
    ],
)
def test_forbidden_removals_answer_403(client, team, app, actor, target, detail):
    url = MEMBERS + uuid_of(app, team[target][0]) + "/"
    assert_forbidden(client.delete(url, headers=team[actor][1]), detail)


def test_removal_takes_effect_on_the_next_request(client, team, app):
    member_id, member_headers = team["member"]
    project = client.get("/api/users/@me/", headers=member_headers).get_json()["team"]["id"]
    assert client.get(f"/api/projects/{project}/evaluations/", headers=member_headers).status_code == 200
    response = client.delete(MEMBERS + uuid_of(app, member_id) + "/", headers=team["admin"][1])
    assert response.status_code == 204
    gone = client.get(f"/api/projects/{project}/evaluations/", headers=member_headers)
    assert gone.status_code == 404 and gone.get_json()["detail"] == "Project not found."
    assert client.get(MEMBERS, headers=member_headers).status_code == 404


def test_a_member_leaves_with_their_own_uuid(client, team, app):
    member_id, headers = team["member"]
    assert client.delete(MEMBERS + uuid_of(app, member_id) + "/", headers=headers).status_code == 204


def test_a_patch_without_a_level_changes_nothing(client, team, app):
    url = MEMBERS + uuid_of(app, team["member"][0]) + "/"
    response = client.patch(url, json={}, headers=team["owner"][1])
    assert response.status_code == 200 and response.get_json()["level"] == 1


def test_unknown_member_is_404(client, team):
    for target in ("00000000-0000-0000-0000-000000000000", "nope"):
        response = client.patch(MEMBERS + target + "/", json={"level": 8}, headers=team["owner"][1])
        assert response.status_code == 404 and response.get_json()["code"] == "not_found"


def test_scopes(client, team, make_key, app):
    owner_id = team["owner"][0]
    reader = {"Authorization": f"Bearer {make_key(owner_id, 'organization:read', label='r')}"}
    assert client.get(MEMBERS, headers=reader).status_code == 200
    target = MEMBERS + uuid_of(app, team["member"][0]) + "/"
    response = client.patch(target, json={"level": 8}, headers=reader)
    assert_forbidden(response, "API key missing required scope 'organization:write'")
    evals = {"Authorization": f"Bearer {make_key(owner_id, 'evaluation:read', label='e')}"}
    assert_forbidden(client.get(MEMBERS, headers=evals), "API key missing required scope 'organization:read'")
    assert_forbidden(
        client.post("/api/projects/", json={"name": "X"}, headers=reader),
        "API key missing required scope 'project:write'",
    )


# --- invites ------------------------------------------------------------------------------


def test_admin_invites_and_the_link_is_in_the_answer_only(client, team, app):
    response = client.post(
        INVITES, json={"target_email": "new@example.com", "level": 8}, headers=team["admin"][1]
    )
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert body["target_email"] == "new@example.com" and body["level"] == 8 and body["is_expired"] is False
    assert body["created_by"]["email"] == "admin@example.com"
    token = body["invite_url"].rsplit("/invite/", 1)[1]
    with app.app_context():
        assert invites.find_usable(token).target_email == "new@example.com"
        db.session.remove()
    listed = client.get(INVITES, headers=team["admin"][1]).get_json()
    assert [i["id"] for i in listed["results"]] == [body["id"]]
    assert "invite_url" not in listed["results"][0]
    assert client.delete(INVITES + body["id"] + "/", headers=team["admin"][1]).status_code == 204
    with app.app_context(), pytest.raises(invites.InviteUnusable):
        invites.find_usable(token)
    assert client.delete(INVITES + body["id"] + "/", headers=team["admin"][1]).status_code == 404


def test_forbidden_invites_answer_403(client, team):
    member = team["member"][1]
    assert_forbidden(
        client.post(INVITES, json={"target_email": "x@example.com"}, headers=member),
        "Only admins and owners can invite people.",
    )
    assert_forbidden(client.get(INVITES, headers=member), "Only admins and owners can see invitations.")
    assert_forbidden(
        client.post(INVITES, json={"target_email": "x@example.com", "level": 15}, headers=team["admin"][1]),
        "Only owners can invite owners.",
    )
    created = client.post(
        INVITES, json={"target_email": "x@example.com"}, headers=team["admin"][1]
    ).get_json()
    assert_forbidden(
        client.delete(INVITES + created["id"] + "/", headers=member),
        "Only admins and owners can revoke invitations.",
    )


@pytest.mark.parametrize("email", ["not an email", " x@example.com", "", None, "member@example.com"])
def test_a_bad_address_is_400(client, team, email):
    response = client.post(INVITES, json={"target_email": email}, headers=team["owner"][1])
    assert response.status_code == 400
    assert response.get_json()["attr"] == "target_email"


# --- projects -----------------------------------------------------------------------------


def test_projects_create_rename_delete(client, team, app):
    admin, owner = team["admin"][1], team["owner"][1]
    created = client.post("/api/projects/", json={"name": "Mobile"}, headers=admin)
    assert created.status_code == 201
    project = created.get_json()
    assert set(project) >= {"id", "uuid", "name", "organization", "created_at"}
    listed = client.get("/api/projects/", headers=team["member"][1]).get_json()
    assert project["id"] in [p["id"] for p in listed["results"]]
    renamed = client.patch(f"/api/projects/{project['id']}/", json={"name": "iOS"}, headers=admin)
    assert renamed.status_code == 200 and renamed.get_json()["name"] == "iOS"
    assert client.get(f"/api/projects/{project['id']}/", headers=admin).get_json()["name"] == "iOS"
    assert_forbidden(
        client.delete(f"/api/projects/{project['id']}/", headers=admin), "Only owners can delete projects."
    )
    assert client.delete(f"/api/projects/{project['id']}/", headers=owner).status_code == 204
    assert client.get(f"/api/projects/{project['id']}/", headers=owner).status_code == 404


def test_members_cannot_create_or_rename_projects(client, team):
    member = team["member"][1]
    assert_forbidden(
        client.post("/api/projects/", json={"name": "X"}, headers=member),
        "Only admins and owners can create projects.",
    )
    assert_forbidden(
        client.patch("/api/projects/@current/", json={"name": "X"}, headers=member),
        "Only admins and owners can rename projects.",
    )


def test_the_last_project_cannot_be_deleted(client, team):
    response = client.delete("/api/projects/@current/", headers=team["owner"][1])
    assert response.status_code == 409 and response.get_json()["code"] == "last_project"


def test_another_organizations_project_is_404(client, team, make_user):
    other = make_user("x@example.com", organization="Elsewhere")
    with client.application.app_context():
        theirs = accounts.resolve_project(accounts.get_user(other), "@current").id
        db.session.remove()
    owner = team["owner"][1]
    for response in (
        client.patch(f"/api/projects/{theirs}/", json={"name": "Mine"}, headers=owner),
        client.delete(f"/api/projects/{theirs}/", headers=owner),
        client.get(f"/api/projects/{theirs}/", headers=owner),
    ):
        assert response.status_code == 404 and response.get_json()["detail"] == "Project not found."


def test_a_key_limited_to_a_deleted_project_stops_working_for_it(client, team, make_key, app):
    owner_id, owner = team["owner"]
    doomed = client.post("/api/projects/", json={"name": "Doomed"}, headers=owner).get_json()["id"]
    limited = {"Authorization": f"Bearer {make_key(owner_id, '*', [doomed], label='limited')}"}
    with app.app_context():
        user = accounts.get_user(owner_id)
        evaluations.create_evaluation(
            accounts.resolve_project(user, doomed), user, {"name": "J", "prompt": "p"}
        )
        db.session.remove()
    assert client.get(f"/api/projects/{doomed}/evaluations/", headers=limited).get_json()["count"] == 1
    assert client.delete(f"/api/projects/{doomed}/", headers=owner).status_code == 204
    # A new project (SQLite may give it the same id) is not the key's.
    again = client.post("/api/projects/", json={"name": "New"}, headers=owner).get_json()["id"]
    assert client.get(f"/api/projects/{again}/evaluations/", headers=limited).status_code == 401
    # Nothing of the deleted project's is left under its id, whichever project has it now.
    left = client.get(f"/api/projects/{doomed}/evaluations/", headers=owner)
    assert left.status_code == 404 or left.get_json()["count"] == 0


def test_a_key_cannot_write_a_project_outside_its_list(client, team, make_key, app):
    owner_id, owner = team["owner"]
    other = client.post("/api/projects/", json={"name": "Other"}, headers=owner).get_json()["id"]
    with app.app_context():
        current = accounts.resolve_project(accounts.get_user(owner_id), "@current").id
        db.session.remove()
    limited = {"Authorization": f"Bearer {make_key(owner_id, '*', [current], label='limited')}"}
    response = client.patch(f"/api/projects/{other}/", json={"name": "X"}, headers=limited)
    assert_forbidden(response, "API key does not have access to the requested project.")


def test_a_session_needs_csrf_for_writes(client, team, app):
    token = log_in(client, team["owner"][0])
    assert client.post("/api/projects/", json={"name": "X"}).status_code == 403
    assert (
        client.post("/api/projects/", json={"name": "X"}, headers={"X-CSRFToken": token}).status_code == 201
    )
    with app.app_context():
        owners = db.session.scalars(select(Membership.level)).all()
        assert sorted(owners) == [1, 8, 15]
        db.session.remove()


def test_an_invite_is_emailed_unless_send_email_is_false(client, team, smtp_server):
    admin = team["admin"][1]
    sent = client.post(INVITES, json={"target_email": "a@example.com", "level": 8}, headers=admin).get_json()
    assert sent["emailing_attempt_made"] is True
    [(recipients, message)] = smtp_server.messages
    assert recipients == ["a@example.com"] and sent["invite_url"] in message
    assert "as admin" in message
    kept = client.post(
        INVITES, json={"target_email": "b@example.com", "send_email": False}, headers=admin
    ).get_json()
    assert kept["emailing_attempt_made"] is False and len(smtp_server.messages) == 1


def test_a_removed_member_keeps_their_other_organization(client, team, app, make_user, make_key):
    member_id, member = team["member"]
    with app.app_context():
        here = accounts.resolve_project(accounts.get_user(member_id), "@current").id
        db.session.remove()
    # The member also joined another organization (by its owner's invite) and works in it with the same key.
    boss = make_user("boss@example.com", organization="Their own")
    with app.app_context():
        caller = organizations.current(accounts.get_user(boss))
        [(_, token, _)] = invites.create_invites(caller, "member@example.com")
        invites.accept_as_existing_user(token, accounts.get_user(member_id))
        db.session.remove()
    mine = [p["id"] for p in client.get("/api/projects/", headers=member).get_json()["results"]]
    [elsewhere] = [p for p in mine if p != here]
    client.post(
        f"/api/projects/{elsewhere}/evaluations/", json={"name": "Mine", "prompt": "p"}, headers=member
    )
    assert client.delete(MEMBERS + uuid_of(app, member_id) + "/", headers=team["admin"][1]).status_code == 204
    assert client.get(f"/api/projects/{here}/evaluations/", headers=member).status_code == 404
    kept = client.get(f"/api/projects/{elsewhere}/evaluations/", headers=member)
    assert kept.status_code == 200 and [e["name"] for e in kept.get_json()["results"]] == ["Mine"]
    me = client.get("/api/users/@me/", headers=member).get_json()
    assert [o["name"] for o in me["organizations"]] == ["Their own"] and me["team"]["id"] == elsewhere
    emails = [m["user"]["email"] for m in client.get(MEMBERS, headers=member).get_json()["results"]]
    assert emails == ["boss@example.com", "member@example.com"]


def test_an_owner_removes_another_owner(client, team, app):
    owner_id, owner = team["owner"]
    admin_uuid = uuid_of(app, team["admin"][0])
    assert client.patch(MEMBERS + admin_uuid + "/", json={"level": 15}, headers=owner).status_code == 200
    assert client.delete(MEMBERS + admin_uuid + "/", headers=owner).status_code == 204
    levels = [m["level"] for m in client.get(MEMBERS, headers=owner).get_json()["results"]]
    assert levels == [15, 1]


def project_rows(app, project_id) -> dict:
    """How many rows of each kind a project holds."""
    with app.app_context():
        counts = {
            model.__name__: db.session.scalar(
                select(func.count()).select_from(model).where(model.project_id == project_id)
            )
            for model in (Evaluation, SymbolSet, Release, ActivityLog)
        }
        db.session.remove()
    return counts


def test_deleting_a_project_deletes_its_evaluations_symbol_sets_files_releases_and_activity(
    client, team, app, tmp_path
):
    owner = team["owner"][1]
    with app.app_context():
        keep = accounts.resolve_project(accounts.get_user(team["owner"][0]), "@current").id
        db.session.remove()
    doomed = client.post("/api/projects/", json={"name": "Doomed"}, headers=owner).get_json()["id"]
    store = LocalStorage(tmp_path / "objects", secret_key=app.config["SECRET_KEY"])
    with installed_storage(app, store):
        for project_id in (keep, doomed):
            et = ErrorTracking(client, owner, project_id)
            et.upload_set(f"chunk-{project_id}", release_id=et.create_release()["id"])
            # An upload started and sent but never finished: its staging object is the project's too.
            data = cli_blob(f"pending-{project_id}")
            started = et.start({"chunk_id": f"pending-{project_id}", "content_hash": sha512(data)})
            assert (
                et.upload(started.get_json()["id_map"][f"pending-{project_id}"]["presigned_url"], data) == 204
            )
            evaluation = {"name": "Judge", "prompt": "Rate it."}
            assert et.client.post(f"/api/projects/{project_id}/evaluations/", json=evaluation, headers=owner)
        kept_objects = [key for key in all_objects(store) if f"/{keep}/" in key]
        assert len(all_objects(store)) == 2 * len(kept_objects) == 4
        assert project_rows(app, doomed) == {"Evaluation": 1, "SymbolSet": 2, "Release": 1, "ActivityLog": 2}

        # The owner's page says how many go before anything is deleted.
        log_in(client, team["owner"][0])
        confirm = client.get(f"/settings/projects/{doomed}/delete").get_data(as_text=True)
        for count in ("1 evaluation<", "2 symbol sets and 1 stored file", "1 release<", "2 activity entries"):
            assert count in confirm
        assert client.delete(f"/api/projects/{doomed}/", headers=owner).status_code == 204
        assert all_objects(store) == kept_objects
    assert project_rows(app, doomed) == {"Evaluation": 0, "SymbolSet": 0, "Release": 0, "ActivityLog": 0}
    assert project_rows(app, keep) == {"Evaluation": 1, "SymbolSet": 2, "Release": 1, "ActivityLog": 2}


def test_a_member_does_everything_inside_projects(client, team, app, tmp_path):
    member = team["member"][1]
    project = client.get("/api/users/@me/", headers=member).get_json()["team"]["id"]
    evaluations_url = f"/api/projects/{project}/evaluations/"
    created = client.post(evaluations_url, json={"name": "Judge", "prompt": "Rate it."}, headers=member)
    assert created.status_code == 201, created.get_json()
    url = evaluations_url + created.get_json()["id"] + "/"
    assert client.patch(url, json={"enabled": True, "deleted": True}, headers=member).status_code == 200
    store = LocalStorage(tmp_path / "objects", secret_key=app.config["SECRET_KEY"])
    with installed_storage(app, store):
        et = ErrorTracking(client, member, project)
        release = et.create_release()
        symbol_set = et.upload_set("chunk", release_id=release["id"])
        assert et.delete(f"symbol_sets/{symbol_set['id']}/").status_code == 204
        assert et.delete(f"releases/{release['id']}/").status_code == 204
    assert all_objects(store) == []


@pytest.mark.parametrize(
    ("scopes", "method", "path", "needed"),
    [
        ("evaluation:write", "GET", MEMBERS, "organization:read"),
        ("organization:read", "PATCH", MEMBERS + "{member}/", "organization:write"),
        ("organization:read", "DELETE", MEMBERS + "{member}/", "organization:write"),
        ("evaluation:write", "GET", INVITES, "organization:read"),
        ("organization:read", "POST", INVITES, "organization:write"),
        ("organization:read", "DELETE", INVITES + "{invite}/", "organization:write"),
        ("evaluation:write", "GET", "/api/projects/@current/", "project:read"),
        ("project:read", "POST", "/api/projects/", "project:write"),
        ("project:read", "PATCH", "/api/projects/@current/", "project:write"),
        ("project:read", "DELETE", "/api/projects/{spare}/", "project:write"),
        ("organization:write", "PATCH", "/api/projects/@current/", "project:write"),
    ],
)
def test_each_route_needs_its_scope(client, team, app, make_key, scopes, method, path, needed):
    owner_id, owner = team["owner"]
    ids = {
        "member": uuid_of(app, team["member"][0]),
        "invite": client.post(INVITES, json={"target_email": "x@example.com"}, headers=owner).get_json()[
            "id"
        ],
        "spare": client.post("/api/projects/", json={"name": "Spare"}, headers=owner).get_json()["id"],
    }
    key = {"Authorization": f"Bearer {make_key(owner_id, scopes, label='scoped')}"}
    body = {"target_email": "y@example.com", "level": 8, "name": "Renamed"}
    response = client.open(path.format(**ids), method=method, json=body, headers=key)
    assert_forbidden(response, f"API key missing required scope '{needed}'")
    # Nothing changed.
    assert len(client.get(MEMBERS, headers=owner).get_json()["results"]) == 3
    assert [i["target_email"] for i in client.get(INVITES, headers=owner).get_json()["results"]] == [
        "x@example.com"
    ]
    names = sorted(p["name"] for p in client.get("/api/projects/", headers=owner).get_json()["results"])
    assert names == ["Default project", "Spare"]
