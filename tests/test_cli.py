"""Flask commands: users create, keys create, seed-demo."""

from datetime import timedelta

import pytest
from sqlalchemy import select, text

from webapp import demo
from webapp.extensions import db
from webapp.models import ActivityLog, Evaluation, Membership, MembershipLevel, SymbolSet, User
from webapp.models.types import utcnow
from webapp.services import accounts, api_keys, evaluations

from .conftest import PASSWORD, assert_clean_error

# --- users create -------------------------------------------------------------------------


def test_users_create_makes_the_organization_and_its_default_project(app, run):
    result = run(
        "users", "create", "Grace@Example.com", "--password", PASSWORD, "--organization", "Navy Labs",
        "--first-name", "Grace", "--last-name", "Hopper",
    )  # fmt: skip

    assert result.exit_code == 0, result.output
    assert "Created user grace@example.com" in result.stdout
    assert "Created organization 'Navy Labs' as owner; projects: Default project (id " in result.stdout
    with app.app_context():
        user = accounts.find_user_by_email("grace@example.com")
        assert (user.first_name, user.last_name) == ("Grace", "Hopper")
        assert accounts.authenticate("grace@example.com", PASSWORD).id == user.id
        [project] = accounts.user_projects(user)
        assert project.organization.name == "Navy Labs"
        assert user.current_project_id == project.id
        assert user.memberships[0].level == MembershipLevel.OWNER


def test_users_create_joins_an_existing_organization(app, run, user_id):
    result = run(
        "users", "create", "bob@example.com", "--password", PASSWORD, "--organization", "Analytical Engines"
    )

    assert result.exit_code == 0, result.output
    assert "Joined organization 'Analytical Engines' as member" in result.stdout
    with app.app_context():
        ada = accounts.get_user(user_id)
        bob = accounts.find_user_by_email("bob@example.com")
        assert bob.memberships[0].level == MembershipLevel.MEMBER
        assert [p.id for p in accounts.user_projects(bob)] == [p.id for p in accounts.user_projects(ada)]


def test_users_create_refuses_a_duplicate_email(app, run, user_id):
    result = run("users", "create", "ADA@example.com", "--password", PASSWORD, "--organization", "Other")

    assert_clean_error(result, "A user with the email ada@example.com already exists.")
    with app.app_context():
        assert accounts.count_users() == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("new@example.com", "--password", "short", "--organization", "Acme"), "at least 8 characters"),
        (("not-an-email", "--password", PASSWORD, "--organization", "Acme"), "Enter a valid email address."),
        (("new@example.com", "--password", PASSWORD, "--organization", "  "), "may not be blank"),
    ],
)
def test_users_create_reports_invalid_input(app, run, args, message):
    result = run("users", "create", *args)

    assert_clean_error(result, message)
    with app.app_context():
        assert accounts.count_users() == 0


def test_users_create_asks_for_the_password_when_omitted(app, run):
    result = run("users", "create", "new@example.com", "--organization", "Acme", input=f"{PASSWORD}\n" * 2)

    assert result.exit_code == 0, result.output
    assert PASSWORD not in result.output
    with app.app_context():
        assert accounts.authenticate("new@example.com", PASSWORD) is not None


def test_users_create_requires_an_organization(run):
    result = run("users", "create", "new@example.com", "--password", PASSWORD)

    assert_clean_error(result, "Missing option '--organization'", exit_code=2)


# --- keys create --------------------------------------------------------------------------


def test_keys_create_prints_a_working_key_on_the_last_line(app, run, client, user_id, project_id):
    result = run("keys", "create", "ada@example.com", "--scopes", "*")

    assert result.exit_code == 0, result.output
    raw_key = result.stdout.strip().splitlines()[-1]
    assert raw_key.startswith("phx_")
    assert raw_key not in result.stdout.strip().splitlines()[0]
    response = client.get("/api/projects/", headers={"Authorization": f"Bearer {raw_key}"})
    assert response.status_code == 200
    assert [project["id"] for project in response.json["results"]] == [project_id]
    with app.app_context():
        [key] = api_keys.list_keys(accounts.get_user(user_id))
        assert (key.label, key.scopes, key.scoped_teams) == ("CLI key", ["*"], None)
        assert key.mask_value in result.stdout


