"""Every kind of page under the strict Content-Security-Policy, on a phone-sized screen in dark mode."""

import pytest
from playwright.sync_api import expect

from webapp.extensions import db
from webapp.services import accounts, evaluations, symbol_sets

from .conftest import log_out, open_page, sign_in

# Long unbroken text (no spaces) that a careless layout would let run off the side of a phone screen.
LONG_NAME = "nightly-regression-" + "x" * 180
LONG_REF = "chunk-" + "0123456789abcdef" * 12
LONG_REASON = '{"JavaScript":{"NoSourcemap":"https://cdn.example.com/static/' + "a" * 200 + '.js"}}'


def seed(app, user_id) -> tuple[int, str, str]:
    with app.app_context():
        user = accounts.get_user(user_id)
        project = accounts.resolve_project(user, "@current")
        conditions = [{"properties": [{"key": "path_" + "k" * 120, "value": "v" * 200, "operator": "exact"}]}]
        evaluation = evaluations.create_evaluation(
            project, user, {"name": LONG_NAME, "prompt": "Judge it: " + "p" * 300, "conditions": conditions}
        )
        symbol_set = symbol_sets.mark_failed(project, LONG_REF, LONG_REASON)
        ids = project.id, str(evaluation.id), str(symbol_set.id)
        db.session.remove()
    return ids


def assert_fits_and_is_dark(page):
    overflow = page.evaluate(
        "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert overflow <= 0, f"{page.url} is {overflow}px wider than the screen"
    # Pico follows prefers-color-scheme: the page really is rendered dark.
    background = page.evaluate("() => getComputedStyle(document.body).backgroundColor")
    red, green, blue = (int(part) for part in background[background.index("(") + 1 : -1].split(",")[:3])
    assert red + green + blue < 200, f"{page.url} has a light background {background}"


# WCAG contrast of an element's text against the first opaque background behind it (table stripes and
# other faint overlays are see-through and skipped).
CONTRAST = """(selector) => {
  const element = document.querySelector(selector);
  const channels = (color) => color.match(/[\\d.]+/g).map(Number);
  const luminance = (color) => {
    const [r, g, b] = channels(color).slice(0, 3).map((c) => {
      c /= 255;
      return c <= 0.03928 ? c / 12.92 : Math.pow((c + 0.055) / 1.055, 2.4);
    });
    return 0.2126 * r + 0.7152 * g + 0.0722 * b;
  };
  const opaque = (node) => (channels(getComputedStyle(node).backgroundColor)[3] ?? 1) === 1;
  let behind = element;
  while (behind && !opaque(behind)) behind = behind.parentElement;
  const front = luminance(getComputedStyle(element).color);
  const back = luminance(behind ? getComputedStyle(behind).backgroundColor : "rgb(255, 255, 255)");
  return (Math.max(front, back) + 0.05) / (Math.min(front, back) + 0.05);
}"""


def assert_readable(page, selector):
    """Text meets WCAG AA contrast (4.5:1) against what is behind it."""
    ratio = page.evaluate(CONTRAST, selector)
    assert ratio >= 4.5, f"{selector} on {page.url} has a contrast of {ratio:.1f}:1"


@pytest.fixture
def phone_page(browser, live_server):
    with open_page(browser, live_server, viewport={"width": 390, "height": 844}, color_scheme="dark") as page:
        yield page


def test_every_page_works_under_the_policy_on_a_phone_in_dark_mode(phone_page, app, user_id):
    page = phone_page
    project_id, evaluation_id, symbol_set_id = seed(app, user_id)

    page.goto("/login")
    assert_fits_and_is_dark(page)
    page.get_by_label("Email").fill("ada@example.com")
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Log in").click()
    expect(page.locator(".form-error")).to_be_visible()
    assert_readable(page, ".form-error")
    sign_in(page)

    evaluations_url = f"/project/{project_id}/evaluations"
    symbols_url = f"/project/{project_id}/symbol-sets"
    pages = {
        f"{evaluations_url}/": LONG_NAME,
        f"{evaluations_url}/archived": "Archived",
        f"{evaluations_url}/{evaluation_id}": LONG_NAME,
        f"{evaluations_url}/{evaluation_id}/edit": "Edit",
        f"{evaluations_url}/new": "New evaluation",
        f"{symbols_url}/": LONG_REF,
        f"{symbols_url}/{symbol_set_id}": LONG_REF,
        f"{symbols_url}/summary": "Symbol sets",
        "/settings/api-keys": "API keys",
        "/settings/profile": "Profile",
    }
    for url, text in pages.items():
        response = page.goto(url)
        assert response.status == 200, url
        expect(page.locator("main")).to_contain_text(text)
        # htmx has run on the page (it would have reported a violation had it needed eval or inline style).
        page.wait_for_function("() => window.htmx && document.body.hasAttribute('hx-headers')")
        assert_fits_and_is_dark(page)
    page.goto(f"{symbols_url}/")
    assert_readable(page, ".failure-summary")

    missing = page.goto(f"{symbols_url}/00000000-0000-0000-0000-000000000000")
    assert missing.status == 404
    assert_fits_and_is_dark(page)

    # An htmx swap and a request indicator run under the policy too.
    page.goto(f"{evaluations_url}/")
    page.get_by_role("searchbox").fill("nightly")
    expect(page).to_have_url(f"{page.url.split('?')[0]}?search=nightly")
    expect(page.locator("#results tbody tr")).to_have_count(1)
    assert_fits_and_is_dark(page)

    log_out(page)
    expect(page.get_by_text("You are logged out.")).to_be_visible()
    assert_fits_and_is_dark(page)
