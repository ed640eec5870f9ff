"""A team in Chromium: an admin invites, the person joins in another browser, is demoted, then removed."""

import json
import re
import urllib.error
import urllib.request

import pytest
from playwright.sync_api import expect

from webapp.extensions import db
from webapp.models import MembershipLevel
from webapp.services import accounts, evaluations, invites, organizations

from ..conftest import PASSWORD
from .conftest import open_page
from .test_accessibility_browser import violations
from .test_pages_browser import assert_fits_and_is_dark


def api_status(live_server, path, key) -> int:
    request = urllib.request.Request(live_server + path, headers={"Authorization": f"Bearer {key}"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def log_in_as(page, email, password=PASSWORD):
    page.goto("/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url("**/evaluations/")


def test_invite_join_demote_remove(browser, live_server, app, make_user, make_key):
    make_user("owner@example.com")
    make_user("admin@example.com", level=MembershipLevel.ADMIN)
    with app.app_context():
        owner = accounts.find_user_by_email("owner@example.com")
        project = accounts.resolve_project(owner, "@current")
        project_id = project.id
        evaluations.create_evaluation(project, owner, {"name": "Toxicity screen", "prompt": "Judge it."})
        db.session.remove()

    with open_page(browser, live_server) as admin:
        log_in_as(admin, "admin@example.com")
        admin.goto("/settings/members")
        admin.get_by_label("Email addresses").fill("newbie@example.com")
        admin.get_by_label("Level", exact=True).select_option(label="admin")
        admin.get_by_role("button", name="Create invite links").click()
        link_field = admin.get_by_role("textbox", name="newbie@example.com")
        expect(link_field).to_have_value(re.compile(r"/invite/[A-Za-z0-9_-]{40,}$"))
        link = link_field.input_value()
        admin.wait_for_load_state("load")  # the Copy button's handler is the page's deferred script
        admin.get_by_role("button", name="Copy the link for newbie@example.com").click()
        expect(admin.locator("[data-copy-status]")).not_to_be_empty()
        # Shown once: a reload no longer has it.
        admin.reload()
        expect(admin.locator(f'input[value="{link}"]')).to_have_count(0)
        expect(admin.get_by_role("cell", name="newbie@example.com", exact=True)).to_be_visible()  # pending

        # The invited person, in a browser of their own, sets a password and lands in the project.
        with open_page(browser, live_server) as newbie:
            newbie.goto(link)
            expect(newbie.get_by_role("heading", name="Join Analytical Engines")).to_be_visible()
            newbie.get_by_label("First name").fill("Nia")
            newbie.get_by_label("Password", exact=True).fill("newbie password")
            newbie.get_by_label("Password again").fill("newbie password")
            newbie.get_by_role("button", name="Create account and join").click()
            newbie.wait_for_url(f"**/project/{project_id}/evaluations/")
            expect(newbie.get_by_text("Toxicity screen")).to_be_visible()
            expect(newbie.locator("#project-switcher")).to_contain_text(
                "Analytical Engines / Default project"
            )
            with app.app_context():
                newbie_id = accounts.find_user_by_email("newbie@example.com").id
                db.session.remove()
            key = make_key(newbie_id)
            evaluations_api = f"/api/projects/{project_id}/evaluations/"
            assert api_status(live_server, evaluations_api, key) == 200

            # The link is used up.
            with open_page(browser, live_server) as stranger:
                response = stranger.goto(link)
                assert response.status == 409
                expect(stranger.get_by_text("already been used")).to_be_visible()

            # The admin demotes them to member, then removes them.
            admin.reload()
            expect(admin.get_by_role("cell", name="newbie@example.com", exact=True)).to_be_visible()
            admin.get_by_label("Level of newbie@example.com", exact=True).select_option(label="member")
            admin.get_by_role("button", name="Save the level of newbie@example.com").click()
            expect(admin.get_by_text("newbie@example.com is now member.")).to_be_visible()
            admin.get_by_role("button", name="Remove newbie@example.com").click()
            expect(admin.get_by_role("heading", name="Remove newbie@example.com?")).to_be_visible()
            admin.get_by_role("button", name="Remove newbie@example.com").click()
            expect(admin.get_by_text("Removed newbie@example.com.")).to_be_visible()
            expect(admin.get_by_text("admin@example.com removed newbie@example.com (member)")).to_be_visible()
            expect(
                admin.get_by_text("admin@example.com changed newbie@example.com from admin to member")
            ).to_be_visible()

            # Their open page and their key lose the project on the next request.
            response = newbie.reload()
            assert response.status == 404
            assert api_status(live_server, evaluations_api, key) == 404
            body = json.loads(
                urllib.request.urlopen(live_server + "/api/users/@me/?personal_api_key=" + key).read()
            )
            assert body["organizations"] == []


def test_members_and_projects_pages_fit_a_phone_in_dark_mode(browser, live_server, user_id):
    with open_page(browser, live_server, viewport={"width": 390, "height": 844}, color_scheme="dark") as page:
        log_in_as(page, "ada@example.com")
        for path in ("/settings/members", "/settings/projects"):
            page.goto(path)
            assert_fits_and_is_dark(page)
        page.goto("/settings/projects")
        page.get_by_label("Name", exact=True).fill("Mobile app")
        page.get_by_role("button", name="Create project").click()
        expect(page.get_by_text("Created the project Mobile app.")).to_be_visible()
        expect(page.locator("#project-switcher option", has_text="Mobile app")).to_have_count(1)
        page.get_by_role("link", name="Delete project Mobile app").click()
        expect(page.get_by_text("0 evaluations")).to_be_visible()
        page.get_by_label(re.compile("Type the project's name")).fill("Mobile app")
        page.get_by_role("button", name="Delete this project").click()
        expect(page.get_by_text("Deleted the project Mobile app")).to_be_visible()
        assert_fits_and_is_dark(page)


@pytest.mark.parametrize(
    "scheme, viewport",
    [("light", {"width": 1280, "height": 900}), ("dark", {"width": 390, "height": 844})],
    ids=["light", "dark-phone"],
)
def test_team_pages_have_no_serious_accessibility_violation(
    browser, live_server, app, make_user, scheme, viewport
):
    owner = make_user("owner@example.com")
    make_user("member@example.com", level=MembershipLevel.MEMBER)
    with app.app_context():
        caller = organizations.current(accounts.get_user(owner))
        [(_, token, _)] = invites.create_invites(caller, "invited@example.com")
        project_id = accounts.resolve_project(accounts.get_user(owner), "@current").id
        db.session.remove()
    found = {}

    def check(label):
        page.wait_for_load_state()
        problems = violations(page)
        if problems:
            found[f"{label} {page.url}"] = problems

    with open_page(browser, live_server, color_scheme=scheme, viewport=viewport) as page:
        page.goto(f"/invite/{token}")
        check("accept invite")
        page.goto("/invite/" + "x" * 43)
        check("unusable invite")
        log_in_as(page, "owner@example.com")
        page.goto("/settings/members")
        page.get_by_label("Email addresses").fill("someone@example.com")
        page.get_by_role("button", name="Create invite links").click()
        expect(page.get_by_role("heading", name="1 invite link created")).to_be_visible()
        check("members with a new link")
        page.get_by_role("button", name="Remove member@example.com").click()
        check("confirm removal")
        page.goto("/settings/projects")
        check("projects")
        page.goto(f"/settings/projects/{project_id}/delete")
        check("delete the only project")
    assert not found, "\n".join(f"{label}:\n  " + "\n  ".join(p) for label, p in found.items())
