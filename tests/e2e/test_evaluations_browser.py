"""What a team member does in the browser, in Chromium."""

import json
import re
import urllib.error
import urllib.request

from playwright.sync_api import expect

from webapp.extensions import db
from webapp.services import accounts, evaluations

from .conftest import accept_next_dialog


def seed(app, user_id, *names, **fields):
    with app.app_context():
        user = accounts.get_user(user_id)
        project = accounts.resolve_project(user, "@current")
        for name in names:
            evaluations.create_evaluation(project, user, {"name": name, "prompt": "Judge it.", **fields})
        db.session.remove()


def rows(page):
    return page.locator("#results tbody tr")


def test_search_updates_table_and_url_without_reload_and_back_restores(signed_in_page, app, user_id):
    page = signed_in_page
    seed(app, user_id, "Toxicity screen", "Hallucination check", "Answer relevance")
    page.reload()
    expect(rows(page)).to_have_count(3)
    page.evaluate("window.__notReloaded = true")

    page.get_by_label("Search evaluations").fill("halluc")
    expect(rows(page)).to_have_count(1)
    expect(rows(page).first).to_contain_text("Hallucination check")
    expect(page).to_have_url(re.compile(r"search=halluc"))
    assert page.evaluate("window.__notReloaded") is True

    page.get_by_label("Status").select_option("false")
    expect(page).to_have_url(re.compile(r"enabled=false"))

    page.go_back()
    expect(page).to_have_url(re.compile(r"search=halluc(?!.*enabled)"))
    # The restored page has arrived (the URL changes first): else the next restore could race it.
    expect(page.get_by_label("Status")).to_have_value("")
    expect(rows(page)).to_have_count(1)
    page.go_back()
    expect(rows(page)).to_have_count(3)
    expect(page.get_by_label("Search evaluations")).to_have_value("")


def test_sort_by_name_via_header(signed_in_page, app, user_id):
    page = signed_in_page
    seed(app, user_id, "Bravo", "Alpha", "Charlie")
    page.reload()
    page.get_by_role("link", name="Name").click()
    expect(page).to_have_url(re.compile(r"order_by=name"))
    expect(rows(page).first).to_contain_text("Alpha")
    expect(page.locator("th[aria-sort=ascending]")).to_contain_text("Name")


def test_create_with_validation_error_then_fix(signed_in_page):
    page = signed_in_page
    page.get_by_role("link", name="New evaluation").click()
    page.get_by_label("Name").fill("Politeness judge")
    page.get_by_role("button", name="Add condition set").click()
    page.get_by_label("Rollout %").fill("250")
    page.get_by_role("button", name="Add property").click()
    page.get_by_label("Property", exact=True).fill("$ai_model")
    page.get_by_label("Value").fill("gpt-4o")
    page.get_by_role("button", name="Create evaluation").click()

    expect(page.locator("#prompt-error")).to_have_text("This field may not be blank.")
    expect(page.locator("#conditions-0-rollout_percentage-error")).to_contain_text("between 0.1% and 100%")
    expect(page.get_by_label("Name")).to_have_value("Politeness judge")
    expect(page.get_by_label("Value")).to_have_value("gpt-4o")

    page.get_by_label("Judge prompt").fill("Is the reply polite? Answer yes or no.")
    page.get_by_label("Rollout %").fill("25")
    page.get_by_role("button", name="Create evaluation").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Politeness judge")
    expect(page.locator(".condition-list")).to_contain_text("25% of generations")
    expect(page.locator(".condition-list")).to_contain_text("$ai_model")
    expect(page.locator("#flash")).to_contain_text("Created “Politeness judge”")


def test_toggle_enabled_inline(signed_in_page, app, user_id):
    page = signed_in_page
    seed(app, user_id, "Toggle me")
    page.reload()
    switch = page.get_by_role("switch", name="Enabled: Toggle me")
    expect(switch).not_to_be_checked()
    switch.check()
    expect(page.get_by_role("switch", name="Enabled: Toggle me")).to_be_checked()
    expect(rows(page).first).to_contain_text("On")
    page.reload()
    expect(page.get_by_role("switch", name="Enabled: Toggle me")).to_be_checked()


def test_archive_then_undo(signed_in_page, app, user_id):
    page = signed_in_page
    seed(app, user_id, "Keep me", "Archive me")
    page.reload()
    page.get_by_role("button", name="Archive Archive me").click()
    expect(page.locator("#flash")).to_contain_text("Archived “Archive me”")
    expect(rows(page)).to_have_count(1)
    page.locator("#flash").get_by_role("button", name="Undo").click()
    expect(page.locator("#flash")).to_contain_text("Restored “Archive me”")
    expect(rows(page)).to_have_count(2)


