"""Layout in Chromium: the phone's menu and list cards, long names, focus rings, the top bar's alignment."""

import re

import pytest
from playwright.sync_api import expect

from webapp.extensions import db
from webapp.services import (
    accounts,
    api_keys,
    evaluations,
    projects,
    releases,
    symbol_sets,
)

from .conftest import open_page, sign_in, uploaded_symbol_set
from .test_accessibility_browser import post_without_js

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}
# One word of 320 characters: nothing may get wider than the screen for it.
LONG_NAME = "Nightly" + "x" * 313
LONG_REF = "chunk-" + "0123456789abcdef" * 20
CONDITIONS = [
    {"properties": [{"key": "$ai_model", "value": "gpt-4o-mini", "operator": "exact"}]},
    {"rollout_percentage": 25, "properties": []},
]


def seed(app, user_id) -> dict:
    with app.app_context():
        user = accounts.get_user(user_id)
        project = accounts.resolve_project(user, "@current")
        for name in ("Tone", "Toxicity"):
            evaluations.create_evaluation(
                project, user, {"name": name, "prompt": "Judge it.", "enabled": False}
            )
        long = evaluations.create_evaluation(
            project,
            user,
            {"name": LONG_NAME, "prompt": "p" * 400, "enabled": False, "conditions": CONDITIONS},
        )
        symbol_sets.mark_failed(project, LONG_REF, '{"JavaScript":{"NoSourcemap":"' + "a" * 300 + '"}}')
        api_keys.create_key(user, "deploy-" + "k" * 33, "*", None)
        ids = {"project": project.id, "long": str(long.id)}
        db.session.remove()
    return ids


def assert_no_sideways_scroll(page):
    # After the load event: Playwright's script may measure before a pending stylesheet applies.
    page.wait_for_load_state()
    width, inner = page.evaluate("() => [document.scrollingElement.scrollWidth, innerWidth]")
    assert width <= inner, f"{page.url} scrolls sideways: {width}px on a {inner}px screen"


def assert_on_screen(locator):
    expect(locator).to_be_visible()
    box = locator.bounding_box()
    width = locator.page.viewport_size["width"]
    assert box["x"] >= 0 and box["x"] + box["width"] <= width, f"{locator} is off-screen: {box}"


# The width the chosen option's text needs, and the room a select leaves it inside its padding (Pico puts
# the chevron in the right padding).
SELECT_TEXT = """(select) => {
  const style = getComputedStyle(select);
  const context = document.createElement("canvas").getContext("2d");
  context.font = style.font;
  const needed = context.measureText(select.options[select.selectedIndex].text).width;
  return [needed, select.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight)];
}"""


def assert_select_text_whole(select):
    needed, room = select.evaluate(SELECT_TEXT)
    assert needed <= room + 0.5, f"{select} cuts its text: needs {needed:.0f}px, has {room:.0f}px"


def test_on_a_phone_lists_are_cards_with_the_switch_and_actions_on_screen(browser, live_server, app, user_id):
    ids = seed(app, user_id)
    with open_page(browser, live_server, viewport=PHONE) as page:
        sign_in(page)
        rows = page.locator("#results tbody tr")
        expect(rows).to_have_count(3)
        assert_no_sideways_scroll(page)
        assert_select_text_whole(page.get_by_label("Status"))
        first = rows.first
        for control in (
            first.get_by_role("switch"),
            first.get_by_role("button", name="Duplicate"),
            first.get_by_role("button", name="Archive"),
        ):
            assert_on_screen(control)
        # The switch works where it is.
        first.get_by_role("switch").click()
        expect(first.get_by_role("switch")).to_be_checked()
        assert_on_screen(page.get_by_role("link", name=LONG_NAME))

        page.goto(f"/project/{ids['project']}/symbol-sets/")
        assert_no_sideways_scroll(page)
        assert_on_screen(page.locator("#results tbody tr").first.get_by_role("button", name="Delete"))
        assert_on_screen(page.get_by_role("link", name=LONG_REF))

        page.goto("/settings/api-keys")
        assert_no_sideways_scroll(page)
        assert_on_screen(page.get_by_role("button", name=re.compile("^Delete key")))

        # The editor's property selects show their whole choice.
        page.goto(f"/project/{ids['project']}/evaluations/{ids['long']}/edit")
        assert_no_sideways_scroll(page)
        selects = page.locator("#evaluation-form select")
        assert selects.count() >= 2
        for index in range(selects.count()):
            assert_select_text_whole(selects.nth(index))


