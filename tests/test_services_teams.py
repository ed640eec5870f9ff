"""Teams in the services: levels and owners, invitations, projects, and the organization's log."""

from datetime import timedelta

import pytest
from sqlalchemy import delete, func, select

from webapp.database import write_transaction
from webapp.extensions import db
from webapp.models import (
    Evaluation,
    Invitation,
    Membership,
    MembershipLevel,
    Organization,
    PersonalAPIKey,
    Project,
    SymbolSet,
)
from webapp.models.types import utcnow
from webapp.services import accounts, api_keys, evaluations, invites, members, organizations, projects
from webapp.services.errors import Conflict, NotFound, PermissionDenied, ValidationError

OWNER, ADMIN, MEMBER = MembershipLevel.OWNER, MembershipLevel.ADMIN, MembershipLevel.MEMBER


@pytest.fixture
def team(app_context, make_user):
    """An organization with an owner, an admin and a member; their user ids by level name."""
    ids = {
        "owner": make_user("owner@example.com"),
        "admin": make_user("admin@example.com", level=ADMIN),
        "member": make_user("member@example.com", level=MEMBER),
    }
    return ids


def caller(user_id):
    return organizations.current(accounts.get_user(user_id))


def uuid_of(user_id):
    return accounts.get_user(user_id).uuid


def level_of(user_id):
    return db.session.scalar(select(Membership.level).where(Membership.user_id == user_id))


# --- levels -------------------------------------------------------------------------------


def test_everyone_lists_members_owners_first(team):
    listed = members.list_members(caller(team["member"]))
    assert [(m.user.email, m.level) for m in listed] == [
        ("owner@example.com", 15), ("admin@example.com", 8), ("member@example.com", 1),
    ]  # fmt: skip


def test_admin_changes_a_members_level_and_it_is_logged(team):
    members.change_level(caller(team["admin"]), uuid_of(team["member"]), 8)
    assert level_of(team["member"]) == ADMIN
    entry = organizations.entries(caller(team["owner"]).organization)[0]
    assert entry.activity == "level_changed"
    assert organizations.describe(entry) == "changed member@example.com from member to admin"


@pytest.mark.parametrize(
    ("actor", "target", "level", "message"),
    [
        ("member", "member", 8, "Only admins and owners can change members' levels."),
        ("member", "admin", 1, "Only admins and owners can change members' levels."),
        ("admin", "member", 15, "Only owners can make or remove owners."),
        ("admin", "admin", 15, "Only owners can make or remove owners."),
        ("admin", "owner", 8, "Only owners can make or remove owners."),
    ],
)
def test_forbidden_level_changes(team, actor, target, level, message):
    with pytest.raises(PermissionDenied, match=message):
        members.change_level(caller(team[actor]), uuid_of(team[target]), level)
    assert level_of(team[target]) == {"owner": 15, "admin": 8, "member": 1}[target]


def test_owner_makes_and_removes_owners(team):
    owner = caller(team["owner"])
    members.change_level(owner, uuid_of(team["admin"]), 15)
    assert level_of(team["admin"]) == OWNER
    members.change_level(owner, uuid_of(team["admin"]), 1)
    assert level_of(team["admin"]) == MEMBER


def test_the_last_owner_cannot_be_demoted_leave_or_be_removed(team):
    owner = caller(team["owner"])
    with pytest.raises(PermissionDenied, match="only owner, so you cannot stop being one"):
        members.change_level(owner, uuid_of(team["owner"]), 8)
    with pytest.raises(PermissionDenied, match="only owner, so you cannot leave"):
        members.leave(owner)
    assert level_of(team["owner"]) == OWNER
    # With a second owner, the first may step down, and the second may not follow.
    members.change_level(owner, uuid_of(team["admin"]), 15)
    members.change_level(owner, uuid_of(team["owner"]), 8)
    with pytest.raises(PermissionDenied, match="only owner"):
        members.change_level(caller(team["admin"]), uuid_of(team["admin"]), 1)


@pytest.mark.parametrize("level", [0, 2, 16, "8", True, None, 8.0, "owner"])
def test_levels_are_posthogs_numbers(team, level):
    with pytest.raises(ValidationError) as raised:
        members.change_level(caller(team["owner"]), uuid_of(team["member"]), level)
    assert raised.value.attr == "level"


def test_unknown_or_other_organizations_member_is_not_found(team, make_user):
    stranger = make_user("stranger@example.com", organization="Elsewhere")
    for target in (uuid_of(stranger), "not-a-uuid", "00000000-0000-0000-0000-000000000000"):
        with pytest.raises(NotFound):
            members.change_level(caller(team["owner"]), target, 8)
        with pytest.raises(NotFound):
            members.remove_member(caller(team["owner"]), target)


