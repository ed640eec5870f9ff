"""Settings → Members and Projects: what each level sees and may do, with PRG and clear refusals."""

import re
from html import unescape

import pytest
from sqlalchemy import select

from webapp.extensions import db
from webapp.models import Invitation, Membership, MembershipLevel, Project
from webapp.services import accounts, invites, members, organizations, projects

from .conftest import log_in
from .smtp_inbox import free_port, mail_through, silent_server

OWNER, ADMIN, MEMBER = MembershipLevel.OWNER, MembershipLevel.ADMIN, MembershipLevel.MEMBER


@pytest.fixture
def team(make_user):
    return {
        "owner": make_user("owner@example.com"),
        "admin": make_user("admin@example.com", level=ADMIN),
        "member": make_user("member@example.com", level=MEMBER),
    }


def uuid_of(app, user_id):
    with app.app_context():
        value = str(accounts.get_user(user_id).uuid)
        db.session.remove()
    return value


def test_everyone_sees_the_members_only_admins_see_the_forms(client, team):
    log_in(client, team["member"])
    html = client.get("/settings/members").get_data(as_text=True)
    for email in ("owner@example.com", "admin@example.com", "member@example.com"):
        assert email in html
    assert "Invite people" not in html and "Pending invitations" not in html
    log_in(client, team["admin"])
    html = client.get("/settings/members").get_data(as_text=True)
    assert "Invite people" in html and "No mail server is configured" in html
    assert '<option value="15"' not in html  # an admin cannot make owners


def test_invite_shows_each_link_once_then_revoke(client, team, app):
    csrf = log_in(client, team["admin"])
    response = client.post(
        "/settings/members/invite",
        data={"csrf_token": csrf, "emails": "a@example.com, b@example.com", "level": "8"},
    )
    assert response.status_code == 303
    page = client.get("/settings/members")
    assert page.headers["Cache-Control"] == "no-store"
    html = page.get_data(as_text=True)
    links = re.findall(r'value="(http://localhost/invite/[^"]+)"', html)
    assert len(links) == 2
    with app.app_context():
        assert {invites.find_usable(link.rsplit("/", 1)[1]).target_email for link in links} == {
            "a@example.com",
            "b@example.com",
        }
        db.session.remove()
    again = client.get("/settings/members").get_data(as_text=True)
    assert "/invite/" not in again and "shown once" in again
    invite_id = re.search(r"/settings/invites/([0-9a-f-]+)/revoke", again).group(1)
    assert client.post(f"/settings/invites/{invite_id}/revoke", data={"csrf_token": csrf}).status_code == 303
    assert "Revoked the invitation" in client.get("/settings/members").get_data(as_text=True)


def test_a_bad_address_redisplays_the_form(client, team):
    csrf = log_in(client, team["admin"])
    response = client.post(
        "/settings/members/invite", data={"csrf_token": csrf, "emails": "nope", "level": "1"}
    )
    assert response.status_code == 422
    assert "is not a valid email address" in response.get_data(as_text=True)


def test_a_member_posting_an_invite_is_refused_with_a_message(client, team):
    csrf = log_in(client, team["member"])
    response = client.post(
        "/settings/members/invite",
        data={"csrf_token": csrf, "emails": "x@example.com"},
        follow_redirects=True,
    )
    assert "Only admins and owners can invite people." in response.get_data(as_text=True)


def test_the_last_owner_is_told_why_they_cannot_step_down(client, team, app):
    csrf = log_in(client, team["owner"])
    url = f"/settings/members/{uuid_of(app, team['owner'])}/level"
    html = client.post(url, data={"csrf_token": csrf, "level": "8"}, follow_redirects=True).get_data(
        as_text=True
    )
    assert "only owner, so you cannot stop being one" in html


def test_remove_asks_first_then_access_ends(client, team, app):
    member_client = app.test_client()
    log_in(member_client, team["member"])
    with app.app_context():
        project = accounts.resolve_project(accounts.get_user(team["member"]), "@current").id
        db.session.remove()
    assert member_client.get(f"/project/{project}/evaluations/").status_code == 200
    csrf = log_in(client, team["admin"])
    url = f"/settings/members/{uuid_of(app, team['member'])}/remove"
    confirm = client.post(url, data={"csrf_token": csrf})
    page = unescape(confirm.get_data(as_text=True))
    assert confirm.status_code == 200 and "<h1>Remove member@example.com?</h1>" in page
    assert "They lose access to Analytical Engines's projects at once" in page
    done = client.post(url, data={"csrf_token": csrf, "confirmed": "1"}, follow_redirects=True)
    assert "Removed member@example.com" in done.get_data(as_text=True)
    assert member_client.get(f"/project/{project}/evaluations/").status_code == 404
    assert member_client.get("/settings/members").status_code == 404