def test_on_a_phone_the_top_bar_is_a_menu_that_works_by_keyboard(browser, live_server, app, user_id):
    seed(app, user_id)
    with open_page(browser, live_server, viewport=PHONE, color_scheme="dark") as page:
        sign_in(page)
        toggle = page.get_by_role("button", name="Menu")
        symbols = page.get_by_role("link", name="Symbol sets")
        expect(toggle).to_have_attribute("aria-expanded", "false")
        expect(symbols).to_be_hidden()
        # The header is one line: the list's heading is in the top fifth of the screen.
        assert page.get_by_role("heading", name="Evaluations", level=1).bounding_box()["y"] < 844 / 5

        tab_to(page, toggle)
        assert_focus_ring(toggle)
        page.keyboard.press("Enter")
        expect(toggle).to_have_attribute("aria-expanded", "true")
        expect(symbols).to_be_visible()
        assert_on_screen(page.get_by_role("button", name="Log out"))
        assert_no_sideways_scroll(page)
        page.keyboard.press("Tab")
        expect(page.get_by_role("link", name="Evaluations", exact=True)).to_be_focused()

        page.keyboard.press("Escape")
        expect(toggle).to_have_attribute("aria-expanded", "false")
        expect(symbols).to_be_hidden()
        expect(toggle).to_be_focused()

        page.keyboard.press("Space")
        expect(symbols).to_be_visible()
        tab_to(page, symbols)
        page.keyboard.press("Enter")
        expect(page.get_by_role("heading", name="Symbol sets", level=1)).to_be_visible()


def test_without_javascript_the_phone_menu_stays_open(browser, live_server, app, user_id):
    with open_page(browser, live_server, viewport=PHONE, java_script_enabled=False) as page:
        sign_in(page)
        expect(page.get_by_role("button", name="Menu")).to_be_hidden()
        expect(page.get_by_role("link", name="Symbol sets")).to_be_visible()
        expect(page.get_by_role("button", name="Log out")).to_be_visible()
        assert_no_sideways_scroll(page)


@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["phone", "desktop"])
def test_a_long_unbroken_name_wraps_on_the_list_the_detail_page_and_the_editor(
    browser, live_server, app, user_id, viewport
):
    ids = seed(app, user_id)
    with open_page(browser, live_server, viewport=viewport) as page:
        sign_in(page)
        # In the list the name is cut to three lines, the whole of it in the link's title.
        name = page.get_by_role("link", name=LONG_NAME)
        expect(name).to_have_attribute("title", LONG_NAME)
        assert_on_screen(name)
        assert name.bounding_box()["height"] < 100
        assert_no_sideways_scroll(page)
        # Nor does the table scroll inside its own box: every column, the actions too, is in view.
        overflow = page.locator("#results table").evaluate(
            "(table) => table.parentElement.scrollWidth - table.parentElement.clientWidth"
        )
        assert overflow <= 0, f"the list table scrolls {overflow}px sideways"

        page.get_by_role("link", name=LONG_NAME).click()
        heading = page.get_by_role("heading", name=LONG_NAME, level=1)
        assert_on_screen(heading)
        assert_no_sideways_scroll(page)

        page.goto(f"/project/{ids['project']}/evaluations/{ids['long']}/edit")
        # The breadcrumb holds the name on one line, cut short, the full text in its title.
        crumbs = page.get_by_role("navigation", name="Breadcrumb")
        crumb = crumbs.get_by_role("link", name=LONG_NAME)
        expect(crumb).to_have_attribute("title", LONG_NAME)
        assert_on_screen(crumb)
        one_line = crumbs.get_by_role("link", name="Evaluations").bounding_box()["height"]
        assert crumb.bounding_box()["height"] == one_line
        assert_no_sideways_scroll(page)

        page.goto(f"/project/{ids['project']}/symbol-sets/")
        page.get_by_role("link", name=LONG_REF).click()
        assert_on_screen(page.get_by_role("heading", name=LONG_REF))
        assert_no_sideways_scroll(page)


def tab_to(page, locator, limit=80):
    """Move focus by the keyboard (so :focus-visible applies) until it reaches the element."""
    for _ in range(limit):
        if locator.evaluate("(element) => element === document.activeElement"):
            return
        page.keyboard.press("Tab")
    raise AssertionError(f"Tab never reached {locator}")


def channels(color: str) -> list[float]:
    return [float(part) for part in re.findall(r"[\d.]+", color)]


def luminance(color: str) -> float:
    def linear(channel):
        channel /= 255
        return channel / 12.92 if channel <= 0.03928 else ((channel + 0.055) / 1.055) ** 2.4

    red, green, blue = (linear(channel) for channel in channels(color)[:3])
    return 0.2126 * red + 0.7152 * green + 0.0722 * blue


