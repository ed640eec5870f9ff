"""The list pages in Chromium: empty states, bulk archive with Undo, sort headers, numeric-aware order."""

import re

from playwright.sync_api import expect

from .conftest import accept_next_dialog
from .test_evaluations_browser import rows, seed
from .test_symbol_sets_browser import seed as seed_sets


def test_empty_search_says_so_once_and_clear_filters_brings_the_rows_back(signed_in_page, app, user_id):
    page = signed_in_page
    seed(app, user_id, "Tone check", "Safety check")
    page.reload()
    page.get_by_role("link", name="Name").click()
    expect(page).to_have_url(re.compile(r"order_by=name"))
    page.get_by_label("Search evaluations").fill("zebra")
    expect(page).to_have_url(re.compile(r"search=zebra"))
    expect(page.locator("#results")).to_contain_text("No evaluations match these filters.")
    expect(page.get_by_text(re.compile("No evaluations"))).to_have_count(1)
    expect(page.locator(".bulk-bar")).to_have_count(0)
    expect(page.locator(".pager")).to_have_count(0)

    page.get_by_role("link", name="Clear filters").click()
    expect(rows(page)).to_have_count(2)
    expect(page).to_have_url(re.compile(r"\?order_by=name$"))  # the sort stays
    expect(page.get_by_label("Search evaluations")).to_have_value("")
    expect(rows(page).first).to_contain_text("Safety check")


def test_bulk_archive_offers_undo_with_focus_and_undo_restores_exactly_those(signed_in_page, app, user_id):
    page = signed_in_page
    seed(app, user_id, "One", "Two", "Three")
    page.reload()
    page.get_by_label("Select One").check()
    page.get_by_label("Select Three").check()
    messages = accept_next_dialog(page)
    page.locator(".bulk-bar").get_by_role("button", name="Archive").click()
    expect(page.locator("#flash")).to_contain_text("Archived 2 evaluations.")
    assert messages == ["Archive 2 evaluations?"]
    expect(rows(page)).to_have_count(1)
    undo = page.locator("#flash").get_by_role("button", name="Undo")
    expect(undo).to_be_focused()

    page.keyboard.press("Enter")
    expect(page.locator("#flash")).to_contain_text("Restored 2 evaluations.")
    expect(rows(page)).to_have_count(3)
    page.goto(page.url.replace("/evaluations/", "/evaluations/archived"))
    expect(page.locator("#results")).to_contain_text("Nothing is archived.")


def test_row_archive_moves_focus_to_undo(signed_in_page, app, user_id):
    page = signed_in_page
    seed(app, user_id, "Keep me", "Archive me")
    page.reload()
    page.get_by_role("button", name="Archive Archive me").click()
    expect(page.locator("#flash")).to_contain_text("Archived “Archive me”")
    expect(page.locator("#flash").get_by_role("button", name="Undo")).to_be_focused()


def test_sort_headers_say_their_direction_and_work_from_the_keyboard(signed_in_page, app, user_id):
    page = signed_in_page
    seed(app, user_id, "Bravo", "Alpha")
    page.reload()
    created = page.locator("th", has_text="Created")
    expect(created).to_have_attribute("aria-sort", "descending")
    expect(created).to_contain_text("▼")
    expect(page.locator("th", has_text="Name")).to_have_attribute("aria-sort", "none")

    page.get_by_role("link", name="Name").focus()
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"order_by=name"))
    expect(page.locator("th", has_text="Name")).to_have_attribute("aria-sort", "ascending")
    expect(page.locator("th", has_text="Created")).to_have_attribute("aria-sort", "none")
    expect(rows(page).first).to_contain_text("Alpha")
    # The swapped-in header link is reachable from the keyboard again: sort the other way.
    page.wait_for_function("!document.querySelector('.htmx-request, .htmx-swapping, .htmx-settling')")
    page.get_by_role("link", name="Name").focus()
    page.keyboard.press("Enter")
    expect(page.locator("th", has_text="Name")).to_have_attribute("aria-sort", "descending")
    expect(rows(page).first).to_contain_text("Bravo")


def test_name_order_is_numeric_aware(signed_in_page, app, user_id):
    page = signed_in_page
    seed(app, user_id, "eval 10", "Eval 2", "eval 1", "eval 100")
    page.reload()
    page.get_by_role("link", name="Name").click()
    expect(page).to_have_url(re.compile(r"order_by=name"))
    expect(page.locator("#results tbody tr td:nth-child(2) > a")).to_have_text(
        ["eval 1", "Eval 2", "eval 10", "eval 100"]
    )


def test_symbol_set_delete_in_place_focuses_the_count_and_an_empty_tab_offers_clear_filters(
    signed_in_page, app, user_id
):
    page = signed_in_page
    seed_sets(app, user_id)
    page.get_by_role("link", name="Symbol sets").click()
    page.get_by_role("link", name=re.compile(r"^Failed")).click()
    expect(page).to_have_url(re.compile(r"status=failed"))
    expect(rows(page)).to_have_count(2)
    for ref in ("chunk-broken", "chunk-missing-map"):
        messages = accept_next_dialog(page)
        page.get_by_role("button", name=f"Delete {ref}").click()
        expect(page.locator("#flash")).to_contain_text(f"Deleted the symbol set {ref}.")
        assert messages == [f"Delete the symbol set {ref}? Its stored file is removed too."]
        # The row (and the button) went: focus is on what the list holds now, not lost to the page.
        expect(page.locator("#result-count")).to_be_focused()
    expect(page.locator("#results")).to_contain_text("No failed symbol sets.")
    expect(page.locator(".bulk-bar")).to_have_count(0)
    page.get_by_role("link", name="Clear filters").click()
    expect(page).not_to_have_url(re.compile(r"status="))
    expect(rows(page)).to_have_count(1)