def test_keys_create_with_scopes_label_and_projects(app, run, client, user_id, project_id):
    result = run(
        "keys", "create", "ada@example.com", "--scopes", "evaluation:read,evaluation:write",
        "--label", "CI uploader", "--projects", str(project_id),
    )  # fmt: skip

    assert result.exit_code == 0, result.output
    raw_key = result.stdout.strip().splitlines()[-1]
    headers = {"Authorization": f"Bearer {raw_key}"}
    listing = client.get(f"/api/environments/{project_id}/evaluations/", headers=headers)
    assert listing.status_code == 200
    with app.app_context():
        [key] = api_keys.list_keys(accounts.get_user(user_id))
        assert key.label == "CI uploader"
        assert key.scopes == ["evaluation:read", "evaluation:write"]
        assert key.scoped_teams == [project_id]


def test_keys_create_numbers_the_default_label_and_refuses_a_taken_one(app, run, user_id):
    for _ in range(3):
        assert run("keys", "create", "ada@example.com", "--scopes", "*").exit_code == 0

    result = run("keys", "create", "ada@example.com", "--scopes", "*", "--label", "CLI key 2")

    assert_clean_error(result, "You already have a key labelled “CLI key 2”.")
    assert "phx_" not in result.output
    with app.app_context():
        labels = [key.label for key in api_keys.list_keys(accounts.get_user(user_id))]
        assert sorted(labels) == ["CLI key", "CLI key 2", "CLI key 3"]


def test_keys_create_for_an_unknown_user(run):
    result = run("keys", "create", "nobody@example.com", "--scopes", "*")

    assert_clean_error(result, "No user with the email nobody@example.com.")
    assert "phx_" not in result.output


def test_keys_create_refuses_an_unknown_scope(app, run, user_id):
    result = run("keys", "create", "ada@example.com", "--scopes", "evaluation:read,evaluation:delete")

    assert_clean_error(result, "Unknown scope 'evaluation:delete'.")
    with app.app_context():
        assert api_keys.list_keys(accounts.get_user(user_id)) == []


def test_keys_create_refuses_a_project_the_user_is_not_in(run, user_id, project_id):
    result = run("keys", "create", "ada@example.com", "--scopes", "*", "--projects", str(project_id + 1))

    assert_clean_error(result, f"You are not a member of project {project_id + 1}.")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--scopes", "*", "--projects", "one,two"), "Invalid value for '--projects'"),
        ((), "Missing option '--scopes'"),
    ],
)
def test_keys_create_usage_errors(run, user_id, args, message):
    result = run("keys", "create", "ada@example.com", *args)

    assert_clean_error(result, message, exit_code=2)


# --- seed-demo ----------------------------------------------------------------------------


def login_line():
    return f"Log in at {demo.DEMO_URL} as {demo.DEMO_EMAIL}, password: {demo.DEMO_PASSWORD}"


def demo_evaluations():
    return list(db.session.scalars(select(Evaluation).order_by(Evaluation.pk)))


def test_seed_demo_creates_the_demo_login_and_realistic_evaluations(app, run):
    result = run("seed-demo", "--evaluations", "30")

    assert result.exit_code == 0, result.output
    assert result.stdout.strip().splitlines()[-1] == login_line()
    with app.app_context():
        user = accounts.authenticate(demo.DEMO_EMAIL, demo.DEMO_PASSWORD)
        assert user is not None and user.first_name == "Demo"
        [project] = accounts.user_projects(user)
        assert project.organization.name == "Demo Organization"
        assert user.memberships[0].level == MembershipLevel.OWNER

        rows = demo_evaluations()
        assert len(rows) == 30
        assert len({row.name for row in rows}) == 30
        assert rows[0].name == "Hallucination check – Support chatbot"
        assert {row.enabled for row in rows} == {True, False}
        assert any(row.conditions for row in rows)
        now = utcnow()
        for row in rows:
            assert row.project_id == project.id and row.created_by_id == user.id and not row.deleted
            assert row.prompt.strip() and row.description
            # What the API and the edit form would accept, unchanged.
            assert evaluations.validate_conditions(row.conditions) == row.conditions
            assert now - timedelta(days=60, minutes=1) <= row.created_at <= row.updated_at <= now
        assert len({row.created_at.date() for row in rows}) > 5


def test_seed_demo_is_idempotent_for_the_demo_user_and_keeps_names_unique(app, run):
    assert run("seed-demo", "--evaluations", "5").exit_code == 0
    result = run("seed-demo", "--evaluations", "700")

    assert result.exit_code == 0, result.output
    assert "Created the demo user" not in result.stdout
    assert result.stdout.strip().splitlines()[-1] == login_line()
    with app.app_context():
        assert db.session.scalars(select(User.email)).all() == [demo.DEMO_EMAIL]
        assert len(db.session.scalars(select(Membership.id)).all()) == 1
        names = [row.name for row in demo_evaluations()]
        assert len(names) == 705 == len(set(names))


