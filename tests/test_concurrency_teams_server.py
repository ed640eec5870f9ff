"""Teams races over HTTP against a real gunicorn (4 workers): answers in 2xx/4xx with their reasons, never a
500, and never an organization without an owner.

test_concurrency_teams.py forces each race inside one process; here the same races run between processes
and connections, as in production (on PostgreSQL: this run's own schema).
"""

import re

import pytest
import requests
from sqlalchemy import func, select

from webapp.extensions import db
from webapp.models import Membership, MembershipLevel, User
from webapp.services import accounts, invites, organizations

from .gunicorn_server import run_gunicorn
from .test_concurrency_server import race as race_actions

WORKERS = 4
TIMEOUT = 30
MEMBERS = "/api/organizations/@current/members/"


@pytest.fixture(scope="module")
def server(app, tmp_path_factory):
    with run_gunicorn(app, tmp_path_factory.mktemp("gunicorn"), workers=WORKERS) as running:
        yield running


def race(*calls) -> list:
    """Run the calls in threads released together; return their results in order."""
    return race_actions(len(calls), lambda number: calls[number]())


def call(server, method: str, path: str, key: dict, body: dict | None = None):
    """An API request, to make later."""
    return lambda: requests.request(method, server.base + path, json=body, headers=key, timeout=TIMEOUT)


def statuses(server, responses, *expected: int) -> list[int]:
    """Sorted statuses: no server error, API errors in PostHog's shape, and `expected` when given."""
    found = sorted(response.status_code for response in responses)
    answers = "\n".join(f"{r.request.method} {r.status_code} {r.text[:300]}" for r in responses)
    assert all(status < 500 for status in found), f"{answers}\n{server.log()}"
    for response in responses:
        if response.status_code >= 400 and response.headers["Content-Type"].startswith("application/json"):
            assert set(response.json()) == {"type", "code", "detail", "attr"}, response.text
    assert not expected or found == sorted(expected), answers
    return found


def key_of(make_key, user_id) -> dict:
    return {"Authorization": f"Bearer {make_key(user_id)}"}


def member_url(app, user_id) -> str:
    with app.app_context():
        value = str(accounts.get_user(user_id).uuid)
        db.session.remove()
    return f"{MEMBERS}{value}/"


def count(app, *where) -> int:
    with app.app_context():
        value = db.session.scalar(select(func.count(Membership.id)).where(*where))
        db.session.remove()
    return value


def test_two_admins_change_and_remove_one_member_at_once(server, app, make_user, make_key):
    make_user("owner@example.com")
    admins = [
        key_of(make_key, make_user(f"admin{n}@example.com", level=MembershipLevel.ADMIN)) for n in (1, 2)
    ]
    for round_number in range(3):
        target = member_url(app, make_user(f"both{round_number}@example.com", level=MembershipLevel.MEMBER))
        answers = race(*(call(server, "DELETE", target, key) for key in admins))
        statuses(server, answers, 204, 404)  # one removes, the other finds nobody
        target = member_url(app, make_user(f"either{round_number}@example.com", level=MembershipLevel.MEMBER))
        changed, removed = race(
            call(server, "PATCH", target, admins[0], {"level": 8}), call(server, "DELETE", target, admins[1])
        )
        statuses(server, [changed, removed])
        assert removed.status_code == 204 and changed.status_code in (200, 404)
    assert count(app) == 3  # the owner and the two admins


def test_the_last_two_owners_demote_each_other_or_leave_at_once(server, app, make_user, make_key):
    for round_number in range(2):
        organization = f"Org {round_number}"
        first = make_user(f"first{round_number}@example.com", organization=organization)
        second = make_user(f"second{round_number}@example.com", organization=organization, level=15)
        answers = race(
            call(server, "PATCH", member_url(app, second), key_of(make_key, first), {"level": 8}),
            call(server, "PATCH", member_url(app, first), key_of(make_key, second), {"level": 8}),
        )
        statuses(server, answers, 200, 403)
        assert (
            count(app, Membership.level == MembershipLevel.OWNER) == round_number + 1
        )  # one per organization
    # Both owners of another organization leave at once: one goes, the other must stay.
    pair = [
        make_user("a@example.com", organization="Pair"),
        make_user("b@example.com", organization="Pair", level=15),
    ]
    answers = race(*(call(server, "DELETE", member_url(app, uid), key_of(make_key, uid)) for uid in pair))
    statuses(server, answers, 204, 403)
    assert count(app, Membership.level == MembershipLevel.OWNER) == 3