def test_removal_rules(team):
    with pytest.raises(PermissionDenied, match="Only admins and owners can remove members."):
        members.remove_member(caller(team["member"]), uuid_of(team["admin"]))
    with pytest.raises(PermissionDenied, match="Only owners can remove owners."):
        members.remove_member(caller(team["admin"]), uuid_of(team["owner"]))
    members.remove_member(caller(team["admin"]), uuid_of(team["member"]))
    assert level_of(team["member"]) is None
    entry = organizations.entries(caller(team["owner"]).organization)[0]
    assert organizations.describe(entry) == "removed member@example.com (member)"


def test_a_member_leaves_and_loses_the_organization_only(team, make_user):
    other = make_user("solo@example.com", organization="Other org")
    # The member also belongs to another organization.
    with write_transaction():
        db.session.add(Membership(organization_id=2, user_id=team["member"], level=MEMBER))
    db.session.remove()
    members.leave(caller(team["member"]))
    user = accounts.get_user(team["member"])
    assert [m.organization.name for m in user.memberships] == ["Other org"]
    assert accounts.resolve_project(user, "@current").organization.name == "Other org"
    assert other


def test_a_removed_members_access_ends(team):
    project = accounts.resolve_project(accounts.get_user(team["member"]), "@current")
    members.remove_member(caller(team["owner"]), uuid_of(team["member"]))
    user = accounts.get_user(team["member"])
    with pytest.raises(NotFound):
        accounts.resolve_project(user, project.id)
    with pytest.raises(NotFound):
        organizations.current(user)
    assert user.current_project_id is None


# --- invitations --------------------------------------------------------------------------


def test_admin_invites_token_is_hashed_and_shown_once(team):
    admin = caller(team["admin"])
    [(invitation, token, pad)] = invites.create_invites(admin, "New.Person@Example.com", 8)
    stored = db.session.get(Invitation, invitation.id)
    assert stored.target_email == "new.person@example.com"
    assert stored.token_hash == invites.hash_token(token) and token not in stored.token_hash
    assert stored.expires_at - stored.created_at == timedelta(days=7)
    assert invites.reveal_token(admin, invitation.id, pad) == token
    assert invites.reveal_token(admin, invitation.id, pad) is None
    assert [i.target_email for i in invites.list_pending(admin)] == ["new.person@example.com"]


def test_invite_rules(team):
    with pytest.raises(PermissionDenied, match="Only admins and owners can invite people."):
        invites.create_invites(caller(team["member"]), "x@example.com")
    with pytest.raises(PermissionDenied, match="Only owners can invite owners."):
        invites.create_invites(caller(team["admin"]), "x@example.com", 15)
    with pytest.raises(ValidationError, match="already a member"):
        invites.create_invites(caller(team["owner"]), "member@example.com")
    with pytest.raises(ValidationError) as raised:
        invites.create_invites(caller(team["owner"]), "not an email")
    assert raised.value.attr == "target_email"
    with pytest.raises(PermissionDenied):
        invites.list_pending(caller(team["member"]))
    invites.create_invites(caller(team["owner"]), "boss@example.com", 15)


def test_a_new_person_accepts_once(team):
    [(invitation, token, _)] = invites.create_invites(caller(team["admin"]), "new@example.com")
    user = invites.accept_as_new_user(token, "long enough pw", "New", "Person")
    assert user.email == "new@example.com" and user.first_name == "New"
    project = accounts.resolve_project(user, "@current")
    assert project.organization.name == "Analytical Engines"
    with pytest.raises(invites.InviteUnusable) as raised:
        invites.accept_as_new_user(token, "long enough pw")
    assert raised.value.reason == "used"
    assert [e.activity for e in organizations.entries(project.organization)][:2] == ["joined", "invited"]


def test_an_existing_user_joins_with_the_matching_email_only(team, make_user):
    elsewhere = make_user("elsewhere@example.com", organization="Elsewhere")
    wrong = make_user("wrong@example.com", organization="Wrong")
    [(_, token, _)] = invites.create_invites(caller(team["owner"]), "elsewhere@example.com", 8)
    with pytest.raises(PermissionDenied, match="This invitation is for elsewhere@example.com"):
        invites.accept_as_existing_user(token, accounts.get_user(wrong))
    project = invites.accept_as_existing_user(token, accounts.get_user(elsewhere))
    assert project.organization.name == "Analytical Engines"
    assert level_of_in(elsewhere, project.organization_id) == ADMIN
    # Their own organization stays theirs.
    assert len(accounts.get_user(elsewhere).memberships) == 2


def level_of_in(user_id, organization_id):
    return db.session.scalar(
        select(Membership.level).where(
            Membership.user_id == user_id, Membership.organization_id == organization_id
        )
    )


def test_new_account_for_an_email_taken_must_log_in(team, make_user):
    make_user("taken@example.com", organization="Elsewhere")
    [(_, token, _)] = invites.create_invites(caller(team["owner"]), "taken@example.com")
    with pytest.raises(Conflict, match="log in to accept"):
        invites.accept_as_new_user(token, "long enough pw")
    invites.find_usable(token)  # still usable