def assert_focus_ring(locator):
    """A solid outline at least 2px wide, off the element, at 3:1 or more against the page (WCAG 2.2)."""
    ring = locator.evaluate(
        """(element) => {
          const style = getComputedStyle(element);
          return {style: style.outlineStyle, width: parseFloat(style.outlineWidth),
                  offset: parseFloat(style.outlineOffset), color: style.outlineColor,
                  page: getComputedStyle(document.body).backgroundColor};
        }"""
    )
    assert ring["style"] == "solid" and ring["width"] >= 2 and ring["offset"] >= 1, ring
    lighter, darker = sorted((luminance(ring["color"]), luminance(ring["page"])), reverse=True)
    assert (lighter + 0.05) / (darker + 0.05) >= 3, ring


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_links_and_outline_buttons_show_a_focus_ring(browser, live_server, app, user_id, scheme):
    ids = seed(app, user_id)
    with open_page(browser, live_server, color_scheme=scheme) as page:
        sign_in(page)
        for control in (
            page.get_by_role("link", name="Archived"),
            page.get_by_role("link", name="Symbol sets"),
            page.get_by_role("button", name="Log out"),
        ):
            tab_to(page, control)
            assert_focus_ring(control)
        page.goto(f"/project/{ids['project']}/evaluations/{ids['long']}")
        for control in (
            page.get_by_role("link", name="Edit", exact=True),
            page.get_by_role("button", name="Duplicate"),
            page.get_by_role("button", name="Archive"),
        ):
            tab_to(page, control)
            assert_focus_ring(control)


def test_top_bar_controls_line_up_and_the_breadcrumb_shows_its_separator(browser, live_server, app, user_id):
    ids = seed(app, user_id)
    with open_page(browser, live_server) as page:
        sign_in(page)
        project = page.get_by_label("Project").bounding_box()
        log_out = page.get_by_role("button", name="Log out").bounding_box()
        assert abs(project["y"] - log_out["y"]) <= 1 and abs(project["height"] - log_out["height"]) <= 1
        assert_select_text_whole(page.get_by_label("Status"))

        page.goto(f"/project/{ids['project']}/evaluations/{ids['long']}")
        separator = (
            page.get_by_role("navigation", name="Breadcrumb")
            .locator("li")
            .first.evaluate("(item) => getComputedStyle(item, '::after').content")
        )
        assert separator == '"›"'


# 320 characters without a space: every kind of text a person types, on every page that shows it.
WORD = "W" * 320


def seed_long_words(app, user_id) -> dict:
    with app.app_context():
        user = accounts.get_user(user_id)
        project = accounts.resolve_project(user, "@current")
        conditions = [
            {"properties": [{"key": "k" + WORD[:300], "value": "v" + WORD, "operator": "exact"}]},
            {"rollout_percentage": 25, "properties": []},
        ]
        fields = {"name": "N" + WORD, "description": "D" + WORD, "prompt": "P" + WORD}
        evaluation = evaluations.create_evaluation(project, user, {**fields, "conditions": conditions})
        # An update, so the activity log shows a before and an after of each long field.
        changed = {name: "Z" + value for name, value in fields.items()}
        evaluations.update_evaluation(project, user, evaluation.id, changed)
        archived = evaluations.create_evaluation(project, user, {"name": "A" + WORD, "prompt": "Judge."})
        evaluations.set_archived(project, user, archived.id, True)
        json_reason = symbol_sets.mark_failed(
            project, "chunk-" + WORD, '{"JavaScript":{"NoSourcemap":"' + WORD + '"}}'
        )
        plain_reason = symbol_sets.mark_failed(project, "chunk-plain", "R" + WORD)
        release = releases.create_release(project, {"version": "v" + WORD, "project": "p" + WORD})
        uploaded = uploaded_symbol_set(project, user, release_id=release.id)
        key, _ = api_keys.create_key(user, "K" * api_keys.MAX_LABEL_LENGTH, "*", None)
        # The person's, the organization's and the project's names, as long as they may be.
        accounts.update_profile(user, "F" * accounts.MAX_NAME_LENGTH, "L" * accounts.MAX_NAME_LENGTH)
        project.name = "J" * projects.MAX_NAME_LENGTH
        project.organization.name = "O" * accounts.MAX_ORGANIZATION_LENGTH
        db.session.commit()
        ids = {
            "project": project.id,
            "evaluation": str(evaluation.id),
            "archived": str(archived.id),
            "json_reason": str(json_reason.id),
            "plain_reason": str(plain_reason.id),
            "uploaded": str(uploaded.id),
            "key": str(key.id),
        }
        db.session.remove()
    return ids


