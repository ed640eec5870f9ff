"""Reviewing failed symbol sets in Chromium: filter, read the reason, replace by upload, bulk delete."""

import json
import re

from playwright.sync_api import expect

from webapp.extensions import db
from webapp.services import accounts, symbol_sets

from .conftest import GOOD_MAP, accept_next_dialog, uploaded_symbol_set

REASON = '{"JavaScript":{"NoSourcemap":"https://cdn.example.com/static/app.min.js"}}'


def seed(app, user_id):
    with app.app_context():
        user = accounts.get_user(user_id)
        project = accounts.resolve_project(user, "@current")
        symbol_sets.mark_failed(project, "chunk-missing-map", REASON)
        symbol_sets.mark_failed(
            project, "chunk-broken", "The source map is not valid JSON (Expecting value at line 1)."
        )
        uploaded_symbol_set(project, user)
        project_id = project.id
        db.session.remove()
    return project_id


def rows(page):
    return page.locator("#results tbody tr")


def test_review_a_failed_set_replace_it_then_bulk_delete(signed_in_page, app, user_id):
    page = signed_in_page
    seed(app, user_id)
    page.get_by_role("link", name="Symbol sets").click()
    expect(rows(page)).to_have_count(3)

    # Filter to the failed ones: the tab is a link, the URL keeps the state.
    page.get_by_role("link", name=re.compile(r"^Failed")).click()
    expect(page).to_have_url(re.compile(r"status=failed"))
    expect(rows(page)).to_have_count(2)
    expect(page.get_by_role("link", name=re.compile(r"^Failed"))).to_have_attribute("aria-current", "page")

    # Open one and read why it failed.
    page.get_by_role("link", name="chunk-missing-map").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("chunk-missing-map")
    expect(page.locator(".failure-sentence")).to_have_text(
        "The minified file https://cdn.example.com/static/app.min.js has no sourceMappingURL comment, "
        "so its source map could not be found."
    )
    expect(page.locator(".raw-reason code")).to_have_text(REASON)

    # Replace it: a few MiB, so the upload reports progress as it goes.
    page.evaluate(
        """() => {
          window.__progress = [];
          document.addEventListener("htmx:xhr:progress", () => {
            const bar = document.querySelector("form[data-upload] progress");
            window.__progress.push({visible: !bar.hidden, value: bar.value, max: bar.max});
          });
        }"""
    )
    big_map = dict(GOOD_MAP, sourcesContent=["// " + "x" * (4 * 1024 * 1024)])
    page.get_by_label("Minified file").set_input_files(
        {
            "name": "app.min.js",
            "mimeType": "text/javascript",
            "buffer": b"console.log(1)\n//# chunkId=chunk-missing-map\n",
        }
    )
    page.get_by_label("Source map").set_input_files(
        {"name": "app.min.js.map", "mimeType": "application/json", "buffer": json.dumps(big_map).encode()}
    )
    page.get_by_role("button", name="Upload and check").click()

    expect(page.locator("#symbol-set .badge")).to_have_text("Uploaded")
    expect(page.locator("#flash")).to_contain_text("Replaced the files of chunk-missing-map")
    expect(page.locator(".failure-reason")).to_have_count(0)
    expect(page.locator(".activity li").first).to_contain_text("uploaded the file")
    progress = page.evaluate("window.__progress")
    assert any(p["visible"] and p["value"] > 0 for p in progress), progress
    assert progress[-1]["value"] == progress[-1]["max"]
    expect(page.get_by_role("link", name="Download")).to_be_visible()

    # Back to the full list; bulk-delete two with the confirmation naming how many.
    page.get_by_role("navigation", name="Breadcrumb").get_by_role("link", name="Symbol sets").click()
    expect(rows(page)).to_have_count(3)
    page.get_by_label("Select chunk-broken").check()
    page.get_by_label("Select chunk-good").check()
    expect(page.locator("[data-selected-count]")).to_have_text("2 selected")
    messages = accept_next_dialog(page)
    page.locator(".bulk-bar").get_by_role("button", name="Delete").click()
    expect(page.locator("#flash")).to_contain_text("Deleted 2 symbol sets.")
    assert messages == ["Delete 2 symbol sets?"]
    expect(rows(page)).to_have_count(1)
    expect(rows(page).first).to_contain_text("chunk-missing-map")
    expect(page.get_by_role("link", name=re.compile(r"^All"))).to_contain_text("1")


