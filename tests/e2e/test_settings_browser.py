"""Settings in the browser: the password form lists every problem, focused, each a link to its field."""

from playwright.sync_api import expect

from tests.conftest import PASSWORD


def test_password_change_lists_every_problem_then_succeeds(signed_in_page):
    page = signed_in_page
    page.goto("/settings/profile")
    hint = page.locator("#new_password-hint")
    hint_color = hint.evaluate("(hint) => getComputedStyle(hint).color")
    page.get_by_label("Current password").fill("not my password")
    page.get_by_label("New password", exact=True).fill("short")
    page.get_by_label("New password again").fill("different")
    page.get_by_role("button", name="Change password").click()

    summary = page.locator("#error-summary")
    expect(summary).to_be_focused()
    expect(summary.get_by_role("link")).to_have_text(
        [
            "That is not your current password.",
            "The password must be at least 8 characters long.",
            "The two new passwords are not the same.",
        ]
    )
    # Nothing typed into a password field comes back.
    for label in ("Current password", "New password again"):
        expect(page.get_by_label(label)).to_have_value("")
    expect(page.get_by_label("New password", exact=True)).to_have_attribute("aria-invalid", "true")
    # The hint under an invalid field still looks like a hint, and every error line looks the same.
    expect(hint).to_have_css("color", hint_color)
    colors = page.locator(".field-error").evaluate_all(
        "(errors) => errors.map((e) => getComputedStyle(e).color)"
    )
    assert len(colors) == 3 and len(set(colors)) == 1 and hint_color not in colors

    summary.get_by_role("link", name="The two new passwords are not the same.").click()
    expect(page.get_by_label("New password again")).to_be_focused()

    page.get_by_label("Current password").fill(PASSWORD)
    page.get_by_label("New password", exact=True).fill("a much longer one")
    page.get_by_label("New password again").fill("a much longer one")
    page.get_by_role("button", name="Change password").click()
    expect(page.locator("#flash")).to_contain_text("Password changed.")
    expect(page.locator("#error-summary")).to_have_count(0)