# Text the layout cuts (an ellipsis, a line clamp, "…" at the end of a preview) with no title to give the
# whole of it; and boxes that scroll sideways inside the page.
HIDDEN_TEXT = """() => {
  const problems = [];
  for (const element of document.body.querySelectorAll("*")) {
    if (!element.getClientRects().length || element.closest(".visually-hidden, [hidden]")) continue;
    const style = getComputedStyle(element);
    if (style.visibility === "hidden" || style.opacity === "0") continue;  // an idle "Loading…"
    const name = element.tagName.toLowerCase() + (element.className ? "." + element.className : "");
    const clipped = style.overflowX === "hidden" && element.scrollWidth > element.clientWidth + 1
      || style.overflowY === "hidden" && element.scrollHeight > element.clientHeight + 1;
    // A preview cut short (longer than the page's own "Delete…").
    const text = element.textContent.trim();
    const previewed = !element.children.length && text.length > 20 && /(…|\\.\\.\\.)$/.test(text);
    if ((clipped || previewed) && element.tagName !== "SELECT" && !element.closest("[title]")) {
      problems.push(`${name} cuts "${element.textContent.trim().slice(0, 40)}" with no title`);
    }
    if (["auto", "scroll"].includes(style.overflowX) && element.scrollWidth > element.clientWidth + 1) {
      problems.push(`${name} scrolls sideways (${element.scrollWidth}px in ${element.clientWidth}px)`);
    }
  }
  return problems;
}"""


@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["phone", "desktop"])
def test_every_page_fits_320_character_words_and_cut_text_keeps_its_title(
    browser, live_server, app, user_id, viewport
):
    ids = seed_long_words(app, user_id)
    evaluations_url = f"/project/{ids['project']}/evaluations"
    symbols_url = f"/project/{ids['project']}/symbol-sets"
    found = {}
    with open_page(browser, live_server, viewport=viewport) as page:
        sign_in(page)

        def check(label):
            page.wait_for_load_state()
            width, inner = page.evaluate("() => [document.scrollingElement.scrollWidth, innerWidth]")
            problems = page.evaluate(HIDDEN_TEXT)
            if width > inner:
                problems.insert(0, f"the page scrolls sideways: {width}px on a {inner}px screen")
            if problems:
                found[label] = problems

        for label, url in [
            ("evaluation list", f"{evaluations_url}/"),
            ("archived list", f"{evaluations_url}/archived"),
            ("evaluation", f"{evaluations_url}/{ids['evaluation']}"),
            ("archived evaluation", f"{evaluations_url}/{ids['archived']}"),
            ("editor", f"{evaluations_url}/{ids['evaluation']}/edit"),
            ("symbol set list", f"{symbols_url}/"),
            ("failed symbol sets", f"{symbols_url}/?status=failed"),
            ("failed set, PostHog's reason", f"{symbols_url}/{ids['json_reason']}"),
            ("failed set, plain reason", f"{symbols_url}/{ids['plain_reason']}"),
            ("uploaded set with a release", f"{symbols_url}/{ids['uploaded']}"),
            ("symbol set summary", f"{symbols_url}/summary"),
            ("API keys", "/settings/api-keys"),
            ("profile", "/settings/profile"),
            ("members", "/settings/members"),
            ("projects", "/settings/projects"),
        ]:
            page.goto(url)
            check(label)

        page.goto(f"{evaluations_url}/")
        post_without_js(page, f"{evaluations_url}/bulk", [["action", "archive"], ["ids", ids["evaluation"]]])
        check("confirm bulk archive")
        post_without_js(page, f"{symbols_url}/{ids['json_reason']}/delete", [])
        check("confirm symbol set delete")
        post_without_js(page, f"/settings/api-keys/{ids['key']}/delete", [])
        check("confirm key delete")

        page.goto(f"{symbols_url}/resolve")
        page.get_by_label("Stack trace").fill(f"Error: boom\n    at pay (https://cdn.example/{WORD}.js:1:10)")
        page.get_by_label("Chunk ids").fill(f'{{"https://cdn.example/{WORD}.js": "chunk-{WORD}"}}')
        page.get_by_role("button", name="Resolve").click()
        expect(page.get_by_role("heading", name=re.compile("frame", re.I))).to_be_visible()
        check("resolved stack trace")

        # Someone saves while this page edits: the conflict view shows both long versions side by side.
        page.goto(f"{evaluations_url}/{ids['evaluation']}/edit")
        with app.app_context():
            project = accounts.resolve_project(accounts.get_user(user_id), "@current")
            evaluations.update_evaluation(project, None, ids["evaluation"], {"description": "T" + WORD})
            db.session.remove()
        page.get_by_label("Description").fill("Y" + WORD)
        page.get_by_role("button", name="Save changes").click()
        expect(page.locator("#conflict")).to_be_visible()
        check("edit conflict")

        # The message naming what was archived, with its Undo.
        page.goto(f"{evaluations_url}/")
        page.locator("#results tbody tr").first.get_by_role("button", name="Archive").click()
        expect(page.locator("#flash")).to_contain_text("Archived")
        check("archived, with Undo")

    assert not found, "\n".join(f"{label}:\n  " + "\n  ".join(problems) for label, problems in found.items())