def test_search_sort_and_back_button_keep_the_url_in_sync(signed_in_page, app, user_id):
    page = signed_in_page
    project_id = seed(app, user_id)
    page.goto(f"/project/{project_id}/symbol-sets/")
    page.evaluate("window.__notReloaded = true")
    page.get_by_label("Search symbol sets").fill("broken")
    expect(rows(page)).to_have_count(1)
    expect(page).to_have_url(re.compile(r"search=broken"))
    page.get_by_label("Search symbol sets").fill("")
    expect(rows(page)).to_have_count(3)
    page.get_by_role("link", name="Ref", exact=True).click()
    expect(page).to_have_url(re.compile(r"order_by=ref"))
    expect(rows(page).first).to_contain_text("chunk-broken")
    expect(page.locator("th[aria-sort=ascending]")).to_contain_text("Ref")
    assert page.evaluate("window.__notReloaded") is True
    page.go_back()
    expect(page.locator("th[aria-sort=descending]")).to_contain_text("Created")


def test_row_delete_asks_first(signed_in_page, app, user_id):
    page = signed_in_page
    project_id = seed(app, user_id)
    page.goto(f"/project/{project_id}/symbol-sets/?status=failed")
    messages = accept_next_dialog(page)
    page.get_by_role("button", name="Delete chunk-broken").click()
    expect(page.locator("#flash")).to_contain_text("Deleted the symbol set chunk-broken.")
    assert messages == ["Delete the symbol set chunk-broken? Its stored file is removed too."]
    expect(rows(page)).to_have_count(1)
    expect(page).to_have_url(re.compile(r"status=failed"))


def test_files_over_the_limit_are_refused_before_sending(signed_in_page, app, user_id):
    page = signed_in_page
    project_id = seed(app, user_id)
    page.goto(f"/project/{project_id}/symbol-sets/?search=chunk-broken")
    page.get_by_role("link", name="chunk-broken").click()
    # A tiny limit stands in for 100 MiB, which would be slow to build here.
    page.locator("form[data-upload]").evaluate("form => { form.dataset.maxBytes = String(1024 * 1024); }")
    requests = []
    page.on("request", lambda request: requests.append(request.url) if "/replace" in request.url else None)
    page.get_by_label("Minified file").set_input_files(
        {"name": "app.min.js", "mimeType": "text/javascript", "buffer": b"x" * 600_000}
    )
    page.get_by_label("Source map").set_input_files(
        {"name": "app.min.js.map", "mimeType": "application/json", "buffer": b"{" + b" " * 600_000 + b"}"}
    )
    page.get_by_role("button", name="Upload and check").click()
    expect(page.locator("[data-upload-error]")).to_have_text(
        "The files are too large: together they may be at most 1 MiB. Nothing was sent."
    )
    assert requests == []
    expect(page.locator("#symbol-set .badge")).to_have_text("Failed")


def test_a_failing_replacement_asks_first_then_keeps_the_file_in_use(signed_in_page, app, user_id):
    page = signed_in_page
    project_id = seed(app, user_id)
    page.goto(f"/project/{project_id}/symbol-sets/?search=chunk-good")
    page.get_by_role("link", name="chunk-good").click()
    hash_before = page.locator("code.hash").text_content()
    requests = []
    page.on("request", lambda request: requests.append(request.url) if "/replace" in request.url else None)
    page.get_by_label("Minified file").set_input_files(
        {"name": "app.min.js", "mimeType": "text/javascript", "buffer": b"console.log(2)\n"}
    )
    page.get_by_label("Source map").set_input_files(
        {"name": "app.min.js.map", "mimeType": "application/json", "buffer": b'{"version": 3, "sources": ['}
    )

    # Cancelling the question sends nothing.
    declined = []
    page.once("dialog", lambda dialog: (declined.append(dialog.message), dialog.dismiss()))
    # Wait for the question itself: on a busy machine it comes after click() returns.
    with page.expect_event("dialog"):
        page.get_by_role("button", name="Upload and check").click()
    expect(page.get_by_role("button", name="Upload and check")).to_be_enabled()
    assert declined == [
        "This replaces the file in use. "
        "Replace the file of chunk-good with the new files if they pass the check?"
    ]
    assert requests == []

    messages = accept_next_dialog(page)
    page.get_by_role("button", name="Upload and check").click()

    expect(page.locator("[data-upload-error]")).to_contain_text("The source map is not valid JSON")
    expect(page.locator("[data-upload-error]")).to_contain_text("the file in use is unchanged")
    assert messages[0].startswith("This replaces the file in use.")
    expect(page.locator("#symbol-set .badge")).to_have_text("Uploaded")
    expect(page.locator("code.hash")).to_have_text(hash_before)
    expect(page.locator(".activity li").first).to_contain_text("tried a new file that failed the check")
    expect(page.get_by_role("link", name="Download")).to_be_visible()