def invite_link(server, app, user_id, email="new@example.com") -> str:
    """A link inviting `email` to the organization of user_id's current project."""
    with app.app_context():
        caller = organizations.current(accounts.get_user(user_id))
        [(_, token, _)] = invites.create_invites(caller, email)
        db.session.remove()
    return f"{server.base}/invite/{token}"


def browser_accepting(link: str):
    """A browser that opened the link; its accepting it as a new person, to be done later."""
    browser = requests.Session()
    page = browser.get(link, timeout=TIMEOUT)
    assert page.status_code == 200, page.text
    csrf = re.search(r'name="csrf-token" content="([^"]+)"', page.text).group(1)
    form = {"csrf_token": csrf, "password": "long enough pw", "confirm_password": "long enough pw"}
    return lambda: browser.post(link, data=form, allow_redirects=False, timeout=TIMEOUT)


def accounts_named(app, email) -> int:
    with app.app_context():
        count = db.session.scalar(select(func.count(User.id)).where(User.email == email))
        db.session.remove()
    return count


def test_one_invite_accepted_by_several_browsers_at_once(server, app, user_id):
    link = invite_link(server, app, user_id)
    answers = race(*(browser_accepting(link) for _ in range(6)))
    statuses(server, answers, 303, *[409] * 5)
    for answer in answers:
        if answer.status_code == 409:
            assert "already been used" in answer.text or "exists already" in answer.text
    assert accounts_named(app, "new@example.com") == 1


def test_two_organizations_invites_of_one_new_person_accepted_at_once(server, app, user_id, make_user):
    """Both would make the account: one does, the other is told to log in and accept."""
    elsewhere = make_user("boss@example.com", organization="Elsewhere")
    links = [invite_link(server, app, user_id), invite_link(server, app, elsewhere)]
    answers = race(*(browser_accepting(link) for link in links))
    statuses(server, answers, 303, 409)
    [refused] = [answer for answer in answers if answer.status_code == 409]
    assert "exists already: log in to accept" in refused.text
    assert accounts_named(app, "new@example.com") == 1
    unused = links[answers.index(refused)]
    assert requests.get(unused, timeout=TIMEOUT).status_code == 200


def test_owners_deleting_projects_at_once_keep_one(server, app, make_user, make_key):
    owners = [make_user("first@example.com"), make_user("second@example.com", level=MembershipLevel.OWNER)]
    keys = [key_of(make_key, user_id) for user_id in owners]
    spare = requests.post(
        server.base + "/api/projects/", json={"name": "Spare"}, headers=keys[0], timeout=TIMEOUT
    )
    path = f"/api/projects/{spare.json()['id']}/"
    # Both delete the same project: one does, the other finds none.
    statuses(server, race(*(call(server, "DELETE", path, key) for key in keys)), 204, 404)
    # Each deletes one of the last two projects: the organization keeps one.
    other = requests.post(
        server.base + "/api/projects/", json={"name": "Other"}, headers=keys[0], timeout=TIMEOUT
    )
    listed = requests.get(server.base + "/api/projects/", headers=keys[0], timeout=TIMEOUT).json()["results"]
    assert other.status_code == 201 and len(listed) == 2
    answers = race(
        *(
            call(server, "DELETE", f"/api/projects/{p['id']}/", key)
            for p, key in zip(listed, keys, strict=True)
        )
    )
    statuses(server, answers, 204, 409)
    assert [a.json()["code"] for a in answers if a.status_code == 409] == ["last_project"]
    assert (
        len(requests.get(server.base + "/api/projects/", headers=keys[1], timeout=TIMEOUT).json()["results"])
        == 1
    )