def test_seeded_evaluations_have_their_history(app, run):
    assert run("seed-demo", "--evaluations", "20").exit_code == 0

    with app.app_context():
        project = accounts.resolve_project(accounts.find_user_by_email(demo.DEMO_EMAIL), "@current")
        for row in demo_evaluations():
            entries = evaluations.history(project, row)
            assert entries[-1].activity == "created"
            assert entries[-1].created_at == row.created_at
            assert {change["field"] for change in entries[-1].detail["changes"]} >= {"name", "prompt"}
            if row.updated_at != row.created_at:
                assert entries[0].activity == "updated"
                assert entries[0].detail["changes"] == [
                    {"field": "enabled", "before": not row.enabled, "after": row.enabled}
                ]
        assert db.session.query(ActivityLog).count() >= 20


def test_seeded_evaluations_are_searchable_through_the_api(app, run, client):
    # Small batches: the search index must be right across batch boundaries too.
    with app.app_context():
        account = demo.ensure_demo_account()
        demo.seed_evaluations(account.project, account.user, 300, batch_size=64)
        project_id = account.project.id
        _, raw_key = api_keys.create_key(account.user, "test", "evaluation:write")
        rows = demo_evaluations()
        # The planner knows the table's size (a search is then fetched by key, not probed in a scan).
        if db.engine.dialect.name == "sqlite":
            statistics = "SELECT count(*) FROM sqlite_stat1 WHERE tbl = 'evaluations'"
        else:
            statistics = "SELECT reltuples::integer FROM pg_class WHERE oid = 'evaluations'::regclass"
        assert db.session.scalar(text(statistics)) > 0
    headers = {"Authorization": f"Bearer {raw_key}"}
    url = f"/api/environments/{project_id}/evaluations/"

    for term in ("toxicity", "SQL", "docs search", "Q&A", "impartial", "q", "judge SQ"):
        fields = [(row, (row.name + "\n" + row.description + "\n" + row.prompt).lower()) for row in rows]
        expected = {str(row.id) for row, text in fields if all(word in text for word in term.lower().split())}
        response = client.get(url, query_string={"search": term, "limit": 1000}, headers=headers)
        assert response.status_code == 200
        assert response.json["count"] == len(expected) > 0, term
        assert {item["id"] for item in response.json["results"]} == expected

    enabled = client.get(url, query_string={"enabled": "true", "order_by": "-name"}, headers=headers)
    assert enabled.json["count"] == sum(row.enabled for row in rows)

    # Rows added after seeding are still indexed (the insert trigger is back).
    created = client.post(url, json={"name": "Zebra stripes", "prompt": "Is it striped?"}, headers=headers)
    assert created.status_code == 201
    found = client.get(url, query_string={"search": "zebra"}, headers=headers)
    assert [item["name"] for item in found.json["results"]] == ["Zebra stripes"]


def test_seed_demo_if_empty_skips_when_users_exist(app, run, user_id):
    result = run("seed-demo", "--if-empty")

    assert result.exit_code == 0, result.output
    assert "Users exist already; not adding demo data." in result.stdout
    assert "Log in at" not in result.stdout
    with app.app_context():
        assert accounts.count_users() == 1
        assert demo_evaluations() == []
        assert db.session.scalars(select(SymbolSet.id)).all() == []


def test_seed_demo_if_empty_seeds_an_empty_database_once(app, run):
    first = run("seed-demo", "--if-empty")
    second = run("seed-demo", "--if-empty")

    assert first.exit_code == second.exit_code == 0
    assert first.stdout.strip().splitlines()[-1] == login_line()
    # The login is still printed so `make run` always tells the newcomer how to get in.
    assert second.stdout.strip().splitlines()[-1] == login_line()
    assert f"Added {demo.DEFAULT_SYMBOL_SETS} symbol sets (" in first.stdout
    with app.app_context():
        assert len(demo_evaluations()) == demo.DEFAULT_EVALUATIONS
        # `make run` shows the symbol-set review flow at once.
        assert len(db.session.scalars(select(SymbolSet.id)).all()) == demo.DEFAULT_SYMBOL_SETS


def test_seed_demo_says_when_the_demo_password_was_changed(app, run, make_user):
    make_user(email=demo.DEMO_EMAIL, organization="Somewhere else")

    result = run("seed-demo", "--evaluations", "2")

    assert result.exit_code == 0, result.output
    assert result.stdout.strip().splitlines()[-1].endswith("password: (changed since it was seeded)")
    with app.app_context():
        assert len(demo_evaluations()) == 2


def test_seed_demo_refuses_a_negative_count(run):
    result = run("seed-demo", "--evaluations", "-1")

    assert_clean_error(result, "Invalid value for '--evaluations'", exit_code=2)
