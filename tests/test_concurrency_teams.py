"""Teams under concurrency: one invite accepted by several at once, the last two owners demoted at once,
two admins changing and removing one member at once.

Each race is forced: the organization's row is held locked while the workers start, so every worker has
read the invite (or the owners) before any can write; then they queue on the lock. Exactly one wins.
"""

import threading
import time
from contextlib import contextmanager

import pytest
from sqlalchemy import delete, event, func, select

from webapp.extensions import db
from webapp.models import Membership, MembershipLevel, Organization, Project, User
from webapp.services import accounts, invites, members, organizations, projects
from webapp.services.errors import Conflict, NotFound, PermissionDenied

WORKERS = 4


@contextmanager
def organization_held(app, organization_id: int):
    """Hold the organization's lock (PostgreSQL: its row; SQLite: the write lock) during the block."""
    with app.app_context():
        connection = db.engine.connect().execution_options(sqlite_write=True)
        transaction = connection.begin()
        connection.execute(
            select(Organization.id).where(Organization.id == organization_id).with_for_update()
        )
        try:
            yield
        finally:
            transaction.commit()
            connection.close()


def race(app, organization_id, work, count):
    """Run work(n) in `count` threads that start together while the organization is held."""
    outcomes, ready = [None] * count, threading.Barrier(count + 1)

    def worker(number):
        with app.app_context():
            ready.wait()
            try:
                outcomes[number] = ("ok", work(number))
            except (invites.InviteUnusable, Conflict, NotFound, PermissionDenied) as error:
                outcomes[number] = (type(error).__name__, error.detail)
            except Exception as error:  # noqa: BLE001 - any other outcome fails the test below
                outcomes[number] = ("unexpected", repr(error))
            db.session.remove()

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(count)]
    with organization_held(app, organization_id):
        for thread in threads:
            thread.start()
        ready.wait()
        time.sleep(0.5)  # every worker has read and now waits on the lock
    for thread in threads:
        thread.join(30)
    return outcomes


def test_concurrent_accepts_of_one_invite_make_exactly_one_account(app, user_id):
    with app.app_context():
        caller = organizations.current(accounts.get_user(user_id))
        [(_, token, _)] = invites.create_invites(caller, "new@example.com")
        organization_id = caller.organization_id
        db.session.remove()

    outcomes = race(
        app, organization_id, lambda n: invites.accept_as_new_user(token, f"password {n}!").id, WORKERS
    )

    winners = [o for o in outcomes if o[0] == "ok"]
    assert len(winners) == 1, outcomes
    losers = [o for o in outcomes if o[0] != "ok"]
    # The losers were told the link is used (or, had one lost the insert, that the account exists).
    assert all(kind in ("InviteUnusable", "Conflict") for kind, _ in losers), outcomes
    with app.app_context():
        assert db.session.scalar(select(func.count(User.id)).where(User.email == "new@example.com")) == 1
        assert db.session.scalar(select(func.count(Membership.id))) == 2
        db.session.remove()


def test_concurrent_demotions_of_the_last_two_owners_leave_one(app, make_user):
    first = make_user("first@example.com")
    second = make_user("second@example.com", level=MembershipLevel.OWNER)
    ids = [first, second]
    with app.app_context():
        organization_id = organizations.current(accounts.get_user(first)).organization_id
        uuids = [accounts.get_user(user).uuid for user in ids]
        db.session.remove()

    def demote(number):
        # Each owner demotes the other, at once.
        caller = organizations.current(accounts.get_user(ids[number]))
        return members.change_level(caller, uuids[1 - number], MembershipLevel.ADMIN).level

    outcomes = race(app, organization_id, demote, 2)

    assert sorted(kind for kind, _ in outcomes) == ["PermissionDenied", "ok"], outcomes
    with app.app_context():
        owners = db.session.scalar(
            select(func.count(Membership.id)).where(Membership.level == MembershipLevel.OWNER)
        )
        assert owners == 1
        db.session.remove()


