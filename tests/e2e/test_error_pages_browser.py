"""Error pages in the browser: missing items say so and link back; an htmx action on one says so too."""

import re

from playwright.sync_api import expect

from webapp.extensions import db
from webapp.services import accounts, evaluations, symbol_sets

MISSING_ID = "00000000-0000-0000-0000-000000000000"


def test_missing_items_have_their_own_page_with_a_way_back(signed_in_page, project_id):
    page = signed_in_page
    page.goto(f"/project/{project_id}/evaluations/{MISSING_ID}")
    expect(page.get_by_role("heading", level=1)).to_have_text("Evaluation not found")
    expect(page.get_by_text("This evaluation does not exist or was deleted.")).to_be_visible()
    page.get_by_role("link", name="Go to the evaluations").click()
    page.wait_for_url(f"**/project/{project_id}/evaluations/")

    page.goto(f"/project/{project_id}/symbol-sets/{MISSING_ID}")
    expect(page.get_by_role("heading", level=1)).to_have_text("Symbol set not found")
    page.get_by_role("link", name="Go to the symbol sets").click()
    page.wait_for_url(f"**/project/{project_id}/symbol-sets/")

    page.goto("/no/such/page")
    expect(page.get_by_role("heading", level=1)).to_have_text("Page not found")
    expect(page.get_by_text("not found on the server")).to_have_count(0)
    page.get_by_role("link", name="Go to the start page").click()
    page.wait_for_url("**/evaluations/")


def test_an_action_on_an_item_deleted_meanwhile_says_so_in_the_page(signed_in_page, app, user_id):
    page = signed_in_page
    with app.app_context():
        user = accounts.get_user(user_id)
        project = accounts.resolve_project(user, "@current")
        evaluation = evaluations.create_evaluation(project, user, {"name": "Soon gone", "prompt": "p"})
        symbol_sets.mark_failed(project, "chunk-soon-gone", "The source map is missing.")
        evaluation_id, project_id = evaluation.id, project.id
        db.session.remove()
    page.goto(f"/project/{project_id}/evaluations/")
    switch = page.get_by_role("switch")
    expect(switch).not_to_be_checked()
    # Someone else archives it while this page is open; then this person flips its switch.
    with app.app_context():
        user = accounts.get_user(user_id)
        evaluations.set_archived(accounts.resolve_project(user, project_id), user, evaluation_id, True)
        db.session.remove()
    switch.click()
    flash = page.locator("#flash")
    expect(flash).to_contain_text("This evaluation does not exist or was deleted.")
    flash.get_by_role("link", name="Go to the evaluations").click()
    page.wait_for_url(re.compile(rf"/project/{project_id}/evaluations/$"))
    expect(page.get_by_text("Soon gone")).to_have_count(0)