def test_projects_create_rename_delete_with_counts(client, team, app):
    csrf = log_in(client, team["owner"])
    created = client.post("/settings/projects", data={"csrf_token": csrf, "name": "Mobile"})
    assert created.status_code == 303
    with app.app_context():
        project_id = db.session.scalar(select(Project.id).where(Project.name == "Mobile"))
        db.session.remove()
    html = client.get("/settings/projects").get_data(as_text=True)
    assert "Mobile" in html and f'<option value="{project_id}"' in html  # the switcher lists it
    client.post(f"/settings/projects/{project_id}/rename", data={"csrf_token": csrf, "name": "iOS"})
    confirm = client.get(f"/settings/projects/{project_id}/delete").get_data(as_text=True)
    assert "0 evaluations" in confirm and "Type the project's name" in confirm
    wrong = client.post(
        f"/settings/projects/{project_id}/delete", data={"csrf_token": csrf, "confirm_name": "ios"}
    )
    assert wrong.status_code == 422
    done = client.post(
        f"/settings/projects/{project_id}/delete",
        data={"csrf_token": csrf, "confirm_name": "iOS"},
        follow_redirects=True,
    )
    assert "Deleted the project iOS" in done.get_data(as_text=True)
    with app.app_context():
        assert db.session.get(Project, project_id) is None
        db.session.remove()


def test_members_cannot_manage_projects(client, team):
    csrf = log_in(client, team["member"])
    html = client.get("/settings/projects").get_data(as_text=True)
    assert "Create a project" not in html and "Delete…" not in html
    refused = client.post("/settings/projects", data={"csrf_token": csrf, "name": "X"}, follow_redirects=True)
    assert "Only admins and owners can create projects." in refused.get_data(as_text=True)
    log_in(client, team["admin"])
    assert client.get("/settings/projects/1/delete").status_code == 403


def test_a_member_leaves(client, team, app):
    csrf = log_in(client, team["member"])
    url = f"/settings/members/{uuid_of(app, team['member'])}/remove"
    assert "Leave Analytical Engines?" in client.post(url, data={"csrf_token": csrf}).get_data(as_text=True)
    assert client.post(url, data={"csrf_token": csrf, "confirmed": "1"}).status_code == 303
    with app.app_context():
        assert db.session.scalar(select(Membership).where(Membership.user_id == team["member"])) is None
        db.session.remove()


def member_rows(html: str) -> dict[str, str]:
    """The members table's rows by email: {email: the row's HTML}."""
    table = html.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    rows = {}
    for row in table.split("<tr>")[1:]:
        email = re.search(r'data-label="Email">([^<]+)<', row).group(1)
        rows[email] = row
    return rows


def cell(row: str, label: str) -> str:
    return re.search(rf'data-label="{label}">(.*?)</td>', row, re.S).group(1).strip()


def test_the_members_table_shows_name_email_level_joined_and_last_login(client, team, make_user):
    make_user("grace@example.com", first_name="Grace", last_name="Hopper", level=ADMIN)
    log_in(client, team["member"])
    rows = member_rows(client.get("/settings/members").get_data(as_text=True))
    assert list(rows) == [
        "owner@example.com", "admin@example.com", "grace@example.com", "member@example.com",
    ]  # fmt: skip
    grace, me = rows["grace@example.com"], rows["member@example.com"]
    assert '<td class="wrap">Grace Hopper</td>' in grace
    assert cell(grace, "Level") == "admin" and cell(me, "Level") == "member"
    assert cell(grace, "Joined").startswith("<time datetime=")
    assert cell(grace, "Last login") == "Never"
    assert cell(me, "Last login").startswith("<time datetime=")  # log_in signed them in just now


def test_members_get_no_level_or_remove_controls_and_admins_none_for_owners(client, team):
    log_in(client, team["member"])
    rows = member_rows(client.get("/settings/members").get_data(as_text=True))
    for email, row in rows.items():
        assert "<select" not in row and "Save the level" not in row
        assert ("Leave the organization" in row) == (email == "member@example.com")
        assert "Remove " not in row
    log_in(client, team["admin"])
    rows = member_rows(client.get("/settings/members").get_data(as_text=True))
    owner, member = rows["owner@example.com"], rows["member@example.com"]
    assert "<select" not in owner and "Remove owner@example.com" not in owner
    assert "Level of member@example.com" in member and "Remove member@example.com" in member
    assert '<option value="15"' not in member


