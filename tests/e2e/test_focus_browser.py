"""Where the focus goes after each htmx swap, driven from the keyboard alone: never back to <body>."""

import re

from playwright.sync_api import expect

from webapp.extensions import db
from webapp.services import accounts, evaluations

from .test_evaluations_browser import rows
from .test_symbol_sets_browser import seed as seed_sets

# No htmx request, swap or settle under way: the swapped-in controls are wired up.
SETTLED = "() => !document.querySelector('.htmx-request, .htmx-swapping, .htmx-settling')"


def seed(app, user_id, count) -> tuple[int, str]:
    with app.app_context():
        user = accounts.get_user(user_id)
        project = accounts.resolve_project(user, "@current")
        made = [
            evaluations.create_evaluation(project, user, {"name": f"Judge {n:02}", "prompt": "Judge it."})
            for n in range(count)
        ]
        ids = project.id, str(made[0].id)
        db.session.remove()
    return ids


def press(page, locator, key="Enter"):
    """Focus a control and press a key on it, as a keyboard user would; wait for its swap to settle."""
    page.wait_for_function(SETTLED)
    locator.focus()
    page.keyboard.press(key)


def assert_not_on_body(page):
    page.wait_for_function(SETTLED)
    assert page.evaluate("() => document.activeElement && document.activeElement !== document.body")


def test_the_switch_sort_links_and_pager_keep_the_focus_after_their_swap(signed_in_page, app, user_id):
    page = signed_in_page
    project_id, first_id = seed(app, user_id, 22)  # two pages of 20
    page.reload()

    # The switch is swapped for a new one: the focus moves to it, and it works again from the keyboard.
    switch = page.get_by_role("switch", name="Enabled: Judge 21")
    press(page, switch, "Space")
    expect(switch).to_be_checked()
    expect(switch).to_be_focused()
    page.wait_for_function(SETTLED)
    page.keyboard.press("Space")
    expect(switch).not_to_be_checked()
    expect(switch).to_be_focused()

    # A sort header: the whole list is swapped in, the focus stays on the same header's new link.
    name = page.get_by_role("link", name=re.compile("^Name"))
    press(page, name)
    expect(page.locator("th", has_text="Name")).to_have_attribute("aria-sort", "ascending")
    expect(name).to_be_focused()
    page.wait_for_function(SETTLED)
    page.keyboard.press("Enter")
    expect(page.locator("th", has_text="Name")).to_have_attribute("aria-sort", "descending")
    expect(name).to_be_focused()

    # Next -> the last page has no Next link: the focus goes to the line saying what the list holds.
    press(page, page.get_by_role("link", name="Next →"))
    expect(page).to_have_url(re.compile(r"offset=20"))
    expect(rows(page)).to_have_count(2)
    expect(page.locator("#result-count")).to_be_focused()
    assert_not_on_body(page)

    # The detail page's switch keeps the focus too.
    page.goto(f"/project/{project_id}/evaluations/{first_id}")
    switch = page.get_by_role("switch")
    press(page, switch, "Space")
    expect(switch).to_be_checked()
    expect(switch).to_be_focused()


def test_a_status_tab_keeps_the_focus_after_its_swap(signed_in_page, app, user_id):
    page = signed_in_page
    project_id = seed_sets(app, user_id)
    page.goto(f"/project/{project_id}/symbol-sets/")
    failed = page.get_by_role("link", name=re.compile("^Failed"))
    press(page, failed)
    expect(page).to_have_url(re.compile(r"status=failed"))
    expect(failed).to_have_attribute("aria-current", "page")
    expect(failed).to_be_focused()


def test_an_upload_swap_focuses_its_error_or_the_upload_heading(signed_in_page, app, user_id):
    page = signed_in_page
    project_id = seed_sets(app, user_id)
    page.goto(f"/project/{project_id}/symbol-sets/?status=failed&search=chunk-broken")
    page.get_by_role("link", name="chunk-broken").click()
    page.get_by_label("Minified file").set_input_files(
        {"name": "app.min.js", "mimeType": "text/javascript", "buffer": b"console.log(2)\n"}
    )
    page.get_by_label("Source map").set_input_files(
        {"name": "app.min.js.map", "mimeType": "application/json", "buffer": b'{"version": 3, "sources": ['}
    )
    press(page, page.get_by_role("button", name="Upload and check"))
    error = page.locator("[data-upload-error]")
    expect(error).to_contain_text("The source map is not valid JSON")
    expect(error).to_be_focused()

    minified = b"console.log(1)\n//# chunkId=chunk-broken\n"
    page.get_by_label("Minified file").set_input_files(
        {"name": "app.min.js", "mimeType": "text/javascript", "buffer": minified}
    )
    page.get_by_label("Source map").set_input_files(
        {
            "name": "app.min.js.map",
            "mimeType": "application/json",
            "buffer": b'{"version": 3, "sources": ["src/app.ts"], "names": [], "mappings": "AAAA,SAAS"}',
        }
    )
    press(page, page.get_by_role("button", name="Upload and check"))
    expect(page.locator("#flash")).to_contain_text("Replaced the files of chunk-broken")
    expect(page.get_by_role("heading", name="Replace the files")).to_be_focused()