def test_concurrent_self_demotions_of_the_last_two_owners_leave_one(app, make_user):
    first = make_user("first@example.com")
    second = make_user("second@example.com", level=MembershipLevel.OWNER)
    ids = [first, second]
    with app.app_context():
        organization_id = organizations.current(accounts.get_user(first)).organization_id
        db.session.remove()

    def leave(number):
        members.leave(organizations.current(accounts.get_user(ids[number])))

    outcomes = race(app, organization_id, leave, 2)

    assert sorted(kind for kind, _ in outcomes) == ["PermissionDenied", "ok"], outcomes
    with app.app_context():
        assert db.session.scalar(select(func.count(Membership.id))) == 1
        db.session.remove()


def test_two_admins_removing_one_member_while_another_changes_their_level(app, make_user):
    make_user("owner@example.com")
    admins = [make_user(f"admin{n}@example.com", level=MembershipLevel.ADMIN) for n in range(3)]
    target = make_user("member@example.com", level=MembershipLevel.MEMBER)
    with app.app_context():
        organization_id = organizations.current(accounts.get_user(target)).organization_id
        target_uuid = accounts.get_user(target).uuid
        db.session.remove()

    def act(number):
        caller = organizations.current(accounts.get_user(admins[number]))
        if number == 2:
            return members.change_level(caller, target_uuid, MembershipLevel.ADMIN).level
        return members.remove_member(caller, target_uuid)

    outcomes = race(app, organization_id, act, 3)

    removals, change = outcomes[:2], outcomes[2]
    # One removal wins; the other, and a level change queued behind it, find nobody.
    assert sorted(kind for kind, _ in removals) == ["NotFound", "ok"], outcomes
    assert change in (("ok", MembershipLevel.ADMIN), ("NotFound", "Member not found.")), outcomes
    with app.app_context():
        assert db.session.scalar(select(Membership.id).where(Membership.user_id == target)) is None
        db.session.remove()


@contextmanager
def right_after_the_write(app, statement):
    """Run `statement` on a connection of its own just after the next commit that wrote something: another
    request's change landing between a service's write and its reading back what it wrote."""
    session = db.session()
    wrote = []

    def flushed(session, context):
        wrote.append(True)

    def committed(session):
        if wrote and not getattr(committed, "done", False):
            committed.done = True
            with db.engine.begin() as connection:
                connection.execute(statement)

    event.listen(session, "after_flush", flushed)
    event.listen(session, "after_commit", committed)
    try:
        yield
    finally:
        event.remove(session, "after_flush", flushed)
        event.remove(session, "after_commit", committed)
    assert getattr(committed, "done", False), "the statement never ran"


def test_a_member_removed_right_after_a_level_change_is_not_found(app, make_user):
    owner = make_user("owner@example.com")
    target = make_user("member@example.com", level=MembershipLevel.MEMBER)
    with app.app_context():
        caller = organizations.current(accounts.get_user(owner))
        uuid = accounts.get_user(target).uuid
        db.session.commit()
        removal = delete(Membership).where(Membership.user_id == target)
        with right_after_the_write(app, removal), pytest.raises(NotFound, match="Member not found."):
            members.change_level(caller, uuid, MembershipLevel.ADMIN)
        db.session.remove()


def test_a_project_deleted_right_after_its_rename_is_not_found(app, user_id):
    with app.app_context():
        caller = organizations.current(accounts.get_user(user_id))
        spare = projects.create_project(caller, "Spare").id
        deletion = delete(Project).where(Project.id == spare)
        with right_after_the_write(app, deletion), pytest.raises(NotFound, match="Project not found."):
            projects.rename_project(caller, spare, "Renamed")
        db.session.remove()


def test_joining_lands_in_another_project_when_the_first_is_deleted_meanwhile(app, user_id, make_user):
    joiner = make_user("new@example.com", organization="Elsewhere")
    with app.app_context():
        caller = organizations.current(accounts.get_user(user_id))
        first = accounts.resolve_project(accounts.get_user(user_id), "@current").id
        second = projects.create_project(caller, "Second").id
        [(_, token, _)] = invites.create_invites(caller, "new@example.com")
        db.session.commit()
        with right_after_the_write(app, delete(Project).where(Project.id == first)):
            project = invites.accept_as_existing_user(token, accounts.get_user(joiner))
        assert project.id == second
        db.session.remove()