# Every form of the teams pages, with what it needs besides the CSRF token.
TEAM_FORMS = [
    ("/settings/members/invite", {"emails": "x@example.com", "level": "1"}),
    ("/settings/members/{member}/level", {"level": "8"}),
    ("/settings/members/{member}/remove", {"confirmed": "1"}),
    ("/settings/invites/{invite}/revoke", {}),
    ("/settings/projects", {"name": "Sneaky"}),
    ("/settings/projects/{project}/rename", {"name": "Sneaky"}),
    ("/settings/projects/{spare}/delete", {"confirm_name": "Spare"}),
]


def test_every_teams_form_is_refused_without_the_csrf_token(client, team, app):
    """Each POST of the teams pages, sent as the owner without the token: 403, and nothing changed."""
    with app.app_context():
        owner = organizations.current(accounts.get_user(team["owner"]))
        [(invitation, _, _)] = invites.create_invites(owner, "pending@example.com")
        spare = projects.create_project(owner, "Spare")
        ids = {
            "member": str(accounts.get_user(team["member"]).uuid),
            "invite": str(invitation.id),
            "project": accounts.resolve_project(accounts.get_user(team["owner"]), "@current").id,
            "spare": spare.id,
        }
        db.session.remove()
    rules = {
        rule.rule
        for rule in app.url_map.iter_rules()
        if rule.endpoint.startswith("teams.") and "POST" in rule.methods
    }
    assert len(rules) == len(TEAM_FORMS)  # a new form gets a line above
    before = state(app)
    log_in(client, team["owner"])
    for path, data in TEAM_FORMS:
        response = client.post(path.format(**ids), data=data)
        assert response.status_code == 403, path
    assert state(app) == before


def state(app):
    """What any of the forms above could change."""
    with app.app_context():
        value = (
            sorted(db.session.execute(select(Membership.user_id, Membership.level)).all()),
            sorted(db.session.execute(select(Project.id, Project.name)).all()),
            sorted(db.session.execute(select(Invitation.target_email, Invitation.revoked_at)).all()),
        )
        db.session.remove()
    return value


def test_invite_links_are_emailed_through_the_mail_server(client, team, smtp_server):
    csrf = log_in(client, team["admin"])
    html = client.get("/settings/members").get_data(as_text=True)
    assert "Each person also gets their link by email." in html
    client.post(
        "/settings/members/invite",
        data={"csrf_token": csrf, "emails": "a@example.com\nb@example.com", "level": "1"},
    )
    html = client.get("/settings/members").get_data(as_text=True)
    shown = dict(
        re.findall(
            r'<label for="invite-link-\d+">([^<]+) <small class="muted">\(also emailed\)</small>'
            r'</label>\s*<div class="copy-row">\s*<input id="invite-link-\d+" value="([^"]+)"',
            html,
        )
    )
    assert set(shown) == {"a@example.com", "b@example.com"}
    received = {recipients[0]: text for recipients, text in smtp_server.messages}
    assert set(received) == set(shown)
    for email, link in shown.items():
        assert link in received[email] and "Subject: Join Analytical Engines" in received[email]
        assert "invited you to join Analytical Engines as member" in received[email]


def test_a_failed_email_says_to_send_the_link_yourself(client, team, app):
    csrf = log_in(client, team["admin"])
    with mail_through(app, free_port()):
        client.post("/settings/members/invite", data={"csrf_token": csrf, "emails": "a@example.com"})
        html = client.get("/settings/members").get_data(as_text=True)
    assert "(the email could not be sent: send the link yourself)" in html
    assert "/invite/" in html and "(also emailed)" not in html


def test_the_last_owner_is_told_why_they_cannot_leave(client, team, app):
    csrf = log_in(client, team["owner"])
    url = f"/settings/members/{uuid_of(app, team['owner'])}/remove"
    why = "You are the organization's only owner, so you cannot leave. Make another member an owner first."
    asked = unescape(client.post(url, data={"csrf_token": csrf}).get_data(as_text=True))
    assert why in asked and 'name="confirmed"' not in asked  # said before asking, nothing to confirm
    confirmed = client.post(url, data={"csrf_token": csrf, "confirmed": "1"}, follow_redirects=True)
    # A confirmation sent anyway is refused with the same words.
    assert why in unescape(confirmed.get_data(as_text=True))
    with app.app_context():
        assert db.session.scalar(select(Membership.level).where(Membership.user_id == team["owner"])) == OWNER
        db.session.remove()