def test_archive_on_the_detail_page_moves_focus_to_undo(signed_in_page, app, user_id):
    page = signed_in_page
    seed(app, user_id, "Archive me")
    page.reload()
    page.get_by_role("link", name="Archive me").click()
    page.get_by_role("button", name="Archive", exact=True).click()
    expect(page.locator("#flash")).to_contain_text("Archived “Archive me”")
    undo = page.locator("#flash").get_by_role("button", name="Undo")
    expect(undo).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator("#flash")).to_contain_text("Restored “Archive me”")
    expect(page.get_by_role("button", name="Archive", exact=True)).to_be_visible()


def test_bulk_archive_asks_for_confirmation_naming_the_count(signed_in_page, app, user_id):
    page = signed_in_page
    seed(app, user_id, "One", "Two", "Three")
    page.reload()
    page.get_by_label("Select One").check()
    page.get_by_label("Select Two").check()
    expect(page.locator("[data-selected-count]")).to_have_text("2 selected")
    messages = accept_next_dialog(page)
    page.locator(".bulk-bar").get_by_role("button", name="Archive").click()
    expect(page.locator("#flash")).to_contain_text("Archived 2 evaluations.")
    assert messages == ["Archive 2 evaluations?"]
    expect(rows(page)).to_have_count(1)


def call_api(url, key, method="GET", body=None):
    request = urllib.request.Request(url, method=method, headers={"Authorization": f"Bearer {key}"})
    if body is not None:
        request.data = json.dumps(body).encode()
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


def create_key_in_page(page, label):
    page.get_by_label("Label").fill(label)
    page.get_by_label("Evaluations write").check()
    page.get_by_role("button", name="Create key").click()
    expect(page.get_by_role("heading", name=re.compile(f"Key “{label}” .* created"))).to_be_visible()
    # The heading shows while the page still loads; its script (the Copy button's handler) runs by "load".
    page.wait_for_load_state("load")
    return page.get_by_label("New API key").input_value()


def test_create_key_use_it_then_revoke_exactly_that_key(signed_in_page, live_server, project_id):
    page = signed_in_page
    page.get_by_role("link", name="Settings").click()
    key = create_key_in_page(page, "curl from my laptop")
    assert key.startswith("phx_")
    assert page.url == f"{live_server}/settings/api-keys"  # redirected: a reload cannot re-post
    page.get_by_role("button", name="Copy").click()
    expect(page.locator("[data-copy-status]")).to_have_text("Copied to the clipboard.")

    url = f"{live_server}/api/projects/{project_id}/evaluations/"
    status, body = call_api(url, key, "POST", {"name": "From curl", "prompt": "Judge."})
    assert status == 201 and body["name"] == "From curl"
    status, body = call_api(url, key)
    assert status == 200 and body["count"] == 1

    page.reload()
    mask = f"{key[:4]}...{key[-4:]}"
    expect(page.locator("#flash")).to_contain_text(f"The key “curl from my laptop” ({mask}) was shown once")
    expect(page.get_by_label("New API key")).to_have_count(0)
    expect(page.get_by_role("cell", name=mask, exact=True)).to_have_count(1)  # no second key
    other = create_key_in_page(page, "curl from my desktop")

    messages = accept_next_dialog(page)
    page.get_by_role("button", name=f"Delete key curl from my laptop ({mask})").click()
    expect(page.locator("#flash")).to_contain_text(f"Deleted the key “curl from my laptop” ({mask})")
    assert messages == [
        f"Delete the key “curl from my laptop” ({mask})? Scripts using it will get 401 errors."
    ]
    status, body = call_api(url, key)
    assert status == 401 and body["code"] == "authentication_failed"
    assert call_api(url, other)[0] == 200


def test_keyboard_only_search_and_toggle(signed_in_page, app, user_id):
    """Search and the enable switch work from the keyboard alone."""
    page = signed_in_page
    seed(app, user_id, "Keyboard judge", "Mouse judge")
    page.reload()
    page.get_by_label("Search evaluations").focus()
    page.keyboard.type("keyboard")
    expect(page).to_have_url(re.compile(r"search=keyboard"))
    expect(rows(page)).to_have_count(1)
    # The swapped-in row must be wired up by htmx before a key press can reach it.
    page.wait_for_function("!document.querySelector('.htmx-request, .htmx-swapping, .htmx-settling')")
    page.get_by_role("switch", name="Enabled: Keyboard judge").focus()
    with page.expect_response(lambda response: response.url.endswith("/enabled")):
        page.keyboard.press("Space")
    expect(page.get_by_role("switch", name="Enabled: Keyboard judge")).to_be_checked()
    page.reload()
    expect(page.get_by_role("switch", name="Enabled: Keyboard judge")).to_be_checked()