def test_revoked_expired_and_unknown_links(team):
    owner = caller(team["owner"])
    [(revoked, revoked_token, _)] = invites.create_invites(owner, "a@example.com")
    [(expired, expired_token, _)] = invites.create_invites(owner, "b@example.com")
    revoked_id, expired_id = revoked.id, expired.id
    invites.revoke(owner, revoked_id)
    with write_transaction():
        db.session.get(Invitation, expired_id).expires_at = utcnow() - timedelta(seconds=1)
    for token, reason in (
        (revoked_token, "revoked"),
        (expired_token, "expired"),
        ("x" * 43, "unknown"),
        ("", "unknown"),
    ):
        with pytest.raises(invites.InviteUnusable) as raised:
            invites.accept_as_new_user(token, "long enough pw")
        assert raised.value.reason == reason
    with pytest.raises(NotFound):
        invites.revoke(owner, revoked_id)
    with pytest.raises(PermissionDenied):
        invites.revoke(caller(team["member"]), expired_id)


def test_a_new_invite_replaces_the_pending_one(team):
    owner = caller(team["owner"])
    [(_, first, _)] = invites.create_invites(owner, "a@example.com")
    [(_, second, _)] = invites.create_invites(owner, "a@example.com")
    with pytest.raises(invites.InviteUnusable):
        invites.find_usable(first)
    invites.find_usable(second)


def test_a_deleted_organizations_links_die_with_it(team):
    [(_, token, _)] = invites.create_invites(caller(team["owner"]), "a@example.com")
    organization_id = caller(team["owner"]).organization_id
    with write_transaction():
        db.session.execute(delete(Organization).where(Organization.id == organization_id))
    with pytest.raises(invites.InviteUnusable):
        invites.find_usable(token)


# --- projects -----------------------------------------------------------------------------


def test_admins_create_and_rename_projects_members_cannot(team):
    admin = caller(team["admin"])
    project = projects.create_project(admin, "  Mobile app ")
    assert project.name == "Mobile app"
    assert project.id in [p.id for p in accounts.user_projects(accounts.get_user(team["member"]))]
    renamed = projects.rename_project(admin, project.id, "iOS app")
    assert renamed.name == "iOS app"
    with pytest.raises(PermissionDenied, match="Only admins and owners can create projects."):
        projects.create_project(caller(team["member"]), "Nope")
    with pytest.raises(PermissionDenied, match="Only admins and owners can rename projects."):
        projects.rename_project(caller(team["member"]), project.id, "Nope")
    with pytest.raises(ValidationError):
        projects.create_project(admin, "   ")
    log = [organizations.describe(e) for e in organizations.entries(admin.organization)]
    assert log[:2] == ["renamed the project Mobile app to iOS app", "created the project Mobile app"]


def test_owner_deletes_a_project_with_everything_in_it(team, app):
    owner = caller(team["owner"])
    keep = accounts.resolve_project(accounts.get_user(team["owner"]), "@current")
    doomed = projects.create_project(owner, "Doomed")
    user = accounts.get_user(team["owner"])
    evaluations.create_evaluation(doomed, user, {"name": "Judge", "prompt": "Rate it."})
    _, only_doomed = api_keys.create_key(user, "only doomed", "*", [doomed.id])
    both, _ = api_keys.create_key(user, "both", "*", [doomed.id, keep.id])
    with pytest.raises(PermissionDenied, match="Only owners can delete projects."):
        projects.delete_project(caller(team["admin"]), doomed.id)
    with pytest.raises(ValidationError, match="Type the project's name"):
        projects.delete_project(owner, doomed.id, "doomed")
    assert projects.contents(doomed).evaluations == 1
    deleted = projects.delete_project(owner, doomed.id, "Doomed")
    assert deleted.summary().startswith("1 evaluation, 0 symbol sets")
    assert db.session.get(Project, doomed.id) is None
    assert db.session.scalar(select(func.count()).select_from(Evaluation)) == 0
    assert api_keys.authenticate_key(only_doomed, timedelta(hours=1)) is None
    assert db.session.get(PersonalAPIKey, both.id).scoped_teams == [keep.id]
    with pytest.raises(Conflict, match="only project"):
        projects.delete_project(owner, keep.id)
    entry = organizations.entries(owner.organization)[0]
    assert entry.activity == "project_deleted" and "1 evaluation" in organizations.describe(entry)


def test_other_organizations_projects_are_not_found(team, make_user):
    other = make_user("x@example.com", organization="Elsewhere")
    theirs = accounts.resolve_project(accounts.get_user(other), "@current")
    for action in (
        lambda: projects.rename_project(caller(team["owner"]), theirs.id, "Mine"),
        lambda: projects.delete_project(caller(team["owner"]), theirs.id),
        lambda: projects.rename_project(caller(team["owner"]), "abc", "Mine"),
    ):
        with pytest.raises(NotFound):
            action()
    assert db.session.get(SymbolSet, 1) is None