def test_every_change_is_in_the_activity_on_the_members_page(client, team, app):
    with app.app_context():
        owner = organizations.current(accounts.get_user(team["owner"]))
        [(revoked, _, _)] = invites.create_invites(owner, "gone@example.com")
        invites.revoke(owner, revoked.id)
        [(_, token, _)] = invites.create_invites(owner, "new@example.com", 8)
        newcomer = invites.accept_as_new_user(token, "long enough pw", "Nia")
        members.change_level(owner, newcomer.uuid, 1)
        members.remove_member(owner, newcomer.uuid)
        members.leave(organizations.current(accounts.get_user(team["member"])))
        project = projects.create_project(owner, "Mobile")
        projects.rename_project(owner, project.id, "iOS")
        projects.delete_project(owner, project.id, "iOS")
        db.session.remove()
    log_in(client, team["admin"])
    page = client.get("/settings/members").get_data(as_text=True)
    activity = page.split("<h2>Activity</h2>", 1)[1]
    # The activity_log macro every detail page uses: who in bold, when as a <time>.
    assert (
        activity.lstrip().startswith('<ol class="activity">')
        and "<strong>owner@example.com</strong>" in activity
    )
    shown = [
        " ".join(re.sub(r"<time.*?</time>|<[^>]+>", " ", unescape(item)).split())
        for item in re.findall(r"<li>(.*?)</li>", activity, re.S)
    ]
    assert shown == [
        "owner@example.com deleted the project iOS "
        "(0 evaluations, 0 symbol sets, 0 stored files, 0 releases, 0 activity entries)",
        "owner@example.com renamed the project Mobile to iOS",
        "owner@example.com created the project Mobile",
        "member@example.com left the organization",
        "owner@example.com removed new@example.com (member)",
        "owner@example.com changed new@example.com from admin to member",
        "new@example.com joined as admin",
        "owner@example.com invited new@example.com as admin",
        "owner@example.com revoked the invitation of gone@example.com",
        "owner@example.com invited gone@example.com as member",
    ]


def test_an_organization_name_with_a_line_break_still_emails_its_invites(client, make_user, smtp_server):
    csrf = log_in(client, make_user("boss@example.com", organization="Acme\nLabs"))
    response = client.post("/settings/members/invite", data={"csrf_token": csrf, "emails": "a@example.com"})
    assert response.status_code == 303
    assert "(also emailed)" in client.get("/settings/members").get_data(as_text=True)
    [(_, message)] = smtp_server.messages
    assert "Subject: Join Acme Labs\r\n" in message or "Subject: Join Acme Labs\n" in message


@pytest.mark.parametrize(
    ("who", "path", "data", "refusal"),
    [
        (
            "member",
            "/settings/members/invite",
            {"emails": "x@example.com"},
            "Only admins and owners can invite",
        ),
        ("member", "/settings/members/{admin}/level", {"level": "1"}, "Only admins and owners can change"),
        (
            "member",
            "/settings/members/{admin}/remove",
            {"confirmed": "1"},
            "Only admins and owners can remove",
        ),
        ("member", "/settings/invites/{invite}/revoke", {}, "Only admins and owners can revoke"),
        ("member", "/settings/projects", {"name": "X"}, "Only admins and owners can create projects"),
        ("member", "/settings/projects/{project}/rename", {"name": "X"}, "Only admins and owners can rename"),
        (
            "admin",
            "/settings/members/invite",
            {"emails": "x@example.com", "level": "15"},
            "Only owners can invite",
        ),
        (
            "admin",
            "/settings/members/{member}/level",
            {"level": "15"},
            "Only owners can make or remove owners",
        ),
        ("admin", "/settings/members/{owner}/level", {"level": "8"}, "Only owners can make or remove owners"),
        ("admin", "/settings/members/{owner}/remove", {"confirmed": "1"}, "Only owners can remove owners"),
        (
            "admin",
            "/settings/projects/{spare}/delete",
            {"confirm_name": "Spare"},
            "Only owners can delete projects",
        ),
    ],
)
def test_each_forbidden_form_is_refused_with_its_reason(client, team, app, who, path, data, refusal):
    with app.app_context():
        owner = organizations.current(accounts.get_user(team["owner"]))
        [(invitation, _, _)] = invites.create_invites(owner, "pending@example.com")
        ids = {name: str(accounts.get_user(user_id).uuid) for name, user_id in team.items()}
        ids["invite"] = str(invitation.id)
        ids["project"] = accounts.resolve_project(accounts.get_user(team["owner"]), "@current").id
        ids["spare"] = projects.create_project(owner, "Spare").id
        db.session.remove()
    before = state(app)
    csrf = log_in(client, team[who])
    response = client.post(path.format(**ids), data={"csrf_token": csrf, **data}, follow_redirects=True)
    assert response.status_code == 200  # the page it came from, after the redirect
    assert refusal in unescape(response.get_data(as_text=True))
    assert state(app) == before


@pytest.mark.parametrize(
    ("who", "target", "refusal"),
    [
        ("member", "admin", "Only admins and owners can remove members."),
        ("admin", "owner", "Only owners can remove owners."),
    ],
)
def test_the_removal_page_refuses_before_asking(client, team, app, who, target, refusal):
    csrf = log_in(client, team[who])
    page = client.post(f"/settings/members/{uuid_of(app, team[target])}/remove", data={"csrf_token": csrf})
    html = unescape(page.get_data(as_text=True))
    assert refusal in html and 'name="confirmed"' not in html


def test_a_member_whose_current_project_is_deleted_lands_in_another(client, team, app):
    with app.app_context():
        owner = organizations.current(accounts.get_user(team["owner"]))
        spare = projects.create_project(owner, "Spare").id
        accounts.switch_project(accounts.get_user(team["member"]), spare)
        kept = accounts.resolve_project(accounts.get_user(team["owner"]), "@current").id
        db.session.remove()
    log_in(client, team["member"])
    assert client.get("/").headers["Location"] == f"/project/{spare}/evaluations/"
    with app.app_context():
        projects.delete_project(organizations.current(accounts.get_user(team["owner"])), spare)
        db.session.remove()
    assert client.get(f"/project/{spare}/evaluations/").status_code == 404
    assert client.get("/").headers["Location"] == f"/project/{kept}/evaluations/"


def test_a_form_for_someone_or_something_gone_meanwhile_says_so_on_its_page(client, team, app):
    with app.app_context():
        owner = organizations.current(accounts.get_user(team["owner"]))
        spare = projects.create_project(owner, "Spare").id
        member = accounts.get_user(team["member"]).uuid
        members.remove_member(owner, member)
        projects.delete_project(owner, spare)
        db.session.remove()
    csrf = log_in(client, team["admin"])
    level = client.post(f"/settings/members/{member}/level", data={"csrf_token": csrf, "level": "8"})
    assert level.status_code == 303 and level.headers["Location"] == "/settings/members"
    assert "Member not found." in client.get("/settings/members").get_data(as_text=True)
    rename = client.post(f"/settings/projects/{spare}/rename", data={"csrf_token": csrf, "name": "X"})
    assert rename.status_code == 303 and rename.headers["Location"] == "/settings/projects"
    assert "Project not found." in client.get("/settings/projects").get_data(as_text=True)


def test_a_hung_mail_server_costs_one_timeout_for_all_the_invites(client, team, app):
    csrf = log_in(client, team["admin"])
    emails = "a@example.com, b@example.com, c@example.com"
    with silent_server() as (port, connections), mail_through(app, port):
        app.config["MAIL_TIMEOUT"] = 0.5
        try:
            response = client.post("/settings/members/invite", data={"csrf_token": csrf, "emails": emails})
        finally:
            app.config["MAIL_TIMEOUT"] = 10
        html = client.get("/settings/members").get_data(as_text=True)
        assert len(connections) == 1
    assert response.status_code == 303
    assert html.count("(the email could not be sent: send the link yourself)") == 3


def test_a_refused_address_fails_alone(client, team, smtp_server):
    smtp_server.refused.add("b@example.com")
    csrf = log_in(client, team["admin"])
    emails = "a@example.com, b@example.com, c@example.com"
    client.post("/settings/members/invite", data={"csrf_token": csrf, "emails": emails})
    html = client.get("/settings/members").get_data(as_text=True)
    assert sorted(to for [to], _ in smtp_server.messages) == ["a@example.com", "c@example.com"]
    assert html.count("(also emailed)") == 2
    assert re.search(r"b@example.com <small class=\"muted\">\(the email could not be sent", html)
